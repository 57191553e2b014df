/**
 * `network.ping(a, b, c, d) -> f32` as a module sees it: three supervised peers with real
 * worker sandboxes on the in-memory network, advertising private addresses; a deployed
 * module pings them by address. Granted only where the deployment imports it, served only
 * by peers that can, −1 for an address nobody in the mesh advertises or a peer that left.
 */
import { readFile } from 'node:fs/promises';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { createLogger } from '../../shared/log.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
const file = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));

describe('network.ping', () => {
  const log = collectLogs();
  const peers: SupervisedPeer[] = [];
  const start = async (name: string, addresses: string[]): Promise<SupervisedPeer> => {
    const p = await startSupervisedPeer({
      policy: OFFER_EVERYTHING,
      transports: [network.createTransport()],
      store: memoryStore(),
      clock: new SystemClock(),
      device: { name, engine: 'node', platform: { cpu: { humanReadableName: 'test', cores: 2 }, memory: { bytes: 2 ** 30 } }, addresses },
      sandbox: createNodeSandbox(),
      services: {},
      timing: FAST,
      logger: createLogger(`peer:${name}`, log.sink),
    });
    peers.push(p);
    return p;
  };
  let network: MemoryNetwork;

  beforeEach(() => {
    network = new MemoryNetwork();
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.stop()));
  });

  it('answers the round trip to the mesh peer advertising a.b.c.d, 0 for this host, −1 for nobody or a peer gone', async () => {
    const a = await start('a', ['10.77.0.1']);
    const b = await start('b', ['10.77.0.2']);
    const c = await start('c', ['10.77.0.3']);
    const all = [a, b, c];
    await waitFor(() => all.every((p) => p.peer.alive().length === 2 && p.peer.registry.devices.size === 3), 'every peer sees every other');
    expect(a.peer.registry.devices.get(b.peer.id)?.addresses).toEqual(['10.77.0.2']);
    expect(a.supervisor.interfaces()).toContain('network.ping');
    const description = JSON.parse(new TextDecoder().decode(await file('net-ping/description.json'))) as ModuleDescription;
    await a.orchestrator.packages.publish({ wasm: await file('net-ping/net-ping.wasm'), description });
    const dep = a.orchestrator.deploy({ name: 'ping', sequence: [{ module: 'net-ping', func: 'ping', device: 'a' }] });
    await a.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 15_000);
    const ping = async (...ip: number[]): Promise<number> => (await a.orchestrator.call(dep.id, 'net-ping', 'ping', { args: ip })).value as number;

    const toB = await ping(10, 77, 0, 2);
    expect(toB).toBeGreaterThanOrEqual(0);
    expect(toB).toBeLessThan(2000);
    expect(await ping(10, 77, 0, 3)).toBeGreaterThanOrEqual(0);
    expect(await ping(10, 77, 0, 1)).toBe(0);
    expect(await ping(127, 0, 0, 1)).toBe(0);
    expect(await ping(10, 77, 0, 99)).toBe(-1);
    // Values wrap to a byte, as the i32 → u8 cast of an address octet does.
    expect(await ping(10, 77, 256, 2)).toBeGreaterThanOrEqual(0);
    expect((await a.orchestrator.call(dep.id, 'net-ping', 'reachable', { args: [10, 77, 0, 2] })).value).toBe(1);

    await c.stop();
    peers.splice(peers.indexOf(c), 1);
    await waitFor(() => !a.peer.alive().includes(c.peer.id), 'a sees c leave');
    expect(await ping(10, 77, 0, 3)).toBe(-1);
    expect((await a.orchestrator.call(dep.id, 'net-ping', 'reachable', { args: [10, 77, 0, 3] })).value).toBe(0);
  });

  it('is denied to a module whose deployment is not granted network.ping', async () => {
    const sandbox = createNodeSandbox();
    try {
      const wasm = await file('net-ping/net-ping.wasm');
      const denied = await rejectionOf(sandbox.load({ wasm, grants: ['wasi_snapshot_preview1.*'], services: { ping: async () => 1 } }));
      expect(denied.code).toBe('ERR_IMPORT_DENIED');
      const unserved = await rejectionOf(sandbox.load({ wasm, grants: ['network.ping'], services: {} }));
      expect(unserved.code).toBe('ERR_IMPORT_NOT_SUPPORTED');
      const granted = await sandbox.load({ wasm, grants: ['network.ping'], services: { ping: async (address) => (address === '192.168.1.7' ? 12.5 : -1) } });
      expect((await granted.call({ fn: 'ping', convention: { kind: 'scalar', args: [192, 168, 1, 7] } })).value).toBe(12.5);
      expect((await granted.call({ fn: 'ping', convention: { kind: 'scalar', args: [192, 168, 1, 8] } })).value).toBe(-1);
    } finally {
      await sandbox.close();
    }
  });
});

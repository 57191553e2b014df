// The mesh over a three-server NATS cluster (real nats-server processes on 127.0.0.1,
// started by this file): peers on one site's own transport and peers only on the
// backbone form one mesh; peers on different servers reach each other; a server that
// dies mid-run loses nothing.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { Transport } from '../../shared/ports/transport.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { readModuleFiles, sampleModuleDir } from '../../node-host/module-files.ts';
import { type NatsClientOptions, natsConnector } from '../../node-host/nats/nats-connect.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from '../e2e/harness.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { token: 'backbone-token-7' };
let cluster: NatsCluster;
const running: SupervisedPeer[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, auth: AUTH });
});
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

/** Servers in the order given: the first is where the peer attaches, the rest are where it goes next. */
function backbone(mesh: string, order: number[], extra: Partial<NatsClientOptions> = {}): NatsTransport {
  const servers = order.map((i) => cluster.urls[i]!);
  return new NatsTransport({ connect: natsConnector({ servers, ...AUTH, noRandomize: true, ...extra }), mesh, secret: 'mesh-secret' });
}

async function peer(name: string, transports: Transport[]): Promise<SupervisedPeer> {
  const p = await startNodePeer({ name, transports, fakeCamera: false, simulatedSensors: false, inference: false });
  running.push(p);
  return p;
}

async function publish(p: SupervisedPeer, module: string): Promise<void> {
  const files = await readModuleFiles(sampleModuleDir(module));
  await p.orchestrator.packages.publish({ wasm: files.wasm, description: files.description!, dataFiles: {} });
}

const idOf = (p: SupervisedPeer): string => p.peer.id;
const seesDevice = (p: SupervisedPeer, q: SupervisedPeer): boolean => p.peer.registry.devices.get(idOf(q)) !== undefined && p.peer.alive().includes(idOf(q));

describe('A mesh over the NATS backbone', () => {
  it('joins a site (its own transport) and a remote peer (backbone only) into one mesh: registry, presence, calls and blobs', async () => {
    const site = new MemoryNetwork();
    const mesh = 'mixed';
    // a and b: on the site and on the backbone (two links between them); c: backbone only, on another server; d: site only.
    const a = await peer('a', [site.createTransport(), backbone(mesh, [0, 1, 2])]);
    const b = await peer('b', [site.createTransport(), backbone(mesh, [1, 2, 0])]);
    const c = await peer('c', [backbone(mesh, [2, 0, 1])]);
    const d = await peer('d', [site.createTransport()]);
    await waitFor(() => [a, b, c, d].every((p) => [a, b, c, d].every((q) => p === q || seesDevice(p, q))), 'every peer to see every device', 30_000);
    // Two transports between a and b count as one linked peer.
    expect(a.peer.linked().filter((id) => id === idOf(b))).to.have.length(1);
    expect(d.peer.linked()).to.not.include(idOf(c));

    await publish(a, 'fibo');
    const deployment = a.orchestrator.deploy({ name: 'fibo-on-c', sequence: [{ module: 'fibo', func: 'fibo', device: 'c' }] });
    await a.orchestrator.waitFor(deployment.id, (v) => v.record.status === 'ready', 30_000);
    const out = await a.orchestrator.execute(deployment.id, { args: [12] });
    expect(out.result.value).to.equal(233);
    expect(out.steps[0]!.peer).to.equal(idOf(c));
    // d, on the site only, sees the deployment the backbone peer runs.
    await waitFor(() => d.peer.registry.deployments.get(deployment.id) !== undefined, 'the deployment at d');

    // A blob larger than one backbone message crosses fragmented and intact.
    const blob = new Uint8Array(700 * 1024).map((_, i) => (i * 7) % 251);
    const hash = await c.peer.store.blobs.put(blob);
    const fetched = await a.peer.fetchBlob(hash);
    expect(fetched.byteLength).to.equal(blob.byteLength);
    expect(Buffer.from(fetched).equals(Buffer.from(blob))).to.equal(true);

    // d (site only) reaches c (backbone only) through a site peer that is on the backbone.
    await waitFor(() => d.peer.hops(idOf(c)) === 2, 'a route from d to c');
    expect((await d.peer.call(idOf(c), 'peer.describe', {})).name).to.equal('c');
    const only = blob.map((x) => x ^ 0x5a);
    const onlyHash = await c.peer.store.blobs.put(only);
    const routed = await d.peer.fetchBlob(onlyHash, { keep: false });
    expect(Buffer.from(routed).equals(Buffer.from(only))).to.equal(true);
  });

  it('keeps a call sequence going and the registry converging when the server a peer is attached to dies', async () => {
    const mesh = 'failover';
    // x attaches to n1 (then n2, n3); y to n3.
    const x = await peer('x', [backbone(mesh, [0, 1, 2])]);
    const y = await peer('y', [backbone(mesh, [2, 1, 0])]);
    await waitFor(() => seesDevice(x, y) && seesDevice(y, x), 'x and y to meet across servers', 30_000);
    await publish(y, 'stateful-fibo');
    const deployment = y.orchestrator.deploy({ name: 'counter-on-x', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'x' }] });
    await y.orchestrator.waitFor(deployment.id, (v) => v.record.status === 'ready', 30_000);

    // Each call steps the module's state once: a lost call would leave a gap, a repeated one a skip.
    const values: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      if (i === 10) {
        await cluster.kill(0);
        expect(() => process.kill(cluster.servers[0]!.pid, 0)).to.throw();
      }
      values.push((await y.orchestrator.execute(deployment.id)).result.value);
    }
    const expected: number[] = [];
    for (let a = 1, b = 1; expected.length < 30; [a, b] = [b, a + b]) expected.push(b);
    expect(values).to.deep.equal(expected);

    // Writes on either side after the failover reach the other.
    x.peer.registry.deployments.put({ id: 'from-x', name: 'from-x', manifest: {}, solution: {}, revision: 1, coordinator: idOf(x), status: 'pending', createdAt: 1, updatedAt: 1 });
    y.peer.registry.deployments.put({ id: 'from-y', name: 'from-y', manifest: {}, solution: {}, revision: 1, coordinator: idOf(y), status: 'pending', createdAt: 1, updatedAt: 1 });
    await waitFor(() => y.peer.registry.deployments.get('from-x') !== undefined && x.peer.registry.deployments.get('from-y') !== undefined, 'both writes on both sides');
    expect(x.peer.alive()).to.include(idOf(y));
  });
});

describe('liquidmesh peer --nats', () => {
  const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));

  it('runs peers on the backbone alone from server lists, and refuses a wrong token by name', async () => {
    // Servers 2 and 3 (the failover case above ended server 1).
    const [n1, n2, n3] = [cluster.urls[1], cluster.urls[2], cluster.urls[1]];
    const common = ['--mesh', 'cli-mesh', '--secret', 'cli-secret', '--nats-token', AUTH.token];
    const one = new NodePeerProcess('cli-1', [...common, '--nats', `${n1},${n2}`]);
    const two = new NodePeerProcess('cli-2', [...common, '--nats', n2!, '--nats', n3!]);
    try {
      await Promise.all([one.ready(), two.ready()]);
      await waitFor(async () => (await one.view()).alive.includes(two.id) && (await two.view()).alive.includes(one.id), 'the two CLI peers to see each other', 30_000);
      const stranger = spawn(process.execPath, [CLI, 'peer', '--name', 'cli-3', '--mesh', 'cli-mesh', '--nats', n1!, '--nats-token', 'wrong'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      stranger.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      stranger.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((r) => stranger.once('exit', (c) => r(c)));
      expect(code).to.not.equal(0);
      expect(output).to.contain('ERR_NATS_AUTH');
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});

/**
 * What roles cost (ADR 0025): a cold join into a large registry whose entries are all
 * signed and checked, against the same join into an unsigned registry; and an RPC round
 * trip whose caller's role is checked, against one that is not. Both sides of each ratio
 * run in the same process, interleaved, so load from elsewhere affects them alike.
 */
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import type { PeerRoles } from '../../shared/registry/join-roles.ts';
import type { DeploymentRecord, DeviceDescription } from '../../shared/registry/schema.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { writeCheckpoint } from '../../shared/registry/checkpointer.ts';
import { sealEntry } from '../../shared/trust/entry-auth.ts';
import { grantKey, nameKey } from '../../shared/trust/mesh-trust.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { makeGrant } from '../../shared/trust/statements.ts';
import { useNodeEd25519 } from '../../node-host/trust/node-ed25519.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { type BenchSection, bytes, ms, percentile, sample, times } from './harness.ts';
import * as Y from 'yjs';

const DEVICES = 1000;
const MESH = 'bench-roles';

interface Side {
  network: MemoryNetwork;
  roles?: (identity: Identity, role: Role) => PeerRoles;
  /** The seed runs with this root owner key and signs a checkpoint of what it holds (ADR 0025). */
  checkpointBy?: Identity;
}

async function startPeer(side: Side, name: string, identity: Identity, role: Role): Promise<Peer> {
  const peer = new Peer({
    transports: [side.network.createTransport()],
    store: memoryStore(),
    clock: new SystemClock(),
    identity,
    device: { name, engine: 'node' },
    logger: createLogger('bench', collectLogs().sink),
    persistRegistry: false,
    ...(side.roles ? { roles: side.roles(identity, role) } : {}),
  });
  await peer.start();
  return peer;
}

function device(id: string, i: number, publicKey: string): DeviceDescription {
  return {
    id, name: `device-${i}`, engine: i % 3 === 0 ? 'browser' : i % 3 === 1 ? 'chromium' : 'node', publicKey,
    platform: { cpu: { humanReadableName: 'Cortex-A72', cores: 4, clockSpeedHz: 1.5e9 }, memory: { bytes: 4e9 } },
    capabilities: ['sys.millis', 'sys.print', 'wasi_snapshot_preview1.*', 'camera.takeImageStaticSize'], version: '0.1.0', startedAt: 1,
  };
}

function deployment(i: number, ids: string[], coordinator: string): DeploymentRecord {
  return {
    id: `dep-${i}`, name: `fibo-chain-${i}`, manifest: { sequence: [{ device: null, module: 'fibo', func: 'fibo' }, { device: null, module: 'grayscale', func: 'convert2Grayscale' }] },
    solution: { '0': ids[i]!, '1': ids[(i + 1) % ids.length]! }, revision: 1, coordinator, status: 'ready', createdAt: 1, updatedAt: 1,
  };
}

/**
 * Cold join, signed against unsigned: 1,000 devices (each with its own key, grant and name
 * claim) and 1,000 deployments; signed with and without an owner's checkpoint.
 */
async function coldJoinSigned(): Promise<BenchSection> {
  useNodeEd25519();
  const owner = await Identity.generate();
  const owners = [toHex(owner.publicKey)];
  const roles = (identity: Identity, role: Role): PeerRoles =>
    identity === owner ? { mesh: MESH, owners } : { mesh: MESH, owners, grant: makeGrant(owner, { mesh: MESH, subject: toHex(identity.publicKey), role, issued: 1 }) };
  const unsigned: Side = { network: new MemoryNetwork() };
  const signed: Side = { network: new MemoryNetwork(), roles };
  const checkpointed: Side = { network: new MemoryNetwork(), roles, checkpointBy: owner };
  const sides = [unsigned, signed, checkpointed];
  const devices = await Promise.all(Array.from({ length: DEVICES }, () => Identity.generate()));
  const ids = devices.map((d) => d.id);
  const seeds: Peer[] = [];
  for (const side of sides) {
    const seed = await startPeer(side, 'seed', side.checkpointBy ?? (await Identity.generate()), 'operator');
    seeds.push(seed);
    const doc = seed.registry.doc;
    seed.registry.transact(() => {
      devices.forEach((identity, i) => {
        const key = toHex(identity.publicKey);
        const record = device(identity.id, i, key);
        if (!side.roles) {
          seed.registry.doc.getMap('devices').set(identity.id, record);
          return;
        }
        // What each device writes for itself when it joins: its grant, its name, its description.
        const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'device', issued: 1 });
        doc.getMap('trust').set(grantKey(key), sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, identity));
        doc.getMap('trust').set(nameKey(record.name), sealEntry('trust', nameKey(record.name), { id: nameKey(record.name), name: record.name, key, at: 1 }, identity));
        doc.getMap('devices').set(identity.id, sealEntry('devices', identity.id, record, identity));
      });
      for (let i = 0; i < DEVICES; i++) seed.registry.deployments.put(deployment(i, ids, seed.id));
    });
    if (side.checkpointBy) writeCheckpoint(seed.registry, MESH, Date.now());
  }
  const state = (p: Peer): number => Y.encodeStateAsUpdate(p.registry.doc).byteLength;
  const joins = new Map<Side, number[]>(sides.map((s) => [s, []]));
  const vouched: number[] = [];
  const runs = 7;
  for (let r = 0; r < runs; r++) {
    // Each side goes first, second and last in turn.
    for (const side of [...sides.slice(r % 3), ...sides.slice(0, r % 3)]) {
      const identity = await Identity.generate();
      const t = performance.now();
      const joiner = await startPeer(side, `joiner-${r}`, identity, 'device');
      await waitFor(() => joiner.registry.devices.size >= DEVICES + 2 && joiner.registry.deployments.keys().length >= DEVICES, 'the joiner to have the registry', 120_000);
      joins.get(side)!.push(performance.now() - t);
      if (side.checkpointBy) vouched.push(joiner.registry.gate?.vouched ?? 0);
      await joiner.stop();
    }
  }
  const sizes = seeds.map(state);
  await Promise.all(seeds.map((s) => s.stop()));
  const p50 = (side: Side): number => percentile(joins.get(side)!.sort((a, b) => a - b), 50);
  const ratio = p50(checkpointed) / p50(unsigned);
  const minVouched = Math.min(...vouched);
  return {
    title: 'Roles: signed registry entries',
    method: `A new peer joins a mesh whose registry holds ${DEVICES} devices and ${DEVICES} deployments and waits until it reads all of them. Signed: every device wrote its own grant (an owner-signed statement), name claim and description (each an Ed25519-signed entry stored as one byte string — author key, signature, the JSON text signed — checked with node:crypto on read, with the author's role and name), the seed wrote the deployments (${bytes(sizes[1]!)} of Yjs state). With a checkpoint: the same, the seed being an owner that signed a checkpoint of the registry (ADR 0025; ${bytes(sizes[2]!)}); the joiner checks the checkpoint's signature and hashes each entry's stored bytes, and opened at least ${minVouched} entries on the checkpoint's word. Unsigned: the same records without roles (${bytes(sizes[0]!)}). Median of ${runs} each, interleaved.`,
    rows: [
      { name: `cold join, ${DEVICES} devices + ${DEVICES} deployments, signed with a checkpoint`, figure: `signed ${ms(p50(checkpointed))}`, baseline: `unsigned ${ms(p50(unsigned))}`, ratio: times(p50(checkpointed), p50(unsigned)), goal: '≤ 1.5×', met: ratio <= 1.5 },
      { name: `cold join, ${DEVICES} devices + ${DEVICES} deployments, signed, no checkpoint`, figure: `signed ${ms(p50(signed))}`, baseline: `unsigned ${ms(p50(unsigned))}`, ratio: times(p50(signed), p50(unsigned)), goal: '' },
    ],
  };
}

/** RPC round trip with the caller's role checked against the same call in a mesh without roles. */
async function rpcWithRoles(): Promise<BenchSection> {
  useNodeEd25519();
  const owner = await Identity.generate();
  const owners = [toHex(owner.publicKey)];
  const plain: Side = { network: new MemoryNetwork() };
  const checked: Side = {
    network: new MemoryNetwork(),
    roles: (identity, role) => ({ mesh: MESH, owners, grant: makeGrant(owner, { mesh: MESH, subject: toHex(identity.publicKey), role, issued: 1 }) }),
  };
  const pairs = new Map<Side, [Peer, Peer]>();
  for (const side of [plain, checked]) {
    const a = await startPeer(side, 'caller', await Identity.generate(), 'operator');
    const b = await startPeer(side, 'callee', await Identity.generate(), 'device');
    await waitFor(() => a.linked().includes(b.id) && b.registry.trust.size >= (side.roles ? 4 : 0), 'link and grants');
    pairs.set(side, [a, b]);
  }
  const samples = new Map<Side, number[]>([[plain, []], [checked, []]]);
  const rounds = 10;
  const perRound = 2000;
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? [plain, checked] : [checked, plain]) {
      const [a, b] = pairs.get(side)!;
      samples.get(side)!.push(...(await sample(perRound, () => a.call(b.id, 'peer.ping', { sentAt: 1 }), r === 0 ? 500 : 50)));
    }
  }
  for (const [a, b] of pairs.values()) await Promise.all([a.stop(), b.stop()]);
  const p = (side: Side, q: number): number => percentile(samples.get(side)!.sort((x, y) => x - y), q);
  const ratio = p(checked, 50) / p(plain, 50);
  return {
    title: 'Roles: authorised requests',
    method: `Two peers on a MemoryNetwork; \`peer.ping\` round trips where the callee checks the caller's role (its grant, read from the signed registry) against the same calls in a mesh without roles. ${rounds} interleaved rounds of ${perRound} calls each side.`,
    rows: [
      { name: 'RPC round trip p50, role checked', figure: ms(p(checked, 50)), baseline: `unchecked ${ms(p(plain, 50))}`, ratio: times(p(checked, 50), p(plain, 50)), goal: '≤ 1.1×', met: ratio <= 1.1 },
      { name: 'RPC round trip p99, role checked', figure: ms(p(checked, 99)), baseline: `unchecked ${ms(p(plain, 99))}`, ratio: times(p(checked, 99), p(plain, 99)), goal: '' },
    ],
  };
}

/** The benchmarks of this file. */
export const trustBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [
  { id: 'roles-join', run: coldJoinSigned },
  { id: 'roles-rpc', run: rpcWithRoles },
];

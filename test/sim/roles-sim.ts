/**
 * Seeded runs of a mesh with roles and adversarial members: an operator publishes and
 * deploys, devices describe themselves, and rogue members (devices by invitation holding
 * the mesh secret) write what a modified client would — other devices' descriptions, name
 * claims, module and deployment records, deletions, unsigned and oversized entries — while
 * the PRNG decides delivery order, loss and duplication — and checkpoint pages signed with
 * their own keys, vouching for forged descriptions. An owner peer signs the real
 * checkpoints. After the faults stop, every honest peer must read the honest entries, and
 * none of the rogues'; so must a peer that joins last and reads most entries on the word of
 * the owner's checkpoint.
 */
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import type { DeploymentRecord, ModuleRecord } from '../../shared/registry/schema.ts';
import { writeCheckpoint } from '../../shared/registry/checkpointer.ts';
import { checkpointKey } from '../../shared/trust/checkpoint.ts';
import { entryDigest, sealEntry } from '../../shared/trust/entry-auth.ts';
import { packDigests } from '../../shared/trust/entry-digest.ts';
import { nameKey } from '../../shared/trust/mesh-trust.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { makeGrant } from '../../shared/trust/statements.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { prng } from './simulator.ts';

/** Options of one adversarial run. */
export interface RolesSimOptions {
  seed: number;
  /** Honest devices besides the operator. */
  devices: number;
  rogues: number;
  steps: number;
  loss: number;
  duplication: number;
}

/** Outcome: null when every honest peer reads exactly the honest registry. */
export interface RolesSimResult {
  seed: number;
  problem: string | null;
  attacks: number;
}

const MESH = 'sim-roles';
/** What a forged description vouched for by a rogue's checkpoint claims its victim offers. */
const FORGED_CAPABILITY = 'camera.takeImageStaticSize';

/** Run one seeded adversarial simulation. */
export async function runRolesSimulation(o: RolesSimOptions): Promise<RolesSimResult> {
  const rng = prng(o.seed);
  const clock = new ManualClock(0);
  const log = collectLogs();
  const network = new MemoryNetwork({ delivery: 'manual' });
  const owner = await Identity.generate();
  const owners = [toHex(owner.publicKey)];
  const start = async (name: string, role: Role, asOwner = false): Promise<Peer> => {
    const identity = asOwner ? owner : await Identity.generate();
    const peer = new Peer({
      transports: [network.createTransport()], store: memoryStore(), clock, identity,
      device: { name, engine: 'node' }, logger: createLogger(`sim:${name}`, log.sink),
      timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 2000, handshakeRetryMs: 500 },
      wallClock: () => clock.now(),
      roles: asOwner ? { mesh: MESH, owners } : { mesh: MESH, owners, grant: makeGrant(owner, { mesh: MESH, subject: toHex(identity.publicKey), role, issued: 0 }) },
    });
    peer.registry.doc.clientID = Math.floor(rng() * 0x7fffffff);
    await peer.start();
    return peer;
  };
  const operator = await start('operator', 'operator');
  const devices: Peer[] = [];
  for (let i = 0; i < o.devices; i++) devices.push(await start(`device-${i}`, 'device'));
  const rogues: Peer[] = [];
  for (let i = 0; i < o.rogues; i++) rogues.push(await start(`rogue-${i}`, 'device'));
  // Holds the owner key: signs checkpoints after quiet spells of the (simulated) clock.
  const ownerPeer = await start('owner-node', 'owner', true);
  const honest = [operator, ownerPeer, ...devices];
  const all = [...honest, ...rogues];

  const modules: ModuleRecord[] = [];
  const deployments: DeploymentRecord[] = [];
  let attacks = 0;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
  const attack = (rogue: Peer): void => {
    attacks++;
    const doc = rogue.registry.doc;
    const victim = pick(devices.length > 0 ? devices : honest);
    const choice = Math.floor(rng() * 8);
    doc.transact(() => {
      if (choice === 0) doc.getMap('devices').set(victim.id, sealEntry('devices', victim.id, { ...victim.registry.devices.get(victim.id)!, name: 'pwned' }, rogue.identity));
      else if (choice === 1) doc.getMap('trust').set(nameKey(`device-0`), sealEntry('trust', nameKey('device-0'), { id: nameKey('device-0'), name: 'device-0', key: toHex(rogue.identity.publicKey), at: 0 }, rogue.identity));
      else if (choice === 2 && modules.length > 0) {
        const m = pick(modules);
        doc.getMap('modules').set(m.id, sealEntry('modules', m.id, { ...m, version: '6.6.6' }, rogue.identity));
      } else if (choice === 3 && modules.length > 0) doc.getMap('modules').delete(pick(modules).id);
      else if (choice === 4) doc.getMap('modules').set(`${attacks}`.padStart(64, 'e'), { id: `${attacks}`.padStart(64, 'e'), junk: 'x'.repeat(300 * 1024) });
      else if (choice === 5 && deployments.length > 0) {
        const d = pick(deployments);
        const entry = doc.getMap('deployments').get(d.id) as { set?: (k: string, v: unknown) => void } | undefined;
        entry?.set?.('record', sealEntry('deployments', d.id, { ...d, name: 'hijacked' }, rogue.identity));
      } else if (choice === 6) doc.getMap('devices').set(victim.id, { ...victim.registry.devices.get(victim.id)!, name: 'unsigned' });
      else {
        // The victim's description, offering a camera, under the victim's own signature, and a
        // checkpoint page signed with the rogue's key vouching for exactly that.
        const stored = doc.getMap('devices').get(victim.id) as Record<string, unknown> | undefined;
        if (!stored) return;
        const forged = { ...stored, capabilities: [FORGED_CAPABILITY] };
        doc.getMap('devices').set(victim.id, forged);
        const page = { id: checkpointKey(0), mesh: MESH, at: clock.now(), page: 0, pages: 1, digests: packDigests([entryDigest('devices', victim.id, forged)]) };
        doc.getMap('trust').set(checkpointKey(0), sealEntry('trust', checkpointKey(0), page, rogue.identity));
      }
    });
  };

  // The rogues attack a mesh whose members know each other (names established), as a
  // member who scanned a QR does; a peer that has not yet heard a name's first claim when
  // a competing one reaches it can side with the wrong key (ADR 0025).
  let settled = false;
  const established = (): boolean => (settled ||= all.every((p) => all.every((q) => p.registry.trust.get(nameKey(q.registry.devices.get(q.id)!.name))?.key === toHex(q.identity.publicKey))));
  // Phase one: the honest mesh forms (faults on, no attacks); phase two: the rogues attack.
  for (let step = 0; step < 4 * o.steps && !established(); step++) await fault(rng());
  // Signature checks finish off the simulated clock (on the thread pool), so on a busy
  // machine formation can need more turns than the faults gave it: let the lossy mesh
  // go on, with real time for those checks, before calling it a failure.
  // Ten seconds of real time at most (the whole suite running beside it once needed more
  // than the second that 200 rounds of 5 ms gave).
  const formBy = Date.now() + 10_000;
  for (let round = 0; (round < 200 || Date.now() < formBy) && !established(); round++) {
    await fault(rng());
    await new Promise((res) => setTimeout(res, 5));
  }
  if (!established()) return finish('the mesh never formed');
  for (let step = 0; step < o.steps; step++) {
    const r = rng();
    if (r < 0.6) deliverSome();
    else if (r < 0.75) clock.advance(10 + Math.floor(rng() * 400));
    else if (r < 0.82) {
      const n = modules.length;
      const record: ModuleRecord = { id: `${n}`.padStart(64, 'a'), name: `m${n}`, version: '1.0.0', size: n, exports: [], imports: [], functions: {}, dataFiles: {}, publishedBy: operator.id, publishedAt: n };
      modules.push(record);
      operator.registry.modules.set(record);
    } else if (r < 0.88) {
      const n = deployments.length;
      const record: DeploymentRecord = { id: `dep-${n}`, name: `dep-${n}`, manifest: {}, solution: {}, revision: 1, coordinator: operator.id, status: 'pending', createdAt: n, updatedAt: n };
      deployments.push(record);
      operator.registry.deployments.put(record);
    } else if (rogues.length > 0) attack(pick(rogues));
    await new Promise((res) => setImmediate(res));
  }

  /** Up to eight queued messages, each delivered, dropped or duplicated as the seed says. */
  function deliverSome(): void {
    for (let d = 0; d < 8 && network.queueLength > 0; d++) {
      const at = Math.floor(rng() * network.queueLength);
      const fate = rng();
      if (fate < o.loss) network.drop(at);
      else if (fate < o.loss + o.duplication) network.duplicate(at);
      else network.deliver(at);
    }
  }

  async function fault(r: number): Promise<void> {
    if (r < 0.8) deliverSome();
    else clock.advance(10 + Math.floor(rng() * 400));
    await new Promise((res) => setImmediate(res));
  }

  async function finish(problem: string | null): Promise<RolesSimResult> {
    // What each peer sees alive, to tell a mesh that never re-linked from a registry that disagrees.
    if (problem) problem += ` (alive: ${all.map((p) => `${p.registry.devices.get(p.id)?.name ?? p.id.slice(0, 8)} ${p.alive().length}/${all.length - 1}`).join(', ')})`;
    if (problem && process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
    await Promise.all(all.map((p) => p.stop()));
    return { seed: o.seed, problem, attacks };
  }

  // Faults stop: deliver everything, let anti-entropy run, until quiet.
  await quiet(() => honest.every((p) => intact(p) === null));
  const problem = honest.map(intact).find((p) => p !== null) ?? null;
  if (problem) return finish(problem);

  // A device joins last, after the owner has signed a checkpoint of the settled registry.
  writeCheckpoint(ownerPeer.registry, MESH, clock.now());
  const late = await start(`device-${o.devices}`, 'device');
  all.push(late);
  await quiet(() => intact(late) === null);
  if (intact(late) !== null) return finish(`the late joiner: ${intact(late)}`);
  if ((late.registry.gate?.vouched ?? 0) === 0) return finish('the late joiner opened nothing on the word of the owner\'s checkpoint');
  return finish(null);

  /**
   * Deliver everything and let time pass, 200 rounds of 500 ms, until `done()`. Links are
   * admitted with signature checks that run on the thread pool, off the simulated clock: on
   * a busy machine they can take longer than the simulated time those rounds give a
   * handshake before it retries (500 ms of it pass in a few ms of real time), and every
   * retry is overtaken again. So when the rounds end with something still wrong, time goes
   * on at twice real time (50 ms every 25 ms), for up to twenty seconds of real time.
   */
  async function quiet(done: () => boolean): Promise<void> {
    const deliverAll = async (): Promise<void> => {
      while (network.queueLength > 0) {
        network.deliver(0);
        await new Promise((res) => setImmediate(res));
      }
    };
    for (let round = 0; round < 200; round++) {
      await deliverAll();
      clock.advance(500);
      await new Promise((res) => setImmediate(res));
      if (round > 20 && network.queueLength === 0 && done()) return;
    }
    const by = Date.now() + 20_000;
    while (!done() && Date.now() < by) {
      await deliverAll();
      clock.advance(50);
      await new Promise((res) => setTimeout(res, 25));
    }
  }

  function intact(p: Peer): string | null {
    for (const d of all) {
      const seen = p.registry.devices.get(d.id);
      if (!seen || !seen.name.startsWith(d === operator ? 'operator' : d.registry.devices.get(d.id)!.name)) return `${p.registry.devices.get(p.id)?.name} reads ${d.id} as ${seen?.name}`;
      if (seen.capabilities.includes(FORGED_CAPABILITY)) return `${p.registry.devices.get(p.id)?.name} reads ${seen.name} offering ${FORGED_CAPABILITY}`;
    }
    for (const m of modules) if (p.registry.modules.get(m.id)?.version !== '1.0.0') return `${p.registry.devices.get(p.id)?.name} reads module ${m.name} as ${p.registry.modules.get(m.id)?.version}`;
    if (p.registry.modules.size !== modules.length) return `${p.registry.devices.get(p.id)?.name} reads ${p.registry.modules.size} modules, ${modules.length} published`;
    for (const d of deployments) if (p.registry.deployments.get(d.id)?.record.name !== d.name) return `${p.registry.devices.get(p.id)?.name} reads ${d.id} as ${p.registry.deployments.get(d.id)?.record.name}`;
    return null;
  }
}

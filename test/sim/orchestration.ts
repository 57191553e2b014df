/**
 * The simulator's orchestration scenario: real supervised peers (orchestrator, agent,
 * coordinator) on a manual-delivery network and a manual clock, while a seeded PRNG
 * deploys, updates to good and broken module versions, deletes, live-migrates and clones
 * modules (not waited for: they run on while faults strike), crashes devices and
 * coordinators, restarts them, partitions and heals — and drops messages. At the end the
 * network heals, every peer comes back, and the run checks that every deployment
 * settled (ready, rolled back or failed — never in between), that the registries agree,
 * and that what runs on each peer is what the registry says.
 */
import { createLogger } from '../../shared/log.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { canonical } from './simulator.ts';
import { createSimSandbox } from './sim-sandbox.ts';
import { deliverOrDrop, simWorld } from './sim-world.ts';

/** Options of one orchestration run. */
export interface OrchestrationSimOptions {
  seed: number;
  peers: number;
  steps: number;
  /** Probability that a delivered message is dropped instead. */
  loss: number;
}

/** Outcome of one run. */
export interface OrchestrationSimResult {
  seed: number;
  ok: boolean;
  detail: string;
  deployments: number;
  /** Final statuses, counted. */
  statuses: Record<string, number>;
  crashes: number;
  partitions: number;
  updates: number;
  /** Migrations and clones started. */
  migrations: number;
  refused: number;
  /** Reasons recorded on failed and rolled-back deployments. */
  reasons: string[];
}

/** `f() -> i32` returning `value`: a minimal module the simulator can really instantiate. */
export function constantModule(value: number): Uint8Array {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
    0x03, 0x02, 0x01, 0x00,
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, value & 0x3f, 0x0b,
  ]);
}

/** Exports `f` but traps in its start function: publishes fine, never loads. */
const BROKEN = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
  0x08, 0x01, 0x00,
  0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
]);

function description(version: string, result: 'integer' | 'none'): ModuleDescription {
  return { name: 'm', version, functions: { f: { method: 'GET', params: [], result: { type: result }, mounts: [] } } };
}

/** Run one orchestration scenario. */
export async function runOrchestrationSimulation(options: OrchestrationSimOptions): Promise<OrchestrationSimResult> {
  const { rng, pick, clock, log, network, identities, stores } = await simWorld(options.seed, options.peers);
  const running: (SupervisedPeer | null)[] = identities.map(() => null);
  const result: OrchestrationSimResult = { seed: options.seed, ok: false, detail: '', deployments: 0, statuses: {}, crashes: 0, partitions: 0, updates: 0, migrations: 0, refused: 0, reasons: [] };

  const start = async (i: number): Promise<void> => {
    const p = await startSupervisedPeer({
      transports: [network.createTransport()],
      store: stores[i]!,
      clock,
      identity: identities[i]!,
      device: { name: `sim-${i}`, engine: 'node', platform: { cpu: { humanReadableName: 'sim', cores: 1 }, memory: { bytes: 2 ** 30 } } },
      sandbox: createSimSandbox(),
      services: {},
      logger: createLogger(`sim:${i}`, log.sink),
      timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 2000, handshakeRetryMs: 500, rpcTimeoutMs: 5000 },
      deploymentTiming: { startMs: 5000, resolvingMs: 5000, fetchingMs: 15_000, loadingMs: 5000 },
      wallClock: () => clock.now(),
    });
    p.peer.registry.doc.clientID = Math.floor(rng() * 0x7fffffff);
    if (process.env.SIM_TRACE) {
      p.peer.registry.on('change', (c) => {
        if (c.remote || c.map !== 'deployments') return;
        for (const k of c.keys) {
          const v = p.peer.registry.deployments.get(k);
          console.log(`t=${clock.now()} sim-${i} wrote ${k}`, v ? `${v.record.status} r${v.record.revision} coord=${v.record.coordinator.slice(0, 4)} sol=${JSON.stringify(v.record.solution).replace(/([0-9a-f]{4})[0-9a-f]{28}/g, '$1')} phases=${JSON.stringify(Object.fromEntries(Object.entries(v.phases).map(([kk, ph]) => [kk.slice(0, 6), `${ph.phase}@${ph.revision}`])))}` : 'deleted');
        }
      });
    }
    running[i] = p;
  };
  const settle = async (): Promise<void> => {
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
  };
  const alive = (): SupervisedPeer[] => running.filter((p): p is SupervisedPeer => p !== null);
  const attempt = async (what: () => unknown): Promise<void> => {
    try {
      await what();
    } catch {
      result.refused++; // Refusals (no placement, unknown module while the registry syncs) are expected.
    }
  };

  for (let i = 0; i < options.peers; i++) await start(i);
  await running[0]!.orchestrator.packages.publish({ wasm: constantModule(1), description: description('1.0.0', 'integer') });
  let versions = 1;
  for (let step = 0; step < options.steps; step++) {
    const r = rng();
    const peers = alive();
    if (r < 0.5) {
      deliverOrDrop(network, rng, 3, options.loss);
    } else if (r < 0.65) {
      clock.advance(50 + Math.floor(rng() * 600));
    } else if (r < 0.73) {
      const id = `d${result.deployments++}`;
      const length = 1 + Math.floor(rng() * 3);
      await attempt(() => pick(peers).orchestrator.deploy({ name: id, sequence: Array.from({ length }, () => ({ module: 'm', func: 'f', device: null })) }, { id }));
    } else if (r < 0.78) {
      const deployments = pick(peers).orchestrator.list();
      if (deployments.length > 0) {
        result.updates++;
        await attempt(() => pick(peers).orchestrator.update(pick(deployments).record.id));
      }
    } else if (r < 0.81) {
      versions++;
      const broken = rng() < 0.5;
      await attempt(() => pick(peers).orchestrator.packages.publish({
        wasm: broken ? BROKEN : constantModule(versions),
        description: description(`${versions}.0.0`, broken ? 'none' : 'integer'),
      }));
    } else if (r < 0.83) {
      const deployments = pick(peers).orchestrator.list();
      if (deployments.length > 0) await attempt(() => pick(peers).orchestrator.remove(pick(deployments).record.id));
    } else if (r < 0.85) {
      // A migration needs messages delivered to finish: it is started, never awaited here.
      const from = pick(peers);
      const deployments = from.orchestrator.list().filter((d) => (d.record.steps ?? []).length > 0);
      if (deployments.length > 0) {
        const d = pick(deployments);
        result.migrations++;
        const to = pick(peers).peer.id;
        const mode = rng() < 0.3 ? 'clone' : 'move';
        from.orchestrator.migrate(d.record.id, String(Math.floor(rng() * d.record.steps!.length)), to, { mode }).catch(() => result.refused++);
      }
    } else if (r < 0.88) {
      const up = running.map((p, i) => (p ? i : -1)).filter((i) => i >= 0);
      if (up.length > 2) {
        const i = pick(up);
        const p = running[i]!;
        running[i] = null;
        await p.stop();
        result.crashes++;
      }
    } else if (r < 0.93) {
      const down = running.map((p, i) => (p ? -1 : i)).filter((i) => i >= 0);
      if (down.length > 0) await start(pick(down));
    } else if (r < 0.97) {
      const groups: string[][] = [[], []];
      for (const id of identities) groups[rng() < 0.5 ? 0 : 1]!.push(id.id);
      network.setPartition(groups);
      result.partitions++;
    } else {
      network.setPartition(null);
    }
    await settle();
  }

  // Heal: everyone back, no more faults; time moves on until everything settles.
  network.setPartition(null);
  for (let i = 0; i < options.peers; i++) if (!running[i]) await start(i);
  const peers = running as SupervisedPeer[];
  let delivered = 0;
  for (let round = 0; round < 800; round++) {
    for (let k = 0; k < 100_000 && network.queueLength > 0; k++) {
      network.deliver(0);
      delivered++;
      if (network.queueLength === 0) await settle();
    }
    await settle();
    const problem = await unsettled(peers);
    result.detail = problem ?? '';
    if (process.env.SIM_TRACE) console.log(round, clock.now(), problem, network.queueLength, delivered);
    if (problem === null && network.queueLength === 0) {
      result.ok = true;
      break;
    }
    clock.advance(250);
    await settle();
  }
  // Links are admitted with signature checks on the thread pool, off the simulated clock: on
  // a busy machine a check can outlast the simulated time a handshake waits before it
  // retries (500 ms of it pass in a few ms of real time above), and every retry is overtaken
  // again ("peer 0 sees 0 peers alive"). So a run not settled yet goes on at twice real time
  // (50 ms every 25 ms) for up to twenty seconds of real time.
  const by = Date.now() + 20_000;
  while (!result.ok && Date.now() < by) {
    while (network.queueLength > 0) {
      network.deliver(0);
      delivered++;
      await settle();
    }
    const problem = await unsettled(peers);
    result.detail = problem ?? '';
    if (problem === null && network.queueLength === 0) result.ok = true;
    else {
      clock.advance(50);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  for (const d of peers[0]!.orchestrator.list()) {
    result.statuses[d.record.status] = (result.statuses[d.record.status] ?? 0) + 1;
    if (d.record.reason) result.reasons.push(d.record.reason);
  }
  if ((!result.ok || process.env.SIM_LOG === 'all') && process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
  await Promise.all(peers.map((p) => p.stop()));
  return result;
}

/** Null when every deployment settled, all registries agree and every peer runs what they say. */
export async function unsettled(peers: SupervisedPeer[]): Promise<string | null> {
  const reference = canonical(peers[0]!.peer.registry.toJSON().deployments);
  for (const [i, p] of peers.entries()) {
    if (p.peer.alive().length !== peers.length - 1) return `peer ${i} sees ${p.peer.alive().length} peers alive`;
    if (canonical(p.peer.registry.toJSON().deployments) !== reference) return `peer ${i} has other deployments than peer 0`;
  }
  for (const d of peers[0]!.orchestrator.list()) {
    const r = d.record;
    if (r.status !== 'ready' && r.status !== 'rolled-back' && r.status !== 'failed') return `deployment ${r.id} is ${r.status} (revision ${r.revision})`;
    if (r.status === 'failed') continue;
    for (const [index, step] of (r.steps ?? []).entries()) {
      const host = peers.find((p) => p.peer.id === r.solution[String(index)]);
      if (!host) return `deployment ${r.id} step ${index} is placed on an unknown peer`;
      if (!host.supervisor.deployed().some((m) => m.deploymentId === r.id && m.moduleId === step.module)) return `deployment ${r.id} is ${r.status} but step ${index} does not run on its peer`;
      for (const replica of r.replicas?.[String(index)] ?? []) {
        const clone = peers.find((p) => p.peer.id === replica);
        if (!clone?.supervisor.deployed().some((m) => m.deploymentId === r.id && m.moduleId === step.module)) return `deployment ${r.id} step ${index} has a clone on ${replica.slice(0, 8)} that does not run`;
      }
    }
  }
  for (const p of peers) {
    const ids = new Set(p.orchestrator.list().filter((d) => d.record.status !== 'failed').map((d) => d.record.id));
    const stray = p.supervisor.deployed().find((m) => !ids.has(m.deploymentId));
    if (stray) return `peer ${p.peer.id.slice(0, 8)} still runs ${stray.deploymentId}/${stray.name}`;
  }
  return null;
}

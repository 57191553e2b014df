/**
 * The simulator's zones-and-risk-levels scenario: real supervised peers enforcing the ODRL
 * cards (`enforcePolicies`) on a manual-delivery network and a manual clock, while a
 * seeded PRNG deploys camera → grayscale chains and moves devices between the safe and
 * the unsafe zone by rewriting their node cards from any peer — with messages dropped and
 * the network partitioned now and then. At the end the network heals and the run checks
 * that every deployment settled, that the registries agree, that every step runs where the
 * registry places it, and that no deployment still ready has a step on a device its zone no
 * longer allows: steps moved, or the deployment failed saying why.
 */
import { createLogger } from '../../shared/log.ts';
import { policyCards, validateSteps } from '../../shared/orchestrator/policy.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { CardRecord } from '../../shared/registry/schema.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { dataSourceCard, moduleCard, nodeCard, zoneCard } from '../helpers/odrl-cards.ts';
import { constantModule, unsettled } from './orchestration.ts';
import { createSimSandbox } from './sim-sandbox.ts';
import { deliverOrDrop, simWorld } from './sim-world.ts';

/** Options of one run. */
export interface ZoneSimOptions {
  seed: number;
  peers: number;
  steps: number;
  /** Probability that a delivered message is dropped instead. */
  loss: number;
}

/** Outcome of one run. */
export interface ZoneSimResult {
  seed: number;
  ok: boolean;
  detail: string;
  deployments: number;
  zoneChanges: number;
  /** Times a deployment's placement changed after it was first placed. */
  moves: number;
  statuses: Record<string, number>;
  reasons: string[];
}

const describe = (name: string): ModuleDescription => ({ name, version: '1.0.0', functions: { f: { method: 'GET', params: [], result: { type: 'integer' }, mounts: [] } } });
const card = (kind: CardRecord['kind'], id: string, json: unknown): CardRecord => ({ id, kind, json: JSON.stringify(json), updatedAt: 0 });

/** Run one zones scenario. */
export async function runZoneSimulation(options: ZoneSimOptions): Promise<ZoneSimResult> {
  const { rng, pick, clock, log, network, identities, stores } = await simWorld(options.seed, options.peers);
  const result: ZoneSimResult = { seed: options.seed, ok: false, detail: '', deployments: 0, zoneChanges: 0, moves: 0, statuses: {}, reasons: [] };
  const peers: SupervisedPeer[] = [];
  for (let i = 0; i < options.peers; i++) {
    const p = await startSupervisedPeer({
      transports: [network.createTransport()],
      store: stores[i]!,
      clock,
      identity: identities[i]!,
      device: { name: `zone-${i}`, engine: 'node', platform: { cpu: { humanReadableName: 'sim', cores: 1 }, memory: { bytes: 2 ** 30 } } },
      sandbox: createSimSandbox(),
      services: {},
      logger: createLogger(`zones:${i}`, log.sink),
      timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 2000, handshakeRetryMs: 500, rpcTimeoutMs: 5000 },
      deploymentTiming: { startMs: 5000, resolvingMs: 5000, fetchingMs: 15_000, loadingMs: 5000 },
      wallClock: () => clock.now(),
      enforcePolicies: true,
    });
    p.peer.registry.doc.clientID = Math.floor(rng() * 0x7fffffff);
    peers.push(p);
  }
  const settle = async (): Promise<void> => {
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
  };
  const deliverAll = async (): Promise<void> => {
    for (let k = 0; k < 100_000 && network.queueLength > 0; k++) {
      network.deliver(0);
      if (network.queueLength === 0) await settle();
    }
    await settle();
  };

  // Cards: the zone card, a random zone and camera risk per device, the two module cards.
  const first = peers[0]!;
  const cam = await first.orchestrator.packages.publish({ wasm: constantModule(1), description: describe('cam') });
  const gray = await first.orchestrator.packages.publish({ wasm: constantModule(2), description: describe('gray') });
  first.peer.registry.cards.set(card('zones', 'zones', zoneCard()));
  first.peer.registry.cards.set(card('module', `module:${cam.id}`, moduleCard(cam.id, 'low', 'camera', 'inherit')));
  first.peer.registry.cards.set(card('module', `module:${gray.id}`, moduleCard(gray.id, 'medium', 'temp', 'inherit')));
  const zones = ['safe', 'unsafe'];
  for (const p of peers) {
    first.peer.registry.cards.set(card('node', `node:${p.peer.id}`, nodeCard(p.peer.id, pick(zones))));
    first.peer.registry.cards.set(card('datasource', `datasource:${p.peer.id}:camera`, dataSourceCard(p.peer.id, 'camera', pick(['high', 'medium']))));
  }
  // Count placements that change after the first one (moves), as peer 0 sees them.
  const placed = new Map<string, string>();
  first.peer.registry.on('change', (c) => {
    if (c.map !== 'deployments') return;
    for (const id of c.keys) {
      const r = first.peer.registry.deployments.get(id)?.record;
      if (!r?.steps) continue;
      const now = JSON.stringify(r.solution);
      const before = placed.get(id);
      if (before !== undefined && before !== now) result.moves++;
      placed.set(id, now);
    }
  });
  await deliverAll();

  for (let step = 0; step < options.steps; step++) {
    const r = rng();
    if (r < 0.45) {
      deliverOrDrop(network, rng, 4, options.loss);
    } else if (r < 0.65) {
      clock.advance(50 + Math.floor(rng() * 800));
    } else if (r < 0.75) {
      const id = `z${result.deployments++}`;
      try {
        pick(peers).orchestrator.deploy({ name: id, sequence: [{ module: 'cam', func: 'f', device: null }, { module: 'gray', func: 'f', device: null }] }, { id });
      } catch {
        // No device may host the chain under the cards as this peer sees them: refused.
      }
    } else if (r < 0.9) {
      const device = pick(peers).peer.id;
      result.zoneChanges++;
      pick(peers).peer.registry.cards.set(card('node', `node:${device}`, nodeCard(device, pick(zones))));
    } else if (r < 0.95) {
      const groups: string[][] = [[], []];
      for (const id of identities) groups[rng() < 0.5 ? 0 : 1]!.push(id.id);
      network.setPartition(groups);
    } else {
      network.setPartition(null);
    }
    await settle();
  }

  network.setPartition(null);
  for (let round = 0; round < 800; round++) {
    await deliverAll();
    const problem = (await unsettled(peers)) ?? misplaced(peers);
    result.detail = problem ?? '';
    if (problem === null && network.queueLength === 0) {
      result.ok = true;
      break;
    }
    clock.advance(250);
    await settle();
  }
  // As in the orchestration simulator: signature checks run off the simulated clock, so a
  // run not settled yet goes on at twice real time for up to twenty seconds of real time.
  const by = Date.now() + 20_000;
  while (!result.ok && Date.now() < by) {
    await deliverAll();
    const problem = (await unsettled(peers)) ?? misplaced(peers);
    result.detail = problem ?? '';
    if (problem === null && network.queueLength === 0) result.ok = true;
    else {
      clock.advance(50);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  for (const d of first.orchestrator.list()) {
    result.statuses[d.record.status] = (result.statuses[d.record.status] ?? 0) + 1;
    if (d.record.reason) result.reasons.push(d.record.reason);
  }
  if (!result.ok && process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
  await Promise.all(peers.map((p) => p.stop()));
  return result;
}

/** A deployment still serving with a step where the cards no longer allow it, if any. */
function misplaced(peers: SupervisedPeer[]): string | null {
  const registry = peers[0]!.peer.registry;
  const cards = policyCards(registry.cards.values());
  for (const d of peers[0]!.orchestrator.list()) {
    const r = d.record;
    if ((r.status !== 'ready' && r.status !== 'rolled-back') || !r.steps) continue;
    const bad = validateSteps(r.steps, r.solution, cards).find((l) => !l.valid);
    if (bad) return `deployment ${r.id} is ${r.status} with step ${bad.step} where the cards refuse it: ${bad.reasons.join('; ')}`;
  }
  return null;
}

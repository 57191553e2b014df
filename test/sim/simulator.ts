/**
 * A seeded, replayable simulator of a whole mesh in one process. Real `Peer`s run on a
 * manual-delivery MemoryNetwork and a ManualClock; a PRNG seeded by `seed` decides
 * every delivery order, loss, duplication, partition, heal, crash, restart and registry
 * edit. At the end the network heals, every peer is back, and the run checks that all
 * registries are equal and every peer sees every other alive. The same seed replays
 * the same schedule.
 */
import { createLogger } from '../../shared/log.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork, type QueuedMessage } from '../../shared/memory/memory-network.ts';
import { decodeMessage } from '../../shared/protocol/wire.ts';
import { Peer, type PeerTiming } from '../../shared/mesh/peer.ts';
import type { PeerStore } from '../../shared/ports/key-value-store.ts';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';

/** Link layouts the simulator can build. */
export type SimTopology = 'all-to-all' | 'hub-and-spoke' | 'sparse';

/** Options of one run. */
export interface SimOptions {
  seed: number;
  peers: number;
  steps: number;
  topology: SimTopology;
  /** Probability that a message picked for delivery is dropped. */
  loss: number;
  /** Probability that a message picked for delivery is delivered and also kept queued. */
  duplication: number;
  /** Extra random chords per peer in the sparse topology (a ring plus these). */
  chords?: number;
  /** Messages handled by one delivery step (default 1; large meshes need more to keep up). */
  deliveriesPerStep?: number;
  /** Peers save their registry and reload it when restarted (default true). */
  persistRegistry?: boolean;
  timing?: Partial<PeerTiming>;
}

/** Outcome of one run. */
export interface SimResult {
  seed: number;
  converged: boolean;
  /** Why it did not converge. */
  detail: string;
  delivered: number;
  dropped: number;
  duplicated: number;
  edits: number;
  crashes: number;
  partitions: number;
  healRounds: number;
  /** Real milliseconds the run took. */
  wallMs: number;
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Let queued microtasks run, then wait until no peer has a handshake step in flight. */
async function settle(peers: readonly (Peer | null)[]): Promise<void> {
  await new Promise((r) => setImmediate(r));
  for (;;) {
    const busy = peers.filter((p): p is Peer => p !== null && p.busy);
    if (busy.length === 0) return;
    await Promise.all(busy.map((p) => p.idle()));
  }
}

const KINDS = ['hello', 'auth', 'sync1', 'sync2', 'update', 'aware', 'rpc', 'frag'];
const kinds = new WeakMap<QueuedMessage, number>();
/** The message's type as an index into KINDS (decoded once per message). */
function kind(m: QueuedMessage): number {
  let k = kinds.get(m);
  if (k === undefined) {
    const decoded = decodeMessage(m.data);
    k = decoded.ok ? KINDS.indexOf(decoded.value.t) : -1;
    kinds.set(m, k);
  }
  return k;
}

/** The command that replays a run. */
export function replayCommand(o: SimOptions): string {
  return `npm run sim -- --seed ${o.seed} --peers ${o.peers} --steps ${o.steps} --topology ${o.topology} --loss ${o.loss} --dup ${o.duplication}`;
}

/** Run one simulation. */
export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const started = Date.now();
  const rng = prng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
  const clock = new ManualClock(0);
  const log = collectLogs();
  const timing: Partial<PeerTiming> = { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 2000, handshakeRetryMs: 500, rpcTimeoutMs: 5000, ...options.timing };

  // Identities first: the topology is defined over peer ids.
  const identities: Identity[] = [];
  for (let i = 0; i < options.peers; i++) identities.push(await Identity.generate());
  const ids = identities.map((id) => id.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const links = buildTopology(options, ids, rng);
  const adjacency = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const key of links) {
    const [a, b] = key.split('-').map(Number) as [number, number];
    adjacency.get(ids[a]!)!.push(ids[b]!);
    adjacency.get(ids[b]!)!.push(ids[a]!);
  }
  const network = new MemoryNetwork({
    delivery: 'manual',
    links: (a, b) => links.has(pairKey(index.get(a)!, index.get(b)!)),
    neighbors: (id) => adjacency.get(id) ?? [],
  });

  const stores: PeerStore[] = ids.map(() => memoryStore());
  const running: (Peer | null)[] = ids.map(() => null);
  const result: SimResult = { seed: options.seed, converged: false, detail: '', delivered: 0, dropped: 0, duplicated: 0, edits: 0, crashes: 0, partitions: 0, healRounds: 0, wallMs: 0 };

  const start = async (i: number): Promise<void> => {
    const peer = new Peer({
      transports: [network.createTransport()],
      store: stores[i]!,
      clock,
      identity: identities[i]!,
      device: { name: `sim-${i}`, engine: 'node', capabilities: ['sys.millis'] },
      logger: createLogger(`sim:${i}`, log.sink),
      timing,
      persistRegistry: options.persistRegistry ?? true,
      wallClock: () => clock.now(),
    });
    // A fresh document needs a fresh client id; drawing it from the seed makes conflicts replay alike.
    peer.registry.doc.clientID = Math.floor(rng() * 0x7fffffff);
    running[i] = peer;
    await peer.start();
  };
  for (let i = 0; i < options.peers; i++) await start(i);

  // The hub of hub-and-spoke never crashes: without it the spokes cannot reach anyone.
  const mayCrash = (i: number): boolean => !(options.topology === 'hub-and-spoke' && i === 0);
  let editCounter = 0;

  // Within one step, concurrent handshakes finish in any order; sort what they sent.
  const byIndex = (a: QueuedMessage, b: QueuedMessage): number =>
    index.get(a.from)! - index.get(b.from)! || index.get(a.to)! - index.get(b.to)! || kind(a) - kind(b);
  // Wait out asynchronous work, then put what it sent into a timing-independent order.
  // `mark` is where the current step's messages start in the network's sending order.
  let mark = network.nextSeq;
  const quiesce = async (): Promise<void> => {
    await settle(running);
    network.canonicalizeSince(mark, byIndex);
    mark = network.nextSeq;
  };
  for (let step = 0; step < options.steps; step++) {
    const r = rng();
    if (r < 0.55) {
      for (let d = 0; d < (options.deliveriesPerStep ?? 1) && network.queueLength > 0; d++) {
        const at = Math.floor(rng() * network.queueLength);
        const fate = rng();
        if (fate < options.loss) {
          network.drop(at);
          result.dropped++;
        } else if (fate < options.loss + options.duplication) {
          network.duplicate(at);
          result.duplicated++;
        } else {
          network.deliver(at);
          result.delivered++;
        }
      }
    } else if (r < 0.7) {
      clock.advance(10 + Math.floor(rng() * 400));
    } else if (r < 0.85) {
      const alive = running.filter((p): p is Peer => p !== null && p.running);
      if (alive.length > 0) {
        edit(pick(alive), rng, editCounter++, clock.now());
        result.edits++;
      }
    } else if (r < 0.89) {
      const groups: string[][] = [[], []];
      for (const id of ids) groups[rng() < 0.5 ? 0 : 1]!.push(id);
      network.setPartition(groups);
      result.partitions++;
    } else if (r < 0.93) {
      network.setPartition(null);
    } else if (r < 0.97) {
      const candidates = running.map((p, i) => (p && mayCrash(i) ? i : -1)).filter((i) => i >= 0);
      if (candidates.length > 2) {
        const i = pick(candidates);
        await running[i]!.stop();
        running[i] = null;
        result.crashes++;
      }
    } else {
      const stopped = running.map((p, i) => (p ? -1 : i)).filter((i) => i >= 0);
      if (stopped.length > 0) await start(pick(stopped));
    }
    await quiesce();
  }

  // Heal: no more faults, everyone back, time moves on until the registries agree.
  network.setPartition(null);
  for (let i = 0; i < options.peers; i++) if (!running[i]) await start(i);
  const maxRounds = 400;
  for (let round = 0; round < maxRounds; round++) {
    result.healRounds = round;
    // One message at a time, letting a handshake step finish before the next delivery:
    // concurrent handshakes would make relays depend on which signature is checked first.
    for (let k = 0; k < 1_000_000; k++) {
      if (network.queueLength === 0) {
        // Relays go out at the end of a task: let them, then look again.
        await quiesce();
        if (network.queueLength === 0) break;
        continue;
      }
      const handshake = kind(network.peek(0)!) <= 1;
      network.deliver(0);
      result.delivered++;
      if (handshake) await quiesce();
    }
    const problem = divergence(running as Peer[]);
    if (problem === null && network.queueLength === 0) {
      result.converged = true;
      break;
    }
    result.detail = problem ?? 'messages still in flight';
    clock.advance(250);
    await quiesce();
  }
  if (result.converged) result.detail = '';
  else if (process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
  await Promise.all(running.map((p) => p?.stop()));
  result.wallMs = Date.now() - started;
  return result;
}

/** Null when every peer has the same registry and sees every other alive; else what differs. */
function divergence(peers: Peer[]): string | null {
  const reference = peers[0]!.registry.toJSON() as Record<string, Record<string, unknown>>;
  for (let i = 1; i < peers.length; i++) {
    const other = peers[i]!.registry.toJSON() as Record<string, Record<string, unknown>>;
    for (const map of ['devices', 'modules', 'deployments']) {
      const keys = new Set([...Object.keys(reference[map] ?? {}), ...Object.keys(other[map] ?? {})]);
      for (const key of keys) {
        const a = canonical(reference[map]?.[key]);
        const b = canonical(other[map]?.[key]);
        if (a !== b) return `registry of peer ${i} differs from peer 0 at ${map}/${key}: ${b.slice(0, 300)} vs ${a.slice(0, 300)}`;
      }
    }
  }
  for (let i = 0; i < peers.length; i++) {
    const alive = peers[i]!.alive().length;
    if (alive !== peers.length - 1) return `peer ${i} sees ${alive} of ${peers.length - 1} peers alive`;
  }
  return null;
}

/** JSON with sorted keys, so that map insertion order (which differs between peers) does not matter. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Uint8Array) return `bytes:${Array.from(value).join('.')}`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function pairKey(a: number, b: number): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

function buildTopology(o: SimOptions, ids: string[], rng: () => number): Set<string> {
  const n = ids.length;
  const links = new Set<string>();
  if (o.topology === 'all-to-all') {
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) links.add(pairKey(a, b));
  } else if (o.topology === 'hub-and-spoke') {
    for (let b = 1; b < n; b++) links.add(pairKey(0, b));
  } else {
    for (let a = 0; a < n; a++) links.add(pairKey(a, (a + 1) % n));
    const chords = o.chords ?? 1;
    for (let a = 0; a < n; a++) {
      for (let c = 0; c < chords; c++) {
        const b = Math.floor(rng() * n);
        if (b !== a) links.add(pairKey(a, b));
      }
    }
  }
  return links;
}

const DEPLOYMENT_IDS = ['d0', 'd1', 'd2', 'd3'];

/** One random registry edit by `peer`. */
function edit(peer: Peer, rng: () => number, n: number, now: number): void {
  const reg = peer.registry;
  const kind = rng();
  if (kind < 0.15) {
    const own = reg.devices.get(peer.id);
    if (own) reg.devices.set({ ...own, capabilities: [...own.capabilities.slice(0, 3), `sim.cap${n}`] });
  } else if (kind < 0.35) {
    const id = (n.toString(16).padStart(8, '0') + '0'.repeat(64)).slice(0, 64);
    reg.modules.set({
      id, name: `m${n % 7}`, version: `1.${n}.0`, size: n, exports: [{ name: 'f', kind: 'function' }], imports: [],
      functions: {}, dataFiles: {}, publishedBy: peer.id, publishedAt: now,
    });
  } else if (kind < 0.45) {
    const ids = reg.modules.keys();
    if (ids.length > 0) reg.modules.delete(ids[Math.floor(rng() * ids.length)]!);
  } else if (kind < 0.7) {
    const id = DEPLOYMENT_IDS[Math.floor(rng() * DEPLOYMENT_IDS.length)]!;
    const prev = reg.deployments.get(id)?.record;
    const record: DeploymentRecord = {
      id, name: `dep-${id}`, manifest: { sequence: [{ module: 'm', func: 'f' }] }, solution: { '0': peer.id },
      revision: (prev?.revision ?? 0) + 1, coordinator: peer.id, status: pick(['pending', 'deploying', 'ready', 'failed'], rng),
      createdAt: prev?.createdAt ?? now, updatedAt: now,
    };
    reg.deployments.put(record);
  } else if (kind < 0.92) {
    const ids = reg.deployments.keys();
    if (ids.length > 0) {
      const id = ids[Math.floor(rng() * ids.length)]!;
      reg.deployments.setPhase(id, String(Math.floor(rng() * 3)), peer.id, {
        phase: pick(['resolving', 'fetching', 'loading', 'ready', 'failed'], rng), at: now, revision: reg.deployments.get(id)!.record.revision,
      });
    }
  } else {
    const ids = reg.deployments.keys();
    if (ids.length > 0) reg.deployments.delete(ids[Math.floor(rng() * ids.length)]!);
  }
}

function pick<T>(items: readonly T[], rng: () => number): T {
  return items[Math.floor(rng() * items.length)]!;
}

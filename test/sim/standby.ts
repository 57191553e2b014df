/**
 * The simulator's hot-standby scenario (ADR 0038): real supervised peers on a
 * manual-delivery network and a manual clock; a counter (its value in a Wasm global) is
 * deployed with `replicas` standbys, and while a seeded PRNG makes calls from every
 * peer (not awaited: they run on while faults strike), it drops and reorders messages,
 * kills peers (their links drop with no goodbye, messages in flight are lost), restarts
 * them, partitions the network and heals it. At the end everything heals and the run
 * checks:
 * - one primary per epoch: no two peers were ever recorded as the counter's primary under
 *   the same revision and epoch, on any peer's registry;
 * - no answered call lost and none answered twice: within one revision (one line of
 *   state: a re-placement without a standby starts afresh), the answered values are
 *   distinct, and those of the final revision all come before the value a last call gets;
 * - no call ran twice: the final value is at most one more than all the calls answered or
 *   failed (a re-placement onto the peer that holds the state carries it into the next
 *   revision, so the calls of one revision are not a bound).
 * Each answer is checked in the line of state (revision, epoch) the peer that ran the call
 * held when it ran it (the simulator's sandbox reports each run), not the one its registry
 * holds when the answer reaches the caller: a merge may have moved it on meanwhile.
 * Calls answered by a primary after another peer had already taken over under a newer
 * epoch or revision, and calls in flight while a partition split the running peers (or
 * run by a peer whose presence did not yet show every running peer: links form again a
 * while after a heal or a restart), are the documented limit of ADR 0038 (a partition
 * leaves a primary serving the callers on its side without its standby, and a side
 * without the primary re-places or promotes): they are counted apart, not checked. So is
 * state every copy of which was killed: after each kill the run reads the counter in
 * every instance the newest line's primary and standbys still hold (through the
 * simulator's sandbox; an instance that ran calls under an older epoch of the newest
 * revision is a superseded primary's, another line), and when none holds the newest
 * answered value the checks start a new line of state. The mesh has settled when every
 * peer sees the deployment ready or rolled back (a rollback serves as ready does), every
 * other peer alive and no call pending.
 * `npm run sim -- --standby --seed N` runs one seed, and runs it the same way every time:
 * the peers' keys and the ids the product draws come from the seed, and every step waits
 * for the hashes and signatures that finish on other threads, handed back in the order
 * they started.
 */
import { createLogger } from '../../shared/log.ts';
import type { MemoryTransport } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { createSimSandbox } from './sim-sandbox.ts';
import { deliverOrDrop, offThreadDone, orderOffThreadWork, seedRandomness, simWorld } from './sim-world.ts';

/** Options of one hot-standby run. */
export interface StandbySimOptions {
  seed: number;
  peers: number;
  steps: number;
  /** Standbys the counter's manifest asks for. */
  replicas: number;
  /** Probability that a delivered message is dropped instead. */
  loss: number;
}

/** Outcome of one run. */
export interface StandbySimResult {
  seed: number;
  ok: boolean;
  detail: string;
  calls: number;
  answered: number;
  failed: number;
  kills: number;
  partitions: number;
  /** Takeovers: epochs above 0 recorded. */
  takeovers: number;
  /** Answers given by a primary another peer had already replaced (the documented limit). */
  superseded: number;
  /** Answers to calls in flight while a partition split the running peers (the documented limit). */
  partitioned: number;
  /** Kills after which no copy held the newest answered value (two faults: outside the promise). */
  lostByFaults: number;
}

/**
 * `f() -> i32` adding one to the exported mutable global `g` and returning it: a counter
 * whose whole state is the global the simulator's sandbox snapshots.
 */
export const COUNTER = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  0x03, 0x02, 0x01, 0x00,
  0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b,
  0x07, 0x09, 0x02, 0x01, 0x66, 0x00, 0x00, 0x01, 0x67, 0x03, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x23, 0x00, 0x41, 0x01, 0x6a, 0x24, 0x00, 0x23, 0x00, 0x0b,
]);

const DESCRIPTION: ModuleDescription = { name: 'counter', version: '1.0.0', functions: { f: { method: 'GET', params: [], result: { type: 'integer' } , mounts: [] } } };

/** One answered call: its value, and the line of state (revision, epoch) of the peer that answered, as that peer saw it. */
interface Answer {
  value: number;
  peer: string;
  segment: number;
  revision: number;
  epoch: number;
  /** A newer primary was recorded somewhere before this answer came. */
  superseded: boolean;
  /** A partition split the running peers at some time while the call was in flight, or the peer that ran it did not yet see every running peer. */
  partitioned: boolean;
}

/**
 * Run one hot-standby scenario. WebCrypto results are handed back in the order the
 * operations started and each step waits for them (`orderOffThreadWork`), and the ids the
 * product draws come from the seed (`seedRandomness`): a seed runs the same interleaving
 * on every run, on a busy machine as on a quiet one.
 */
export async function runStandbySimulation(options: StandbySimOptions): Promise<StandbySimResult> {
  const release = orderOffThreadWork();
  const unseed = seedRandomness(options.seed);
  try {
    return await simulate(options);
  } finally {
    unseed();
    release();
  }
}

async function simulate(options: StandbySimOptions): Promise<StandbySimResult> {
  const { rng, pick, clock, log, network, identities, stores } = await simWorld(options.seed, options.peers, true);
  // Peer ids are random; in id order, peer i plays the same part under the same seed.
  identities.sort((a, b) => (a.id < b.id ? -1 : 1));
  /** Per peer, the sandbox instances it holds now: primaries and standby copies. */
  const copies: Set<WebAssembly.Instance>[] = identities.map(() => new Set());
  /**
   * Bumped when a kill leaves no copy holding the newest answered value: two faults
   * that take every copy of the state (the primary and every standby in sync with it)
   * lose it, which is outside what a standby promises; the checks start afresh.
   */
  let segment = 0;
  let lostByFaults = 0;
  const running: ({ node: SupervisedPeer; transport: MemoryTransport } | null)[] = identities.map(() => null);
  const result: StandbySimResult = { seed: options.seed, ok: false, detail: '', calls: 0, answered: 0, failed: 0, kills: 0, partitions: 0, takeovers: 0, superseded: 0, partitioned: 0, lostByFaults: 0 };
  let deploymentId = '';
  /** `revision/epoch` → the primaries any registry recorded for it. */
  const primaries = new Map<string, Set<string>>();
  /** `revision/epoch` → the primary and standbys any registry recorded for it. */
  const members = new Map<string, Set<string>>();
  /** The sides of the partition in force, and how many partitions were made so far. */
  let sides: string[][] | null = null;
  let partitionsMade = 0;
  /** True while the partition splits the peers that are running. */
  const split = (): boolean => {
    if (!sides) return false;
    const ids = up().map((i) => identities[i]!.id);
    return !sides.some((side) => ids.every((id) => side.includes(id)));
  };
  /** The newest line of state any registry recorded, as [revision, epoch]. */
  let newestLine: [number, number] = [0, 0];
  const answers: Answer[] = [];
  /** Calls that failed, by the revision the caller saw when it made them. */
  const failedIn = new Map<number, number>();
  const pending = new Set<Promise<unknown>>();
  /**
   * Per peer, the calls its instances ran: the value, the order of the run among all runs,
   * and the record (revision, epoch) the peer held at that moment. An answer is checked
   * against the line of state it was computed in, not the record its peer holds when the
   * answer reaches the caller (a merge may have moved that peer to a newer revision since).
   */
  const runs: { value: number; order: number; revision: number; epoch: number; cutOff: boolean }[][] = identities.map(() => []);
  let runOrder = 0;
  /**
   * The line (`revision/epoch`) each instance last ran a call under. A standby's copy runs
   * none until it takes over; a primary's instance that ran its calls under an epoch another
   * peer's takeover has since superseded holds that older line's state, not the newest
   * line's, even on a peer the newest line names as a standby (named, it may never have got
   * the copy).
   */
  const ranUnder = new WeakMap<WebAssembly.Instance, string>();

  const start = async (i: number): Promise<void> => {
    const transport = network.createTransport();
    let self: SupervisedPeer | undefined;
    const ran = (value: number | bigint | undefined, instance: WebAssembly.Instance): void => {
      const r = self?.peer.registry.deployments.get(deploymentId)?.record;
      // Presence on this peer not yet showing every running peer (links form again a while
      // after a partition heals or a peer restarts): it serves as one side of a partition.
      const seen = new Set(self?.peer.alive() ?? []);
      const cutOff = up().some((k) => k !== i && !seen.has(identities[k]!.id));
      runs[i]!.push({ value: Number(value), order: ++runOrder, revision: r?.revision ?? 0, epoch: r?.epoch ?? 0, cutOff });
      ranUnder.set(instance, `${r?.revision ?? 0}/${r?.epoch ?? 0}`);
    };
    const node = await startSupervisedPeer({
      transports: [transport],
      store: stores[i]!,
      clock,
      identity: identities[i]!,
      device: { name: `standby-${i}`, engine: 'node', platform: { cpu: { humanReadableName: 'sim', cores: 1 }, memory: { bytes: 2 ** 30 } } },
      sandbox: createSimSandbox(copies[i], ran),
      services: {},
      logger: createLogger(`standby-sim:${i}`, log.sink),
      timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 2000, handshakeRetryMs: 500, rpcTimeoutMs: 5000 },
      deploymentTiming: { startMs: 5000, resolvingMs: 5000, fetchingMs: 15_000, loadingMs: 5000 },
      wallClock: () => clock.now(),
    });
    self = node;
    node.peer.registry.doc.clientID = Math.floor(rng() * 0x7fffffff);
    node.peer.registry.on('change', (c) => {
      if (c.map !== 'deployments' || !c.keys.includes(deploymentId)) return;
      const r = node.peer.registry.deployments.get(deploymentId)?.record;
      const primary = r?.solution['0'];
      if (!r || primary === undefined) return;
      const line = `${r.revision}/${r.epoch ?? 0}`;
      if (process.env.SIM_TRACE) console.log(`t=${clock.now()} peer ${i} sees ${line} primary ${identities.findIndex((x) => x.id === primary)} standby ${(r.standby?.['0'] ?? []).map((p) => identities.findIndex((x) => x.id === p))} status ${r.status}`);
      const seen = primaries.get(line) ?? new Set<string>();
      seen.add(primary);
      primaries.set(line, seen);
      const crew = members.get(line) ?? new Set<string>();
      for (const p of [primary, ...(r.standby?.['0'] ?? [])]) crew.add(p);
      members.set(line, crew);
      if (r.revision > newestLine[0] || (r.revision === newestLine[0] && (r.epoch ?? 0) > newestLine[1])) newestLine = [r.revision, r.epoch ?? 0];
    });
    running[i] = { node, transport };
  };
  /**
   * Let the work a step started run out before the next: hashes and signatures finish on
   * other threads in real time, and a step that came before they did (on a busy machine)
   * would meet another mesh than the seed's (links not yet formed again, a load overtaken
   * by its timeout, state not yet applied).
   */
  const settle = async (): Promise<void> => {
    await offThreadDone();
  };
  const up = (): number[] => running.map((p, i) => (p ? i : -1)).filter((i) => i >= 0);
  const call = (node: SupervisedPeer): void => {
    result.calls++;
    const seenRevision = node.peer.registry.deployments.get(deploymentId)?.record.revision ?? 0;
    const splitAtStart = split();
    const partitionsAtStart = partitionsMade;
    const orderAtStart = runOrder;
    const made = node.orchestrator.execute(deploymentId, {}, { readyTimeoutMs: 5000 }).then(
      (out) => {
        const peer = out.steps[0]!.peer;
        const value = Number(out.result.value);
        // The run of this call on the peer that answered, when it ran it (a standby that
        // took over answers a retried call from the outcome its primary shipped: no run).
        const run = runs[identities.findIndex((x) => x.id === peer)]?.filter((x) => x.value === value && x.order > orderAtStart).at(-1);
        const host = running.find((p) => p?.node.peer.id === peer)?.node ?? node;
        const r = host.peer.registry.deployments.get(deploymentId)?.record;
        const revision = run?.revision ?? r?.revision ?? out.revision;
        const epoch = run?.epoch ?? r?.epoch ?? 0;
        const superseded = newestLine[0] > revision || (newestLine[0] === revision && newestLine[1] > epoch);
        const partitioned = splitAtStart || split() || partitionsMade !== partitionsAtStart || run?.cutOff === true;
        answers.push({ value, peer, revision, epoch, superseded, partitioned, segment });
        if (process.env.SIM_TRACE) console.log(`t=${clock.now()} answer ${out.result.value} by ${identities.findIndex((x) => x.id === peer)} at ${revision}/${epoch}${superseded ? ' superseded' : ''}${partitioned ? ' partitioned' : ''}`);
      },
      () => failedIn.set(seenRevision, (failedIn.get(seenRevision) ?? 0) + 1),
    );
    pending.add(made);
    void made.finally(() => pending.delete(made));
  };
  /** Deliver every queued message, moving time on, until `done` or `rounds` run out. */
  const runUntil = async (done: () => boolean, rounds: number): Promise<boolean> => {
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < 100_000 && network.queueLength > 0; k++) {
        network.deliver(0);
        if (network.queueLength === 0) await settle();
      }
      await settle();
      if (done()) return true;
      // Hashing and handshakes finish on other threads: let them before time moves on, or a
      // load that takes no simulated time would look stuck to the coordinator.
      await Promise.all(up().map((i) => running[i]!.node.peer.idle()));
      await new Promise((r) => setTimeout(r, 1));
      clock.advance(250);
      await settle();
    }
    return false;
  };

  for (let i = 0; i < options.peers; i++) await start(i);
  const first = running[0]!.node;
  await first.orchestrator.packages.publish({ wasm: COUNTER, description: DESCRIPTION });
  const deployment = first.orchestrator.deploy({ name: 'counter', replicas: options.replicas, sequence: [{ module: 'counter', func: 'f' }] });
  deploymentId = deployment.id;
  const warm = await runUntil(() => running.every((p) => {
    const r = p!.node.peer.registry.deployments.get(deploymentId)?.record;
    return r?.status === 'ready' && (r.standby?.['0']?.length ?? 0) === options.replicas;
  }), 400);
  if (!warm) {
    const seen = running.map((p) => { const r = p!.node.peer.registry.deployments.get(deploymentId)?.record; return `${r?.status ?? 'none'}/${r?.standby?.['0']?.length ?? 0}`; });
    result.detail = `the counter never became ready with its standbys (${seen.join(' ')})`;
    if (process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
    await Promise.all(up().map((i) => running[i]!.node.stop()));
    return result;
  }

  for (let step = 0; step < options.steps; step++) {
    const r = rng();
    const alive = up();
    if (r < 0.45) {
      deliverOrDrop(network, rng, 4, options.loss);
    } else if (r < 0.6) {
      clock.advance(50 + Math.floor(rng() * 600));
    } else if (r < 0.85) {
      call(running[pick(alive)]!.node);
    } else if (r < 0.89) {
      // A kill: the links drop with no goodbye and what was in flight to or from it is lost.
      if (alive.length > 2) {
        const i = pick(alive);
        const { node, transport } = running[i]!;
        running[i] = null;
        await transport.disconnect();
        await node.stop();
        copies[i]!.clear();
        result.kills++;
        const current = answers.filter((a) => a.segment === segment && !a.superseded && !a.partitioned);
        const revision = Math.max(0, ...current.map((a) => a.revision));
        const newest = Math.max(0, ...current.filter((a) => a.revision === revision).map((a) => a.value));
        // Only the newest line's primary and standbys hold its state; a superseded primary's
        // instance counts another line.
        const newestKey = `${newestLine[0]}/${newestLine[1]}`;
        const crew = members.get(newestKey) ?? new Set<string>();
        // An instance that ran calls under another epoch of the newest revision is a superseded
        // primary's (one of an older revision may have been carried into this one: it counts).
        const ofLine = (inst: WebAssembly.Instance): boolean => {
          const [revision, epoch] = (ranUnder.get(inst) ?? newestKey).split('/').map(Number);
          return revision !== newestLine[0] || epoch === newestLine[1];
        };
        const held = Math.max(0, ...copies.flatMap((set, k) => (crew.has(identities[k]!.id) ? [...set].filter(ofLine) : []).map((inst) => Number((inst.exports.g as WebAssembly.Global).value))));
        if (held < newest) {
          segment++;
          lostByFaults++;
          if (process.env.SIM_TRACE) console.log(`t=${clock.now()} every copy holding ${newest} is gone (held ${held}): segment ${segment}`);
        }
        if (process.env.SIM_TRACE) console.log(`t=${clock.now()} kill ${i}`);
      }
    } else if (r < 0.93) {
      const down = running.map((p, i) => (p ? -1 : i)).filter((i) => i >= 0);
      if (down.length > 0 && process.env.SIM_RESTARTS !== '0') {
        const i = pick(down);
        if (process.env.SIM_TRACE) console.log(`t=${clock.now()} restart ${i}`);
        await start(i);
      }
    } else if (r < 0.97) {
      const groups: string[][] = [[], []];
      for (const id of identities) groups[rng() < 0.5 ? 0 : 1]!.push(id.id);
      network.setPartition(groups);
      sides = groups;
      partitionsMade++;
      if (process.env.SIM_TRACE) console.log(`t=${clock.now()} partition ${JSON.stringify(groups.map((g) => g.map((id) => identities.findIndex((x) => x.id === id))))}`);
      result.partitions++;
    } else {
      network.setPartition(null);
      sides = null;
      if (process.env.SIM_TRACE) console.log(`t=${clock.now()} heal`);
    }
    await settle();
  }

  // Heal: everyone back, no more faults; every call made settles, then one last call.
  network.setPartition(null);
  sides = null;
  for (let i = 0; i < options.peers; i++) if (!running[i]) await start(i);
  const nodes = (): SupervisedPeer[] => running.map((p) => p!.node);
  const calm = await runUntil(() => pending.size === 0 && nodes().every((n) => {
    const r = n.peer.registry.deployments.get(deploymentId)?.record;
    // A re-placement that failed rolls back to the steps of the revision before it, and the
    // revision that rolled back serves as a ready one does: both are settled (coordinator.ts).
    return (r?.status === 'ready' || r?.status === 'rolled-back') && n.peer.alive().length === options.peers - 1;
  }), 800);
  let last: number | undefined;
  let lastRevision = 0;
  if (calm) {
    // Peer 0 may have been killed and started again since: its running instance.
    const first = running[0]!.node;
    const made = first.orchestrator.execute(deploymentId, {}, { readyTimeoutMs: 5000 }).then((out) => {
      last = Number(out.result.value);
      lastRevision = first.peer.registry.deployments.get(deploymentId)!.record.revision;
    }, (error: unknown) => {
      const index = (id: string | undefined): number => running.findIndex((p) => p?.node.peer.id === id);
      const r = first.peer.registry.deployments.get(deploymentId)!.record;
      const hosts = nodes().map((n, i) => (n.supervisor.deployed().some((d) => d.deploymentId === deploymentId) ? i : -1)).filter((i) => i >= 0);
      result.detail = `the last call failed: ${(error as Error).message} (revision ${r.revision} epoch ${r.epoch ?? 0}: primary ${index(r.solution['0'])}, standbys ${(r.standby?.['0'] ?? []).map(index).join(',')}; the counter runs on ${hosts.join(',') || 'none'})`;
    });
    let finished = false;
    void made.finally(() => (finished = true));
    await runUntil(() => finished, 200);
  }

  result.answered = answers.length;
  result.failed = [...failedIn.values()].reduce((a, b) => a + b, 0);
  result.superseded = answers.filter((a) => a.superseded).length;
  result.partitioned = answers.filter((a) => a.partitioned && !a.superseded).length;
  result.lostByFaults = lostByFaults;
  result.takeovers = [...primaries.keys()].filter((k) => !k.endsWith('/0')).length;
  result.detail ||= check();
  result.ok = result.detail === '';
  if (!result.ok && process.env.SIM_LOG) for (const l of log.lines) console.log(l.level, l.namespace, l.text);
  await Promise.all(up().map((i) => running[i]!.node.stop()));
  return result;

  /** The invariants of the file header; '' when they hold. */
  function check(): string {
    if (!calm) {
      const seen = nodes().map((n, i) => {
        const r = n.peer.registry.deployments.get(deploymentId)?.record;
        return `${i}: ${r?.status ?? 'none'} r${r?.revision ?? '-'}/e${r?.epoch ?? 0}${r?.reason ? ` (${r.reason})` : ''}, ${n.peer.alive().length} alive`;
      });
      return `the mesh did not settle (${pending.size} calls still pending; ${seen.join('; ')})`;
    }
    if (last === undefined) return result.detail || 'the last call did not finish';
    for (const [line, seen] of primaries) if (seen.size > 1 && !line.endsWith('/0')) return `${seen.size} primaries recorded under revision/epoch ${line}`;
    const byRevision = new Map<string, number[]>();
    for (const a of answers) {
      if (a.superseded || a.partitioned) continue;
      const line = `${a.revision}:${a.segment}`;
      const values = byRevision.get(line) ?? [];
      values.push(a.value);
      byRevision.set(line, values);
    }
    for (const [line, values] of byRevision) {
      const twice = values.find((v, i) => values.indexOf(v) !== i);
      if (twice !== undefined) return `revision ${line.split(':')[0]}: the value ${twice} was answered twice (an acknowledged call lost, or one answered twice)`;
    }
    const final = byRevision.get(`${lastRevision}:${segment}`) ?? [];
    const late = final.find((v) => v >= last!);
    if (late !== undefined) return `revision ${lastRevision}: ${late} was answered, yet the last call got ${last} (an acknowledged call lost)`;
    const made = answers.length + [...failedIn.values()].reduce((a, b) => a + b, 0);
    if (last - 1 > made) return `revision ${lastRevision}: the counter reached ${last - 1} with ${made} calls answered or failed in all (a call ran twice)`;
    return '';
  }
}

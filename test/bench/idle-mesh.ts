/**
 * An idle mesh of real Node peer processes (`liquidmesh peer`) over WebRTC on loopback,
 * through a signaling server started here: each process's share of a core at rest, for
 * meshes of 5, 10, 15 and 20 peers (every pair linked) and sites of 30, 40 and 50 peers in a
 * partial mesh (`--max-links`), where the site's join time and the RPC round trip to a peer
 * two hops away (routed through a linked peer) against one linked directly are measured too.
 *
 *   npm run bench -- idle-mesh      (5 and 10 peers; every row: LIQUIDMESH_BENCH_IDLE_SIZES=5,10,15,20,30,40,50;
 *                                    several runs of each size, the median reported: LIQUIDMESH_BENCH_IDLE_RUNS=3)
 *
 * CPU comes from /proc/<pid>/stat (user + system ticks) over a window at rest, after every
 * peer sees every other alive and a settling pause. One process per peer, so a 2-core
 * machine carries 50 of them: join times there are load-bound, CPU at rest is not.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { buildBundle } from '../../node-host/bin/cli-bundle.mjs';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import { type MeshView, NodePeerProcess } from '../e2e/harness.ts';
import { type BenchRow, type BenchSection, ms, percentile, times } from './harness.ts';

const TICKS_PER_SECOND = 100;
/** Sizes run by default: the whole bench stays short; the larger rows are selected by the variable. */
const DEFAULT_SIZES = '5,10';
const SETTLE_MS = 5000;
const WINDOW_MS = 20_000;
/** Sizes up to this run as a full mesh; larger ones as a partial mesh with `PARTIAL_LINKS` links per peer. */
const FULL_MESH_UP_TO = 20;
const PARTIAL_LINKS = 6;
const PINGS = 40;

/** User + system CPU ticks a process (or one of its threads) has used. */
function cpuTicks(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** libdatachannel's threads (ICE polling, SCTP timers, its workers), by the names it gives them. */
const WEBRTC_THREAD = /^(RTC |SCTP|juice)/;

/** CPU ticks of a process's threads by kind: its JavaScript (main) thread, libdatachannel's, Node's helpers. */
function threadTicks(pid: number): { js: number; webrtc: number; helpers: number } {
  const out = { js: 0, webrtc: 0, helpers: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const kind = tid === pid ? 'js' : WEBRTC_THREAD.test(name) ? 'webrtc' : 'helpers';
      out[kind] += cpuTicks(pid, tid);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return out;
}

/** What one idle-mesh run measured. */
export interface IdleFigures {
  n: number;
  maxLinks: number | undefined;
  joinMs: number;
  /** From the first spawn until the first peer process was up (its own start-up, the floor of any join). */
  firstUpMs: number;
  /** Median and mean share of a core per peer process, in percent. */
  medianPct: number;
  /** Mean share of a core per peer by thread kind, in percent. */
  threads: { js: number; webrtc: number; helpers: number };
  meanPct: number;
  /** Cores the whole mesh uses at rest. */
  cores: number;
  /** RPC round trips (ms, sorted) to linked peers and to peers two hops away. */
  oneHop: number[];
  twoHops: number[];
  /** The median figure of each run of this size, when it ran several times. */
  runs?: number[];
}

/** Run `n` peer processes (a partial mesh with `maxLinks`), let them settle, measure. */
export async function idleMesh(n: number, maxLinks: number | undefined): Promise<IdleFigures> {
  const signal = await startSignalServer();
  const nodes: NodePeerProcess[] = [];
  const mesh = `idle-${n}-${Date.now()}`;
  try {
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      nodes.push(new NodePeerProcess(`idle-${i}`, ['--signal', signal.url, '--mesh', mesh, '--secret', 'bench', ...(maxLinks ? ['--max-links', String(maxLinks)] : [])]));
    }
    const upAt: number[] = [];
    await Promise.all(nodes.map((p) => waitUntil(() => p.id !== '', `${p.name} to start`, 300_000).then(() => upAt.push(Date.now() - started))));
    let views: MeshView[] = [];
    let reported = Date.now();
    await waitUntil(async () => {
      views = await Promise.all(nodes.map((p) => viewWithin(p, VIEW_WAIT_MS)));
      const done = views.every((v) => v.devices.length === n && v.alive.length === n - 1);
      // A join that drags on says where it stands (a site that never settles is the case to diagnose).
      if (!done && Date.now() - reported > 30_000) {
        reported = Date.now();
        process.stderr.write(`idle-mesh: ${n} peers after ${ms(Date.now() - started)}: ${joinProgress(views, n)}\n`);
      }
      return done;
    }, `${n} peers to see each other alive`, 600_000, 2000);
    const joinMs = Date.now() - started;
    if (n > 20) process.stderr.write(`idle-mesh: ${n} peers joined after ${ms(joinMs)}; measuring the rest\n`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = nodes.map((p) => cpuTicks(p.child.pid!));
    const threadsBefore = nodes.map((p) => threadTicks(p.child.pid!));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const seconds = (performance.now() - t0) / 1000;
    const shares = nodes.map((p, i) => ((cpuTicks(p.child.pid!) - before[i]!) / TICKS_PER_SECOND / seconds) * 100).sort((a, b) => a - b);
    const threadsAfter = nodes.map((p) => threadTicks(p.child.pid!));
    const perPeer = (kind: 'js' | 'webrtc' | 'helpers'): number => threadsAfter.reduce((sum, t, i) => sum + t[kind] - threadsBefore[i]![kind], 0) / nodes.length / TICKS_PER_SECOND / seconds * 100;
    const threads = { js: perPeer('js'), webrtc: perPeer('webrtc'), helpers: perPeer('helpers') };
    views = await Promise.all(nodes.map((p) => viewWithin(p, VIEW_WAIT_MS)));
    if (n > 20 && maxLinks) process.stderr.write(`idle-mesh: ${n} peers at rest; pinging one hop and two hops away\n`);
    const { oneHop, twoHops } = maxLinks ? await hopRoundTrips(nodes, views) : { oneHop: [], twoHops: [] };
    return {
      n, maxLinks, joinMs, firstUpMs: Math.min(...upAt),
      medianPct: percentile(shares, 50),
      threads,
      meanPct: shares.reduce((a, b) => a + b, 0) / shares.length,
      cores: shares.reduce((a, b) => a + b, 0) / 100,
      oneHop, twoHops,
    };
  } finally {
    await Promise.all(nodes.map((p) => p.stop()));
    await signal.close();
  }
}

/** Where a join stands: the fewest and the median devices listed and peers seen alive, and the links held. */
function joinProgress(views: MeshView[], n: number): string {
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const devices = views.map((v) => v.devices.length);
  const alive = views.map((v) => v.alive.length);
  const links = views.map((v) => v.linked.length);
  return `devices min ${Math.min(...devices)} median ${median(devices)}; alive min ${Math.min(...alive)} median ${median(alive)} of ${n - 1}; links ${Math.min(...links)}–${Math.max(...links)}, ${links.filter((l) => l === 0).length} without any${links.includes(0) ? ` (${views.filter((v) => v.linked.length === 0).map((v) => v.id.slice(0, 8)).join(', ')})` : ''}`;
}

/** Pings from a few peers to a linked peer and to one two hops away (linked to a linked peer only). */
async function hopRoundTrips(nodes: NodePeerProcess[], views: MeshView[]): Promise<{ oneHop: number[]; twoHops: number[] }> {
  const linkedOf = new Map(views.map((v) => [v.id, new Set(v.linked)]));
  const oneHop: number[] = [];
  const twoHops: number[] = [];
  for (const [i, view] of views.slice(0, 4).entries()) {
    const mine = linkedOf.get(view.id)!;
    const direct = [...mine][0];
    const far = views.map((v) => v.id).find((id) => id !== view.id && !mine.has(id) && [...mine].some((l) => linkedOf.get(l)?.has(id)));
    if (!direct || !far) continue;
    for (const [to, out] of [[direct, oneHop], [far, twoHops]] as const) {
      const t0 = Date.now();
      await pingWithin(nodes[i]!, to);
      for (let k = 0; k < PINGS; k++) out.push((await pingWithin(nodes[i]!, to)).ms);
      if (nodes.length > 20) process.stderr.write(`idle-mesh: ${nodes[i]!.name} pinged ${to === direct ? 'a linked peer' : 'a peer two hops away'} ${PINGS + 1} times in ${ms(Date.now() - t0)}\n`);
    }
  }
  return { oneHop: oneHop.sort((a, b) => a - b), twoHops: twoHops.sort((a, b) => a - b) };
}

/** Longest the bench waits for a peer process to answer one ping command, ms (its own call gives up after 10 s). */
const PING_WAIT_MS = 30_000;

/** A `ping` command, or an error naming the pair when the process does not answer in time. */
async function pingWithin(p: NodePeerProcess, to: string): Promise<{ ms: number }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`idle-mesh: ${p.name} did not answer a ping command to ${to} within ${PING_WAIT_MS / 1000} s`)), PING_WAIT_MS);
  });
  try {
    return await Promise.race([p.command<{ ms: number }>('ping', { to }), silent]);
  } finally {
    clearTimeout(timer);
  }
}

/** Longest a status poll waits for one peer's answer while the join lasts, ms. */
const VIEW_WAIT_MS = 20_000;

/**
 * A peer's view, or an empty one when it does not answer within `waitMs`: a process too
 * starved to answer (or gone) counts as seeing nobody, and the wait goes on to its own
 * time limit instead of hanging on the poll.
 */
async function viewWithin(p: NodePeerProcess, waitMs: number): Promise<MeshView> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<MeshView>((resolve) => {
    timer = setTimeout(() => resolve({ id: p.id, devices: [], alive: [], linked: [] }), waitMs);
  });
  try {
    return await Promise.race([p.view(), silent]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`idle-mesh: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const pct = (x: number): string => `${x.toFixed(2)} %`;

async function idleMeshBench(): Promise<BenchSection> {
  const sizes = (process.env.LIQUIDMESH_BENCH_IDLE_SIZES ?? DEFAULT_SIZES).split(',').map(Number).filter((x) => Number.isInteger(x) && x >= 1);
  const repeat = Math.max(1, Number(process.env.LIQUIDMESH_BENCH_IDLE_RUNS ?? 1) || 1);
  const runs: IdleFigures[] = [];
  const failed: BenchRow[] = [];
  // Peers run as the command runs them: from the bundle, rebuilt here if a source changed.
  await buildBundle();
  for (const n of sizes) {
    const bound = n > FULL_MESH_UP_TO ? PARTIAL_LINKS : undefined;
    try {
      // The run with the median figure stands for the size (the machine is shared: one run may meet a busy minute).
      const tries: IdleFigures[] = [];
      for (let k = 0; k < repeat; k++) tries.push(await idleMesh(n, bound));
      tries.sort((a, b) => a.medianPct - b.medianPct);
      runs.push({ ...tries[Math.floor((tries.length - 1) / 2)]!, runs: tries.map((t) => t.medianPct) });
    } catch (error) {
      // A size this machine could not carry is reported as such, not as a figure.
      failed.push({ name: `idle mesh of ${n} Node peer processes${bound ? ' (partial mesh)' : ''}`, figure: `did not complete: ${(error as Error).message}`, baseline: '', ratio: '', goal: '' });
    }
  }
  if (runs.length === 0) throw new Error('idle-mesh: no size completed');
  const base = runs[0]!;
  const rows: BenchRow[] = runs.map((r) => {
    // Per-peer CPU may grow at most linearly in the mesh size: (share / base share) ≤ (n / base n).
    const growth = r.medianPct / Math.max(base.medianPct, 0.01);
    const linear = r.n / base.n;
    const goalMet = r.medianPct <= 1 && (r === base || growth <= linear);
    return {
      name: `idle CPU per peer, ${r.n} Node peer processes${r.maxLinks ? ` (partial mesh, ${r.maxLinks} links each)` : ' (full mesh)'}`,
      figure: `${pct(r.medianPct)} median${r.runs && r.runs.length > 1 ? ` of ${r.runs.length} runs (${r.runs.map(pct).join(', ')})` : ''} (mean ${pct(r.meanPct)}: JavaScript thread ${pct(r.threads.js)}, WebRTC threads ${pct(r.threads.webrtc)}, Node's helper threads ${pct(r.threads.helpers)}; mesh ${r.cores.toFixed(2)} cores)`,
      baseline: `${pct(base.medianPct)} (${base.n} peers)`,
      ratio: `${times(r.medianPct, Math.max(base.medianPct, 0.01))} for ${linear.toFixed(1)}× the peers`,
      goal: '≤ 1 % per peer, growing no faster than linearly in the mesh size',
      met: goalMet,
    };
  });
  for (const r of runs.filter((x) => x.maxLinks)) {
    rows.push({ name: `join time, ${r.n} peer processes (partial mesh)`, figure: ms(r.joinMs), baseline: `${ms(base.joinMs)} (${base.n} peers)`, ratio: times(r.joinMs, base.joinMs), goal: '' });
    if (r.oneHop.length > 0 && r.twoHops.length > 0) {
      const one = percentile(r.oneHop, 50);
      const two = percentile(r.twoHops, 50);
      rows.push({ name: `RPC p50 two hops away (routed), ${r.n}-peer partial mesh`, figure: ms(two), baseline: `${ms(one)} (one hop)`, ratio: times(two, one), goal: '' });
    }
  }
  rows.push(...failed);
  return {
    title: 'Idle mesh: CPU at rest, partial-mesh site',
    method: `One \`liquidmesh peer\` process per peer over WebRTC (node-datachannel) on loopback, one signaling server; meshes up to ${FULL_MESH_UP_TO} peers link every pair, larger ones run with \`--max-links ${PARTIAL_LINKS}\`. CPU: user + system ticks from /proc over ${WINDOW_MS / 1000} s, starting ${SETTLE_MS / 1000} s after every peer sees every other alive; the median process is reported, and the mean split by thread (/proc/<pid>/task: the JavaScript thread, libdatachannel's ICE, SCTP and worker threads, Node's libuv and V8 helpers). Peers run from the command's bundle (ADR 0037). Sizes 5 and 10 by default; \`LIQUIDMESH_BENCH_IDLE_SIZES=5,10,15,20,30,40,50\` for every row, \`LIQUIDMESH_BENCH_IDLE_RUNS=3\` for the median of three runs of each size. Join time: from the first spawn until every peer sees every other alive (process start-up included). RPC: \`peer.ping\` from 4 peers, ${PINGS} each, to a linked peer and to one reached through a linked peer.`,
    rows,
  };
}

/** The idle-mesh benchmark, for test/bench/run.ts. */
export const idleMeshBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'idle-mesh', run: idleMeshBench }];

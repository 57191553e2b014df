/**
 * The mesh over the NATS backbone at scale: N peers (several child processes, many peers
 * each) attached round-robin to a three-server cluster started here, in a bounded overlay
 * (at most L links per peer; registry, presence and calls routed through it). Measures
 * the time until every peer's registry lists every device and sees every other alive, the
 * messages each peer receives per second once the mesh is at rest, and the registry's
 * encoded size; the baseline is the same run with a tenth of the peers, so the ratios show
 * how each grows with N.
 *
 *   npm run bench -- nats-scale      N from LIQUIDMESH_BENCH_NATS_PEERS (default 40; the
 *                                    thousand-peer row: LIQUIDMESH_BENCH_NATS_PEERS=1000 with
 *                                    LIQUIDMESH_BENCH_NATS_TIMEOUT_MS=900000: a run that does
 *                                    not complete in time still records where it stood and
 *                                    goes on to the rest step),
 *                                    L from
 *                                    LIQUIDMESH_BENCH_NATS_LINKS (default 4; 0: every pair
 *                                    links, as before the overlay)
 *   node --import tsx test/bench/nats-scale.ts --child <json>   (one child: its peers)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import { deriveMeshKeys } from '../../shared/adapters/mesh-secret.ts';
import { BusMemo } from '../../shared/bus-memo.ts';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
import { useNodeEd25519 } from '../../node-host/trust/node-ed25519.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { startNatsCluster } from '../helpers/nats-server.ts';
import { type BenchSection, bytes, ms, times } from './harness.ts';

interface ChildPlan {
  mesh: string;
  total: number;
  first: number;
  count: number;
  urls: string[];
  token: string;
  /** Links per peer (0: no bound). */
  links: number;
  heartbeatMs: number;
  relayBatchMs: number;
  /** Registry and presence over the mesh bus (collectors' digests) instead of flooding over the links. */
  bus: boolean;
  /** The peers of a process share each bus message's decryption and signature check (`BusMemo`). */
  share: boolean;
}

interface ChildReport {
  complete?: number;
  /** Where the process stands while it joins (every 30 s). */
  status?: { devicesMin: number; devicesMax: number; aliveMin: number; aliveMax: number; collecting: number };
  /** How long the process counted at rest, by its own clock (a loaded process reads its orders late). */
  restMs?: number;
  /** How many peers the process runs. */
  peers?: number;
  inMsgs?: number;
  /** NATS messages (announcements, frames, acks) the peers' connections received at rest. */
  natsMsgs?: number;
  registryBytes?: number;
  /** Largest and mean number of links per peer. */
  maxLinks?: number;
  meanLinks?: number;
  /** Share of the other peers each peer sees alive at the end of the rest window (least, mean). */
  aliveMin?: number;
  aliveMean?: number;
}

const AT_REST_MS = 5000;
const START_CONCURRENCY = 5;

/** One child: start its peers, report when their registries are complete, then count what arrives at rest. */
async function child(plan: ChildPlan): Promise<void> {
  // As a Node peer does (node-peer.ts): the bus signs and checks every message.
  useNodeEd25519();
  const log = collectLogs();
  const received = { count: 0 };
  const say = (r: ChildReport): void => void process.stdout.write(`${JSON.stringify(r)}\n`);
  let restStart = 0;
  const peers: Peer[] = [];
  const starting: Promise<unknown>[] = [];
  const connections: NatsConnection[] = [];
  const natsIn = (): number => connections.reduce((sum, nc) => sum + nc.stats().inMsgs, 0);
  let natsAtRestStart = 0;
  // One PBKDF2 derivation per process, not per peer.
  const meshKeys = deriveMeshKeys(plan.mesh, 'bench');
  // One peer per process in a real deployment; here each bus message is opened once per process.
  const busMemo = plan.share ? new BusMemo() : undefined;
  const makePeer = (index: number): Peer => {
    // Round-robin over the servers, the rest of the list behind for failover.
    const servers = plan.urls.map((_, k) => plan.urls[(index + k) % plan.urls.length]!);
    const connect = natsConnector({ servers, token: plan.token, noRandomize: true });
    const transport = new NatsTransport({
      connect: async () => {
        const nc = await connect();
        connections.push(nc);
        return nc;
      },
      mesh: plan.mesh, secret: 'bench', meshKeys, announceMs: 2000, timeoutMs: 20_000, ...(busMemo ? { busMemo } : {}),
      ...(plan.links > 0 ? { maxLinks: plan.links, quietAtRest: plan.bus } : {}),
    });
    transport.on('message', () => received.count++);
    return new Peer({
      transports: [transport],
      ...(plan.bus ? { bus: transport.bus } : {}),
      store: memoryStore(),
      device: { name: `p${index}`, engine: 'node' },
      logger: createLogger(`bench:p${index}`, log.sink),
      persistRegistry: false,
      timing: { relayBatchMs: plan.relayBatchMs, heartbeatMs: plan.heartbeatMs, livenessTimeoutMs: Math.max(30_000, 5 * plan.heartbeatMs), antiEntropyMs: 10_000 },
    });
  };
  // A login the loaded cluster timed out is tried again, as a Node peer's ResilientTransport does.
  const launch = async (slot: number, index: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const peer = makePeer(index);
      peers[slot] = peer;
      try {
        await peer.start();
        return;
      } catch (e) {
        process.stderr.write(`nats-scale: p${index} did not start (attempt ${attempt}): ${(e as Error).message}\n`);
        await peer.stop().catch(() => {});
        if (attempt >= 5) return;
      }
    }
  };
  const started = Date.now();
  const progress = setInterval(() => {
    const devices = peers.map((p) => p.registry.doc.getMap('devices').size);
    const alive = peers.map((p) => p.alive().length);
    const collecting = peers.filter((p) => p.collecting).length;
    const shared = busMemo ? `, ${busMemo.stats.misses} bus messages opened for ${busMemo.stats.hits + busMemo.stats.misses} deliveries` : '';
    process.stderr.write(`nats-scale p${plan.first}…: ${Math.round((Date.now() - started) / 1000)} s, ${peers.length} started, devices ${Math.min(...devices)}–${Math.max(...devices)}, alive ${Math.min(...alive)}–${Math.max(...alive)} of ${plan.total}, ${collecting} collecting here${shared}\n`);
    say({ status: { devicesMin: Math.min(...devices), devicesMax: Math.max(...devices), aliveMin: Math.min(...alive), aliveMax: Math.max(...alive), collecting } });
  }, 30_000);
  for (let i = 0; i < plan.count; i++) {
    // A few at a time per process: the peers join as a crowd, but logins stay within what a
    // loaded machine answers in time.
    starting.push(launch(i, plan.first + i));
    if (starting.length >= START_CONCURRENCY) await Promise.all(starting.splice(0));
  }
  await Promise.all(starting.splice(0));
  // The raw entry count (the registry's `size` checks every entry: 125 peers × 1000 devices
  // five times a second cost this process more than its peers did), and only for peers not
  // complete yet; the validated count is checked once at the end.
  const incomplete = new Set(peers);
  const timer = setInterval(() => {
    for (const p of incomplete) if (p.registry.doc.getMap('devices').size >= plan.total) incomplete.delete(p);
    if (incomplete.size === 0 && peers.every((p) => p.registry.devices.size >= plan.total)) {
      clearInterval(timer);
      say({ complete: Date.now() });
    }
  }, 200);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'rest-start') {
      restStart = Date.now();
      received.count = 0;
      natsAtRestStart = natsIn();
    }
    if (line === 'rest-end') {
      const links = peers.map((p) => p.linked().length);
      const alive = peers.map((p) => p.alive().length / (plan.total - 1));
      say({
        restMs: Date.now() - restStart, peers: peers.length,
        aliveMin: Math.min(...alive), aliveMean: alive.reduce((a, b) => a + b, 0) / alive.length,
        inMsgs: received.count, natsMsgs: natsIn() - natsAtRestStart, registryBytes: Y.encodeStateAsUpdate(peers[0]!.registry.doc).byteLength,
        maxLinks: Math.max(...links), meanLinks: links.reduce((a, b) => a + b, 0) / links.length,
      });
    }
    if (line === 'stop') clearInterval(progress);
    if (line === 'stop') void Promise.all(peers.map((p) => p.stop())).finally(() => process.exit(0));
  });
}

/** The figures of one run; a figure a run did not reach is null, with what was seen instead. */
interface ScaleFigures {
  completeMs: number | null;
  /** Not complete: where the processes stood last (devices and alive, least–most). */
  stood: string;
  /** At rest, over the processes that answered (null: none did). */
  rest: {
    perPeerPerSecond: number;
    natsPerPeerPerSecond: number;
    registryBytes: number;
    maxLinks: number;
    meanLinks: number;
    aliveMin: number;
    aliveMean: number;
    /** Processes that answered, of all. */
    answered: number;
    processes: number;
  } | null;
  /** NATS messages published per second at rest, by subject (and link frame type). */
  bySubject: string;
  /** Load average (1 min) at the start and at the end of the run. */
  load: [number, number];
}

/** A status a process did not give in time counts as "not yet": the run goes on, it never throws. */
async function gather(reports: ChildReport[][], what: (r: ChildReport) => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!reports.every((rs) => rs.some(what))) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

async function measure(total: number, processes: number, links: number, heartbeatMs: number, relayBatchMs: number, bus: boolean, share: boolean): Promise<ScaleFigures> {
  const token = `bench-${Math.random().toString(36).slice(2)}`;
  // At least two heartbeat periods, so every peer's heartbeat is in the window.
  const restMs = Math.max(AT_REST_MS, 2 * heartbeatMs);
  const loadStart = loadavg()[0]!;
  const cluster = await startNatsCluster({ size: 3, auth: { token } });
  const children: ChildProcess[] = [];
  try {
    const mesh = `scale-${total}-${Date.now()}`;
    const per = Math.ceil(total / processes);
    const reports: ChildReport[][] = [];
    const started = Date.now();
    for (let c = 0; c * per < total; c++) {
      const plan: ChildPlan = { mesh, total, first: c * per, count: Math.min(per, total - c * per), urls: cluster.urls, token, links, heartbeatMs, relayBatchMs, bus, share };
      // LIQUIDMESH_BENCH_NATS_PROFILE=<dir>: each child writes a CPU profile there (where a thousand peers' time goes).
      const profile = process.env.LIQUIDMESH_BENCH_NATS_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LIQUIDMESH_BENCH_NATS_PROFILE}`] : [];
      const proc = spawn(process.execPath, [...profile, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(plan)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const mine: ChildReport[] = [];
      reports.push(mine);
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        try {
          mine.push(JSON.parse(l) as ChildReport);
        } catch {
          // A stray line from a library: not a report.
        }
      });
      children.push(proc);
    }
    const complete = await gather(reports, (r) => r.complete !== undefined, Number(process.env.LIQUIDMESH_BENCH_NATS_TIMEOUT_MS ?? 300_000));
    const completeMs = complete ? Math.max(...reports.map((rs) => rs.find((r) => r.complete !== undefined)!.complete!)) - started : null;
    const last = reports.map((rs) => rs.filter((r) => r.status).at(-1)?.status).filter((x) => x !== undefined);
    const stood = complete || last.length === 0 ? '' : `${reports.filter((rs) => rs.some((r) => r.complete !== undefined)).length} of ${reports.length} processes complete; registries listing ${Math.min(...last.map((x) => x.devicesMin))}–${Math.max(...last.map((x) => x.devicesMax))} devices, ${Math.min(...last.map((x) => x.aliveMin))}–${Math.max(...last.map((x) => x.aliveMax))} seen alive`;
    // Printed before resting, so that a rest step a loaded run never finishes keeps it.
    process.stderr.write(`nats-scale ${total} peers: ${completeMs !== null ? `every registry complete after ${(completeMs / 1000).toFixed(1)} s` : `not complete: ${stood}`}\n`);
    // At rest: nothing changes any more but heartbeats, announcements and anti-entropy.
    await new Promise((r) => setTimeout(r, 3000));
    // Which subjects carry the traffic at rest (published messages, not deliveries): for the log.
    const observer = await connect({ servers: cluster.urls, token });
    const counted = new Map<string, number>();
    // Link frames by their type (in clear in the frame's header): which kind grows with n.
    const frameTypes = ['?', 'hi', 'msg', 'ack', 'no', 'nack'];
    const count = (key: string): void => void counted.set(key, (counted.get(key) ?? 0) + 1);
    observer.subscribe('lm.>', {
      callback: (_e, m) => {
        const kind = m.subject.split('.')[2] ?? '?';
        count(kind);
        if (kind === 'in') count(`in:${frameTypes[m.data[0] ?? 0] ?? '?'}`);
      },
    });
    await observer.flush();
    for (const p of children) p.stdin!.write('rest-start\n');
    await new Promise((r) => setTimeout(r, restMs));
    for (const p of children) p.stdin!.write('rest-end\n');
    await observer.close();
    const bySubject = [...counted].map(([k, v]) => `${k} ${(v / (restMs / 1000)).toFixed(1)}`).join(', ');
    process.stderr.write(`nats-scale ${total} peers at rest, messages published per second by subject: ${bySubject}\n`);
    // A loaded process of many peers may take a while to answer; one that does not is left out, named.
    await gather(reports, (r) => r.inMsgs !== undefined, 120_000);
    const rest = reports.map((rs) => rs.find((r) => r.inMsgs !== undefined)).filter((r) => r !== undefined);
    const peersAnswered = rest.reduce((sum, r) => sum + r.peers!, 0);
    // Each process's own rest window (it may read its orders late under load).
    const perSecond = (pick: (r: ChildReport) => number): number => rest.reduce((sum, r) => sum + pick(r) / (r.restMs! / 1000), 0) / peersAnswered;
    const figures: ScaleFigures = {
      completeMs, stood, bySubject, load: [loadStart, loadavg()[0]!],
      rest: rest.length === 0 ? null : {
        perPeerPerSecond: perSecond((r) => r.inMsgs!), natsPerPeerPerSecond: perSecond((r) => r.natsMsgs!), registryBytes: rest[0]!.registryBytes!,
        maxLinks: Math.max(...rest.map((r) => r.maxLinks!)), meanLinks: rest.reduce((sum, r) => sum + r.meanLinks! * r.peers!, 0) / peersAnswered,
        aliveMin: Math.min(...rest.map((r) => r.aliveMin!)), aliveMean: rest.reduce((sum, r) => sum + r.aliveMean! * r.peers!, 0) / peersAnswered,
        answered: rest.length, processes: reports.length,
      },
    };
    process.stderr.write(`nats-scale ${total} peers: ${JSON.stringify(figures)}\n`);
    return figures;
  } finally {
    for (const p of children) p.stdin?.write('stop\n');
    await Promise.all(children.map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null) return resolve();
      const kill = setTimeout(() => p.pid && process.kill(p.pid, 'SIGKILL'), 10_000);
      p.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
    })));
    await cluster.stop();
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

async function natsScale(): Promise<BenchSection> {
  const total = Number(process.env.LIQUIDMESH_BENCH_NATS_PEERS ?? 40);
  const links = Number(process.env.LIQUIDMESH_BENCH_NATS_LINKS ?? 4);
  // Presence is the one thing every peer hears from every other: its period is the knob at scale.
  const heartbeatMs = Number(process.env.LIQUIDMESH_BENCH_NATS_HEARTBEAT_MS ?? (total > 200 ? 10_000 : 1000));
  // ...and how long relays collect updates before they go out merged (messages per link per second at most 1000 / this).
  const relayBatchMs = Number(process.env.LIQUIDMESH_BENCH_NATS_BATCH_MS ?? (total > 200 ? 500 : 50));
  const small = Math.max(2, Math.round(total / 10));
  const processes = Math.max(1, Math.min(8, Math.ceil(total / 50)));
  // The mesh bus (ADR 0023) unless LIQUIDMESH_BENCH_NATS_BUS=0 (flooding over the overlay, as before it).
  const bus = (process.env.LIQUIDMESH_BENCH_NATS_BUS ?? '1') !== '0';
  // Each bus message decrypted and checked once per process, not per peer, unless LIQUIDMESH_BENCH_NATS_SHARE=0.
  const share = bus && (process.env.LIQUIDMESH_BENCH_NATS_SHARE ?? '1') !== '0';
  const base = await measure(small, 1, links, heartbeatMs, relayBatchMs, bus, share);
  const big = await measure(total, processes, links, heartbeatMs, relayBatchMs, bus, share);
  const method = `${total} Peers in ${processes} child process${processes === 1 ? '' : 'es'}, attached round-robin to three clustered nats-server processes on loopback (token auth), every peer on the NATS transport only, ${links > 0 ? `at most ${links} links each (the bounded overlay${bus ? ', quiet at rest: announcements only while short of links, each to one short peer through a NATS queue group; calls routed through it, or over the bus where no link path reaches' : '; registry, presence and calls routed through it'})` : 'every pair linked (no bound)'}${bus ? '; registry and presence over the mesh bus (each peer publishes its own to the two collectors, who publish digests; signed and sealed)' : ''}${share ? '; the peers of one process share each bus message\'s decryption and signature check (a memo keyed by the sealed bytes: each peer still receives it on its own connection and runs its own bus, registry and presence code on it; a real deployment has one peer per process and opens each message itself)' : ''}; presence heartbeat every ${heartbeatMs / 1000} s, relayed updates merged over ${relayBatchMs} ms, NATS announcements backing off to every 30 s; baseline: ${small} peers in one process. Registry complete: from the first child's start until every peer lists every device. Alive: the share of the other peers each peer's presence sees alive at the end of the rest window. At rest: over ${Math.max(AT_REST_MS, 2 * heartbeatMs) / 1000} s (each process's own clock), 3 s after completion (or after the time limit), the messages each peer's transport delivers per second (registry and presence updates, calls) and the NATS messages each peer's connection receives (those plus announcements, acks and keepalives). Registry: one peer's Yjs document, encoded. A process that does not answer a status request within 2 minutes is left out of the figures at rest, and the row says so.`;
  const baseline = (x: string): string => `${x} (${small} peers)`;
  const at = (f: ScaleFigures, show: (r: NonNullable<ScaleFigures['rest']>) => string): string =>
    f.rest === null ? 'no process answered at rest' : `${show(f.rest)}${f.rest.answered < f.rest.processes ? ` (${f.rest.answered} of ${f.rest.processes} processes answered)` : ''}`;
  const ratio = (pick: (r: NonNullable<ScaleFigures['rest']>) => number): string => (big.rest && base.rest && pick(base.rest) > 0 ? times(pick(big.rest), pick(base.rest)) : '');
  const complete = (f: ScaleFigures): string => (f.completeMs !== null ? ms(f.completeMs) : `not complete within the time limit: ${f.stood}`);
  return {
    title: 'Mesh over a three-server NATS cluster',
    method: `${method} Load average (1 min) ${big.load[0].toFixed(1)} at the start of the ${total}-peer run, ${big.load[1].toFixed(1)} at its end.`,
    rows: [
      { name: `time until every registry is complete, ${total} peers`, figure: complete(big), baseline: baseline(complete(base)), ratio: big.completeMs !== null && base.completeMs !== null ? times(big.completeMs, base.completeMs) : '', goal: '' },
      { name: 'messages per second per peer at rest (delivered by the transport)', figure: at(big, (r) => r.perPeerPerSecond.toFixed(1)), baseline: baseline(at(base, (r) => r.perPeerPerSecond.toFixed(1))), ratio: ratio((r) => r.perPeerPerSecond), goal: '' },
      { name: 'NATS messages per second per peer at rest (all subjects)', figure: at(big, (r) => r.natsPerPeerPerSecond.toFixed(1)), baseline: baseline(at(base, (r) => r.natsPerPeerPerSecond.toFixed(1))), ratio: ratio((r) => r.natsPerPeerPerSecond), goal: '' },
      { name: 'NATS messages published per second at rest, by subject (link frames `in` by type)', figure: big.bySubject, baseline: baseline(base.bySubject), ratio: '', goal: '' },
      { name: 'links per peer (mean, most)', figure: at(big, (r) => `${r.meanLinks.toFixed(2)}, ${r.maxLinks}`), baseline: baseline(at(base, (r) => `${r.meanLinks.toFixed(2)}, ${r.maxLinks}`)), ratio: '', goal: links > 0 ? `≤ ${links}` : '', ...(links > 0 && big.rest ? { met: big.rest.maxLinks <= links } : {}) },
      { name: 'others seen alive at rest (least, mean per peer)', figure: at(big, (r) => `${pct(r.aliveMin)}, ${pct(r.aliveMean)}`), baseline: baseline(at(base, (r) => `${pct(r.aliveMin)}, ${pct(r.aliveMean)}`)), ratio: '', goal: '' },
      { name: 'registry size', figure: at(big, (r) => bytes(r.registryBytes)), baseline: baseline(at(base, (r) => bytes(r.registryBytes))), ratio: ratio((r) => r.registryBytes), goal: '' },
    ],
  };
}

/** The NATS scale benchmark, for test/bench/run.ts. */
export const natsScaleBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'nats-scale', run: natsScale }];

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(JSON.parse(process.argv[childAt + 1]!) as ChildPlan);

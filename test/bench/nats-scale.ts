/**
 * The mesh over the NATS backbone at scale: N peers (several child processes, many peers
 * each) attached round-robin to a three-server cluster started here. Measures the time
 * until every peer's registry lists every device, the messages each peer receives per
 * second once the mesh is at rest, and the registry's encoded size; the baseline is the
 * same run with a tenth of the peers, so the ratios show how each grows with N.
 *
 *   npm run bench -- nats-scale                       (N from LIQUIDMESH_BENCH_NATS_PEERS, default 20)
 *   node --import tsx test/bench/nats-scale.ts --child <json>   (one child: its peers)
 *
 * Every peer links to every other on NATS (a full mesh of pair keys) and floods registry
 * and presence updates to all of them, so a peer's traffic grows with N and the
 * mesh's with N²; see ADR 0023 for where that stops (a thousand peers needs a bounded
 * overlay, not built).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
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
}

interface ChildReport {
  complete?: number;
  inMsgs?: number;
  registryBytes?: number;
}

const AT_REST_MS = 5000;

/** One child: start its peers, report when their registries are complete, then count what arrives at rest. */
async function child(plan: ChildPlan): Promise<void> {
  const log = collectLogs();
  const received = { count: 0 };
  const peers: Peer[] = [];
  for (let i = 0; i < plan.count; i++) {
    const index = plan.first + i;
    // Round-robin over the servers, the rest of the list behind for failover.
    const servers = plan.urls.map((_, k) => plan.urls[(index + k) % plan.urls.length]!);
    const transport = new NatsTransport({ connect: natsConnector({ servers, token: plan.token, noRandomize: true }), mesh: plan.mesh, secret: 'bench', announceMs: 2000, timeoutMs: 20_000 });
    transport.on('message', () => received.count++);
    const peer = new Peer({
      transports: [transport],
      store: memoryStore(),
      device: { name: `p${index}`, engine: 'node' },
      logger: createLogger(`bench:p${index}`, log.sink),
      persistRegistry: false,
      timing: { relayBatchMs: 50, livenessTimeoutMs: 30_000, antiEntropyMs: 10_000 },
    });
    await peer.start();
    peers.push(peer);
  }
  const say = (r: ChildReport): void => void process.stdout.write(`${JSON.stringify(r)}\n`);
  const timer = setInterval(() => {
    if (peers.every((p) => p.registry.devices.size >= plan.total)) {
      clearInterval(timer);
      say({ complete: Date.now() });
    }
  }, 200);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'rest-start') received.count = 0;
    if (line === 'rest-end') say({ inMsgs: received.count, registryBytes: Y.encodeStateAsUpdate(peers[0]!.registry.doc).byteLength });
    if (line === 'stop') void Promise.all(peers.map((p) => p.stop())).finally(() => process.exit(0));
  });
}

/** Run N peers in `processes` children; the figures of one run. */
async function measure(total: number, processes: number): Promise<{ completeMs: number; perPeerPerSecond: number; registryBytes: number }> {
  const token = `bench-${Math.random().toString(36).slice(2)}`;
  const cluster = await startNatsCluster({ size: 3, auth: { token } });
  const children: ChildProcess[] = [];
  try {
    const mesh = `scale-${total}-${Date.now()}`;
    const per = Math.ceil(total / processes);
    const reports: ChildReport[][] = [];
    const started = Date.now();
    for (let c = 0; c * per < total; c++) {
      const plan: ChildPlan = { mesh, total, first: c * per, count: Math.min(per, total - c * per), urls: cluster.urls, token };
      const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(plan)], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    const until = async (what: (r: ChildReport) => boolean, timeoutMs: number): Promise<void> => {
      const end = Date.now() + timeoutMs;
      while (!reports.every((rs) => rs.some(what))) {
        if (Date.now() > end) throw new Error(`nats-scale: ${total} peers did not get there within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await until((r) => r.complete !== undefined, 240_000);
    const completeMs = Math.max(...reports.map((rs) => rs.find((r) => r.complete !== undefined)!.complete!)) - started;
    // At rest: nothing changes any more but heartbeats, announcements and anti-entropy.
    await new Promise((r) => setTimeout(r, 3000));
    for (const p of children) p.stdin!.write('rest-start\n');
    await new Promise((r) => setTimeout(r, AT_REST_MS));
    for (const p of children) p.stdin!.write('rest-end\n');
    await until((r) => r.inMsgs !== undefined, 30_000);
    const inMsgs = reports.reduce((sum, rs) => sum + rs.find((r) => r.inMsgs !== undefined)!.inMsgs!, 0);
    const registryBytes = reports[0]!.find((r) => r.registryBytes !== undefined)!.registryBytes!;
    return { completeMs, perPeerPerSecond: inMsgs / total / (AT_REST_MS / 1000), registryBytes };
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

async function natsScale(): Promise<BenchSection> {
  const total = Number(process.env.LIQUIDMESH_BENCH_NATS_PEERS ?? 20);
  const small = Math.max(2, Math.round(total / 10));
  const processes = Math.max(1, Math.min(8, Math.ceil(total / 50)));
  const base = await measure(small, 1);
  const big = await measure(total, processes);
  return {
    title: 'Mesh over a three-server NATS cluster',
    method: `${total} Peers in ${processes} child process${processes === 1 ? '' : 'es'}, attached round-robin to three clustered nats-server processes on loopback (token auth), every peer on the NATS transport only; baseline: ${small} peers in one process. Registry complete: from the first child's start until every peer lists every device. At rest: messages each peer's transport delivers per second over ${AT_REST_MS / 1000} s, 3 s after completion. Registry: one peer's Yjs document, encoded.`,
    rows: [
      { name: 'time until every registry is complete', figure: ms(big.completeMs), baseline: `${ms(base.completeMs)} (${small} peers)`, ratio: times(big.completeMs, base.completeMs), goal: '' },
      { name: 'messages per second per peer at rest', figure: big.perPeerPerSecond.toFixed(1), baseline: `${base.perPeerPerSecond.toFixed(1)} (${small} peers)`, ratio: times(big.perPeerPerSecond, base.perPeerPerSecond), goal: '' },
      { name: 'registry size', figure: bytes(big.registryBytes), baseline: `${bytes(base.registryBytes)} (${small} peers)`, ratio: times(big.registryBytes, base.registryBytes), goal: '' },
    ],
  };
}

/** The NATS scale benchmark, for test/bench/run.ts. */
export const natsScaleBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'nats-scale', run: natsScale }];

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(JSON.parse(process.argv[childAt + 1]!) as ChildPlan);

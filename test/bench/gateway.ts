/**
 * Throughput of the HTTP gateway's hot route, `GET /{deployment}/modules/fibo/fibo?param0=12`
 * (routing, query → wasm arguments, the call through the worker sandbox, the history
 * record, JSON answer), against a bare node:http server answering a constant JSON of
 * the same shape. Both are loaded by autocannon in a separate process, so the load
 * generator never shares the servers' event loop.
 *
 * A shared machine's speed drifts by a factor of two within a minute, so servers are
 * measured in rounds, each a sandwich — bare, gateway, one worker hop, bare again —,
 * rounds whose two bare runs disagree are left out, and the ratios come from the round
 * whose gateway-to-bare ratio is the median.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AccessPolicy } from '../../node-host/gateway/access.ts';
import { startGateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { type BenchSection, ms, times } from './harness.ts';

const AUTOCANNON = fileURLToPath(new URL('../../node_modules/autocannon/autocannon.js', import.meta.url));
const CONNECTIONS = 32;
const SECONDS = 3;
/** Steady rounds wanted; the round with the median ratio counts. */
const ROUNDS = 5;
/** Rounds tried at most, to find them. */
const MAX_ROUNDS = 10;

interface Round {
  /** The mean of the bare server's runs before and after. */
  baseline: Load;
  floor: Load;
  measured: Load;
  /** The two bare runs agree within 20 %. */
  steady: boolean;
}

interface Load {
  rps: number;
  /** This process's CPU (user + system, every thread: the servers, the peer, its sandbox worker) per request answered, µs. */
  cpuPerRequest: number;
  /** The part of it spent on the main thread (the HTTP server, routing, the peer), µs; NaN where threads cannot be told apart. */
  mainPerRequest: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/**
 * CPU time of this process's main thread so far, µs, from Linux's per-thread counters
 * (clock ticks); NaN elsewhere. The main thread runs every server, so whether it or the
 * other threads (the sandbox worker, the garbage collector's helpers) bound the gateway
 * shows apart.
 */
function mainThreadCpu(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/** Whether the per-thread counters exist here (Linux). */
const PER_THREAD = (() => {
  try {
    return readdirSync('/proc/self/task').length > 0;
  } catch {
    return false;
  }
})();

/** Run autocannon against `url` in a child process, with `headers` (`name=value`) on every request. */
function load(url: string, seconds: number, headers: string[] = []): Promise<Load> {
  const cpu = process.cpuUsage();
  const main = PER_THREAD ? mainThreadCpu() : Number.NaN;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(seconds), ...headers.flatMap((h) => ['-H', h]), '-j', url], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const r = JSON.parse(stdout) as { requests: { average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
      const used = process.cpuUsage(cpu);
      const answered = Math.max(1, r.requests.average * seconds);
      resolve({ rps: r.requests.average, cpuPerRequest: (used.user + used.system) / answered, mainPerRequest: (mainThreadCpu() - main) / answered, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx });
    });
  });
}

async function gatewayThroughput(): Promise<BenchSection> {
  const network = new MemoryNetwork();
  const node = await startNodePeer({ name: 'bench-gateway', transports: [network.createTransport()] });
  const dir = new URL('../../modules/fibo/', import.meta.url);
  const description = JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription;
  await node.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))), description });
  const dep = node.orchestrator.deploy({ name: 'bench', sequence: [{ module: 'fibo', func: 'fibo', device: node.peer.id }] });
  await node.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready');
  const gateway = await startGateway({ peer: node, port: 0 });
  const constant = JSON.stringify({ result: 233, resultUrl: 'http://127.0.0.1/request-history/1', value: 233, files: [] });
  const answer = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(constant) });
    res.end(constant);
  };
  const bare = createServer((_req, res) => answer(res));
  // The floor of any design that runs wasm off the main thread: one worker round trip per request.
  const echo = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));", { eval: true });
  const waiting: (() => void)[] = [];
  echo.on('message', () => waiting.shift()?.());
  const hop = createServer((_req, res) => {
    waiting.push(() => answer(res));
    echo.postMessage({ fn: 'fibo', args: [12n] });
  });
  const listen = async (server: ReturnType<typeof createServer>): Promise<string> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/${dep.id}/modules/fibo/fibo?param0=12`;
  };
  const bareUrl = await listen(bare);
  const hopUrl = await listen(hop);
  const gatewayUrl = `${gateway.url}/${dep.id}/modules/fibo/fibo?param0=12`;
  try {
    const check = (await (await fetch(gatewayUrl)).json()) as { result: number };
    if (check.result !== 233) throw new Error(`the gateway answered ${JSON.stringify(check)}`);
    await load(gatewayUrl, 2); // warm-up: JIT, worker, connection pools
    // Each round is a sandwich: bare, gateway, hop, bare again. A round whose two bare
    // runs differ by more than a fifth happened while the machine's speed moved; it is
    // left out of the median (and listed).
    const rounds: Round[] = [];
    for (let round = 0; round < MAX_ROUNDS && rounds.filter((r) => r.steady).length < ROUNDS; round++) {
      const before = await load(bareUrl, SECONDS);
      const measured = await load(gatewayUrl, SECONDS);
      const floor = await load(hopUrl, SECONDS);
      const after = await load(bareUrl, SECONDS);
      const steady = Math.abs(before.rps - after.rps) <= 0.2 * Math.max(before.rps, after.rps);
      const baseline = { ...before, rps: (before.rps + after.rps) / 2, cpuPerRequest: (before.cpuPerRequest + after.cpuPerRequest) / 2, mainPerRequest: (before.mainPerRequest + after.mainPerRequest) / 2 };
      rounds.push({ baseline, floor, measured, steady });
    }
    const counted = rounds.filter((r) => r.steady).length > 0 ? rounds.filter((r) => r.steady) : rounds;
    counted.sort((a, b) => a.measured.rps / a.baseline.rps - b.measured.rps / b.baseline.rps);
    const { baseline, floor, measured } = counted[Math.floor(counted.length / 2)]!;
    const spread = rounds.map((r) => `${((r.measured.rps / r.baseline.rps) * 100).toFixed(0)} %${r.steady ? '' : ' (unsteady, left out)'}`).join(', ');
    console.log(`  (gateway/bare per round: ${spread})`);
    // The ceiling behind the gateway: the same call straight into the supervisor, as many in flight, no HTTP.
    let calls = 0;
    const until = performance.now() + 3000;
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        await node.supervisor.call(dep.id, 'fibo', 'fibo', { args: { param0: '12' } });
        calls++;
      }
    }));
    const ceiling = calls / 3;
    const failed = rounds.find((r) => r.measured.errors + r.measured.non2xx > 0)?.measured;
    if (failed) throw new Error(`the gateway failed ${failed.errors} requests and answered ${failed.non2xx} non-2xx`);
    const ratio = measured.rps / baseline.rps;
    return {
      title: 'HTTP gateway',
      method: `autocannon in a separate process, ${CONNECTIONS} keep-alive connections for ${SECONDS} s each, after a 2 s warm-up of the gateway, in rounds of four runs back to back: the bare server, the gateway, the bare server plus a worker hop, the bare server again (its baseline is the mean of its two runs). A shared machine's speed drifts by a factor of two within a minute, so a round whose two bare runs differ by more than 20 % is left out, up to ${MAX_ROUNDS} rounds for ${ROUNDS} steady ones, and the figures come from the steady round whose gateway-to-bare ratio is the median (every round's ratio: ${spread}). Loaded: \`GET /{deployment}/modules/fibo/fibo?param0=12\` on the gateway of one Node peer (routing, query → wasm arguments, the call in the worker sandbox, the history record (kept in memory, written to the store behind the calls), the JSON answer), and a bare node:http server answering a constant JSON of the same shape, measured in the same run. A second baseline adds one worker postMessage round trip per request to the bare server: the floor of any design that runs wasm off the main thread. A third is the supervisor called in-process with as many calls in flight and no HTTP (3 s): the ceiling of anything in front of it, since calls to one module instance run one at a time in its worker. Latencies come from autocannon in whole milliseconds. CPU per request: this process's user + system time during a run (every thread: the HTTP server, the peer, its sandbox worker; autocannon runs apart) over the requests answered in it, from the same round; the main thread's share of it from Linux's per-thread counters (\`/proc/self/task/<tid>/stat\`, ticks of 10 ms), so that what the sandbox worker costs beside the main thread shows apart.`,
      rows: [
        { name: 'requests per second', figure: `${Math.round(measured.rps).toLocaleString('en')}/s`, baseline: `bare node:http ${Math.round(baseline.rps).toLocaleString('en')}/s`, ratio: `${(ratio * 100).toFixed(0)} %`, goal: '≥ 80 % of bare', met: ratio >= 0.8 },
        { name: 'requests per second, against one worker hop', figure: `${Math.round(measured.rps).toLocaleString('en')}/s`, baseline: `bare node:http + a worker postMessage round trip ${Math.round(floor.rps).toLocaleString('en')}/s`, ratio: `${((measured.rps / floor.rps) * 100).toFixed(0)} %`, goal: '' },
        { name: 'requests per second, against the supervisor alone', figure: `${Math.round(measured.rps).toLocaleString('en')}/s`, baseline: `supervisor.call in-process, ${CONNECTIONS} in flight ${Math.round(ceiling).toLocaleString('en')}/s`, ratio: `${((measured.rps / ceiling) * 100).toFixed(0)} %`, goal: '' },
        { name: 'CPU per request in the serving process (server, peer, sandbox worker; autocannon apart)', figure: `${measured.cpuPerRequest.toFixed(1)} µs`, baseline: `bare node:http ${baseline.cpuPerRequest.toFixed(1)} µs; + a worker hop ${floor.cpuPerRequest.toFixed(1)} µs`, ratio: times(measured.cpuPerRequest, baseline.cpuPerRequest), goal: '' },
        ...(Number.isFinite(measured.mainPerRequest) ? [{
          name: 'CPU per request on the main thread (HTTP server, routing, peer); the rest of the row above is the sandbox worker and the runtime\'s helper threads',
          figure: `${measured.mainPerRequest.toFixed(1)} µs (other threads ${(measured.cpuPerRequest - measured.mainPerRequest).toFixed(1)} µs)`,
          baseline: `bare node:http ${baseline.mainPerRequest.toFixed(1)} µs (other threads ${(baseline.cpuPerRequest - baseline.mainPerRequest).toFixed(1)} µs)`,
          ratio: times(measured.mainPerRequest, baseline.mainPerRequest),
          goal: '',
        }] : []),
        { name: 'latency p50', figure: ms(measured.p50), baseline: `bare ${ms(baseline.p50)}`, ratio: baseline.p50 > 0 ? times(measured.p50, baseline.p50) : '–', goal: '' },
        { name: 'latency p99', figure: ms(measured.p99), baseline: `bare ${ms(baseline.p99)}`, ratio: baseline.p99 > 0 ? times(measured.p99, baseline.p99) : '–', goal: '' },
      ],
    };
  } finally {
    await gateway.close();
    await new Promise((resolve) => bare.close(resolve));
    await new Promise((resolve) => hop.close(resolve));
    await echo.terminate();
    await node.stop();
  }
}

/**
 * What the access checks (docs/decisions/0017-gateway-access.md) cost on the hot route:
 * the same peer behind three gateways — checks off, the loopback checks (Host, Origin,
 * Sec-Fetch-Site), and those plus the bearer token — in rounds sandwiched between two
 * runs of the gateway without checks, the same bracketing as the throughput above —
 * and, since a few percent drown in a shared machine's noise, the checks timed alone.
 */
async function accessOverhead(): Promise<BenchSection> {
  const network = new MemoryNetwork();
  const node = await startNodePeer({ name: 'bench-access', transports: [network.createTransport()] });
  const dir = new URL('../../modules/fibo/', import.meta.url);
  const description = JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription;
  await node.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))), description });
  const dep = node.orchestrator.deploy({ name: 'bench', sequence: [{ module: 'fibo', func: 'fibo', device: node.peer.id }] });
  await node.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready');
  const token = randomBytes(32).toString('base64url');
  const off = await startGateway({ peer: node, port: 0, unsafeNoAccessChecks: true });
  const on = await startGateway({ peer: node, port: 0 });
  const withToken = await startGateway({ peer: node, port: 0, token });
  const path = `/${dep.id}/modules/fibo/fibo?param0=12`;
  const auth = [`authorization=Bearer ${token}`];
  try {
    for (const [g, headers] of [[off, {}], [on, {}], [withToken, { authorization: `Bearer ${token}` }]] as const) {
      const check = (await (await fetch(g.url + path, { headers })).json()) as { result: number };
      if (check.result !== 233) throw new Error(`a gateway answered ${JSON.stringify(check)}`);
    }
    await load(off.url + path, 2);
    const rounds: { base: Load; checks: Load; token: Load; steady: boolean }[] = [];
    for (let round = 0; round < MAX_ROUNDS && rounds.filter((r) => r.steady).length < ROUNDS; round++) {
      const before = await load(off.url + path, SECONDS);
      const checks = await load(on.url + path, SECONDS);
      const tokened = await load(withToken.url + path, SECONDS, auth);
      const after = await load(off.url + path, SECONDS);
      const steady = Math.abs(before.rps - after.rps) <= 0.2 * Math.max(before.rps, after.rps);
      rounds.push({ base: { ...before, rps: (before.rps + after.rps) / 2 }, checks, token: tokened, steady });
    }
    const failed = rounds.flatMap((r) => [r.checks, r.token]).find((l) => l.errors + l.non2xx > 0);
    if (failed) throw new Error(`a gateway with access checks failed ${failed.errors} requests and answered ${failed.non2xx} non-2xx`);
    const counted = rounds.filter((r) => r.steady).length > 0 ? rounds.filter((r) => r.steady) : rounds;
    const median = (ratio: (r: (typeof rounds)[number]) => number): { r: (typeof rounds)[number]; ratio: number } => {
      const sorted = [...counted].sort((a, b) => ratio(a) - ratio(b));
      const r = sorted[Math.floor(sorted.length / 2)]!;
      return { r, ratio: ratio(r) };
    };
    // The checks alone, in-process: a typical loopback request and a token-bearing one, timed over many calls.
    const perCheck = (policy: AccessPolicy, headers: Record<string, string>): number => {
      const req = { method: 'POST', headers } as unknown as IncomingMessage;
      const res = { setHeader: () => undefined } as unknown as ServerResponse;
      const n = 200_000;
      const start = performance.now();
      for (let i = 0; i < n; i++) if (policy.check(req, res) !== null) throw new Error('the benchmark request was refused');
      return ((performance.now() - start) * 1000) / n;
    };
    const port = Number(new URL(on.url).port);
    const loopbackUs = perCheck(new AccessPolicy({ bindHost: '127.0.0.1', port }), { host: `127.0.0.1:${port}`, 'content-type': 'application/json' });
    const tokenUs = perCheck(new AccessPolicy({ bindHost: '127.0.0.1', port, token }), { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}` });
    const checks = median((r) => r.checks.rps / r.base.rps);
    const tokened = median((r) => r.token.rps / r.base.rps);
    const spread = rounds.map((r) => `${((r.checks.rps / r.base.rps) * 100).toFixed(0)}/${((r.token.rps / r.base.rps) * 100).toFixed(0)} %${r.steady ? '' : ' (unsteady, left out)'}`).join(', ');
    console.log(`  (checks/off, token/off per round: ${spread})`);
    return {
      title: 'HTTP gateway: access checks',
      method: `The hot route \`GET /{deployment}/modules/fibo/fibo?param0=12\` of one Node peer behind three gateways: without access checks, with the loopback checks (Host, Origin, Sec-Fetch-Site), and with those plus a bearer token (sent by autocannon on every request). autocannon in a separate process, ${CONNECTIONS} keep-alive connections for ${SECONDS} s each, after a 2 s warm-up, in rounds of four runs back to back: no checks, checks, checks + token, no checks again (its baseline is the mean of its two runs). A round whose two baseline runs differ by more than 20 % is left out, up to ${MAX_ROUNDS} rounds for ${ROUNDS} steady ones, and each figure comes from the steady round whose ratio is the median (every round's ratios, checks/token: ${spread}).`,
      rows: [
        { name: 'requests per second, loopback checks on', figure: `${Math.round(checks.r.checks.rps).toLocaleString('en')}/s`, baseline: `the same gateway without checks ${Math.round(checks.r.base.rps).toLocaleString('en')}/s`, ratio: `${(checks.ratio * 100).toFixed(0)} %`, goal: '≥ 95 %', met: checks.ratio >= 0.95 },
        { name: 'time of the checks per request (in-process)', figure: `${loopbackUs.toFixed(2)} µs, ${tokenUs.toFixed(2)} µs with the token`, baseline: `one request's time at the gateway's rate without checks, ${(1e6 / checks.r.base.rps).toFixed(0)} µs`, ratio: `${((tokenUs * checks.r.base.rps) / 1e4).toFixed(2)} %`, goal: '≤ 5 %', met: (tokenUs * checks.r.base.rps) / 1e6 <= 0.05 },
        { name: 'requests per second, loopback checks and bearer token', figure: `${Math.round(tokened.r.token.rps).toLocaleString('en')}/s`, baseline: `the same gateway without checks ${Math.round(tokened.r.base.rps).toLocaleString('en')}/s`, ratio: `${(tokened.ratio * 100).toFixed(0)} %`, goal: '≥ 95 %', met: tokened.ratio >= 0.95 },
      ],
    };
  } finally {
    await Promise.all([off.close(), on.close(), withToken.close()]);
    await node.stop();
  }
}

/** The gateway's benchmark sections. */
export const gatewayBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [
  { id: 'gateway', run: gatewayThroughput },
  { id: 'gateway-access', run: accessOverhead },
];

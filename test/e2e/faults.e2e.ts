// Crashes: real processes killed with SIGKILL and started again over the same data
// directory. Two Node peers over WebRTC, driven through their control channels; the
// victim is killed during a deploy, during a call and during a migration, and comes back
// each time with everything it had recorded: modules, deployments, request history. Every
// deployment ends ready or rolled back, and calls work again. Then `liquidmesh start`:
// the user's module, deployment and history survive a stop and a kill -9. Last, a headless
// Chromium peer whose host is killed: its browser exits too, and its profile serves again.
// Every process gets the suite's own TMPDIR, which must be empty at the end.
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { buildPwa, startWebServer } from '../../node-host/web-server.ts';
import type { DeploymentRecord, PhaseRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from './harness.ts';

requireLoopbackNamespace();

const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));
const MODULES = fileURLToPath(new URL('../../modules/', import.meta.url));

type Deployment = DeploymentRecord & { phases: Record<string, PhaseRecord> };
interface History {
  requestId: string;
  deploymentId: string;
  functionName: string;
  success: boolean;
}

/** The request history writes behind by at most this (supervisor/history.ts): older calls are on disk. */
const HISTORY_FLUSH_MS = 100;
/** What a history entry says, without its timing (stored rounded to the microsecond). */
const brief = (entries: History[]): string[] => entries.map((h) => `${h.requestId} ${h.deploymentId} ${h.functionName} ${String(h.success)}`);
const settledWell = (d: Deployment): boolean => d.status === 'ready' || d.status === 'rolled-back';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The first value `probe` gives that is not undefined, asked every 50 ms; throws naming `what` after `timeoutMs`. */
async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('Crashes and restarts', () => {
  let signal: SignalServer;
  let scratch: string;
  /** The temporary directory the peers get (TMPDIR), to see that they leave nothing there. */
  let temp: string;
  let savedTmp: string | undefined;
  const peers: NodePeerProcess[] = [];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    signal = await startSignalServer();
    scratch = await mkdtemp(join(tmpdir(), 'lm-faults-'));
    temp = await mkdtemp(join(tmpdir(), 'lm-faults-tmp-'));
    savedTmp = process.env.TMPDIR;
    // Inherited by every process the suite starts.
    process.env.TMPDIR = temp;
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await signal?.close();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(scratch, { recursive: true, force: true });
    console.log('fault timings (ms):', JSON.stringify(timings));
    try {
      // Nothing the peers made, killed or not, is left in their temporary directory.
      expect(await readdir(temp), 'left in the temporary directory').to.deep.equal([]);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  });

  it('a Node peer killed during a deploy, a call and a migration comes back with all it had, and serves', async () => {
    const mesh = ['--signal', signal.url, '--mesh', 'faults', '--secret', 'faults-secret'];
    const dirA = join(scratch, 'node-a');
    const dirB = join(scratch, 'node-b');
    const start = async (name: string, dir: string): Promise<NodePeerProcess> => {
      const p = new NodePeerProcess(name, [...mesh, '--data-dir', dir]);
      peers.push(p);
      await p.ready();
      return p;
    };
    const a = await start('node-a', dirA);
    let b = await start('node-b', dirB);
    const bId = b.id;
    const linked = async (): Promise<void> => {
      await waitFor(async () => (await a.view()).alive.includes(bId) && (await b.view()).alive.includes(a.id), 'node-a and node-b to see each other', 30_000);
    };
    await linked();
    /** Kill node-b without warning and start it again on its data directory. */
    const crash = async (what: string): Promise<void> => {
      const t0 = Date.now();
      b.kill();
      await new Promise((r) => b.child.once('exit', r));
      b = await start('node-b', dirB);
      expect(b.id, 'the same identity').to.equal(bId);
      await linked();
      timings[`${what}: kill to linked again`] = Date.now() - t0;
    };
    const settledOn = async (peer: NodePeerProcess, id: string): Promise<Deployment> => {
      let last: Deployment | undefined;
      return until(async () => {
        const d = await peer.command<Deployment>('deployment', { deployment: id }).catch(() => undefined);
        last = d ?? last;
        return d && settledWell(d) ? d : undefined;
      }, `deployment ${id} to end ready or rolled back on ${peer.name}`, 30_000).catch((error: Error) => {
        // Say where it stopped: the record's status, reason and phases.
        const { status, revision, coordinator, reason, waitingFor, solution, phases } = last ?? ({} as Partial<Deployment>);
        throw new Error(`${error.message}; last seen: ${JSON.stringify({ status, revision, coordinator, reason, waitingFor, solution, phases })}`);
      });
    };

    // What node-b records before any crash: a module it publishes, deployments it
    // coordinates, one of them pinned to it, and calls in its history.
    await a.command('publish', { module: 'fibo' });
    const published = await b.command<{ id: string }>('publish', { module: 'stateful-fibo' });
    const counter = await b.command<DeploymentRecord>('deploy', { manifest: { name: 'counter', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'node-b' }] } });
    expect((await b.command<Deployment>('wait', { deployment: counter.id })).status).to.equal('ready');
    const counted: unknown[] = [];
    for (let i = 0; i < 3; i++) counted.push((await b.command<{ value: unknown }>('execute', { deployment: counter.id })).value);
    expect(counted).to.deep.equal([1, 2, 3]);
    await sleep(3 * HISTORY_FLUSH_MS);
    const historyBefore = await b.command<History[]>('history', { deployment: counter.id });
    expect(historyBefore).to.have.length(3);

    // 1. Killed during a deploy it coordinates and hosts (the answer came, no phase yet).
    const fib = await b.command<DeploymentRecord>('deploy', { manifest: { name: 'fib-on-b', sequence: [{ module: 'fibo', func: 'fibo', device: 'node-b' }] } });
    await crash('deploy');
    const modules = await b.command<{ id: string }[]>('modules');
    expect(modules.map((m) => m.id)).to.include(published.id);
    expect((await b.command<{ deployments: string[] }>('status')).deployments).to.include.members([counter.id, fib.id]);
    expect(brief(await b.command<History[]>('history', { deployment: counter.id }))).to.deep.equal(brief(historyBefore));
    for (const id of [counter.id, fib.id]) await settledOn(b, id);
    expect((await b.command<{ value: unknown }>('execute', { deployment: fib.id, args: [12] })).value).to.equal(233);
    expect((await a.command<{ value: unknown }>('execute', { deployment: fib.id, args: [10] })).value).to.equal(89);
    // Its module's state did not survive the crash, but the module did: it counts again.
    expect((await a.command<{ value: unknown }>('execute', { deployment: counter.id })).value).to.equal(1);

    // 2. Killed during a call: the calls answered before it are in its history after.
    await sleep(3 * HISTORY_FLUSH_MS);
    const answered = await b.command<History[]>('history', { limit: 1000 });
    const inFlight = a.command('execute', { deployment: fib.id, args: [20] }).catch((e: Error) => e);
    await crash('call');
    await inFlight;
    const after = await b.command<History[]>('history', { limit: 1000 });
    expect(after.map((h) => h.requestId)).to.include.members(answered.map((h) => h.requestId));
    for (const id of [counter.id, fib.id]) await settledOn(a, id);
    expect((await a.command<{ value: unknown }>('execute', { deployment: fib.id, args: [20] })).value).to.equal(10946);

    // 3. Killed during a migration away from it: the counter ends on one peer, ready.
    const before = await settledOn(a, counter.id);
    await a.command('execute', { deployment: counter.id });
    const migrating = a.command('migrate', { deployment: counter.id, module: 'stateful-fibo', device: a.id }).catch((e: Error) => e);
    const seen = await until(async () => {
      const d = await a.command<Deployment>('deployment', { deployment: counter.id });
      return d.migration && d.migration.id !== before.migration?.id ? d.migration.phase : undefined;
    }, 'the migration to start', 10_000).catch(() => 'not seen');
    timings['migration phase when killed'] = ['preparing', 'transferring', 'done', 'failed'].indexOf(String(seen));
    await crash('migration');
    await migrating;
    for (const id of [counter.id, fib.id]) {
      const onA = await settledOn(a, id);
      const onB = await settledOn(b, id);
      expect(onB.revision).to.be.at.least(1);
      expect(settledWell(onA) && settledWell(onB)).to.equal(true);
    }
    const runsOn = (await settledOn(a, counter.id)).solution['0'];
    expect([a.id, bId]).to.include(runsOn);
    expect(typeof (await b.command<{ value: unknown }>('execute', { deployment: counter.id })).value).to.equal('number');
    expect((await b.command<{ value: unknown }>('execute', { deployment: fib.id, args: [12] })).value).to.equal(233);
    expect((await b.command<{ id: string }[]>('modules')).map((m) => m.id)).to.include(published.id);
    expect((await b.command<History[]>('history', { limit: 1000 })).map((h) => h.requestId)).to.include.members(answered.map((h) => h.requestId));
  });

  it('a Node peer driven over its control channel stops, saving what it had, when its driver goes away', async () => {
    const dir = join(scratch, 'driven');
    const p = new NodePeerProcess('driven', ['--signal', signal.url, '--mesh', 'driven', '--secret', 'driven-secret', '--data-dir', dir]);
    peers.push(p);
    await p.ready();
    const exited = new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
    // The driver's end of the pipe closes, as when a bench or a script dies without a word.
    p.child.stdin!.end();
    expect(await exited).to.equal(0);
    // It went as a stop goes: the same device starts again from its data directory.
    const again = new NodePeerProcess('driven', ['--signal', signal.url, '--mesh', 'driven', '--secret', 'driven-secret', '--data-dir', dir]);
    peers.push(again);
    await again.ready();
    expect(again.id).to.equal(p.id);
  });

  it('liquidmesh start keeps the user\'s module, deployment and history across a stop and a kill -9', async () => {
    const data = join(scratch, 'start-data');
    let out = '';
    let starts = 0;
    const run = (): { child: ChildProcess; gateway: Promise<string> } => {
      out = '';
      const child = spawn(process.execPath, [CLI, 'start', '--no-chromium', '--signal-port', '0', '--web-port', '0', '--gateway-port', '0', '--data-dir', data], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TMPDIR: temp },
      });
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const t0 = Date.now();
      const gateway = until(() => (out.includes('Ctrl-C stops everything') ? /HTTP gateway \(WasmIoT API\): +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] : undefined), 'liquidmesh start to come up', 120_000);
      void gateway.then(() => (timings[`start ${++starts}: up`] = Date.now() - t0), () => undefined);
      return { child, gateway };
    };
    const cli = (gateway: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LIQUIDMESH_GATEWAY: gateway } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const json = async <T>(gateway: string, args: string[]): Promise<T> => {
      const r = await cli(gateway, [...args, '--json']);
      expect(r.code, `liquidmesh ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
      return JSON.parse(r.stdout) as T;
    };
    const stopped = (child: ChildProcess): Promise<unknown> => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    let current = run();
    try {
      let gateway = await current.gateway;
      const secret = /[?&]secret=([0-9a-f]+)/.exec(out)?.[1];
      expect(out).to.match(/fibo\(12\) = 233 on node-1/);

      // The user's own module, deployment and calls.
      expect((await cli(gateway, ['publish', join(MODULES, 'math')])).code).to.equal(0);
      const mine = await json<{ _id: string; status: string }>(gateway, ['deploy', '--step', 'stateful-fibo:stateful_fibo', '--name', 'my-counter']);
      expect(mine.status).to.equal('ready');
      const calls: string[] = [];
      for (let i = 0; i < 3; i++) calls.push((await cli(gateway, ['call', 'my-counter'])).stdout.split('\n')[0]!);
      expect(calls).to.deep.equal(['1', '2', '3']);
      await sleep(3 * HISTORY_FLUSH_MS);
      // Reads go straight to the gateway (a CLI run costs a process start each).
      const get = async <T>(path: string): Promise<T> => {
        const response = await fetch(`${gateway}${path}`);
        expect(response.status, path).to.equal(200);
        return (await response.json()) as T;
      };
      const mineHistory = async (): Promise<string[]> =>
        (await get<{ request_id: string; deployment_id: string; module_name: string; success: boolean }[]>('/request-history'))
          .filter((h) => h.deployment_id === mine._id && h.success)
          .map((h) => `${h.request_id} ${h.module_name}`);
      const historyBefore = await mineHistory();
      expect(historyBefore.length).to.be.at.least(3);

      const check = async (how: string): Promise<void> => {
        gateway = await current.gateway;
        expect(/[?&]secret=([0-9a-f]+)/.exec(out)?.[1], `${how}: the same mesh secret`).to.equal(secret);
        const modules = await get<{ name: string }[]>('/file/module');
        expect(modules.map((m) => m.name), how).to.include.members(['math', 'fibo', 'stateful-fibo']);
        const deployments = await get<{ _id: string; name: string }[]>('/file/manifest');
        expect(deployments.filter((d) => d.name === 'my-counter').map((d) => d._id), `${how}: one my-counter`).to.deep.equal([mine._id]);
        // The samples were not deployed twice.
        expect(deployments.filter((d) => d.name === 'fibo'), `${how}: one fibo`).to.have.length(1);
        expect(await mineHistory(), `${how}: the history`).to.include.members(historyBefore);
        const called = await cli(gateway, ['call', 'my-counter']);
        expect(called.code, `${how}: ${called.stderr}`).to.equal(0);
        expect(Number(called.stdout.split('\n')[0]), how).to.be.a('number').and.at.least(1);
      };

      // A clean stop, then a start on the same data.
      current.child.kill('SIGTERM');
      await stopped(current.child);
      current = run();
      await check('after a stop');

      // A crash, then a start.
      current.child.kill('SIGKILL');
      await stopped(current.child);
      current = run();
      await check('after a kill -9');
    } finally {
      current.child.kill('SIGTERM');
      await stopped(current.child);
    }
  });

  it('a headless Chromium peer killed with its host leaves no browser behind and starts again on its profile', async () => {
    await buildPwa();
    const web = await startWebServer();
    const profile = join(scratch, 'chromium-1');
    const launch = (): Promise<{ child: ChildProcess; pid: number }> => {
      const child = spawn(process.execPath, [CLI, 'peer', '--name', 'chromium-1', '--engine', 'chromium', '--json', '--signal', signal.url, '--mesh', 'faults', '--secret', 'faults-secret', '--pwa', web.url, '--data-dir', profile], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      return until(() => {
        const ready = out.split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { event?: string; pid?: number }) : {})).find((l) => l.event === 'ready');
        return ready?.pid ? { child, pid: ready.pid } : undefined;
      }, 'the Chromium peer to start', 60_000);
    };
    const running = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const browsers: number[] = [];
    let peer = await launch();
    browsers.push(peer.pid);
    let outlived = false;
    try {
      peer.child.kill('SIGKILL');
      // The browser talks to its host over a pipe: it exits with it, not as an orphan holding the profile.
      await until(() => (running(peer.pid) ? undefined : true), 'the orphaned browser to exit', 15_000);
      peer = await launch();
      browsers.push(peer.pid);
      expect(running(peer.pid)).to.equal(true);
    } finally {
      const exited = new Promise((r) => (peer.child.exitCode !== null || peer.child.signalCode !== null ? r(null) : peer.child.once('exit', r)));
      peer.child.kill('SIGTERM');
      await exited;
      // A stopped host closes its browser: it may take a moment to exit, but no more.
      outlived = await until(() => (running(peer.pid) ? undefined : false), 'the browser to exit with its host', 10_000).catch(() => true);
      await web.close();
      // A browser this test started that is still there (the case this test is about) is ended, with its group.
      for (const pid of browsers.filter(running)) process.kill(-pid, 'SIGKILL');
    }
    expect(outlived, 'the browser outlived its stopped host').to.equal(false);
  });
});

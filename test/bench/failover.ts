/**
 * Failover over real WebRTC (Node peer processes, node-datachannel, loopback, inside the
 * loopback-only namespace `npm run bench` creates): a peer process hosting a module is
 * killed and the clock runs until the deployment answers again from another peer. The
 * other side of a short liveness timeout is counted too: peers of an idle mesh that
 * declare a living peer gone while every core is saturated. The kill is noticed from the
 * dead process's will (published by the signaling server when its socket closes) and the
 * silence that follows, not from the silence floor.
 */
import '../../node-host/webrtc/globals.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from '../e2e/harness.ts';
import { meshOf } from './webrtc-mesh.ts';
import { standbyFailover, type StandbyFigures } from './failover-standby.ts';
import { type BenchSection, ms, percentile, times } from './harness.ts';

/** The least silence after which a WebRTC link is declared dead (WebRtcTransport's default floor). */
const LINK_TIMEOUT_FLOOR_MS = 2500;
const RUNS = 5;
const LOADED_SECONDS = 30;

async function fiboModule(): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL('../../modules/fibo/', import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

/** Kill → callable again, and kill → departure noticed, medians of {@link RUNS}. */
async function killAndRecover(signalUrl: string): Promise<{ recovered: number; noticed: number }> {
  const mesh = 'bench-failover';
  const peers = await meshOf(signalUrl, ['coordinator', 'caller'], mesh);
  const [coord, caller] = peers as [SupervisedPeer, SupervisedPeer];
  const recovered: number[] = [];
  const noticed: number[] = [];
  try {
    await coord.orchestrator.packages.publish(await fiboModule());
    for (let run = 0; run < RUNS; run++) {
      const victim = new NodePeerProcess(`victim-${run}`, ['--signal', signalUrl, '--mesh', mesh, '--secret', 'bench']);
      try {
        await victim.ready();
        // Alive, linked, and its device description synced: the pin below names it.
        await waitFor(() => coord.peer.alive().includes(victim.id) && coord.peer.linked().includes(victim.id) && coord.peer.registry.devices.get(victim.id) !== undefined, 'the victim to join', 60_000);
        const dep = coord.orchestrator.deploy({ name: `fo-${run}`, sequence: [{ module: 'fibo', func: 'fibo' }], engines: ['node'] }, {});
        // Placement picks any node peer; move the step to the victim so that killing it matters.
        const onVictim = coord.orchestrator.update(dep.id, { name: `fo-${run}`, sequence: [{ module: 'fibo', func: 'fibo', device: `victim-${run}` }] });
        await coord.orchestrator.waitFor(dep.id, (v) => v.record.revision >= onVictim.revision && v.record.status === 'ready', 30_000);
        // Unpin, so the coordinator may re-place the step when the victim dies.
        const unpinned = coord.orchestrator.update(dep.id, { name: `fo-${run}`, sequence: [{ module: 'fibo', func: 'fibo' }] });
        const settledOnVictim = await coord.orchestrator.waitFor(dep.id, (v) => v.record.revision >= unpinned.revision && v.record.status === 'ready', 30_000);
        if (settledOnVictim.record.solution['0'] !== victim.id) throw new Error('the step left the victim before the kill');
        let leftAt = 0;
        const off = coord.peer.on('device-left', (p) => {
          if (p === victim.id && leftAt === 0) leftAt = performance.now();
        });
        const t0 = performance.now();
        victim.kill();
        let lastError = '';
        await waitFor(async () => {
          try {
            return (await caller.orchestrator.execute(dep.id, { args: [12] }, { readyTimeoutMs: 200 })).result.value === 233;
          } catch (error) {
            lastError = (error as Error).message;
            return false;
          }
        }, 'the deployment to answer again', 30_000).catch((error: unknown) => {
          const r = coord.orchestrator.get(dep.id).record;
          throw new Error(`${(error as Error).message}: the record is ${r.status} (revision ${r.revision}, step on ${r.solution['0']?.slice(0, 8)}, victim ${victim.id.slice(0, 8)}, ${r.reason ?? 'no reason'}); the coordinator sees alive ${coord.peer.alive().map((p) => p.slice(0, 8)).join(', ')}; the last call failed with: ${lastError}`);
        });
        recovered.push(performance.now() - t0);
        off();
        if (leftAt > 0) noticed.push(leftAt - t0);
      } finally {
        await victim.stop();
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
  return { recovered: percentile(recovered.sort((a, b) => a - b), 50), noticed: percentile(noticed.sort((a, b) => a - b), 50) };
}

/** Busy loops, two per core: every core saturated for as long as they run. */
function saturate(): ChildProcess[] {
  return Array.from({ length: cpus().length * 2 }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

/**
 * Four peer processes meet; then, for {@link LOADED_SECONDS} s, the departures each of them
 * reports of the others are counted — first at rest, then with every core saturated.
 */
async function falseDepartures(signalUrl: string): Promise<{ rest: number; loaded: number; links: number }> {
  const mesh = 'bench-liveness';
  const procs: NodePeerProcess[] = [];
  const departures = (): number => procs.reduce((n, p) => n + p.events.filter((e) => e.event === 'device-left').length, 0);
  let load: ChildProcess[] = [];
  try {
    // One at a time: four processes booting at once on a loaded two-core machine can take
    // longer than a start is given.
    for (let i = 0; i < 4; i++) {
      procs.push(new NodePeerProcess(`steady-${i}`, ['--signal', signalUrl, '--mesh', mesh, '--secret', 'bench']));
      await procs[i]!.ready();
    }
    await waitFor(async () => (await Promise.all(procs.map(async (p) => (await p.view()).alive.length))).every((n) => n >= procs.length - 1), 'the four peers to see each other', 60_000);
    const before = departures();
    await new Promise((r) => setTimeout(r, LOADED_SECONDS * 1000));
    const rest = departures() - before;
    load = saturate();
    const underLoad = departures();
    await new Promise((r) => setTimeout(r, LOADED_SECONDS * 1000));
    const loaded = departures() - underLoad;
    return { rest, loaded, links: procs.length * (procs.length - 1) };
  } finally {
    for (const child of load) child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.stop()));
  }
}

async function failover(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const server = await startSignalServer();
  // The machine is shared: the load it carried says how far these times are from its floor.
  const load = loadavg()[0]!.toFixed(1);
  try {
    const { recovered, noticed } = await killAndRecover(server.url);
    const standby = await standbyFailover(server.url, RUNS);
    const { rest, loaded, links } = await falseDepartures(server.url);
    return {
      title: 'Failover (a killed Node process, WebRTC on loopback)',
      method: `A peer process hosting fibo is killed with SIGKILL (no goodbye); time until the coordinator's peer reports it gone, and until the deployment answers fibo(12) = 233 again from another peer (re-placed, module fetched and loaded), median of ${RUNS}. Baseline: the ${LINK_TIMEOUT_FLOOR_MS / 1000} s of link silence after which a WebRTC link is declared dead at the least without a hint (a young or probed link gets a keepalive every 250 ms, a settled idle one a rest ping every 2 s and 1.75 s more; a link whose frames come further apart gets three of its usual gaps, and a stall of the watching process is not counted). The killed process's signaling socket closes with it, the signaling server publishes its sealed will, and the will makes its links suspect: each is closed after two of its usual gaps of silence. False departures: four idle peer processes watch each other (${links} directed links) for ${LOADED_SECONDS} s at rest, then ${LOADED_SECONDS} s with ${cpus().length * 2} busy-looping processes saturating the ${cpus().length} cores; every "device-left" a living peer causes is counted. Hot standby rows: stateful-fibo with \`replicas: 1\` on a killed peer process, its standby on the caller's or the coordinator's peer; the time until one call made right after the kill is answered with the value after the last acknowledged one, median of ${standby.runs}, beside the time the killed process's will took to reach the caller in the same runs. Load average (1 min) when the section started: ${load} on ${cpus().length} cores.`,
      rows: [
        { name: 'kill → departure noticed', figure: ms(noticed), baseline: `link timeout floor ${ms(LINK_TIMEOUT_FLOOR_MS)}`, ratio: times(noticed, LINK_TIMEOUT_FLOOR_MS), goal: '' },
        { name: 'kill → callable again', figure: ms(recovered), baseline: `link timeout floor ${ms(LINK_TIMEOUT_FLOOR_MS)}`, ratio: times(recovered, LINK_TIMEOUT_FLOOR_MS), goal: '≤ 1.5 s', met: recovered <= 1500 },
        ...standbyRows(standby),
        { name: `false departures in ${LOADED_SECONDS} s, every core saturated`, figure: String(loaded), baseline: `at rest ${rest}`, ratio: '—', goal: '0', met: loaded === 0 },
      ],
    };
  } finally {
    await server.close();
  }
}

/** The rows of the hot standby (ADR 0038): failover with `replicas: 1`, and what keeping the standby in sync costs a call. */
function standbyRows(s: StandbyFigures): BenchSection['rows'] {
  return [
    { name: 'kill → callable again, with a hot standby (`replicas: 1`)', figure: ms(s.recovered), baseline: `link timeout floor ${ms(LINK_TIMEOUT_FLOOR_MS)}`, ratio: times(s.recovered, LINK_TIMEOUT_FLOOR_MS), goal: '≤ 0.2 s', met: s.recovered <= 200 },
    { name: 'kill → callable again, with a hot standby, vs the will reaching the caller', figure: ms(s.recovered), baseline: `kill → will at the caller ${ms(s.willArrived)}`, ratio: times(s.recovered, s.willArrived), goal: '' },
    { name: 'call p50 with a hot standby in sync (`replicas: 1`)', figure: ms(s.p50Standby), baseline: `without ${ms(s.p50Plain)}`, ratio: times(s.p50Standby, s.p50Plain), goal: '' },
  ];
}

/** The hot standby's rows alone (quicker than the whole failover section). */
async function failoverStandby(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const server = await startSignalServer();
  try {
    const s = await standbyFailover(server.url, RUNS);
    return {
      title: 'Failover with a hot standby (a killed Node process, WebRTC on loopback)',
      method: `A peer process hosts stateful-fibo with \`replicas: 1\`: its standby runs on another peer (on the calling peer in ${s.standbyOnCaller} of ${s.runs} runs, else on the coordinator's) and receives the pages each call wrote before the call is answered. The process is killed with SIGKILL; the time runs until one call made right after the kill is answered with the value that follows the last acknowledged one (the caller turns to the standby as soon as the killed process's will makes its link suspect; the standby takes over on the same hint), median of ${s.runs}; beside it the time from the kill until the will reached the caller (its link to the killed process turned suspect), median of the same runs: the floor of any takeover, which on a loaded machine is most of the figure. Call p50: ${200} calls from the caller to the same module without and with a standby, same peers, same run.`,
      rows: standbyRows(s),
    };
  } finally {
    await server.close();
  }
}

/** The failover benchmarks, by id. */
export const failoverBenchmarks = [{ id: 'failover', run: failover }, { id: 'failover-standby', run: failoverStandby }];

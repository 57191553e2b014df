/**
 * Failover with a hot standby (`replicas: 1`, ADR 0038) over real WebRTC: a peer process
 * hosts a stateful counter whose standby runs on another peer; the process is killed
 * with SIGKILL and the clock runs until the counter answers again — with the value that
 * follows the last acknowledged one. Also the price of the standby: the caller's p50 of
 * a call with and without it, same module, same peers, same run.
 */
import { readFile } from 'node:fs/promises';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from '../e2e/harness.ts';
import { meshOf } from './webrtc-mesh.ts';
import { percentile } from './harness.ts';

/**
 * The value stateful-fibo answers after `n`: 1, 2, 3, 5, 8, … in i64 arithmetic, which
 * wraps after about 90 calls (an i64 reaches JavaScript as a decimal string once it is
 * beyond a double's exact range).
 */
function fibAfter(n: number | string | bigint): bigint {
  const target = BigInt(n);
  let [a, b] = [1n, 2n];
  for (let i = 0; i < 100_000; i++) {
    if (a === target) return b;
    [a, b] = [b, BigInt.asIntN(64, a + b)];
  }
  throw new Error(`${String(n)} is not a value stateful-fibo answers`);
}

const CALLS = 200;

/** What {@link standbyFailover} measured (medians over its runs). */
export interface StandbyFigures {
  /** SIGKILL → the counter answers again, ms. */
  recovered: number;
  /** SIGKILL → the killed process's will reaches the caller (its link turns suspect), ms: the floor of any takeover. */
  willArrived: number;
  /** Where the standby ran relative to the caller in each run. */
  standbyOnCaller: number;
  runs: number;
  /** Caller's p50 per call, ms, without and with a standby. */
  p50Plain: number;
  p50Standby: number;
}

async function statefulFibo(): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL('../../modules/stateful-fibo/', import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL('stateful-fibo.wasm', dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

async function p50Of(caller: SupervisedPeer, id: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await caller.orchestrator.execute(id);
    times.push(performance.now() - t0);
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

/** `runs` kills of a primary with a standby, in the loopback namespace of `signalUrl`. */
export async function standbyFailover(signalUrl: string, runs: number): Promise<StandbyFigures> {
  const mesh = 'bench-standby';
  const peers = await meshOf(signalUrl, ['coordinator', 'caller'], mesh);
  const [coord, caller] = peers as [SupervisedPeer, SupervisedPeer];
  const recovered: number[] = [];
  const willArrived: number[] = [];
  const plain: number[] = [];
  const synced: number[] = [];
  let standbyOnCaller = 0;
  try {
    await coord.orchestrator.packages.publish(await statefulFibo());
    for (let run = 0; run < runs; run++) {
      const name = `standby-victim-${run}`;
      const victim = new NodePeerProcess(name, ['--signal', signalUrl, '--mesh', mesh, '--secret', 'bench']);
      // Progress on stderr: a run that stalls on a loaded machine says where.
      const phase = (what: string): void => void process.stderr.write(`  standby run ${run + 1}/${runs}: ${what}\n`);
      try {
        await victim.ready();
        phase('victim started');
        await waitFor(() => coord.peer.alive().includes(victim.id) && caller.peer.linked().includes(victim.id) && coord.peer.registry.devices.get(victim.id) !== undefined, 'the victim to join', 60_000);
        const step = { module: 'stateful-fibo', func: 'stateful_fibo', device: name };
        const without = coord.orchestrator.deploy({ name: `plain-${run}`, sequence: [step] });
        const dep = coord.orchestrator.deploy({ name: `standby-${run}`, replicas: 1, sequence: [step] });
        await waitFor(() => {
          const views = [without.id, dep.id].map((id) => caller.peer.registry.deployments.get(id)?.record);
          return views.every((r) => r?.status === 'ready') && (views[1]!.standby?.['0']?.length ?? 0) === 1;
        }, 'both deployments ready, one with its standby', 60_000);
        phase('deployed');
        const r = caller.peer.registry.deployments.get(dep.id)!.record;
        if (r.solution['0'] !== victim.id) throw new Error('the step is not on the victim');
        if (r.standby!['0']![0] === caller.peer.id) standbyOnCaller++;
        plain.push(await p50Of(caller, without.id));
        synced.push(await p50Of(caller, dep.id));
        const last = (await caller.orchestrator.execute(dep.id)).result.value!;
        phase('calls measured; kill');
        let suspectAt = 0;
        const off = caller.peer.on('link-suspect', (p) => {
          if (p === victim.id && suspectAt === 0) suspectAt = performance.now();
        });
        const t0 = performance.now();
        victim.kill();
        // One call, as a client would make it: it must fail over by itself.
        const next = (await caller.orchestrator.execute(dep.id, {}, { readyTimeoutMs: 30_000 })).result.value!;
        recovered.push(performance.now() - t0);
        off();
        if (suspectAt > 0) willArrived.push(suspectAt - t0);
        phase(`callable again after ${recovered.at(-1)!.toFixed(1)} ms`);
        if (BigInt(next) !== fibAfter(last)) throw new Error(`after the failover the counter answered ${next}; the last acknowledged value was ${last}, so ${fibAfter(last)} was due`);
      } finally {
        await victim.stop();
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
  const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
  return { recovered: median(recovered), willArrived: willArrived.length > 0 ? median(willArrived) : NaN, standbyOnCaller, runs, p50Plain: median(plain), p50Standby: median(synced) };
}

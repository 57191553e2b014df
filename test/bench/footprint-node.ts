/**
 * Idle footprint of a Node peer process: its resident memory at rest with no module
 * loaded, and with one module deployed to it, against a bare Node process in the same
 * run (WebRTC on loopback, inside the loopback-only namespace `npm run bench` creates).
 */
import '../../node-host/webrtc/globals.ts';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from '../e2e/harness.ts';
import { type BenchSection, percentile, times } from './harness.ts';
import { meshOf } from './webrtc-mesh.ts';

const SAMPLES = 10;
const REST_MS = 10_000;
const BUDGET_MB = 80;

/** Resident set size of a process in MB (VmRSS of /proc/<pid>/status). */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

/** Median RSS of {@link SAMPLES} samples a second apart, after {@link REST_MS} of rest. */
async function restingRss(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, REST_MS));
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    samples.push(rssMb(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  return percentile(samples.sort((a, b) => a - b), 50);
}

const mb = (v: number): string => `${v.toFixed(1)} MB`;

async function nodeFootprint(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const server = await startSignalServer();
  const mesh = 'bench-footprint';
  let peers: SupervisedPeer[] = [];
  const subject = new NodePeerProcess('footprint', ['--signal', server.url, '--mesh', mesh, '--secret', 'bench']);
  try {
    peers = await meshOf(server.url, ['coordinator'], mesh);
    const coord = peers[0]!;
    await subject.ready();
    await waitFor(() => coord.peer.registry.devices.get(subject.id) !== undefined, 'the peer to join', 60_000);
    const [baseline, idle] = await Promise.all([restingRss(bare.pid!), restingRss(subject.child.pid!)]);
    const dir = new URL('../../modules/fibo/', import.meta.url);
    await coord.orchestrator.packages.publish({
      wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))),
      description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
    });
    const dep = coord.orchestrator.deploy({ name: 'footprint-fibo', sequence: [{ module: 'fibo', func: 'fibo', device: 'footprint' }] }, {});
    await coord.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 60_000);
    if ((await coord.orchestrator.execute(dep.id, { args: [12] })).result.value !== 233) throw new Error('fibo(12) did not answer 233');
    const loaded = await restingRss(subject.child.pid!);
    return {
      title: 'Idle footprint of a Node peer',
      method: `A Node peer process (\`liquidmesh peer\`, WebRTC on loopback, linked to one other peer) at rest: its resident set (VmRSS), median of ${SAMPLES} samples a second apart after ${REST_MS / 1000} s of rest, with no module loaded, then with fibo deployed to it and called once. Baseline in the same run: a bare \`node -e\` process at rest.`,
      rows: [
        { name: 'Node peer RSS, no module', figure: mb(idle), baseline: `bare Node ${mb(baseline)}`, ratio: times(idle, baseline), goal: `≤ ${BUDGET_MB} MB`, met: idle <= BUDGET_MB },
        { name: 'Node peer RSS, one module', figure: mb(loaded), baseline: `bare Node ${mb(baseline)}`, ratio: times(loaded, baseline), goal: '' },
      ],
    };
  } finally {
    await subject.stop();
    await Promise.all(peers.map((p) => p.stop()));
    await server.close();
    bare.kill();
  }
}

/** The Node footprint benchmark, by id. */
export const footprintNodeBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'footprint-node', run: nodeFootprint }];

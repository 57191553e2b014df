/**
 * Idle footprint of a Node peer process: its resident memory at rest with no module
 * loaded, and with one module deployed to it, against a bare Node process in the same
 * run (WebRTC on loopback, inside the loopback-only namespace `npm run bench` creates).
 * Beside it, where the memory goes (the peer's own `memory` control command), and the
 * same peer run from its sources through tsx and with a smaller young generation, so the
 * two choices ADR 0037 weighs are measured in the same run.
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
import { buildBundle } from '../../node-host/bin/cli-bundle.mjs';
import { type BenchSection, percentile, times } from './harness.ts';
import { meshOf } from './webrtc-mesh.ts';

const SAMPLES = 10;
const REST_MS = 10_000;
const BUDGET_MB = 80;
const MiB = 1024 * 1024;

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

/** What the peer's `memory` control command answers. */
interface MemoryReport {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, number>;
  code: { code_and_metadata_size: number; bytecode_and_metadata_size: number; external_script_source_size: number };
}

async function nodeFootprint(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const server = await startSignalServer();
  const mesh = 'bench-footprint';
  let peers: SupervisedPeer[] = [];
  // The peer as the command runs it: from the bundle, rebuilt here so that it matches the sources.
  await buildBundle();
  const args = ['--signal', server.url, '--mesh', mesh, '--secret', 'bench'];
  const subject = new NodePeerProcess('footprint', args);
  const fromSources = new NodePeerProcess('footprint-tsx', args, { env: { LIQUIDMESH_FROM_SOURCES: '1' } });
  const smallYoung = new NodePeerProcess('footprint-semi', args, { env: { NODE_OPTIONS: '--max-semi-space-size=1' } });
  const all = [subject, fromSources, smallYoung];
  try {
    peers = await meshOf(server.url, ['coordinator'], mesh);
    const coord = peers[0]!;
    await Promise.all(all.map((p) => p.ready()));
    await waitFor(() => all.every((p) => coord.peer.registry.devices.get(p.id) !== undefined), 'the peers to join', 60_000);
    const [baseline, idle, tsx, semi] = await Promise.all([bare.pid!, ...all.map((p) => p.child.pid!)].map((pid) => restingRss(pid)));
    const memory = await subject.command<MemoryReport>('memory');
    await Promise.all([fromSources.stop(), smallYoung.stop()]);
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
      method: `A Node peer process (\`liquidmesh peer\`, run from its bundle, WebRTC on loopback, linked to one other peer) at rest: its resident set (VmRSS), median of ${SAMPLES} samples a second apart after ${REST_MS / 1000} s of rest, with no module loaded, then with fibo deployed to it and called once. Baseline in the same run: a bare \`node -e\` process at rest. Beside it, at rest at the same time: the same peer run from its TypeScript sources through tsx (\`LIQUIDMESH_FROM_SOURCES=1\`), and the bundle with a 1 MB young generation (\`NODE_OPTIONS=--max-semi-space-size=1\`). The breakdown comes from the peer's \`memory\` control command (\`process.memoryUsage()\`, V8's heap and code statistics) at the end of its rest: the V8 heap, the source text of the loaded scripts, and the rest of the resident set (the Node binary and libdatachannel's mapped code, native allocations, thread stacks).`,
      rows: [
        { name: 'Node peer RSS, no module', figure: mb(idle), baseline: `bare Node ${mb(baseline)}`, ratio: times(idle, baseline), goal: `≤ ${BUDGET_MB} MB`, met: idle <= BUDGET_MB },
        { name: '… of which V8 heap (used / reserved)', figure: `${mb(memory.heapUsed / MiB)} / ${mb(memory.heapTotal / MiB)}`, baseline: '', ratio: '', goal: '' },
        { name: '… of which young generation (used), old generation (used)', figure: `${mb((memory.spaces.new_space ?? 0) / MiB)}, ${mb((memory.spaces.old_space ?? 0) / MiB)}`, baseline: '', ratio: '', goal: '' },
        { name: '… of which scripts\' source text, bytecode', figure: `${mb(memory.code.external_script_source_size / MiB)}, ${mb(memory.code.bytecode_and_metadata_size / MiB)}`, baseline: '', ratio: '', goal: '' },
        { name: '… of which outside the V8 heap (binary, native, stacks)', figure: mb((memory.rss - memory.heapTotal) / MiB), baseline: `bare Node ${mb(baseline)}`, ratio: '', goal: '' },
        { name: 'Node peer RSS, run from its sources through tsx', figure: mb(tsx), baseline: `bundle ${mb(idle)}`, ratio: times(tsx, idle), goal: '' },
        { name: 'Node peer RSS, bundle with --max-semi-space-size=1', figure: mb(semi), baseline: `bundle ${mb(idle)}`, ratio: times(semi, idle), goal: '' },
        { name: 'Node peer RSS, one module', figure: mb(loaded), baseline: `bare Node ${mb(baseline)}`, ratio: times(loaded, baseline), goal: '' },
      ],
    };
  } finally {
    await Promise.all(all.map((p) => p.stop()));
    await Promise.all(peers.map((p) => p.stop()));
    await server.close();
    bare.kill();
  }
}

/** The Node footprint benchmark, by id. */
export const footprintNodeBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'footprint-node', run: nodeFootprint }];

/**
 * `npm run bench [-- id ...]`: runs the benchmarks (all, or those named); a full run
 * writes BENCHMARKS.md, a partial one replaces the sections it measured.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { classifyBenchmarks } from './classify.ts';
import { classifyChainBenchmarks } from './classify-chain.ts';
import { coreBenchmarks } from './core.ts';
import { enginesBenchmarks } from './engines.ts';
import { failoverBenchmarks } from './failover.ts';
import { footprintChromiumBenchmarks } from './footprint-chromium.ts';
import { footprintNodeBenchmarks } from './footprint-node.ts';
import { gatewayBenchmarks } from './gateway.ts';
import { idleMeshBenchmarks } from './idle-mesh.ts';
import { migrationBenchmarks } from './migration.ts';
import { natsScaleBenchmarks } from './nats-scale.ts';
import { orchestrationBenchmarks } from './orchestration.ts';
import { peersSection } from './peers.ts';
import { sandboxBenchmarks } from './sandbox.ts';
import { siteBenchmarks } from './site.ts';
import { trustBenchmarks } from './trust.ts';
import { webrtcBenchmarks } from './webrtc.ts';
import { type BenchSection, mergeMarkdown, renderMarkdown } from './harness.ts';

const wanted = process.argv.slice(2);
const sections: BenchSection[] = [];
// Last: it quotes figures the sections before it measured in this run.
const peers = { id: 'peers', run: async () => peersSection(sections) };
const all = [...coreBenchmarks, ...sandboxBenchmarks, ...webrtcBenchmarks, ...orchestrationBenchmarks, ...failoverBenchmarks, ...gatewayBenchmarks, ...migrationBenchmarks, ...classifyBenchmarks, ...classifyChainBenchmarks, ...natsScaleBenchmarks, ...footprintChromiumBenchmarks, ...footprintNodeBenchmarks, ...enginesBenchmarks, ...trustBenchmarks, peers];
all.splice(all.indexOf(peers), 0, ...idleMeshBenchmarks);
// Fifty peer processes take minutes to start on 2 cores: by name, or in a full run on request.
if (wanted.includes('site-50') || process.env.LIQUIDMESH_BENCH_SITE === '1') all.splice(all.indexOf(peers), 0, ...siteBenchmarks);
const chosen = wanted.length > 0 ? all.filter((b) => wanted.includes(b.id)) : all;
const started = new Date();
for (const bench of chosen) {
  process.stdout.write(`running ${bench.id} … `);
  const section = await bench.run();
  sections.push(section);
  console.log('done');
  for (const r of section.rows) console.log(`  ${r.name}: ${r.figure} vs ${r.baseline} (${r.ratio})${r.goal ? `, goal ${r.goal}${r.met === false ? ' NOT MET' : ''}` : ''}`);
}
// A full run rewrites BENCHMARKS.md; a partial one replaces only the sections it measured.
if (chosen.length === all.length || !existsSync('BENCHMARKS.md')) {
  writeFileSync('BENCHMARKS.md', renderMarkdown(sections, started));
  console.log('wrote BENCHMARKS.md');
} else {
  writeFileSync('BENCHMARKS.md', mergeMarkdown(readFileSync('BENCHMARKS.md', 'utf8'), sections, started));
  console.log(`updated ${sections.map((s) => `"${s.title}"`).join(', ')} in BENCHMARKS.md`);
}
// Native WebRTC threads (node-datachannel) can keep the process alive after every peer
// has stopped; the results are written, so end here.
process.exit(0);

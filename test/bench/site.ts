/**
 * A site of real peer processes in a partial mesh: `liquidmesh peer --max-links L`, one
 * process per peer, over WebRTC on loopback through one signaling server. Measures how
 * long the site takes to join (every peer sees every other alive; baseline: the first
 * process's own start-up, the floor of any join) and the RPC round trip (`peer.ping`) to
 * a peer two hops away, routed through a linked peer, against one linked directly.
 *
 *   npm run bench -- site-50      N from LIQUIDMESH_BENCH_SITE_PEERS (default 50), L from
 *                                 LIQUIDMESH_BENCH_SITE_LINKS (default 4). Several minutes on
 *                                 2 cores (50 processes start), so a full bench run includes
 *                                 it only with LIQUIDMESH_BENCH_SITE=1.
 */
import { buildBundle } from '../../node-host/bin/cli-bundle.mjs';
import { idleMesh } from './idle-mesh.ts';
import { type BenchSection, ms, percentile, times } from './harness.ts';

async function site(): Promise<BenchSection> {
  const n = Number(process.env.LIQUIDMESH_BENCH_SITE_PEERS ?? 50);
  const links = Number(process.env.LIQUIDMESH_BENCH_SITE_LINKS ?? 4);
  // Peers run as the command runs them: from the bundle, rebuilt here if a source changed.
  // Without it, a source edited since the last build made every peer compile the sources
  // through tsx at start (two esbuild services and twice the memory per process): 50 such
  // starts took minutes on 2 cores before the first peer was up.
  await buildBundle();
  const r = await idleMesh(n, links);
  const one = percentile(r.oneHop, 50);
  const two = percentile(r.twoHops, 50);
  return {
    title: `A site of ${n} peer processes in a partial mesh`,
    method: `${n} \`liquidmesh peer --max-links ${links}\` processes (one per peer) over WebRTC (node-datachannel) on loopback, one signaling server, all spawned at once on a 2-core machine shared with other work. Join: from the first spawn until every peer sees every other alive (process start-up included); baseline: until the first process was up. RPC: \`peer.ping\` from 4 peers, 40 each after one warm-up, to a linked peer and to a peer linked only to one of its linked peers (routed, signed hop by hop); p50 of each, in the same run. Also the median process's share of a core at rest (20 s window).`,
    rows: [
      { name: `join time, ${n} peer processes (at most ${links} links each)`, figure: ms(r.joinMs), baseline: `${ms(r.firstUpMs)} (first process up)`, ratio: times(r.joinMs, r.firstUpMs), goal: '' },
      { name: 'RPC p50 two hops away (routed through a linked peer)', figure: ms(two), baseline: `${ms(one)} (one hop, linked)`, ratio: times(two, one), goal: '' },
      { name: 'CPU per peer process at rest (median)', figure: `${r.medianPct.toFixed(2)} %`, baseline: `mean ${r.meanPct.toFixed(2)} %`, ratio: `site ${r.cores.toFixed(2)} cores`, goal: '' },
    ],
  };
}

/** The site benchmark, for test/bench/run.ts. */
export const siteBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'site-50', run: site }];

import { expect } from 'chai';
import { runStandbySimulation } from '../sim/standby.ts';

/**
 * Seeds that failed before the fixes of ADR 0038's amendment of 2026-12-07 and were traced
 * to them: a rolled-back revision taken for unsettled, answers checked in the wrong line
 * of state, a superseded primary's instance taken for a copy, a side still cut off after
 * the heal, an older revision winning a merge, a copy answering after its peer was no
 * longer named, a caller on the primary's own peer that did not follow a refusal, a
 * failed takeover that failed every later call, a re-placement unloaded by its own primary
 * when a stale record came right after it, and a primary that dropped its module while
 * its deployment's entry read as invalid for a moment. A seed runs the same interleaving
 * on every run, however busy the machine (the simulator waits for the hashes and
 * signatures that finish on other threads, and the product's ids come from the seed):
 * a failure here is the seed's, and `npm run sim -- --standby --seed N` replays it.
 */
const SEEDS = [1076, 1083, 1093, 1100, 1109, 1137, 1171, 1174, 1219, 1259, 1281, 1287, 1289, 1327, 1401, 1415, 1480, 2014, 2038, 2121, 2127, 2149, 3046, 3053, 4035, 5019, 1256, 1473, 20116];

describe('Hot-standby simulator', () => {
  it(`loses no acknowledged call, runs none twice and settles, under kills, restarts, partitions and loss, on each of ${SEEDS.length} seeds`, async () => {
    const failures: string[] = [];
    let takeovers = 0;
    let answered = 0;
    for (const seed of SEEDS) {
      const r = await runStandbySimulation({ seed, peers: 3 + (seed % 2), steps: 120, replicas: 1, loss: 0.05 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.detail} (replay: npm run sim -- --standby --seed ${seed})`);
      takeovers += r.takeovers;
      answered += r.answered;
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    // The faults really strike a serving counter: standbys take over and calls are answered.
    expect(takeovers).to.be.greaterThan(0);
    expect(answered).to.be.greaterThan(0);
  }, 600_000);
});

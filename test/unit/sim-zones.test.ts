import { expect } from 'chai';
import { runZoneSimulation } from '../sim/zones.ts';

const SEEDS = 40;

describe('Zones simulator', () => {
  it(`moves steps off devices whose zone no longer allows them, or fails saying why, on each of ${SEEDS} seeds`, async () => {
    const failures: string[] = [];
    let moves = 0;
    let failedForPolicy = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runZoneSimulation({ seed, peers: 4, steps: 120, loss: 0.1 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.detail}`);
      moves += r.moves;
      failedForPolicy += r.reasons.filter((reason) => reason.includes('policy') || reason.includes('zone')).length;
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    // The scenarios really change zones under running deployments: steps move, and some
    // deployments fail because no device may take their steps any more.
    expect(moves).to.be.greaterThan(0);
    expect(failedForPolicy).to.be.greaterThan(0);
  }, 300_000);
});

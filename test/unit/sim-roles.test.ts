// Seeded runs of a mesh with roles in which rogue members write what a modified client would.
import { expect } from 'chai';
import { runRolesSimulation } from '../sim/roles-sim.ts';

const SEEDS = 8;

describe('Simulator: rogue members in a mesh with roles', () => {
  it(`honest peers read only honest entries on every one of ${SEEDS} seeds, under loss and duplication`, async () => {
    const failures: string[] = [];
    let attacks = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runRolesSimulation({ seed, devices: 2 + (seed % 3), rogues: 1 + (seed % 2), steps: 300, loss: 0.1, duplication: 0.05 });
      attacks += result.attacks;
      if (result.problem) failures.push(`seed ${seed}: ${result.problem}`);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(attacks).to.be.greaterThan(SEEDS * 5);
  }, 600_000);
});

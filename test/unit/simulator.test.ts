import { expect } from 'chai';
import { replayCommand, runSimulation, type SimOptions, type SimTopology } from '../sim/simulator.ts';

const SEEDS = 200;
const topologies: SimTopology[] = ['all-to-all', 'hub-and-spoke', 'sparse'];

describe('Simulator: random delivery order, loss, duplication, partitions and churn', () => {
  it(`converges on every one of ${SEEDS} seeds`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const options: SimOptions = {
        seed,
        peers: 3 + (seed % 5),
        steps: 250,
        topology: topologies[seed % topologies.length]!,
        loss: 0.1,
        duplication: 0.05,
      };
      const result = await runSimulation(options);
      if (!result.converged) failures.push(`seed ${seed}: ${result.detail} — replay: ${replayCommand(options)}`);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('replays a seed exactly', async () => {
    const options: SimOptions = { seed: 4242, peers: 5, steps: 200, topology: 'sparse', loss: 0.2, duplication: 0.1 };
    const first = await runSimulation(options);
    const second = await runSimulation(options);
    const { wallMs: _a, ...one } = first;
    const { wallMs: _b, ...two } = second;
    expect(two).to.deep.equal(one);
    expect(first.converged).to.equal(true);
    expect(first.dropped).to.be.greaterThan(0);
  });
});

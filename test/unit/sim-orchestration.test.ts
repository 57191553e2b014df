import { expect } from 'chai';
import { runOrchestrationSimulation } from '../sim/orchestration.ts';

const SEEDS = 200;

describe('Orchestration simulator', () => {
  it(`settles every deployment — ready, rolled back or failed, never in between — on each of ${SEEDS} seeds`, async () => {
    const failures: string[] = [];
    const seen: Record<string, number> = {};
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runOrchestrationSimulation({ seed, peers: 4, steps: 100, loss: 0.1 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.detail} (replay: npm run sim -- --orchestration --seed ${seed})`);
      for (const [status, n] of Object.entries(r.statuses)) seen[status] = (seen[status] ?? 0) + n;
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    // The scenarios reach every outcome, so the check above covers each of them.
    expect(Object.keys(seen).sort()).to.deep.equal(['failed', 'ready', 'rolled-back']);
  }, 300_000);
});

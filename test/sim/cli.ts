/**
 * `npm run sim -- [--seed N] [--seeds K] [--peers P] [--steps S] [--topology T] [--loss X] [--dup Y]`
 * Runs the simulator from the command line; prints the replay command of any failure
 * and exits non-zero if a run did not converge.
 * `npm run sim -- --orchestration [--seed N] [--seeds K] [--peers P] [--steps S] [--loss X]`
 * runs the orchestration scenario instead (deployments under device and coordinator loss).
 * `npm run sim -- --standby [--seed N] [--seeds K] [--steps S] [--loss X]` runs the
 * hot-standby scenario (a counter with a standby under kills, restarts and partitions;
 * `SIM_TRACE=1` prints its events, `SIM_LOG=1 DEBUG=liquidmesh:*` a failure's log).
 */
import { enableDebug } from '../../shared/log.ts';
import { runOrchestrationSimulation } from './orchestration.ts';
import { runStandbySimulation } from './standby.ts';
import { replayCommand, runSimulation, type SimOptions, type SimTopology } from './simulator.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const peers = Number(arg('peers') ?? 8);
const large = peers > 50;
// Large meshes batch relays, deliver several messages per step and skip registry saves
// (each one encodes the whole document), or the run drowns in its own work.
const firstSeed = Number(arg('seed') ?? Date.now() % 100_000);
const seeds = Number(arg('seeds') ?? 1);
const base: Omit<SimOptions, 'seed'> = {
  peers,
  // Large meshes: fewer random steps per peer, slower heartbeats, a sparse ring with chords.
  steps: Number(arg('steps') ?? (large ? peers * 2 : 300)),
  topology: (arg('topology') ?? (large ? 'sparse' : 'all-to-all')) as SimTopology,
  loss: Number(arg('loss') ?? 0.1),
  duplication: Number(arg('dup') ?? 0.05),
  chords: Number(arg('chords') ?? 1),
  ...(large
    ? { deliveriesPerStep: Math.ceil(peers / 20), persistRegistry: false, timing: { heartbeatMs: 30_000, livenessTimeoutMs: 150_000, antiEntropyMs: 10_000, relayBatchMs: 200 } }
    : {}),
};

let failed = 0;
if (process.argv.includes('--standby')) {
  enableDebug(process.env.DEBUG);
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const r = await runStandbySimulation({ seed, peers: Number(arg('peers') ?? 3 + (seed % 2)), steps: Number(arg('steps') ?? 120), replicas: 1, loss: Number(arg('loss') ?? 0.05) });
    console.log(`seed ${seed}: ${r.ok ? 'ok' : `FAILED (${r.detail})`}; ${r.calls} calls, ${r.answered} answered, ${r.failed} failed, ${r.kills} kills, ${r.partitions} partitions, ${r.takeovers} takeovers, ${r.superseded} answered by a superseded primary, ${r.partitioned} answered while partitioned, ${r.lostByFaults} kills took every copy`);
    if (!r.ok) failed++;
  }
  console.log(`${failed} of ${seeds} seeds failed`);
  process.exit(failed > 0 ? 1 : 0);
}
if (process.argv.includes('--orchestration')) {
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const o = { seed, peers: Number(arg('peers') ?? 4), steps: Number(arg('steps') ?? 100), loss: Number(arg('loss') ?? 0.1) };
    const r = await runOrchestrationSimulation(o);
    console.log(`seed ${seed}: ${r.ok ? 'settled' : `UNSETTLED (${r.detail})`}; ${r.deployments} deployments ${JSON.stringify(r.statuses)}, ${r.updates} updates, ${r.crashes} crashes, ${r.partitions} partitions, ${r.refused} refused`);
    for (const reason of r.reasons) console.log(`  ${reason}`);
    if (!r.ok) failed++;
  }
  process.exit(failed > 0 ? 1 : 0);
}
for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
  const options = { ...base, seed };
  const r = await runSimulation(options);
  const status = r.converged ? 'converged' : `DIVERGED (${r.detail})`;
  console.log(
    `seed ${seed}: ${status}; ${options.peers} peers, ${options.topology}; delivered ${r.delivered}, dropped ${r.dropped}, duplicated ${r.duplicated}, ` +
      `edits ${r.edits}, crashes ${r.crashes}, partitions ${r.partitions}, heal rounds ${r.healRounds}, ${r.wallMs} ms`,
  );
  if (!r.converged) {
    failed++;
    console.log(`  replay: ${replayCommand(options)}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;

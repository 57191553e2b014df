// web-test-runner for the per-engine bench page (test/bench/browser/): the browser suites'
// configuration (engine launchers, cross-origin isolation, module files) plus a server
// command through which the page hands its figures to LIQUIDMESH_BENCH_OUT.
import { writeFileSync } from 'node:fs';
import base from '../../web-test-runner.config.mjs';

const sink = {
  name: 'liquidmesh-bench-sink',
  executeCommand({ command, payload }) {
    if (command === 'liquidmesh-bench-part') return process.env.LIQUIDMESH_BENCH_PART ?? null;
    if (command !== 'liquidmesh-bench') return undefined;
    writeFileSync(process.env.LIQUIDMESH_BENCH_OUT ?? '.tmp/engine-bench.json', JSON.stringify(payload));
    return true;
  },
};

export default {
  ...base,
  rootDir: '.',
  files: ['test/bench/browser/*.bench.ts'],
  plugins: [...base.plugins, sink],
};

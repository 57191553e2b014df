#!/usr/bin/env node
// `npm test`: every suite, in order — type checks of each runtime folder, the Node
// suites (vitest), the browser suites (web-test-runner, real Chromium, then Firefox and
// WebKit for the suites that pass there), the end-to-end
// suites (several processes and browsers) — then one closing line
// "N passed, N failed" (", N skipped" when any were skipped).
// Exits non-zero when anything failed or a suite could not run.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runInLoopbackNamespace } from './netns.mjs';

// Every suite runs inside a loopback-only network namespace (see netns.mjs).
if (process.env.LIQUIDMESH_NETNS === undefined) process.exit(runInLoopbackNamespace(process.execPath, process.argv.slice(1)));

// The run's own temporary directory, for every process it starts, removed at the end: the
// tests delete what they create, but a browser killed on purpose cannot, nor can
// libraries that leave a file behind.
const runTmp = mkdtempSync(join(tmpdir(), 'lm-test-'));
process.env.TMPDIR = runTmp;
const bin = (name) => `node_modules/.bin/${name}`;
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
// Every failed test by name, printed again at the end so the last lines of a long run say
// what broke.
const failedTests = [];

/** Reads a vitest JSON report: its counts, and the names of its failed tests. */
function vitestSummary(file) {
  if (!existsSync(file)) return { passed: 0, failed: 0, skipped: 0, names: [] };
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const names = [];
  for (const result of report.testResults ?? []) {
    const where = result.name.replace(`${process.cwd()}/`, '');
    for (const assertion of result.assertionResults ?? []) {
      if (assertion.status === 'failed') names.push(`${where} > ${assertion.fullName}`);
    }
    // A file that failed to load or whose hooks failed has no failed assertion to name.
    if (result.status === 'failed' && !(result.assertionResults ?? []).some((a) => a.status === 'failed')) {
      names.push(`${where}: ${(result.message ?? 'failed').split('\n')[0]}`);
    }
  }
  return { passed: report.numPassedTests, failed: report.numFailedTests, skipped: report.numPendingTests + report.numTodoTests, names };
}

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    // An env value of undefined removes that variable.
    const merged = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined));
    const child = spawn(cmd, args, { stdio: 'inherit', env: merged });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', (e) => {
      console.error(e);
      resolve(1);
    });
  });
}

function record(name, summary, code) {
  for (const test of summary.names ?? []) failedTests.push(`${name}: ${test}`);
  totals.passed += summary.passed;
  totals.failed += summary.failed;
  totals.skipped += summary.skipped;
  // A runner that failed without counting a failed test (crash, load error) is one failure.
  if (code !== 0 && summary.failed === 0) {
    totals.failed += 1;
    failures.push(`${name} exited with ${code}`);
  } else if (summary.failed > 0) failures.push(`${name}: ${summary.failed} failed`);
}

mkdirSync('.tmp', { recursive: true });
const only = process.argv.slice(2);
const want = (suite) => only.length === 0 || only.includes(suite);

if (want('typecheck')) {
  for (const project of ['shared', 'web', 'node-host', 'test']) {
    console.log(`\n▶ typecheck ${project}/`);
    const code = await run(bin('tsc'), ['-p', `${project}/tsconfig.json`]);
    record(`typecheck ${project}`, { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0 }, 0);
    if (code !== 0) failures.push(`typecheck ${project}`);
  }
}

if (want('node')) {
  console.log('\n▶ Node suites (vitest)');
  rmSync('.tmp/vitest.json', { force: true });
  const code = await run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', '--outputFile.json=.tmp/vitest.json']);
  record('vitest', vitestSummary('.tmp/vitest.json'), code);
}

if (want('browser')) {
  console.log('\n▶ Browser suites (web-test-runner, Chromium)');
  rmSync('.tmp/wtr-summary.json', { force: true });
  const code = await run(bin('wtr'), ['--config', 'web-test-runner.config.mjs']);
  const summary = existsSync('.tmp/wtr-summary.json') ? JSON.parse(readFileSync('.tmp/wtr-summary.json', 'utf8')) : { passed: 0, failed: 0, skipped: 0 };
  record('web-test-runner', summary, code);
}

// The same browser suites in the other engines, each only where it passes (test/engines/;
// what each engine lacks is in docs/decisions/0024-browser-engines.md). Firefox gathers ICE
// candidates only on a default route's interface: its namespace gets a link of its own.
const ENGINE_SUITES = {
  firefox: 'all',
  // Debian's WebKitGTK has neither SharedArrayBuffer nor WebRTC: the sandbox runs without
  // shared memory there, its host calls through the page's service worker (ADR 0039).
  webkit: ['core', 'idb-stores', 'fake-camera', 'sandbox', 'classify', 'supervisor', 'orchestration', 'migration'],
  // JavaScriptCore with SharedArrayBuffer on, as in Safari: every suite but those needing
  // what this WebKitGTK build lacks — a camera stream (camera, browser-peer,
  // capability-offers), DeviceMotionEvent (sensors), WebRTC (webrtc-transport) — and the
  // 360 px views (ui-phone: MiniBrowser's window is never narrower than about 450 px).
  // Calls the suites stop at their limit end in the module's own thread (stop checks,
  // shared/wasm/stop-checks.ts), so WebKit's Worker.terminate() leaving wasm running no
  // longer starves the later calls.
  'webkit-sab': ['sandbox', 'supervisor', 'orchestration', 'migration', 'nats-transport', 'idb-stores', 'core', 'fake-camera', 'classify', 'ui-app', 'ui-deployments', 'ui-mesh', 'ui-modules', 'ui-run', 'ui-zones'],
};
for (const [engine, suites] of Object.entries(ENGINE_SUITES)) {
  if (!want(engine)) continue;
  console.log(`\n▶ Browser suites in ${engine} (web-test-runner: ${suites === 'all' ? 'all' : suites.join(', ')})`);
  rmSync('.tmp/wtr-summary.json', { force: true });
  const files = suites === 'all' ? [] : ['--files', ...suites.map((name) => `test/browser/${name}.test.ts`)];
  const env = { LIQUIDMESH_ENGINE: engine, LIQUIDMESH_NETNS_LINK: '1', LIQUIDMESH_NETNS: undefined };
  const code = await run(process.execPath, ['test/netns.mjs', bin('wtr'), '--config', 'web-test-runner.config.mjs', ...files], env);
  const summary = existsSync('.tmp/wtr-summary.json') ? JSON.parse(readFileSync('.tmp/wtr-summary.json', 'utf8')) : { passed: 0, failed: 0, skipped: 0 };
  record(`web-test-runner ${engine}`, summary, code);
}

// Chromium on pages served without cross-origin isolation: no SharedArrayBuffer, so the
// sandbox and the suites of its host imports run without shared memory (ADR 0024), their
// host calls through the page's service worker (ADR 0039), as WebKitGTK's run does.
const NO_SAB_SUITES = ['sandbox', 'camera', 'classify', 'sensors', 'supervisor', 'capability-offers', 'orchestration'];
if (want('no-sab')) {
  console.log(`\n▶ Browser suites in Chromium without cross-origin isolation (no SharedArrayBuffer): ${NO_SAB_SUITES.join(', ')}`);
  rmSync('.tmp/wtr-summary.json', { force: true });
  const code = await run(bin('wtr'), ['--config', 'web-test-runner.config.mjs', '--files', ...NO_SAB_SUITES.map((name) => `test/browser/${name}.test.ts`)], { LIQUIDMESH_NOT_ISOLATED: '1' });
  const summary = existsSync('.tmp/wtr-summary.json') ? JSON.parse(readFileSync('.tmp/wtr-summary.json', 'utf8')) : { passed: 0, failed: 0, skipped: 0 };
  record('web-test-runner no-sab', summary, code);
}

if (want('e2e')) {
  console.log('\n▶ End-to-end suites (vitest: processes, Chromium, WebRTC)');
  rmSync('.tmp/vitest-e2e.json', { force: true });
  const code = await run(bin('vitest'), ['run', '--config', 'vitest.e2e.config.ts', '--reporter=default', '--reporter=json', '--outputFile.json=.tmp/vitest-e2e.json']);
  record('e2e', vitestSummary('.tmp/vitest-e2e.json'), code);
}

// The engine matrix: every engine × join, host, call, chain, migrate, reopen offline, in a
// namespace with a link (Firefox's ICE) — test/e2e/matrix/, ADR 0024.
if (want('matrix')) {
  console.log('\n▶ Engine matrix (vitest: Chromium, Firefox, WebKit with and without SharedArrayBuffer, Node)');
  rmSync('.tmp/vitest-matrix.json', { force: true });
  const env = { LIQUIDMESH_NETNS_LINK: '1', LIQUIDMESH_NETNS: undefined };
  const code = await run(process.execPath, ['test/netns.mjs', bin('vitest'), 'run', '--config', 'vitest.matrix.config.ts', '--reporter=default', '--reporter=json', '--outputFile.json=.tmp/vitest-matrix.json'], env);
  record('engine matrix', vitestSummary('.tmp/vitest-matrix.json'), code);
}

// Whatever the suites' processes left in the temporary directory: browsers killed on
// purpose (their org.chromium.* directories), onnxruntime-node's mat-debug-<pid>.log, …
rmSync(runTmp, { recursive: true, force: true });

if (failedTests.length > 0) console.log(`\nFailed tests:\n${failedTests.map((t) => `  ✗ ${t}`).join('\n')}`);
if (failures.length > 0) console.log(`\nFailed: ${failures.join('; ')}`);
const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exitCode = totals.failed > 0 ? 1 : 0;

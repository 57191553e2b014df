// Browser suites in real Chromium (Debian's /usr/bin/chromium): the same acceptance
// suites and core tests that run in Node, to prove the core is isomorphic; later the
// browser-only adapters (IndexedDB, WebRTC, Worker sandbox).
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { buildSync } from 'esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { register } from 'tsx/esm/api';
import { engineLauncher } from './test/engines/engines.mjs';

register();
const { startSignalServer } = await import('./node-host/signal/signal-server.ts');
// The same flags the headless peers use: one list, in node-host/headless/chromium.ts.
const { CHROMIUM_FLAGS, CHROMIUM_PATH } = await import('./node-host/headless/chromium.ts');


/** Writes pass/fail counts where test/run.mjs can read them. */
function countingReporter() {
  return {
    onTestRunFinished({ sessions }) {
      let passed = 0;
      let failed = 0;
      let skipped = 0;
      // The names of the failed tests, so npm test's closing lines can say which.
      const names = [];
      const walk = (suite, file, path) => {
        for (const t of suite.tests ?? []) {
          if (t.skipped) skipped++;
          else if (t.passed) passed++;
          else {
            failed++;
            names.push(`${file} > ${[...path, t.name].join(' > ')}`);
          }
        }
        for (const s of suite.suites ?? []) walk(s, file, [...path, s.name]);
      };
      for (const session of sessions) {
        const file = `${session.testFile.replace(`${process.cwd()}/`, '')} (${session.browser?.name ?? 'browser'})`;
        if (session.testResults) walk(session.testResults, file, []);
        // A file that failed to load has no results: count it as a failure.
        if (!session.passed && (session.errors?.length ?? 0) > 0) {
          failed++;
          names.push(`${file}: ${session.errors[0]?.message ?? 'failed to load'}`);
        }
      }
      mkdirSync('.tmp', { recursive: true });
      writeFileSync('.tmp/wtr-summary.json', JSON.stringify({ passed, failed, skipped, names }));
    },
  };
}

/**
 * Runs a signaling server beside the test pages for the WebRTC suites, and tells the pages
 * where it is (GET /__liquidmesh/signal). Only inside npm test's loopback-only network
 * namespace: elsewhere the endpoint answers 503 and the WebRTC suites fail saying why.
 */
const signaling = {
  server: null,
  plugin: {
    name: 'liquidmesh-signaling',
    async serverStart() {
      if (process.env.LIQUIDMESH_NETNS === '1') signaling.server = await startSignalServer();
    },
    async serverStop() {
      await signaling.server?.close();
    },
  },
  middleware(context, next) {
    if (context.path !== '/__liquidmesh/signal') return next();
    if (!signaling.server) {
      context.status = 503;
      context.body = 'WebRTC suites run only through npm test, inside a loopback-only network namespace';
      return undefined;
    }
    context.body = { url: signaling.server.url };
    return undefined;
  },
};

/**
 * peerjs pulls in CommonJS packages (sdp, through webrtc-adapter) that the dev server
 * cannot serve as ES modules; Vite pre-bundles them for the PWA, and this does the same
 * for the test pages: one ES module bundle of peerjs, imported in its place.
 */
function peerjsBundlePlugin(pkg = 'peerjs') {
  const file = `.tmp/${pkg.replace(/[@/]/g, '_')}.bundle.mjs`;
  return {
    name: `liquidmesh-bundle-${pkg}`,
    serverStart() {
      mkdirSync('.tmp', { recursive: true });
      // A CommonJS entry bundled as is would export only `default`: name its exports.
      const names = pkg === 'peerjs' ? [] : Object.keys(createRequire(import.meta.url)(pkg)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
      // ...and keep its `default` (module.exports), which a package like
      // fast-json-stable-stringify is nothing but.
      const named = names.length > 0 ? `export const { ${names.join(', ')} } = m;\n` : '';
      const contents = `import * as m from '${pkg}';\n${named}export default m.default;\n`;
      const entry = pkg === 'peerjs' ? { entryPoints: [pkg] } : { stdin: { contents, resolveDir: process.cwd() } };
      buildSync({ ...entry, bundle: true, format: 'esm', platform: 'browser', outfile: file, logLevel: 'silent' });
    },
    resolveImport({ source }) {
      if (source === pkg) return `/${file}`;
      return undefined;
    },
  };
}

/**
 * A nats-server with a WebSocket listener for the NATS transport's suite in Chromium
 * (GET /__liquidmesh/nats says where and with which password); like the signaling server,
 * only inside npm test's loopback-only network namespace.
 */
const natsBackbone = {
  cluster: null,
  auth: { user: 'browser', pass: `wtr-${Math.random().toString(36).slice(2)}` },
  plugin: {
    name: 'liquidmesh-nats',
    async serverStart() {
      if (process.env.LIQUIDMESH_NETNS !== '1') return;
      const { startNatsCluster } = await import('./test/helpers/nats-server.ts');
      natsBackbone.cluster = await startNatsCluster({ auth: natsBackbone.auth, websocket: true });
    },
    async serverStop() {
      await natsBackbone.cluster?.stop();
    },
  },
  middleware(context, next) {
    if (context.path !== '/__liquidmesh/nats') return next();
    if (!natsBackbone.cluster) {
      context.status = 503;
      context.body = 'the NATS suite runs only through npm test, inside a loopback-only network namespace';
      return undefined;
    }
    context.body = { wsUrl: natsBackbone.cluster.servers[0].wsUrl, ...natsBackbone.auth };
    return undefined;
  },
};

export default {
  files: ['test/browser/**/*.test.ts'],
  nodeResolve: true,
  hostname: '127.0.0.1',
  rootDir: '.',
  concurrency: 1,
  // WebKit under xvfb can take longer than the default 30 s to open its first page on a busy machine.
  browserStartTimeout: 120_000,
  testsFinishTimeout: 300_000,
  plugins: [
    esbuildPlugin({ ts: true, target: 'es2022', tsconfig: 'test/tsconfig.json' }),
    peerjsBundlePlugin(),
    // CommonJS inside, like peerjs: bundled for the pages of the NATS suite.
    peerjsBundlePlugin('@nats-io/nats-core'),
    // The canonical JSON that registry signatures cover (shared/trust/canonical.ts).
    peerjsBundlePlugin('fast-json-stable-stringify'),
    signaling.plugin,
    natsBackbone.plugin,
  ],
  middleware: [
    signaling.middleware,
    natsBackbone.middleware,
    // Cross-origin isolation, as the PWA is served: SharedArrayBuffer needs it.
    // LIQUIDMESH_NOT_ISOLATED=1 serves the pages without it, as a misconfigured proxy
    // would: the sandbox then runs without shared memory (`node test/run.mjs no-sab`).
    // The sandbox bridge's test service worker controls the whole origin, as the PWA's does.
    function bridgeServiceWorker(context, next) {
      if (context.path === '/test/browser/bridge-sw.ts') context.set('Service-Worker-Allowed', '/');
      return next();
    },
    function isolate(context, next) {
      if (process.env.LIQUIDMESH_NOT_ISOLATED === '1') return next();
      context.set('Cross-Origin-Opener-Policy', 'same-origin');
      context.set('Cross-Origin-Embedder-Policy', 'require-corp');
      return next();
    },
  ],
  // LIQUIDMESH_ENGINE picks the engine (test/engines/engines.mjs); Chromium by default.
  browsers: [await engineLauncher(process.env.LIQUIDMESH_ENGINE ?? 'chromium', { CHROMIUM_PATH, CHROMIUM_FLAGS, chromeLauncher })],
  testFramework: { config: { timeout: 120_000 } },
  reporters: [(await import('@web/test-runner')).defaultReporter(), countingReporter()],
};

// A web-test-runner launcher for WebKit (Safari's engine) as Debian ships it: WebKitGTK's
// MiniBrowser driven by WebKitWebDriver (webkit2gtk-driver) under a virtual X display
// (xvfb-run), over the W3C WebDriver protocol spoken with plain fetch. Written here rather
// than taken from @web/test-runner-webdriver because that one needs webdriverio (a large
// tree) and still leaves starting and stopping the driver to us; the protocol needed is
// four requests. One browser session per test file, one file at a time. WebRTC is an
// embedder's setting in WebKitGTK, off by default: MiniBrowser is started with it on, as
// GNOME Web does.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * WebKitGTK turns SharedArrayBuffer off in its JavaScript engine (JSC option
 * useSharedArrayBuffer): `jscOptions` lets a run turn it on, e.g. to test everything else
 * the sandbox does; without it the run sees what a WebKitGTK user sees.
 */
/** Longest a browser may take to start, and then to load a test page, before it is started again. */
const START_STEP_MS = 30_000;
/** Browsers started for one test page before its start is reported failed (within the runner's 120 s). */
const START_ATTEMPTS = 3;

export function webkitLauncher({ sharedArrayBuffer = false } = {}) {
  let driver = null;
  /** The folder of the virtual display's auth file (removed on stop). */
  let auth = null;
  let base = '';
  const sessions = new Map();

  async function request(method, path, body, timeoutMs = undefined) {
    const response = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}) });
    const json = await response.json();
    if (!response.ok) throw new Error(`WebKitWebDriver ${method} ${path}: ${json.value?.message ?? response.status}`);
    return json.value;
  }

  return {
    name: 'WebKit',
    type: 'liquidmesh-webkitgtk',
    concurrency: 1,
    async initialize() {
      const port = await freePort();
      const env = { ...process.env };
      if (sharedArrayBuffer) env.JSC_useSharedArrayBuffer = '1';
      // The display's auth file in a folder of ours: xvfb-run's own temporary folder is
      // removed only when it exits by itself, never when its group is ended as below.
      auth = mkdtempSync(join(tmpdir(), 'lm-xvfb-'));
      writeFileSync(join(auth, 'Xauthority'), '');
      // Its own process group, so stop() ends xvfb, the driver and its browsers together.
      driver = spawn('xvfb-run', ['-a', '-f', join(auth, 'Xauthority'), 'WebKitWebDriver', `--port=${port}`, '--host=127.0.0.1'], { env, stdio: 'ignore', detached: true });
      // The group outlives a runner that exits without stop(): end it with the process.
      const group = driver.pid;
      const folder = auth;
      process.once('exit', () => {
        try {
          process.kill(-group, 'SIGTERM');
        } catch {
          // Already gone.
        }
        rmSync(folder, { recursive: true, force: true });
      });
      base = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        try {
          await request('GET', '/status');
          return;
        } catch (error) {
          if (i > 100) throw new Error(`WebKitWebDriver did not start: ${error.message}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      for (const id of sessions.keys()) await this.stopSession(id).catch(() => undefined);
      if (driver?.pid) {
        try {
          process.kill(-driver.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      driver = null;
      if (auth) rmSync(auth, { recursive: true, force: true });
      auth = null;
    },
    async startSession(sessionId, url) {
      // A browser that has not started and loaded the page within a step's time is given up
      // and started again: once in a long run (a whole npm test), a MiniBrowser never came
      // up and the suite's page waited out the runner's two minutes.
      for (let attempt = 1; ; attempt++) {
        let id = null;
        try {
          const session = await request('POST', '/session', {
            capabilities: { alwaysMatch: { browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--enable-webrtc=true'] } } },
          }, START_STEP_MS);
          id = session.sessionId;
          sessions.set(sessionId, { id, url });
          await request('POST', `/session/${id}/url`, { url }, START_STEP_MS);
          return;
        } catch (error) {
          sessions.delete(sessionId);
          if (id) await request('DELETE', `/session/${id}`, undefined, START_STEP_MS).catch(() => undefined);
          if (attempt >= START_ATTEMPTS) throw error;
          console.warn(`WebKit: starting a browser for ${url} failed (${error.message}); trying again`);
        }
      }
    },
    isActive(sessionId) {
      return sessions.has(sessionId);
    },
    getBrowserUrl(sessionId) {
      return sessions.get(sessionId)?.url;
    },
    async stopSession(sessionId) {
      const s = sessions.get(sessionId);
      sessions.delete(sessionId);
      if (s) await request('DELETE', `/session/${s.id}`).catch(() => undefined);
      return {};
    },
    async startDebugSession() {
      throw new Error('WebKit runs have no debug session');
    },
  };
}

/**
 * A WebKitGTK browser for end-to-end tests: MiniBrowser under WebKitWebDriver and a
 * virtual X display (Debian's webkit2gtk-driver and xvfb), driven over W3C WebDriver with
 * plain fetch. `close()` ends the session and the driver's whole process group.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A MiniBrowser window driven over WebDriver. */
export interface WebKitBrowser {
  open(url: string): Promise<void>;
  /** Runs `script` (a function body; `return` its answer) in the page. */
  evaluate<T>(script: string): Promise<T>;
  /**
   * Runs `script`, the body of an async function of `arg`, in the page and resolves with
   * what it returns; a rejection in the page rejects here with its message and `code`.
   */
  evaluateAsync<T>(script: string, arg?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** Options of {@link launchWebKit}. */
export interface WebKitOptions {
  /**
   * Turn JavaScriptCore's SharedArrayBuffer on (`JSC_useSharedArrayBuffer=1`), as Safari
   * ships it; without it the browser is WebKitGTK as a Debian user has it (ADR 0024).
   */
  sharedArrayBuffer?: boolean;
}

/** Start WebKitWebDriver and one MiniBrowser session (WebRTC setting on, as GNOME Web has it). */
export async function launchWebKit(options: WebKitOptions = {}): Promise<WebKitBrowser> {
  const port = await freePort();
  const env = { ...process.env, ...(options.sharedArrayBuffer ? { JSC_useSharedArrayBuffer: '1' } : {}) };
  // The display's auth file in a folder of ours: xvfb-run's own temporary folder is removed
  // only when it exits by itself, never when its group is ended as below.
  const auth = mkdtempSync(join(tmpdir(), 'lm-xvfb-'));
  writeFileSync(join(auth, 'Xauthority'), '');
  const driver = spawn('xvfb-run', ['-a', '-f', join(auth, 'Xauthority'), 'WebKitWebDriver', `--port=${port}`, '--host=127.0.0.1'], { env, stdio: 'ignore', detached: true });
  const base = `http://127.0.0.1:${port}`;
  const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const json = (await response.json()) as { value: T & { message?: string } };
    if (!response.ok) throw new Error(`WebKitWebDriver ${method} ${path}: ${json.value.message ?? response.status}`);
    return json.value;
  };
  const stopDriver = (): void => {
    process.off('exit', stopDriver);
    try {
      if (driver.pid) process.kill(-driver.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    rmSync(auth, { recursive: true, force: true });
  };
  // The driver runs in its own process group, which outlives a test process that ends
  // without closing it (a timeout that kills the worker): end the group with the process.
  process.once('exit', stopDriver);
  let session = '';
  try {
    for (let i = 0; ; i++) {
      try {
        await request('GET', '/status');
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    session = (await request<{ sessionId: string }>('POST', '/session', {
      capabilities: { alwaysMatch: { browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--enable-webrtc=true'] } } },
    })).sessionId;
  } catch (error) {
    stopDriver();
    throw error;
  }
  return {
    open: async (url) => void (await request('POST', `/session/${session}/url`, { url })),
    evaluate: (script) => request('POST', `/session/${session}/execute/sync`, { script, args: [] }),
    evaluateAsync: async <T>(script: string, arg?: unknown): Promise<T> => {
      // WebDriver's async script answers through its last argument; an error travels as data
      // so that its code survives the trip.
      const wrapped = `const done = arguments[arguments.length - 1];
        (async (arg) => { ${script} })(arguments[0]).then(
          (value) => done({ ok: true, value }),
          (e) => done({ ok: false, message: String(e && e.message || e), code: e && e.code }));`;
      const answer = await request<{ ok: boolean; value?: T; message?: string; code?: string }>('POST', `/session/${session}/execute/async`, { script: wrapped, args: [arg ?? null] });
      if (!answer.ok) throw Object.assign(new Error(`${answer.message ?? 'failed'}${answer.code ? ` (${answer.code})` : ''}`), { code: answer.code });
      return answer.value as T;
    },
    close: async () => {
      await request('DELETE', `/session/${session}`).catch(() => undefined);
      stopDriver();
    },
  };
}

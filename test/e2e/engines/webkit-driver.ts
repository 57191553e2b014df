/**
 * A WebKitGTK browser for end-to-end tests: MiniBrowser under WebKitWebDriver and a
 * virtual X display (Debian's webkit2gtk-driver and xvfb), driven over W3C WebDriver with
 * plain fetch. `close()` ends the session and the driver's whole process group.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

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
  close(): Promise<void>;
}

/** Start WebKitWebDriver and one MiniBrowser session (WebRTC setting on, as GNOME Web has it). */
export async function launchWebKit(): Promise<WebKitBrowser> {
  const port = await freePort();
  const driver = spawn('xvfb-run', ['-a', 'WebKitWebDriver', `--port=${port}`, '--host=127.0.0.1'], { stdio: 'ignore', detached: true });
  const base = `http://127.0.0.1:${port}`;
  const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const json = (await response.json()) as { value: T & { message?: string } };
    if (!response.ok) throw new Error(`WebKitWebDriver ${method} ${path}: ${json.value.message ?? response.status}`);
    return json.value;
  };
  const stopDriver = (): void => {
    try {
      if (driver.pid) process.kill(-driver.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
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
    close: async () => {
      await request('DELETE', `/session/${session}`).catch(() => undefined);
      stopDriver();
    },
  };
}

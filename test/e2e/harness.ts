import { appendFileSync } from 'node:fs';
/**
 * End-to-end plumbing: a signaling server, the built PWA on a static server, Node peers
 * as child processes driven over their JSON-lines control channel, and headless Chromium
 * peers driven through puppeteer. Everything binds 127.0.0.1 and runs inside npm test's
 * loopback-only network namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type ChromiumPeer, launchChromiumPeer } from '../../node-host/headless/chromium.ts';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { buildPwa, startWebServer, type WebServer } from '../../node-host/web-server.ts';
import { waitFor } from '../acceptance/wait.ts';

const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));

/** What a peer reports about the mesh. */
export interface MeshView {
  id: string;
  devices: { id: string; name: string; engine: string }[];
  alive: string[];
  linked: string[];
}

/**
 * Longest a peer may take to start. A peer starts in a second or two on a machine at rest,
 * but several started at once on two busy cores (the suites run beside each other's
 * browsers) have taken over 30 s.
 */
const START_TIMEOUT_MS = 90_000;

/** A Node peer in a child process. */
export class NodePeerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  #next = 1;
  readonly #waiting = new Map<number, (line: Record<string, unknown>) => void>();
  id = '';
  /** Public key (hex), when the process reports it. */
  key = '';

  /**
   * `liquidmesh peer --name <name> <args>`, or with `script` that TypeScript file run with
   * the same arguments (it must speak the same JSON lines). `env` is added to this
   * process's environment for the child.
   */
  constructor(name: string, args: string[], options: { env?: Record<string, string>; script?: string } = {}) {
    this.name = name;
    const argv = options.script ? ['--import', 'tsx', options.script, '--name', name, ...args] : [CLI, 'peer', '--name', name, '--json', '--control', 'stdio', ...args];
    this.child = spawn(process.execPath, argv, {
      stdio: ['pipe', 'pipe', 'inherit'],
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // Not a control line: a log line (DEBUG=liquidmesh:* prints them). To read what the
        // peers said, set LIQUIDMESH_TEST_PEER_LOGS to a file they are appended to.
        if (process.env.LIQUIDMESH_TEST_PEER_LOGS) appendFileSync(process.env.LIQUIDMESH_TEST_PEER_LOGS, `[${name} ${Date.now() % 1_000_000}] ${text}\n`);
        return;
      }
      if (typeof line.id === 'number' && this.#waiting.has(line.id)) {
        this.#waiting.get(line.id)!(line);
        this.#waiting.delete(line.id);
      } else {
        this.events.push(line);
        if (line.event === 'ready') {
          this.id = String(line.id);
          if (typeof line.key === 'string') this.key = line.key;
        }
      }
    });
  }

  /** Wait until the peer is up (a suite starting many processes at once may give them longer). */
  async ready(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    await waitFor(() => this.id !== '', `${this.name} to start`, timeoutMs);
  }

  /** Run a control command. */
  command<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (line) => (line.ok ? resolve(line.result as T) : reject(new Error(JSON.stringify(line.error)))));
      this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  view(): Promise<MeshView> {
    return this.command<MeshView>('status');
  }

  /** Kill by PID, without warning (a crash). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A headless Chromium peer. */
export class BrowserPeer {
  constructor(readonly peer: ChromiumPeer) {}

  static async launch(options: Parameters<typeof launchChromiumPeer>[0]): Promise<BrowserPeer> {
    const p = new BrowserPeer(await launchChromiumPeer(options));
    await waitFor(async () => p.peer.page.evaluate(() => Boolean((globalThis as { liquidmesh?: unknown }).liquidmesh)), `${options.name} to start`, START_TIMEOUT_MS);
    return p;
  }

  get name(): string {
    return this.peer.name;
  }

  view(): Promise<MeshView> {
    return this.peer.page.evaluate(() => {
      const { peer } = (globalThis as unknown as { liquidmesh: { peer: import('../../shared/mesh/peer.ts').Peer } }).liquidmesh;
      return {
        id: peer.id,
        devices: peer.registry.devices.values().map((d) => ({ id: d.id, name: d.name, engine: d.engine })),
        alive: peer.alive(),
        linked: peer.linked(),
      };
    });
  }

  /** Evaluate with the page's peer. */
  run<T>(fn: (lm: { peer: import('../../shared/mesh/peer.ts').Peer }, arg: unknown) => Promise<T> | T, arg?: unknown): Promise<T> {
    return this.peer.page.evaluate(
      (source: string, a: unknown) => {
        // The function is shipped as source: puppeteer cannot pass closures.
        const f = new Function(`return (${source})`)() as (lm: unknown, a: unknown) => unknown;
        return f((globalThis as { liquidmesh?: unknown }).liquidmesh, a);
      },
      fn.toString(),
      arg,
    ) as Promise<T>;
  }

  /** Kill the browser process (a crash: no goodbye). */
  kill(): void {
    this.peer.browser.process()?.kill('SIGKILL');
  }

  close(): Promise<void> {
    return this.peer.close();
  }
}

/** What one e2e suite runs: servers, the peers it started, and timings to save. */
export interface E2eServices {
  signal: SignalServer;
  web: WebServer;
  browsers: BrowserPeer[];
  nodes: NodePeerProcess[];
  timings: Record<string, number>;
}

/**
 * Register hooks that build the PWA and start a signaling and a web server before the
 * suite, and after it close every peer the suite pushed into `browsers` / `nodes`, stop
 * the servers and save `timings` to `.tmp/<timingsFile>`.
 */
export function useE2eServices(timingsFile: string): E2eServices {
  const services = { browsers: [], nodes: [], timings: {} } as unknown as E2eServices;
  beforeAll(async () => {
    await buildPwa();
    services.signal = await startSignalServer();
    services.web = await startWebServer();
  });
  afterAll(async () => {
    await Promise.all(services.browsers.map((b) => b.close()));
    await Promise.all(services.nodes.map((n) => n.stop()));
    await services.web?.close();
    await services.signal?.close();
    mkdirSync('.tmp', { recursive: true });
    writeFileSync(`.tmp/${timingsFile}`, JSON.stringify(services.timings, null, 2));
  });
  return services;
}

/**
 * One peer per engine for the engine matrix (engine-matrix.e2e.ts), each behind the same
 * small interface: the PWA in headless Chromium and Firefox ESR (puppeteer-core), the PWA in
 * WebKitGTK (WebKitWebDriver, JavaScriptCore's SharedArrayBuffer on as in Safari, joining
 * over the NATS backbone's WebSocket since the build has no WebRTC), and a Node peer
 * (`liquidmesh peer` driven over its control channel). A browser peer runs the same code in
 * the page whatever the engine: the body of an async function given `lm` (the page's
 * running peer) and `arg`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../../node-host/headless/chromium.ts';
import { waitFor } from '../../acceptance/wait.ts';
import { FIREFOX_PATH, FIREFOX_PREFS } from '../../engines/engines.mjs';
import { type MeshView, NodePeerProcess } from '../harness.ts';
import { launchWebKit, type WebKitBrowser } from './webkit-driver.ts';

/**
 * The engines of the matrix: `webkit` with JavaScriptCore's SharedArrayBuffer on, as Safari
 * has it; `webkit-nosab` as Debian ships WebKitGTK, without it (host calls through the
 * service worker, ADR 0039).
 */
export type Engine = 'node' | 'firefox' | 'webkit' | 'webkit-nosab' | 'chromium';

/** What a step of an execution reports. */
export interface StepSeen {
  peer: string;
  value: unknown;
}

/** A mesh view whose devices may also name their browser engine (`Blink`, `Gecko`, `WebKit`). */
export interface MatrixView extends MeshView {
  devices: { id: string; name: string; engine: string; browser?: string }[];
}

/** One device of the matrix, whatever its engine. */
export interface MatrixPeer {
  readonly engine: Engine;
  readonly name: string;
  /** The device id (known once started). */
  id: string;
  /** What this peer knows of the mesh; a browser peer also gives each device's browser engine. */
  view(): Promise<MatrixView>;
  /** Deploy a manifest through this peer's orchestrator; the deployment's id. */
  deploy(manifest: Record<string, unknown>): Promise<string>;
  /** Wait until the deployment is ready in this peer's registry; its placement. */
  ready(deployment: string): Promise<Record<string, string>>;
  /** Execute a deployment through this peer's orchestrator. */
  execute(deployment: string, args: unknown[]): Promise<{ value: unknown; steps: StepSeen[] }>;
  /** Call one module's function of a deployment through this peer's orchestrator. */
  call(deployment: string, module: string, func: string): Promise<unknown>;
  /** Move a deployment's module, with its state, to `device`, from this peer's orchestrator. */
  migrate(deployment: string, module: string, device: string): Promise<{ from: string; to: string }>;
  /** The deployment ids this peer's own supervisor hosts. */
  hosted(): Promise<string[]>;
  /** Milliseconds per `peer.ping` round trip to `to`, one figure per batch of `size` in a row. */
  pingBatches(to: string, count: number, size: number): Promise<number[]>;
  /** Wait until this peer's registry is on disk (or in IndexedDB). */
  saved(): Promise<void>;
  /** Open again, with every server gone; resolves once the peer runs. */
  reopen(): Promise<void>;
  /** What the page shows about its link and isolation (browsers), after `reopen`. */
  offlineFacts(): Promise<{ isolated: boolean; controlled: boolean } | null>;
  /** Whether the peer's JavaScript has SharedArrayBuffer (a Node peer always has). */
  sharedMemory(): Promise<boolean>;
  /** The device's owner offers `capability` (a host import pattern) to any operator: browser pages only. */
  offer(capability: string): Promise<void>;
  close(): Promise<void>;
}

/** Page-side scripts, the same text for every engine (bodies of `async (lm, arg) => …`). */
const SCRIPTS = {
  view: `const p = lm.peer; return { id: p.id, devices: p.registry.devices.values().map((d) => ({ id: d.id, name: d.name, engine: d.engine, browser: d.browser ? d.browser.engine : '' })), alive: p.alive(), linked: p.linked() };`,
  deploy: `return lm.orchestrator.deploy(arg).id;`,
  ready: `const view = await lm.orchestrator.waitFor(arg, (v) => v.record.status === 'ready', 60000); return view.record.solution;`,
  execute: `const out = await lm.orchestrator.execute(arg.deployment, { args: arg.args }); return { value: out.result.value, steps: out.steps.map((s) => ({ peer: s.peer, value: s.value })) };`,
  call: `return (await lm.orchestrator.call(arg.deployment, arg.module, arg.func)).value;`,
  migrate: `const r = await lm.orchestrator.migrate(arg.deployment, arg.module, arg.device); return { from: r.from, to: r.to };`,
  hosted: `return lm.supervisor.deployed().map((d) => d.deploymentId);`,
  saved: `await lm.registrySaved(); return true;`,
  ping: `const out = []; const once = () => lm.peer.call(arg.to, 'peer.ping', { sentAt: Date.now() });
    for (let i = 0; i < arg.size; i++) await once();
    for (let b = 0; b < arg.count; b++) { const t = performance.now(); for (let i = 0; i < arg.size; i++) await once(); out.push((performance.now() - t) / arg.size); }
    return out;`,
} as const;

/** A browser engine's page: runs a script body with the page's `lm`. */
abstract class PagePeer implements MatrixPeer {
  id = '';
  constructor(readonly engine: Engine, readonly name: string) {}
  protected abstract evaluate<T>(body: string, arg?: unknown): Promise<T>;
  abstract reopen(): Promise<void>;
  abstract close(): Promise<void>;

  /** Wait until the page's peer runs; its id. */
  protected async started(timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => (await this.evaluate<boolean>('return Boolean(globalThis.liquidmesh);').catch(() => false)), `${this.name} to start`, timeoutMs);
    this.id = (await this.view()).id;
  }

  #run<T>(body: string, arg?: unknown): Promise<T> {
    return this.evaluate<T>(`const lm = globalThis.liquidmesh; ${body}`, arg);
  }

  view(): Promise<MatrixView> {
    return this.#run(SCRIPTS.view);
  }
  deploy(manifest: Record<string, unknown>): Promise<string> {
    return this.#run(SCRIPTS.deploy, manifest);
  }
  ready(deployment: string): Promise<Record<string, string>> {
    return this.#run(SCRIPTS.ready, deployment);
  }
  execute(deployment: string, args: unknown[]): Promise<{ value: unknown; steps: StepSeen[] }> {
    return this.#run(SCRIPTS.execute, { deployment, args });
  }
  call(deployment: string, module: string, func: string): Promise<unknown> {
    return this.#run(SCRIPTS.call, { deployment, module, func });
  }
  migrate(deployment: string, module: string, device: string): Promise<{ from: string; to: string }> {
    return this.#run(SCRIPTS.migrate, { deployment, module, device });
  }
  hosted(): Promise<string[]> {
    return this.#run(SCRIPTS.hosted);
  }
  pingBatches(to: string, count: number, size: number): Promise<number[]> {
    return this.#run(SCRIPTS.ping, { to, count, size });
  }
  async saved(): Promise<void> {
    await this.evaluate('await navigator.serviceWorker.ready; return true;');
    await this.#run(SCRIPTS.saved);
  }
  offlineFacts(): Promise<{ isolated: boolean; controlled: boolean }> {
    return this.evaluate('return { isolated: crossOriginIsolated, controlled: Boolean(navigator.serviceWorker.controller) };');
  }

  sharedMemory(): Promise<boolean> {
    return this.evaluate(`return typeof SharedArrayBuffer === 'function';`);
  }

  async offer(capability: string): Promise<void> {
    await this.#run('lm.grants.set({ ...lm.grants.policy, offers: [...lm.grants.policy.offers, { capability: arg }] }); return true;', capability);
  }
}

/** The PWA in Chromium or Firefox, driven by puppeteer-core (Firefox over WebDriver BiDi). */
class PuppeteerPeer extends PagePeer {
  #browser: Browser | null = null;
  #page: Page | null = null;
  #profile = '';

  static async launch(engine: 'chromium' | 'firefox', name: string, url: string): Promise<PuppeteerPeer> {
    const p = new PuppeteerPeer(engine, name);
    p.#profile = await mkdtemp(join(tmpdir(), `liquidmesh-matrix-${engine}-`));
    const common = { headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false };
    p.#browser = engine === 'chromium'
      ? await puppeteer.launch({ ...common, executablePath: CHROMIUM_PATH, pipe: true, args: [...CHROMIUM_FLAGS, `--user-data-dir=${p.#profile}`] })
      : await puppeteer.launch({ ...common, browser: 'firefox', executablePath: FIREFOX_PATH, extraPrefsFirefox: FIREFOX_PREFS, userDataDir: p.#profile });
    p.#page = await p.#browser.newPage();
    p.#page.on('pageerror', (e) => console.log(`${name} page error:`, (e as Error).message));
    await p.#page.goto(url);
    await p.started();
    return p;
  }

  protected evaluate<T>(body: string, arg?: unknown): Promise<T> {
    return this.#page!.evaluate(
      // The body is shipped as source: the same text runs in every engine.
      (source: string, a: unknown) => (new Function('arg', `return (async () => { ${source} })();`) as (a: unknown) => Promise<unknown>)(a),
      body,
      arg ?? null,
    ) as Promise<T>;
  }

  async reopen(): Promise<void> {
    const before = this.id;
    await this.#page!.reload();
    await this.started();
    if (this.id !== before) throw new Error(`${this.name} came back as ${this.id}, not ${before}`);
  }

  async close(): Promise<void> {
    await this.#browser?.close().catch(() => this.#browser?.process()?.kill('SIGKILL'));
    if (this.#profile) await rm(this.#profile, { recursive: true, force: true });
  }
}

/** The PWA in WebKitGTK (MiniBrowser under WebKitWebDriver and xvfb). */
class WebKitPeer extends PagePeer {
  #browser: WebKitBrowser | null = null;
  #url = '';

  static async launch(engine: 'webkit' | 'webkit-nosab', name: string, url: string): Promise<WebKitPeer> {
    const p = new WebKitPeer(engine, name);
    p.#url = url;
    p.#browser = await launchWebKit({ sharedArrayBuffer: engine === 'webkit' });
    await p.#browser.open(url);
    await p.started(120_000);
    return p;
  }

  protected evaluate<T>(body: string, arg?: unknown): Promise<T> {
    return this.#browser!.evaluateAsync<T>(body, arg);
  }

  async reopen(): Promise<void> {
    const before = this.id;
    await this.#browser!.open(this.#url);
    await this.started();
    if (this.id !== before) throw new Error(`${this.name} came back as ${this.id}, not ${before}`);
  }

  async close(): Promise<void> {
    await this.#browser?.close();
  }
}

/** A Node peer (`liquidmesh peer`) with a data directory of its own. */
class NodePeer implements MatrixPeer {
  readonly engine = 'node' as const;
  id = '';
  #process: NodePeerProcess;

  private constructor(readonly name: string, readonly args: string[], readonly dataDir: string) {
    this.#process = new NodePeerProcess(name, [...args, '--data-dir', dataDir]);
  }

  static async launch(name: string, args: string[]): Promise<NodePeer> {
    const p = new NodePeer(name, args, await mkdtemp(join(tmpdir(), 'liquidmesh-matrix-node-')));
    await p.#process.ready();
    p.id = p.#process.id;
    return p;
  }

  /** Publish modules/<module> through this peer. */
  async publish(module: string): Promise<void> {
    await this.#process.command('publish', { module });
  }

  view(): Promise<MatrixView> {
    return this.#process.view();
  }
  async deploy(manifest: Record<string, unknown>): Promise<string> {
    return (await this.#process.command<{ id: string }>('deploy', { manifest })).id;
  }
  async ready(deployment: string): Promise<Record<string, string>> {
    return (await this.#process.command<{ solution: Record<string, string> }>('wait', { deployment, status: 'ready', timeoutMs: 60_000 })).solution;
  }
  execute(deployment: string, args: unknown[]): Promise<{ value: unknown; steps: StepSeen[] }> {
    return this.#process.command('execute', { deployment, args });
  }
  call(deployment: string, module: string, func: string): Promise<unknown> {
    return this.#process.command('call', { deployment, module, func });
  }
  migrate(deployment: string, module: string, device: string): Promise<{ from: string; to: string }> {
    return this.#process.command('migrate', { deployment, module, device });
  }
  async hosted(): Promise<string[]> {
    return this.#process.command<string[]>('hosted');
  }
  async pingBatches(to: string, count: number, size: number): Promise<number[]> {
    const out: number[] = [];
    for (let b = 0; b < count; b++) {
      let total = 0;
      for (let i = 0; i < size; i++) total += (await this.#process.command<{ ms: number }>('ping', { to })).ms;
      out.push(total / size);
    }
    return out;
  }
  async saved(): Promise<void> {
    // The control channel answers a deploy or publish once the registry is stored.
  }
  async reopen(): Promise<void> {
    const before = this.id;
    await this.#process.stop();
    this.#process = new NodePeerProcess(this.name, [...this.args, '--data-dir', this.dataDir]);
    await this.#process.ready();
    this.id = this.#process.id;
    if (this.id !== before) throw new Error(`${this.name} came back as ${this.id}, not ${before}`);
  }
  async sharedMemory(): Promise<boolean> {
    return true;
  }

  async offer(): Promise<void> {
    throw new Error('a Node peer takes its offers from its command line');
  }

  async offlineFacts(): Promise<null> {
    return null;
  }
  async close(): Promise<void> {
    await this.#process.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Where the peers of a matrix find the mesh. */
export interface MatrixSite {
  pwaUrl: string;
  /** '' for none: the peer joins over NATS alone. */
  signalUrl: string;
  /** '' for none (with `natsWsUrl`): the peer joins over WebRTC alone. */
  natsUrl: string;
  natsWsUrl: string;
  natsToken: string;
  mesh: string;
  secret: string;
}

/** Start the peer of `engine` named `name`, joined to `site`. */
export async function launchMatrixPeer(engine: Engine, name: string, site: MatrixSite): Promise<MatrixPeer> {
  if (engine === 'node') {
    return NodePeer.launch(name, [
      '--mesh', site.mesh, '--secret', site.secret,
      ...(site.signalUrl ? ['--signal', site.signalUrl] : []),
      ...(site.natsUrl ? ['--nats', site.natsUrl, '--nats-token', site.natsToken] : []),
    ]);
  }
  const query = new URLSearchParams({
    name, mesh: site.mesh, secret: site.secret,
    ...(site.signalUrl ? { signal: site.signalUrl } : {}),
    ...(site.natsWsUrl ? { nats: site.natsWsUrl, 'nats-token': site.natsToken } : {}),
  });
  const url = `${site.pwaUrl}/?${query}`;
  if (engine === 'webkit' || engine === 'webkit-nosab') return WebKitPeer.launch(engine, name, url);
  return PuppeteerPeer.launch(engine, name, url);
}

/** Publish sample modules through a Node peer of the matrix. */
export async function publishSamples(peer: MatrixPeer, modules: string[]): Promise<void> {
  if (!(peer instanceof NodePeer)) throw new Error('samples are published through the Node peer');
  for (const module of modules) await peer.publish(module);
}

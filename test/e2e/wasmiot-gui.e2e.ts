// WasmIoT's web GUI against the gateway, through our API-level fixture of it
// (test/fixtures/wasmiot-gui/: the GUI's calls in its order and shapes, read the way it
// reads them). A real node host (`liquidmesh start`) serves the fixture with
// --gui-dir from the gateway's own origin (its mesh: the Node peer and a headless Chromium
// peer), and another headless Chromium walks every tab: the
// device graph with telemetry, module upload with a card, describe, manifests with "Any
// device" and their certificates, deploy, execute (fibo(12) = 233; camera → grayscale with
// its intermediate result and a PNG), zones, node and data-source cards, and the dashboard's
// actions. Then the same page from another origin (a static server of its own, the gateway
// named by ?api= as the GUI's REACT_APP_API_URL build does) through --allow-origin, and
// refused from an origin that was not allowed.
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../node-host/headless/chromium.ts';
import { sendFile, StaticRoot } from '../../node-host/static-files.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';

requireLoopbackNamespace();

const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));
const MODULES = fileURLToPath(new URL('../../modules/', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/wasmiot-gui/', import.meta.url));

interface Step {
  step: string;
  ok: boolean;
  detail: string;
}

/** A static server of the fixture on its own port: the GUI built with an API URL. */
async function startStatic(): Promise<{ server: Server; port: number }> {
  const root = new StaticRoot(FIXTURE);
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const found = await root.lookup(path === '/' ? '/index.html' : path);
      if (found.kind !== 'file') {
        res.writeHead(404).end();
        return;
      }
      sendFile(req, res, found);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** The fixture page, driven as a user drives the GUI. */
class Gui {
  readonly page: Page;

  constructor(page: Page) {
    this.page = page;
  }

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  }

  async steps(): Promise<Step[]> {
    return this.page.evaluate(() => (window as unknown as { fixtureSteps: Step[] }).fixtureSteps);
  }

  /** Click `selector` and wait for the outcome of the step it starts; fail with what the page says. */
  async act(selector: string, step: string, expectOk = true): Promise<string> {
    const before = (await this.steps()).filter((s) => s.step === step).length;
    await this.page.click(selector);
    let outcome: Step | undefined;
    await waitFor(async () => (outcome = (await this.steps()).filter((s) => s.step === step)[before]) !== undefined, `the outcome of “${step}”`, 120_000);
    if (expectOk) expect(outcome!.ok, `${step}: ${outcome!.detail}`).to.equal(true);
    return outcome!.detail;
  }

  async text(selector: string): Promise<string> {
    return this.page.$eval(selector, (e) => (e as HTMLElement).innerText);
  }

  async setValue(selector: string, value: string): Promise<void> {
    await this.page.$eval(selector, (e, v) => {
      (e as HTMLInputElement).value = v;
      e.dispatchEvent(new Event('change'));
    }, value);
  }

  /** Upload a module with its card as the Modules tab does; its id. */
  async upload(name: string, file: string, card: string): Promise<string> {
    await this.setValue('#module-name', name);
    const input = (await this.page.$('#module-file')) as ElementHandle<HTMLInputElement> | null;
    await input!.uploadFile(join(MODULES, file));
    const cardJson = await this.page.evaluate((c) => JSON.stringify((window as unknown as { fixtureCards: { modules: Record<string, unknown> } }).fixtureCards.modules[c]), card);
    await this.setValue('#module-card', cardJson);
    return this.act('#upload', 'upload module');
  }

  /** Describe a module: each listed export gets its output, method and mounts (name, stage). */
  async describe(id: string, functions: Record<string, { output: string; method: string; mounts?: [string, string][] }>): Promise<void> {
    await this.page.select('#describe-select', id);
    await this.act('#describe-load', 'load exports');
    for (const [f, d] of Object.entries(functions)) {
      const set = `#describe-form fieldset[data-export="${f}"]`;
      await this.page.select(`${set} select[name=output]`, d.output);
      await this.page.select(`${set} select[name=method]`, d.method);
      for (const [k, [name, stage]] of (d.mounts ?? []).entries()) {
        await this.page.click(`${set} .add-mount`);
        await this.page.$eval(`${set} .mount:nth-child(${k + 1}) .mount-name`, (e, v) => ((e as HTMLInputElement).value = v), name);
        await this.page.select(`${set} .mount:nth-child(${k + 1}) .mount-stage`, stage);
      }
    }
    await this.act('#describe', 'describe');
  }

  /** Create a manifest of steps [device, module id, function]; the certificate text shown. */
  async manifest(name: string, sequence: [string, string, string][]): Promise<{ id: string; certificate: string }> {
    await this.act('#manifests-refresh', 'manifests list');
    await this.setValue('#manifest-name', name);
    for (const [k, [device, module, func]] of sequence.entries()) {
      await this.page.click('#add-step');
      const row = `#manifest-steps .step:nth-child(${k + 1})`;
      await this.page.select(`${row} .device`, device);
      await this.page.select(`${row} .module`, module);
      await this.page.select(`${row} .func`, func);
    }
    const detail = await this.act('#create-manifest', 'create manifest');
    return { id: detail.split(' ')[0]!, certificate: await this.text('#certificate') };
  }

  /** Choose a manifest in the Execute box; the inputs it shows. */
  async chooseExecute(id: string, name: string): Promise<string[]> {
    const step = `read inputs of ${name}`;
    const before = (await this.steps()).filter((s) => s.step === step).length;
    await this.page.select('#execute-select', '');
    await this.page.select('#execute-select', id);
    let outcome: Step | undefined;
    await waitFor(async () => (outcome = (await this.steps()).filter((s) => s.step === step)[before]) !== undefined, step, 30_000);
    expect(outcome!.ok, `${step}: ${outcome!.detail}`).to.equal(true);
    return this.page.$$eval('#execute-inputs input', (l) => l.map((i) => `${(i as HTMLInputElement).name}:${(i as HTMLInputElement).type}`));
  }

  async deploy(id: string): Promise<void> {
    await this.act('#manifests-refresh', 'manifests list');
    await this.page.select('#deploy-select', id);
    await this.act('#deploy', 'deploy');
  }
}

describe('WasmIoT’s web GUI against the gateway (an API-level fixture of it)', () => {
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let browser: Browser | undefined;
  let statics: { server: Server; port: number } | undefined;
  let profile = '';
  let gateway = '';

  beforeAll(async () => {
    statics = await startStatic();
    profile = await mkdtemp(join(tmpdir(), 'liquidmesh-gui-profile-'));
    child = spawn(process.execPath, [CLI, 'start', '--ephemeral', '--signal-port', '0', '--web-port', '0', '--gateway-port', '0', '--secret', 'gui-e2e',
      '--gui-dir', FIXTURE, '--allow-origin', `http://127.0.0.1:${statics.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('Ctrl-C stops everything'), `the host to come up (${out.slice(-400)})`, 180_000);
    await waitFor(() => /devices: (node-1, chromium-1|chromium-1, node-1)/.test(out), 'both peers in the registry', 90_000);
    gateway = /HTTP gateway \(WasmIoT API\): +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
    expect(gateway, out).to.match(/^http:/);
    browser = await puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false, args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`] });
  });

  afterAll(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await new Promise<void>((resolve) => (statics ? statics.server.close(() => resolve()) : resolve()));
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('walks every tab from the gateway’s own origin (--gui-dir)', async () => {
    const gui = new Gui(await browser!.newPage());
    await gui.open(`${gateway}/`);
    const load = (await gui.steps()).find((s) => s.step === 'load')!;
    expect(load, 'the page loaded').to.deep.include({ ok: true, detail: 'same origin' });

    // Dashboard: the device graph, with telemetry numbers for every device.
    await gui.act('#refresh-devices', 'device graph');
    const graph = await gui.text('#device-graph');
    expect(graph).to.match(/node-1\t127\.0\.0\.1:\d+\t.+\t\d+\.\d\d GHz\t\d+ B\tcpu \d+\.\d\d/);
    // A browser peer advertises no address: shown as the GUI shows it, its numbers still there.
    expect(graph).to.match(/chromium-1\tundefined:null\t.+\t\d+\.\d\d GHz\t\d+ B\tcpu \d+\.\d\d/);
    await gui.page.click('#device-graph tr');
    expect(await gui.text('#node-modal')).to.contain('"report"').and.to.contain('"platform"').and.to.contain('"addresses"');
    const deviceIds = await gui.page.$$eval('#device-graph tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.id!));
    expect(deviceIds).to.have.length(2);

    // Modules: upload with a card (the card POST must answer 200), then describe.
    const fibo = await gui.upload('gui-fibo', 'fibo/fibo.wasm', 'fibo');
    const camera = await gui.upload('gui-camera', 'camera/camera.wasm', 'camera');
    const gray = await gui.upload('gui-grayscale', 'grayscale-c/grayscale.wasm', 'grayscale');
    await gui.describe(fibo, { fibo: { output: 'integer', method: 'GET' } });
    await gui.describe(camera, { take_image_predefined_path: { output: 'image/jpeg', method: 'GET', mounts: [['image.jpeg', 'output']] } });
    await gui.describe(gray, { grayscale_jpeg: { output: 'image/png', method: 'POST', mounts: [['image.jpeg', 'execution'], ['gray.png', 'output']] } });
    await gui.act('#modules-refresh', 'modules list');
    const modules = await gui.text('#modules-list');
    for (const [id, file] of [[fibo, 'fibo.wasm'], [camera, 'camera.wasm'], [gray, 'grayscale.wasm']]) expect(modules).to.match(new RegExp(`${id}\\t\\S+\\t${file.replace('.', '\\.')}\\tcard`));
    // A new card for a listed module replaces its card.
    await gui.setValue('#module-card', await gui.page.evaluate(() => JSON.stringify((window as unknown as { fixtureCards: { modules: Record<string, unknown> } }).fixtureCards.modules.fibo)));
    await gui.act(`#modules-list tr[data-id="${fibo}"] button.upload-card`, 'upload card for gui-fibo');
    expect(await gui.text(`#modules-list tr[data-id="${fibo}"]`)).to.contain('\tcard');

    // Manifests: "Any device"; a certificate at once — invalid while no node card exists.
    const fiboManifest = await gui.manifest('gui-fibo-any', [['null', fibo, 'fibo']]);
    expect(fiboManifest.certificate).to.contain('valid: false').and.to.contain('Node card not found');
    // The Execute box reads its inputs from fullManifest before the manifest is deployed.
    expect(await gui.chooseExecute(fiboManifest.id, 'gui-fibo-any')).to.deep.equal(['param0:number']);

    // Node and data-source cards, and the zones, as the GUI uploads them.
    for (const id of deviceIds) {
      await gui.page.select('#card-device', id);
      await gui.act('#node-card-upload', 'upload node card');
      await gui.act('#datasource-card-upload', 'upload data-source card');
      expect(await gui.text('#node-cards')).to.contain(id).and.to.contain('safe');
      expect(await gui.text('#datasource-cards')).to.contain(id).and.to.contain('camera');
    }
    await gui.act('#zones-upload', 'upload zones');
    await gui.act('#zones-get', 'show zones');
    expect(await gui.text('#zones')).to.contain('urn:fixture:zone-risk-levels');

    const chain = await gui.manifest('gui-chain', [['null', camera, 'take_image_predefined_path'], ['null', gray, 'grayscale_jpeg']]);
    expect(chain.certificate).to.contain('valid: true');
    await gui.act('#manifests-refresh', 'manifests list');
    const listed = await gui.text('#manifests-list');
    expect(listed).to.contain('gui-fibo-any\tAny device / gui-fibo / fibo');
    expect(listed).to.contain('gui-chain\tAny device / gui-camera / take_image_predefined_path → Any device / gui-grayscale / grayscale_jpeg');

    // Deploy and execute.
    await gui.deploy(fiboManifest.id);
    await gui.deploy(chain.id);
    await gui.chooseExecute(fiboManifest.id, 'gui-fibo-any');
    await gui.page.type('#execute-inputs input[name=param0]', '12');
    await gui.act('#execute', 'execute');
    expect(await gui.text('#execute-result')).to.equal('233');
    expect(await gui.chooseExecute(chain.id, 'gui-chain')).to.deep.equal([]);
    await gui.act('#execute', 'execute');
    const output = JSON.parse(await gui.text('#execute-result')) as string;
    expect(output).to.match(/\/gray\.png$/);
    const intermediate = await gui.text('#execute-steps');
    expect(intermediate).to.match(/gui-camera\.take_image_predefined_path: "http:\/\/127\.0\.0\.1:\d+\/\S+\/image\.jpeg"/);
    expect(intermediate).to.contain('gui-grayscale.grayscale_jpeg');
    const png = await gui.page.evaluate(async (u) => {
      const res = await fetch(u);
      return { type: res.headers.get('content-type'), head: [...new Uint8Array(await res.arrayBuffer()).slice(0, 4)] };
    }, output);
    expect(png).to.deep.equal({ type: 'image/png', head: [0x89, 0x50, 0x4e, 0x47] });

    // Delete one manifest from its row, then the dashboard's actions.
    await gui.act('#manifests-refresh', 'manifests list');
    await gui.act(`#manifests-list tr[data-id="${fiboManifest.id}"] button.delete`, 'delete manifest gui-fibo-any');
    expect(await gui.text('#manifests-list')).not.to.contain('gui-fibo-any');
    await gui.act('#reset-discovery', 'reset discovery');
    await gui.act('#delete-manifests', 'delete all manifests');
    await gui.act('#manifests-refresh', 'manifests list');
    expect(await gui.text('#manifests-list')).to.equal('');
    await gui.act('#delete-modules', 'delete all modules');
    await gui.act('#modules-refresh', 'modules list');
    expect(await gui.text('#modules-list')).to.equal('');
    await gui.act('#delete-devices', 'delete all devices');
    await gui.act('#refresh-devices', 'device graph');
    expect(await gui.text('#device-graph')).to.equal('');
    await gui.act('#reset-discovery', 'reset discovery');
    await gui.act('#refresh-devices', 'device graph');
    expect(await gui.text('#device-graph')).to.contain('node-1').and.to.contain('chromium-1');
    expect((await gui.steps()).filter((s) => !s.ok)).to.deep.equal([]);
  });

  it('works from another origin allowed with --allow-origin, and not from one that was not', async () => {
    const origin = `http://127.0.0.1:${statics!.port}`;
    // Preflights as the browser sends them for a JSON POST.
    const preflight = (from: string): Promise<Response> => fetch(`${gateway}/moduleCards`, { method: 'OPTIONS', headers: { origin: from, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const allowed = await preflight(origin);
    expect(allowed.status).to.equal(204);
    expect(allowed.headers.get('access-control-allow-origin')).to.equal(origin);
    expect(allowed.headers.get('access-control-allow-headers')).to.contain('content-type');
    const other = await preflight(`http://localhost:${statics!.port}`);
    expect(other.status).to.equal(403);
    expect(other.headers.get('access-control-allow-origin')).to.equal(null);

    const gui = new Gui(await browser!.newPage());
    await gui.open(`${origin}/?api=${encodeURIComponent(`${gateway}/`)}`);
    expect((await gui.steps()).find((s) => s.step === 'load')).to.deep.include({ ok: true, detail: `api ${gateway}/` });
    await gui.act('#refresh-devices', 'device graph');
    expect(await gui.text('#device-graph')).to.contain('node-1');
    const fibo = await gui.upload('gui-fibo-cors', 'fibo/fibo.wasm', 'fibo');
    await gui.describe(fibo, { fibo: { output: 'integer', method: 'GET' } });
    const { id, certificate } = await gui.manifest('gui-fibo-cors', [['null', fibo, 'fibo']]);
    expect(certificate).to.contain(`${id} valid:`);
    await gui.deploy(id);
    await gui.chooseExecute(id, 'gui-fibo-cors');
    await gui.page.type('#execute-inputs input[name=param0]', '12');
    await gui.act('#execute', 'execute');
    expect(await gui.text('#execute-result')).to.equal('233');
    expect((await gui.steps()).filter((s) => !s.ok)).to.deep.equal([]);

    // The same page from an origin that was not allowed: the browser blocks every call.
    const refused = new Gui(await browser!.newPage());
    await refused.open(`http://localhost:${statics!.port}/?api=${encodeURIComponent(`${gateway}/`)}`);
    const load = (await refused.steps()).find((s) => s.step === 'load')!;
    expect(load.ok).to.equal(false);
    expect(load.detail).to.contain('Failed to fetch');
  });
});

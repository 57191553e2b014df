// The PWA end to end, as a user drives it: one Chromium with two peer tabs and the UI in
// a context of its own (its own storage, so only WebRTC links it to the peers). In the
// UI: upload fibo and stateful-fibo, describe them, deploy fibo, run it with 12 and see
// 233; deploy stateful-fibo on peer-1, count a few calls, drag its chip onto peer-2 and
// see the count continue there; reload offline and see the last known registry with an
// offline notice. Every view is screenshot to .tmp/screenshots/ and must neither render
// empty nor show an error.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../node-host/headless/chromium.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { useE2eServices } from './harness.ts';

requireLoopbackNamespace();

const MODULES = fileURLToPath(new URL('../../modules/', import.meta.url));
const SHOTS = '.tmp/screenshots';
type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; registrySaved(): boolean; orchestrator: import('../../shared/orchestrator/orchestrator.ts').Orchestrator };

/**
 * An element inside the app's shadow roots (puppeteer's `>>>` pierces them), looked for
 * until it is there: `waitForSelector` re-checks on mutations of the document, and a
 * change inside a shadow root alone is not one — it once missed a form that was shown.
 */
async function el(page: Page, selector: string): Promise<ElementHandle<Element>> {
  let found: ElementHandle<Element> | null = null;
  await waitFor(async () => (found = await page.$(`lm-app >>> ${selector}`)) !== null, selector, 20_000);
  return found!;
}

/** Text of the first match, shadow roots included ('' when there is none). */
async function text(page: Page, selector: string): Promise<string> {
  const found = await page.$(`lm-app >>> ${selector}`);
  return found ? ((await found.evaluate((e) => (e as HTMLElement).innerText ?? e.textContent)) ?? '') : '';
}

async function waitText(page: Page, selector: string, expected: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await text(page, selector)).includes(expected), `“${expected}” in ${selector}`, timeoutMs);
}

/** Open a tab of the app. */
async function tab(page: Page, view: string): Promise<void> {
  await (await el(page, `#tab-${view}`)).click();
  await el(page, `lm-${view}-view`);
}

/** Fail when the view shows an error or almost nothing; otherwise save a screenshot. */
async function check(page: Page, view: string, shot: string): Promise<void> {
  const seen = await page.evaluate((tag) => {
    const root = document.querySelector('lm-app')?.shadowRoot?.querySelector(tag)?.shadowRoot;
    if (!root) return { text: '', errors: [] as string[] };
    const deep = (r: ShadowRoot | Element, sel: string): Element[] => [...Array.from(r.querySelectorAll(sel)), ...Array.from(r.querySelectorAll('*')).flatMap((e) => (e.shadowRoot ? deep(e.shadowRoot, sel) : []))];
    const text = (root.host as HTMLElement).innerText || Array.from(root.childNodes, (n) => n.textContent).join(' ');
    return { text: text.trim(), errors: deep(root, '.error, [role=alert]').map((e) => e.textContent ?? '') };
  }, `lm-${view}-view`);
  await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });
  expect(seen.errors, `errors shown in the ${view} view`).to.deep.equal([]);
  expect(seen.text.length, `the ${view} view renders something`).to.be.greaterThan(20);
}

async function upload(page: Page, file: string): Promise<void> {
  const input = (await el(page, 'lm-modules-view >>> input[name=wasm]')) as ElementHandle<HTMLInputElement>;
  await input.uploadFile(join(MODULES, file));
  try {
    await el(page, 'lm-modules-view >>> lm-function-form');
  } catch (error) {
    // Say what the view showed instead, and whether the file reached the input.
    const files = await input.evaluate((i) => Array.from(i.files ?? []).map((f) => f.name));
    const shown = await text(page, 'lm-modules-view >>> section.upload');
    await page.screenshot({ path: `${SHOTS}/upload-failed.png`, fullPage: true });
    throw new Error(`no description form after uploading ${file} (input holds ${JSON.stringify(files)}; the view shows: ${shown.replace(/\s+/g, ' ').slice(0, 400)})`, { cause: error });
  }
}

async function compose(page: Page, name: string, module: string, func: string, device: string): Promise<void> {
  await (await el(page, 'lm-deployments-view >>> input[name=deployment-name]')).type(name);
  await ((await el(page, 'lm-deployments-view >>> select[aria-label="Step 1 module"]')) as ElementHandle<HTMLSelectElement>).select(module);
  await waitFor(async () => (await text(page, 'lm-deployments-view >>> select[aria-label="Step 1 function"]')).includes(func), `${func} offered`);
  await ((await el(page, 'lm-deployments-view >>> select[aria-label="Step 1 function"]')) as ElementHandle<HTMLSelectElement>).select(func);
  await ((await el(page, 'lm-deployments-view >>> select[aria-label="Step 1 device"]')) as ElementHandle<HTMLSelectElement>).select(device);
  await (await el(page, 'lm-deployments-view >>> button.deploy')).click();
  const status = `lm-deployments-view >>> article[aria-label="Deployment ${name}"] .status`;
  await waitText(page, status, 'ready', 60_000).catch(async (error: Error) => {
    // Say where it stands: what the view shows and the record the page holds.
    const record = await page.evaluate((n) => {
      const { peer } = (globalThis as unknown as { liquidmesh: Lm }).liquidmesh;
      const view = peer.registry.deployments.values().find((d) => d.record.name === n);
      return view ? JSON.stringify({ status: view.record.status, reason: view.record.reason, solution: view.record.solution, phases: view.phases, alive: peer.alive() }) : 'no record';
    }, name);
    throw new Error(`${error.message}; the view shows "${(await text(page, status)).trim()}"; the record: ${record}`, { cause: error });
  });
}

/** Run the deployment open in the run view; resolves with the value shown. */
async function run(page: Page, args: Record<string, string> = {}): Promise<string> {
  for (const [name, value] of Object.entries(args)) {
    const input = await el(page, `lm-run-view >>> input[name="param:${name}"]`);
    await input.click({ count: 3 });
    await input.type(value);
  }
  const before = await text(page, 'lm-run-view >>> .final');
  await (await el(page, 'lm-run-view >>> button.run')).click();
  await waitFor(async () => {
    const failed = await page.$('lm-app >>> lm-run-view >>> .error');
    if (failed) throw new Error(`the run view shows an error: ${await failed.evaluate((e) => e.textContent)}`);
    const now = await text(page, 'lm-run-view >>> .final');
    return now !== '' && now !== before;
  }, 'a new result', 30_000);
  return (await text(page, 'lm-run-view >>> .final .value')).trim();
}

describe('The PWA', () => {
  const e2e = useE2eServices('e2e-pwa-timings.json');

  it('publishes, deploys, runs, migrates by drag and drop, and reopens offline', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const profile = mkdtempSync(join(tmpdir(), 'liquidmesh-pwa-'));
    let browser: Browser | null = null;
    try {
      browser = await puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false, args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`] });
      const url = (name: string, extra = ''): string => `${e2e.web.url}/?name=${name}&mesh=pwa&secret=pwa-secret&signal=${encodeURIComponent(e2e.signal.url)}${extra}`;
      const peers = [await browser.newPage(), await browser.newPage()];
      await Promise.all(peers.map((p, i) => p.goto(url(`peer-${i + 1}`))));
      const ui = await (await browser.createBrowserContext()).newPage();
      await ui.setViewport({ width: 1280, height: 900 });
      ui.on('pageerror', (e) => console.log('ui error:', (e as Error).message));
      await ui.goto(url('ui'));
      const all = [...peers, ui];
      await waitFor(async () => (await Promise.all(all.map((p) => p.evaluate(() => (globalThis as unknown as { liquidmesh?: Lm }).liquidmesh?.peer.alive().length ?? 0)))).every((n) => n === 2), 'three pages in one mesh', 60_000);
      const [id1, id2] = await Promise.all(peers.map((p) => p.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.id)));

      // The mesh view: three devices.
      await waitFor(async () => (await ui.$$('lm-app >>> lm-mesh-view >>> article.device')).length === 3, 'three device cards');
      await check(ui, 'mesh', 'mesh');

      // Upload and describe fibo and stateful-fibo.
      await tab(ui, 'modules');
      await upload(ui, 'fibo/fibo.wasm');
      expect(await text(ui, 'lm-modules-view >>> .exports')).to.contain('fibo');
      await ((await el(ui, 'lm-modules-view >>> select[aria-label="fibo method"]')) as ElementHandle<HTMLSelectElement>).select('GET');
      expect(await ui.$eval('lm-app >>> lm-modules-view >>> select[aria-label="fibo parameter 1 type"]', (s) => (s as HTMLSelectElement).value)).to.equal('integer');
      await check(ui, 'modules', 'modules-describe');
      await (await el(ui, 'lm-modules-view >>> button.publish')).click();
      await waitText(ui, 'lm-modules-view >>> .published', 'Published fibo 1.0.0');
      await upload(ui, 'stateful-fibo/stateful-fibo.wasm');
      await (await el(ui, 'lm-modules-view >>> button.publish')).click();
      await waitText(ui, 'lm-modules-view >>> .published', 'Published stateful-fibo 1.0.0');
      await check(ui, 'modules', 'modules');

      // Deploy fibo (placement chooses), run it with 12: 233.
      await tab(ui, 'deployments');
      await compose(ui, 'fib', 'fibo', 'fibo', '');
      await check(ui, 'deployments', 'deployments');
      await (await el(ui, 'lm-deployments-view >>> button[aria-label="Run fib"]')).click();
      await el(ui, 'lm-run-view');
      expect(await run(ui, { param0: '12' })).to.equal('233');
      await waitText(ui, 'lm-run-view >>> .history table', 'fibo.fibo');
      await check(ui, 'run', 'run');

      // stateful-fibo on peer-1 counts 1, 2, 3; dragged onto peer-2 it continues with 5.
      await tab(ui, 'deployments');
      await compose(ui, 'counter', 'stateful-fibo', 'stateful_fibo', id1!);
      await (await el(ui, 'lm-deployments-view >>> button[aria-label="Run counter"]')).click();
      expect([await run(ui), await run(ui), await run(ui)]).to.deep.equal(['1', '2', '3']);
      await tab(ui, 'mesh');
      const chip = await el(ui, `lm-mesh-view >>> article[data-peer="${id1}"] .module[data-module="stateful-fibo"]`);
      const target = await el(ui, `lm-mesh-view >>> article[data-peer="${id2}"]`);
      await chip.drag(target);
      await target.drop(chip);
      await waitText(ui, 'lm-mesh-view >>> .move.done', 'Moved stateful-fibo from peer-1 to peer-2', 30_000);
      await el(ui, `lm-mesh-view >>> article[data-peer="${id2}"] .module[data-module="stateful-fibo"]`);
      await check(ui, 'mesh', 'mesh-migrated');
      await tab(ui, 'run');
      expect(await run(ui)).to.equal('5');
      expect(await text(ui, 'lm-run-view >>> .result table.steps')).to.contain('peer-2');

      await tab(ui, 'join');
      await el(ui, 'lm-join-view >>> .qr svg');
      await check(ui, 'join', 'join');

      // peer-2 as a kiosk: its dashboard lists the calls it served after the move.
      await peers[1]!.goto(url('peer-2', '&kiosk'));
      await waitFor(async () => (await text(peers[1]!, 'lm-kiosk-view >>> section[aria-label="Recent calls"]')).includes('stateful_fibo'), 'the kiosk to list the call', 30_000);
      await check(peers[1]!, 'kiosk', 'kiosk');

      // Offline: the service worker serves the app, IndexedDB the last known registry.
      await ui.evaluate(async () => void (await navigator.serviceWorker.ready));
      await waitFor(() => ui.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.registrySaved()), 'the registry saved');
      await ui.setOfflineMode(true);
      await ui.reload();
      await waitFor(() => ui.evaluate(() => Boolean((globalThis as unknown as { liquidmesh?: Lm }).liquidmesh)), 'the app to start offline', 30_000);
      expect(await ui.evaluate(() => crossOriginIsolated), 'isolated when served by the service worker').to.equal(true);
      await waitText(ui, '.banner.offline', 'You are offline: showing the last known registry');
      await tab(ui, 'deployments');
      await waitFor(async () => (await ui.$$('lm-app >>> lm-deployments-view >>> article.deployment')).length === 2, 'both deployments from the saved registry');
      await ui.screenshot({ path: `${SHOTS}/offline-deployments.png`, fullPage: true });
      await tab(ui, 'mesh');
      await waitFor(async () => (await ui.$$('lm-app >>> lm-mesh-view >>> article.device')).length === 3, 'three devices from the saved registry');
      await check(ui, 'mesh', 'offline-mesh');
    } finally {
      await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

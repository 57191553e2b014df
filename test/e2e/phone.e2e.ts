// A phone in the mesh, on loopback: Chromium emulating a phone (360×740, touch, a phone's
// user agent). Opening the app over plain http by a LAN name, it is told why it cannot
// join and where to go instead (never "offline"). Opening the join URL without a name, it
// joins as a phone with a name of its own, labelled as the phone it is. On its screen:
// every view fits 360 px (screenshots in .tmp/screenshots/phone-*.png), stateful-fibo is
// moved onto it from the Node peer with "Move to…" (a thumb-sized target) and counts on
// there, fibo is dragged onto it by finger. Then the page is hidden, frozen and closed in
// turn: each time the Node peer sees the phone leave well before the liveness timeout, the
// steps it hosted answer from elsewhere, and the phone comes back under the same device
// id. Last, it reopens offline.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../node-host/headless/chromium.ts';
import { DEFAULT_TIMING } from '../../shared/mesh/peer.ts';
import type { DeploymentRecord, DeviceDescription, PhaseRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess, useE2eServices } from './harness.ts';
import { el, emulatePhone, idOf, SHOTS, setVisibility as setPageVisibility, shot, tab, text, waitText } from './phone-emulation.ts';

requireLoopbackNamespace();

type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; registrySaved(): boolean };
type Deployment = DeploymentRecord & { phases: Record<string, PhaseRecord> };

describe('A phone in the mesh', () => {
  const e2e = useE2eServices('e2e-phone-timings.json');
  const { nodes, timings } = e2e;

  it('joins, takes modules by menu and by finger, leaves when hidden, frozen or closed, comes back as itself, and reopens offline', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const profile = mkdtempSync(join(tmpdir(), 'liquidmesh-phone-'));
    let browser: Browser | null = null;
    try {
      const params = { mesh: 'phones', secret: 'phone-secret' };
      const node = new NodePeerProcess('node-1', ['--signal', e2e.signal.url, '--mesh', params.mesh, '--secret', params.secret]);
      nodes.push(node);
      await node.ready();
      const joinUrl = `${e2e.web.url}/?mesh=${params.mesh}&secret=${params.secret}&signal=${encodeURIComponent(e2e.signal.url)}`;
      // phone-test.lan is this machine under a LAN-style name: plain http there is not a secure context.
      browser = await puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false, args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--host-resolver-rules=MAP phone-test.lan 127.0.0.1'] });

      // Opened over http by a LAN name, the page says why it cannot join and where to go — not "offline".
      const insecure = await browser.newPage();
      await emulatePhone(insecure);
      const lanUrl = new URL(joinUrl);
      lanUrl.hostname = 'phone-test.lan';
      lanUrl.searchParams.set('trust', 'http://phone-test.lan:8081/');
      await insecure.goto(lanUrl.toString());
      await waitText(insecure, 'section.insecure', 'This page was opened over an insecure connection');
      const said = await text(insecure, 'section.insecure');
      expect(said).to.contain('install the mesh\'s certificate from http://phone-test.lan:8081/');
      expect(said).to.contain(`Then open ${lanUrl.toString().replace('http:', 'https:')}`);
      expect(await insecure.evaluate(() => document.body.innerText + (document.querySelector('lm-app')?.shadowRoot?.textContent ?? ''))).to.not.match(/offline:|You are offline|could not start/);
      expect(await insecure.evaluate(() => (globalThis as { liquidmesh?: unknown }).liquidmesh === undefined)).to.equal(true);
      await shot(insecure, 'insecure');
      await insecure.close();

      let phone = await browser.newPage();
      phone.on('pageerror', (e) => console.log('phone error:', (e as Error).message));
      await emulatePhone(phone);
      await phone.goto(joinUrl);
      await waitFor(async () => (await idOf(phone)) !== null, 'the phone to start', 30_000);
      const id = (await idOf(phone))!;
      await waitFor(async () => (await node.view()).alive.includes(id), 'node-1 to see the phone', 60_000);

      // It calls itself a phone, named as one, and the mesh view says which browser it is.
      const self = await phone.evaluate((pid) => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.registry.devices.get(pid), id) as DeviceDescription;
      expect(self.name).to.match(/^phone-[a-z2-9]{4}$/);
      expect(self.engine).to.equal('browser');
      expect(self.browser).to.include({ name: 'Chrome', version: '131', formFactor: 'phone', os: 'Android', headless: false });
      // It offers its camera and its motion and orientation sensors to the mesh.
      expect(self.capabilities).to.include.members(['sensors.acceleration', 'sensors.orientation']);
      expect(self.capabilities.some((c) => c.startsWith('camera.'))).to.equal(true);
      expect(self.simulated ?? []).to.not.include.members(['sensors.acceleration']);
      await waitText(phone, `lm-mesh-view >>> article[data-peer="${id}"] .engine`, 'Chrome 131 on Android phone');
      expect(await text(phone, `lm-mesh-view >>> article[data-peer="${node.id}"] .engine`)).to.equal('Node');

      // stateful-fibo counts 1, 2, 3 on node-1, is moved onto the phone with "Move to…" and goes on with 5.
      await node.command('publish', { module: 'stateful-fibo' });
      await node.command('publish', { module: 'fibo' });
      const counter = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'counter', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'node-1' }] } });
      const fib = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'node-1' }] } });
      for (const d of [counter, fib]) expect((await node.command<Deployment>('wait', { deployment: d.id })).status).to.equal('ready');
      const count = (): Promise<number> => node.command<number>('call', { deployment: counter.id, module: 'stateful-fibo', func: 'stateful_fibo' });
      expect([await count(), await count(), await count()]).to.deep.equal([1, 2, 3]);
      const menu = (await el(phone, `lm-mesh-view >>> article[data-peer="${node.id}"] .module[data-module="stateful-fibo"] select.move-to`)) as ElementHandle<HTMLSelectElement>;
      const box = (await menu.boundingBox())!;
      expect(box.height, '“Move to…” is thumb-sized').to.be.at.least(44);
      await menu.select(id);
      await waitText(phone, 'lm-mesh-view >>> .move.done', `Moved stateful-fibo from node-1 to ${self.name}`);
      await el(phone, `lm-mesh-view >>> article[data-peer="${id}"] .module[data-module="stateful-fibo"]`);
      expect(await count()).to.equal(5);

      // fibo dragged by finger from node-1's card onto the phone's.
      const chip = await el(phone, `lm-mesh-view >>> article[data-peer="${node.id}"] .module[data-module="fibo"]`);
      await chip.evaluate((c) => c.scrollIntoView({ block: 'center' }));
      const from = (await chip.boundingBox())!;
      const card = (await (await el(phone, `lm-mesh-view >>> article[data-peer="${id}"]`)).boundingBox())!;
      const to = { x: card.x + card.width / 2, y: Math.max(card.y + 10, Math.min(card.y + card.height - 10, 700)) };
      expect(to.y, 'the phone card is on screen').to.be.greaterThan(0);
      await phone.touchscreen.touchStart(from.x + 12, from.y + from.height / 2);
      for (let i = 1; i <= 8; i++) await phone.touchscreen.touchMove(from.x + 12 + ((to.x - from.x - 12) * i) / 8, from.y + from.height / 2 + ((to.y - from.y - from.height / 2) * i) / 8);
      await phone.touchscreen.touchEnd();
      await waitText(phone, 'lm-mesh-view >>> [role=status]', `Moved fibo from node-1 to ${self.name}`);
      expect(await node.command<number>('call', { deployment: fib.id, module: 'fibo', func: 'fibo', args: [12] })).to.equal(233);
      await shot(phone, 'mesh');

      // Every view at 360 px.
      await tab(phone, 'modules');
      await waitFor(async () => (await phone.$$('lm-app >>> lm-modules-view >>> article.module-card')).length === 2, 'two modules');
      await shot(phone, 'modules');
      await tab(phone, 'deployments');
      await waitFor(async () => (await phone.$$('lm-app >>> lm-deployments-view >>> article.deployment')).length === 2, 'two deployments');
      await shot(phone, 'deployments');
      await (await el(phone, 'lm-deployments-view >>> button[aria-label="Run counter"]')).click();
      await (await el(phone, 'lm-run-view >>> button.run')).click();
      await waitText(phone, 'lm-run-view >>> .final', '8');
      await shot(phone, 'run');
      await tab(phone, 'join');
      await el(phone, 'lm-join-view >>> .qr svg');
      await shot(phone, 'join');
      await tab(phone, 'mesh');

      /** Hide the phone with `hide`; node-1 must see it leave before liveness would, and its steps must answer elsewhere. */
      const leaves = async (what: string, hide: () => Promise<void>): Promise<void> => {
        const t0 = performance.now();
        await hide();
        await waitFor(async () => !(await node.view()).alive.includes(id), `node-1 to see the ${what} phone leave`, 30_000);
        const ms = performance.now() - t0;
        timings[`${what}LeaveSeenMs`] = ms;
        expect(ms, `the ${what} phone's goodbye beats the liveness timeout`).to.be.below(DEFAULT_TIMING.livenessTimeoutMs);
        let last: Deployment[] = [];
        await waitFor(async () => {
          last = await Promise.all([counter, fib].map((d) => node.command<Deployment>('deployment', { deployment: d.id })));
          return last.every((d) => d.status === 'ready' && d.solution['0'] !== id);
        }, `the ${what} phone's steps re-placed`, 30_000).catch((error: Error) => {
          throw new Error(`${error.message}: ${JSON.stringify(last.map((d) => ({ name: d.name, status: d.status, reason: d.reason, solution: d.solution, revision: d.revision, phases: d.phases })))}`);
        });
        expect(await node.command<number>('call', { deployment: fib.id, module: 'fibo', func: 'fibo', args: [10] })).to.equal(89);
        expect(await count()).to.be.a('number');
      };
      const back = async (what: string, page: Page): Promise<void> => {
        await waitFor(async () => (await idOf(page)) === id, `the ${what} phone to rejoin as itself`, 30_000);
        await waitFor(async () => (await node.view()).alive.includes(id), `node-1 to see the ${what} phone back`, 30_000);
      };
      const moveToPhone = async (): Promise<void> => {
        await node.command('migrate', { deployment: fib.id, module: 'fibo', device: id });
        expect((await node.command<Deployment>('deployment', { deployment: fib.id })).solution['0']).to.equal(id);
      };
      const setVisibility = (state: 'hidden' | 'visible'): Promise<void> => setPageVisibility(phone, state);

      // Hidden (the user switched apps), then shown again.
      await leaves('hidden', () => setVisibility('hidden'));
      await setVisibility('visible');
      await back('shown', phone);

      // Frozen by the browser (as Chromium does to background tabs), then resumed.
      await moveToPhone();
      const cdp = await phone.createCDPSession();
      await leaves('frozen', () => cdp.send('Page.setWebLifecycleState', { state: 'frozen' }));
      await cdp.send('Page.setWebLifecycleState', { state: 'active' });
      await back('resumed', phone);

      // Closed for real; the join URL opened again in a new tab is the same device.
      await moveToPhone();
      await leaves('closed', () => phone.close());
      phone = await browser.newPage();
      await emulatePhone(phone);
      await phone.goto(joinUrl);
      await back('reopened', phone);

      // Offline: the service worker serves the app, IndexedDB the last known registry.
      await phone.evaluate(async () => void (await navigator.serviceWorker.ready));
      await waitFor(() => phone.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.registrySaved()), 'the registry saved');
      await phone.setOfflineMode(true);
      await phone.reload();
      await waitFor(async () => (await idOf(phone)) === id, 'the phone to start offline as itself', 30_000);
      expect(await phone.evaluate(() => crossOriginIsolated), 'isolated when served by the service worker').to.equal(true);
      await waitText(phone, '.banner.offline', 'You are offline: showing the last known registry');
      await waitFor(async () => (await phone.$$('lm-app >>> lm-mesh-view >>> article.device')).length === 2, 'both devices from the saved registry');
      await shot(phone, 'offline-mesh');
    } finally {
      await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

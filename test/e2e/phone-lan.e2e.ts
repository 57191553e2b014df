// A phone on the LAN, over HTTPS: `liquidmesh start --host <address>` on one host (its
// own network namespace) and, on another, Chromium emulating a phone (360×740, touch, a
// phone's user agent) whose user trusted the host's CA (certutil into its NSS database).
// The phone opens the exact join URL `start` printed (what its QR code says) and joins as
// a phone with the `device` role the link's invitation grants: deploying from the phone,
// or moving a module with its "Move to…" menu, fails with a named error shown in the app.
// The chain camera (the phone, Chromium's fake camera) → grayscale (node-1 on the first
// host), deployed through the gateway, returns a PNG; the counter (stateful-fibo) is moved
// by the CLI from node-1 to the phone and counts on there; hidden, then closed, the phone leaves — the host sees it go
// and the counter answers from node-1 again — and it comes back with the same device id;
// last, with its network down, the PWA reopens offline on the phone.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type { ElementHandle, Page } from 'puppeteer-core';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { CLI, type HostProcess, TestLan } from './hosts.ts';
import { el, emulatePhone, idOf, setVisibility, shot, tab, text, waitText } from './phone-emulation.ts';

requireLoopbackNamespace();

const SECRET = 'phone-lan';
type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; registrySaved(): boolean; orchestrator: import('../../shared/orchestrator/orchestrator.ts').Orchestrator };

/** The host's start banner lists `name` alive (or, with `gone`, gone). */
function inBanner(name: string, gone = false): RegExp {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^devices: (.*, )?${escaped}${gone ? ' \\(gone\\)' : ''}(,|$)`, 'm');
}

describe('a phone on the LAN, over HTTPS', () => {
  it('joins from the printed URL as a device, may not deploy or move modules (named errors), runs camera → grayscale, hosts the counter, leaves and comes back as itself, and reopens offline', async () => {
    const lan = await TestLan.create(['host', 'phone']);
    try {
      const host = lan.host('host');
      const phoneHost = lan.host('phone');
      const dataDir = await lan.tempDir('host-data');
      const start: HostProcess = host.liquidmesh(['start', '--host', host.address, '--no-chromium', '--secret', SECRET, '--data-dir', dataDir]);
      await start.waitForOutput(/Ctrl-C stops everything/, 'the host to come up', 200_000);
      const joinUrl = (await start.waitForOutput(/PWA — open to join as a device: +(\S+)/, 'the join URL'))[1]!;
      const caPath = (await start.waitForOutput(/CA certificate: +(\S+)/, 'the CA file'))[1]!;
      expect(new URL(joinUrl).protocol).to.equal('https:');
      expect(new URL(joinUrl).searchParams.get('trust')).to.equal(`http://${host.address}:8081/`);

      /** `liquidmesh <args> --json` on the host, through its gateway (token and CA from its data directory). */
      const cli = async <T>(args: string[]): Promise<T> => {
        const r = await host.run(process.execPath, [CLI, ...args, '--gateway', `https://${host.address}:3000`, '--data-dir', dataDir, '--json']);
        if (r.code !== 0) throw new Error(`liquidmesh ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}${r.stdout}`);
        return JSON.parse(r.stdout) as T;
      };
      const count = async (): Promise<number> => Number((await cli<{ result: unknown }>(['call', 'counter'])).result);

      // The phone's user trusted the CA; the phone opens the join URL exactly as printed.
      const browser = await phoneHost.launchBrowser({ trust: await readFile(caPath, 'utf8') });
      const open = async (): Promise<Page> => {
        const page = await browser.newPage();
        page.on('pageerror', (e) => console.log('phone error:', (e as Error).message));
        await emulatePhone(page);
        await page.goto(joinUrl);
        await waitFor(async () => (await idOf(page)) !== null, 'the phone to start', 60_000);
        return page;
      };
      let phone = await open();
      expect(await phone.evaluate(() => ({ secure: isSecureContext, isolated: crossOriginIsolated }))).to.deep.equal({ secure: true, isolated: true });
      const id = (await idOf(phone))!;
      const name = await phone.evaluate((pid) => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.registry.devices.get(pid)!.name, id);
      expect(name).to.match(/^phone-[a-z2-9]{4}$/);
      await start.waitForOutput(inBanner(name), 'the phone in the host\'s mesh', 60_000);
      await waitText(phone, `lm-mesh-view >>> article[data-peer="${id}"] .engine`, 'Chrome 131 on Android phone');
      // The link's invitation made it a device, and the address bar no longer carries it.
      expect(new URL(joinUrl).searchParams.get('invite')).to.be.a('string');
      await waitText(phone, 'lm-mesh-view >>> .membership', 'member of the mesh as device');
      expect(await phone.evaluate(() => new URL(location.href).searchParams.has('invite'))).to.equal(false);

      // The phone's owner switches its camera on for the mesh (off until then), on the Join tab.
      await tab(phone, 'join');
      await (await el(phone, 'lm-join-view >>> input[name=offer-camera]')).click();
      await tab(phone, 'mesh');
      await waitText(phone, `lm-mesh-view >>> article[data-peer="${id}"]`, 'Offers camera: anyone');

      // A device may not deploy: the phone's own attempt is refused with a named error.
      const refused = await phone.evaluate((pid) => {
        const { orchestrator } = (globalThis as unknown as { liquidmesh: Lm }).liquidmesh;
        try {
          orchestrator.deploy({ name: 'phone-gray', sequence: [{ module: 'camera', func: 'take_image_predefined_path', device: pid }, { module: 'grayscale', func: 'grayscale_jpeg', device: 'node-1' }] });
          return 'deployed';
        } catch (error) {
          return String((error as { code?: unknown }).code);
        }
      }, id);
      expect(refused).to.equal('ERR_WRITE_FORBIDDEN');

      // camera on the phone → grayscale on node-1, deployed by an operator (the gateway): a PNG comes back.
      const deployed = await cli<{ status: string }>(['deploy', '--name', 'phone-gray', '--step', `camera:take_image_predefined_path@${name}`, '--step', 'grayscale:grayscale_jpeg@node-1']);
      expect(deployed.status).to.equal('ready');
      const chain = await phone.evaluate(async () => {
        const { orchestrator } = (globalThis as unknown as { liquidmesh: Lm }).liquidmesh;
        const view = await orchestrator.waitFor('phone-gray', (v) => v.record.status !== 'deploying', 60_000);
        const out = await orchestrator.execute(view.record.id);
        const file = out.result.files.find((f) => f.mediaType.startsWith('image/'));
        const head = file ? Array.from(file.bytes.slice(0, 8)) : [];
        return { status: view.record.status, png: head.join() === '137,80,78,71,13,10,26,10', peers: out.steps.map((s) => s.peer), mediaType: file?.mediaType ?? '' };
      });
      const devices = await cli<{ id?: string; _id?: string; name: string }[]>(['ls', 'devices']);
      const node1 = devices.filter((d) => d.name === 'node-1').map((d) => d.id ?? d._id)[0]!;
      expect(chain).to.deep.equal({ status: 'ready', png: true, peers: [id, node1], mediaType: 'image/png' });

      // The counter counts on node-1. The phone's "Move to…" is refused (a device does not
      // move modules), with the named error shown; the operator moves it with the CLI.
      const before = await count();
      const menu = (await el(phone, `lm-mesh-view >>> article[data-peer="${node1}"] .module[data-module="stateful-fibo"] select.move-to`)) as ElementHandle<HTMLSelectElement>;
      expect((await menu.boundingBox())!.height, '“Move to…” is thumb-sized').to.be.at.least(44);
      await menu.select(id);
      await waitText(phone, 'lm-mesh-view >>> .move.failed', 'ERR_ROLE_REQUIRED', 60_000);
      await cli(['migrate', 'counter', 'stateful-fibo', name]);
      await waitFor(() => phone.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.registry.deployments.get('counter')?.record.solution['0']).then((p) => p === id), 'the phone to learn the counter is its own', 30_000);
      const on = await count();
      expect(on, 'the count goes on on the phone').to.be.greaterThan(before);
      await shot(phone, 'lan-mesh');
      expect(await text(phone, '.banner.offline')).to.equal('');

      /** The host sees the phone go, and the counter answers from node-1 again. */
      const leaves = async (what: string, hide: () => Promise<void>): Promise<void> => {
        const mark = start.output.length;
        await hide();
        await start.waitForOutput(inBanner(name, true), `the host to see the ${what} phone leave`, 30_000, mark);
        await waitFor(async () => (await count().catch(() => 0)) > 0, `the counter to answer again after the ${what} phone left`, 60_000);
      };
      /** `mark`: the host's output length before the phone came back, so its line is not missed. */
      const back = async (what: string, page: Page, mark: number): Promise<void> => {
        await waitFor(async () => (await idOf(page)) === id, `the ${what} phone to rejoin as itself`, 60_000);
        await start.waitForOutput(inBanner(name), `the host to see the ${what} phone back`, 60_000, mark);
        // Its registry caught up: the counter it hosted runs on node-1 now.
        await waitFor(() => page.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.registry.deployments.get('counter')?.record.solution['0']).then((p) => p === node1), `the ${what} phone to learn where the counter went`, 30_000);
      };

      await leaves('hidden', () => setVisibility(phone, 'hidden'));
      let mark = start.output.length;
      await setVisibility(phone, 'visible');
      await back('shown', phone, mark);

      // The counter back on the phone (the CLI on the host this time), then the page is closed.
      await cli(['migrate', 'counter', 'stateful-fibo', name]);
      await waitFor(() => phone.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.peer.registry.deployments.get('counter')?.record.solution['0']).then((p) => p !== undefined && p !== node1), 'the counter on the phone again', 30_000);
      await leaves('closed', () => phone.close());
      mark = start.output.length;
      phone = await open();
      await back('reopened', phone, mark);

      // Offline: the phone's network goes down; the app reopens from its service worker.
      await waitFor(() => phone.evaluate(() => (globalThis as unknown as { liquidmesh: Lm }).liquidmesh.registrySaved()), 'the registry saved');
      await phone.evaluate(async () => void (await navigator.serviceWorker.ready));
      await phoneHost.run('ip', ['link', 'set', 'dev', phoneHost.iface, 'down']);
      await phone.reload();
      await waitFor(async () => (await idOf(phone)) === id, 'the phone to start offline as itself', 60_000);
      expect(await phone.evaluate(() => ({ secure: isSecureContext, isolated: crossOriginIsolated, controlled: navigator.serviceWorker.controller !== null }))).to.deep.equal({ secure: true, isolated: true, controlled: true });
      await waitText(phone, '.banner.offline', 'You are offline: showing the last known registry', 60_000);
      await shot(phone, 'lan-offline');
      await phoneHost.run('ip', ['link', 'set', 'dev', phoneHost.iface, 'up']);
    } finally {
      await lan.close();
    }
  });
});

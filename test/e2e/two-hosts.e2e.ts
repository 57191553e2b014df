// Machines on a LAN, not loopback: `liquidmesh start --host <its address>` on one host
// serves HTTPS from its local CA and a trust page; peers on other hosts (network
// namespaces behind one bridge, test/e2e/hosts.ts) join its mesh across the network the
// way a second machine, a kiosk and a phone do — each trusting the CA as its user would.
import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { CLI, type HostProcess, TestLan, type TestHost } from './hosts.ts';

requireLoopbackNamespace();

/** The mesh secret docs/RASPBERRY_PI.md's commands use. */
const SECRET = 'change-me';

/** The host's mesh, as its start banner reports it, has `name` alive. */
/** The host's latest `devices: …` line. */
function lastDevicesLine(output: string): string {
  return output.match(/^devices: .*$/gm)?.at(-1) ?? '';
}

function aliveInBanner(name: string): RegExp {
  return new RegExp(`^devices: (.*, )?${name}(,|$)`, 'm');
}

describe('hosts on a LAN, over HTTPS from the host\'s local CA', () => {
  let lan: TestLan;
  let hostA: TestHost;
  let start: HostProcess;
  let joinUrl: string;
  let trustUrl: string;
  let fingerprint: string;
  let hostData: string;

  beforeAll(async () => {
    lan = await TestLan.create(['host', 'second', 'phone', 'kiosk']);
    hostA = lan.host('host');
    hostData = await lan.tempDir('host-data');
    start = hostA.liquidmesh(['start', '--host', hostA.address, '--secret', SECRET, '--data-dir', hostData]);
    await start.waitForOutput(/Ctrl-C stops everything/, 'the host to come up', 200_000);
    joinUrl = (await start.waitForOutput(/PWA — open to join as a device: +(\S+)/, 'the join URL'))[1]!;
    trustUrl = (await start.waitForOutput(/trust page — install the CA: +(\S+)/, 'the trust page URL'))[1]!;
    fingerprint = (await start.waitForOutput(/CA SHA-256 fingerprint: +(\S+)/, 'the CA fingerprint'))[1]!;
  });

  afterAll(async () => {
    await lan?.close();
  });

  it('start prints an HTTPS join URL carrying its trust page, and the trust page QR code before the join QR code', () => {
    const a = hostA.address;
    expect(trustUrl).to.equal(`http://${a}:8081/`);
    const join = new URL(joinUrl);
    expect(join.origin).to.equal(`https://${a}:8080`);
    expect(join.searchParams.get('signal')).to.equal(`https://${a}:4444`);
    expect(join.searchParams.get('trust')).to.equal(trustUrl);
    expect(join.searchParams.get('secret')).to.equal(SECRET);
    const trustQr = start.output.indexOf('scan to open the trust page');
    const joinQr = start.output.indexOf('Scan to join from a phone');
    expect(trustQr).to.be.greaterThan(0);
    expect(joinQr).to.be.greaterThan(trustQr);
    expect(start.output.slice(trustQr, joinQr)).to.contain('▀');
  });

  it('the host\'s own headless Chromium peer trusts the CA in its profile and joins over HTTPS', async () => {
    await start.waitForOutput(aliveInBanner('chromium-1'), 'chromium-1 in the host\'s mesh', 60_000);
  });

  it('a Node peer on a second host trusts the CA from the trust page and joins', async () => {
    const signal = new URL(joinUrl).searchParams.get('signal')!;
    // The mesh has roles: the peer joins with the device invitation of the printed link.
    const peer = lan.host('second').liquidmesh(['peer', '--name', 'second-node', '--signal', signal, '--secret', SECRET, '--trust', trustUrl, '--invitation', new URL(joinUrl).searchParams.get('invite')!]);
    await peer.waitForOutput(new RegExp(`trusting the CA with SHA-256 fingerprint ${fingerprint}`), 'the CA fetched from the trust page', 30_000);
    await start.waitForOutput(aliveInBanner('second-node'), 'the second host in the host\'s mesh', 60_000);
    await peer.waitForOutput(/^\+ \S+ joined$/m, 'the host seen from the second host', 30_000);
    await peer.stop();
  });

  it('the CLI on a second host drives the HTTPS gateway, verifying it against the CA it was given', async () => {
    const second = lan.host('second');
    const gateway = `https://${hostA.address}:3000`;
    expect(start.output).to.contain(`HTTP gateway (WasmIoT API):       ${gateway}`);
    // The user copies the CA (and the gateway token) from the host; here they share a disk.
    const env = { env: { ...process.env, LIQUIDMESH_CA: join(hostData, 'tls', 'ca.crt'), LIQUIDMESH_TOKEN: (await readFile(join(hostData, 'gateway-token'), 'utf8')).trim() } };
    const listed = await second.run(process.execPath, [CLI, 'ls', 'devices', '--gateway', gateway, '--json'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((d) => d.name)).to.include('node-1');
    // Without the CA the certificate is not trusted, and the command says so.
    const { LIQUIDMESH_CA: _ca, ...withoutCa } = env.env;
    const refused = await second.run(process.execPath, [CLI, 'ls', 'devices', '--gateway', gateway, '--json'], { env: { ...withoutCa, XDG_DATA_HOME: await lan.tempDir('empty-data') } });
    expect(refused.code).to.equal(1);
    expect(refused.stdout + refused.stderr).to.match(/certificate|UNABLE_TO_VERIFY|self.signed/i);
  });

  it('a phone trusts the CA from the trust page, opens the join URL securely, joins, and reopens offline from its service worker', async () => {
    const phone = lan.host('phone');
    const dir = await lan.tempDir('phone');

    // Before trusting: the HTTPS app is refused (no flag waves certificate errors through);
    // the trust page is plain HTTP and hands out the CA.
    let browser = await phone.launchBrowser({ dir });
    let page = await browser.newPage();
    const refused = await page.goto(joinUrl).then(() => 'loaded', (error: Error) => error.message);
    expect(refused).to.contain('ERR_CERT_AUTHORITY_INVALID');
    await page.goto(trustUrl);
    expect(await page.$eval('#fingerprint', (e) => e.textContent)).to.equal(fingerprint);
    expect(await page.$eval('#join', (e) => e.getAttribute('href'))).to.equal(joinUrl);
    // Tap "Download the CA certificate": the browser saves what /ca.crt serves.
    const downloads = await lan.tempDir('phone-downloads');
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    const served = page.waitForResponse((r) => r.url().endsWith('/ca.crt'));
    await page.click('#ca');
    expect((await served).headers()['content-type']).to.equal('application/x-x509-ca-cert');
    const size = Number((await served).headers()['content-length']);
    const saved = join(downloads, 'liquidmesh-ca.crt');
    // The browser creates the file before it has written it: wait for all of it.
    await waitFor(() => existsSync(saved) && statSync(saved).size === size, 'the CA certificate to download', 15_000);
    const der = new Uint8Array(await readFile(saved));
    expect(der[0]).to.equal(0x30); // DER, what phones install
    await browser.close();

    // The user installs the CA (certutil into the browser's NSS database) and opens the join URL.
    browser = await phone.launchBrowser({ dir, trust: der });
    page = await browser.newPage();
    await page.goto(joinUrl);
    await waitFor(() => page.evaluate(() => Boolean((globalThis as { liquidmesh?: unknown }).liquidmesh)), 'the PWA to start', 60_000);
    const state = await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return { secure: isSecureContext, isolated: crossOriginIsolated, subtle: typeof crypto.subtle?.sign, sw: Boolean(registration.active), name: sessionStorage.getItem('liquidmesh-name') };
    });
    expect(state).to.deep.include({ secure: true, isolated: true, subtle: 'function', sw: true });
    await start.waitForOutput(aliveInBanner(state.name!), 'the phone in the host\'s mesh', 60_000);
    await waitFor(() => alive(page).then((n) => n > 0), 'the phone to see the host alive', 30_000);

    // Offline: the phone's link goes down; the app shell still opens from the service worker.
    await phone.run('ip', ['link', 'set', 'dev', phone.iface, 'down']);
    const cut = await page.evaluate((u: string) => fetch(u, { cache: 'no-store', mode: 'no-cors' }).then(() => 'reached', () => 'unreachable'), trustUrl);
    expect(cut).to.equal('unreachable');
    await page.reload({ waitUntil: 'load' });
    await waitFor(() => page.evaluate(() => Boolean((globalThis as { liquidmesh?: unknown }).liquidmesh)), 'the PWA to start offline', 60_000);
    const offline = await page.evaluate(() => ({
      controlled: navigator.serviceWorker.controller !== null,
      app: document.querySelector('lm-app') !== null,
      secure: isSecureContext,
    }));
    expect(offline).to.deep.equal({ controlled: true, app: true, secure: true });
    await phone.run('ip', ['link', 'set', 'dev', phone.iface, 'up']);
  });

  it('a kiosk started with the command of docs/RASPBERRY_PI.md trusts the CA, joins, shows its dashboard, and keeps its device id across a restart', async () => {
    const kiosk = lan.host('kiosk');
    const dataDir = await lan.tempDir('kiosk-data');
    const documented = await kioskCommand();
    const args = documented.args.map((a) => a.replaceAll('192.168.1.10', hostA.address).replace('/home/pi/.local/share/liquidmesh', dataDir));
    expect(args).to.include.members(['--kiosk', '--trust', `http://${hostA.address}:8081/`, '--pwa', `https://${hostA.address}:8080/`]);
    expect(documented.env.LIQUIDMESH_SECRET).to.equal(SECRET);
    expect(documented.env).to.have.property('LIQUIDMESH_INVITATION');
    // The token the user pastes: the device invitation of the link the host printed.
    const env = { env: { ...process.env, ...documented.env, LIQUIDMESH_INVITATION: new URL(joinUrl).searchParams.get('invite')! } };
    const run = async (): Promise<string> => {
      const mark = start.output.length;
      const peer = kiosk.spawn(process.execPath, args, env);
      const shown = await peer.waitForOutput(/^page: kiosk view "kiosk-1" \(device ([0-9a-f]{32})\), [1-9]\d* peer\(s\) alive$/m, 'the kiosk dashboard with the host alive', 90_000);
      expect(peer.output).to.contain(`trusting the CA with SHA-256 fingerprint ${fingerprint}`);
      await start.waitForOutput(aliveInBanner('kiosk-1'), 'the kiosk in the host\'s mesh', 60_000, mark);
      await peer.stop();
      // The host's latest list, not a line after a mark: presence may already have flickered
      // (a previous session's goodbye arriving late), and the last word is what counts.
      await waitFor(() => / kiosk-1 \(gone\)(,|$)/.test(lastDevicesLine(start.output)), 'the host to see the kiosk leave', 30_000);
      return shown[1]!;
    };
    const first = await run();
    const second = await run();
    expect(second).to.equal(first);
  });
});

/**
 * The kiosk command as docs/RASPBERRY_PI.md shows it: its environment assignments and
 * its arguments after `node`, with the line continuations joined and the trailing `&` dropped.
 */
async function kioskCommand(): Promise<{ env: Record<string, string>; args: string[] }> {
  const doc = await readFile(fileURLToPath(new URL('../../docs/RASPBERRY_PI.md', import.meta.url)), 'utf8');
  const block = /# Raspberry Pi OS \(labwc\): ~\/\.config\/labwc\/autostart\n([\s\S]*?)\n```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/RASPBERRY_PI.md has no kiosk autostart block');
  const words = block.replace(/\\\n/g, ' ').replace(/&\s*$/, '').trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_]+=/.test(words[0]!)) {
    const [name, ...value] = words.shift()!.split('=');
    env[name!] = value.join('=');
  }
  if (words.shift() !== 'node') throw new Error(`the kiosk command does not start with node: ${block}`);
  const cli = words.shift()!;
  if (!cli.endsWith('node-host/bin/liquidmesh.mjs')) throw new Error(`the kiosk command does not run liquidmesh: ${block}`);
  return { env, args: [CLI, ...words] };
}

/** Peers the page's peer sees alive. */
function alive(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as unknown as { liquidmesh: { peer: { alive(): string[] } } }).liquidmesh.peer.alive().length);
}

describe('a signaling server on its own host', () => {
  it('`liquidmesh signal --host <address>` serves WSS and its trust page; Node peers on two other hosts trust it and meet', async () => {
    const lan = await TestLan.create(['signal', 'left', 'right']);
    try {
      const host = lan.host('signal');
      const signal = host.liquidmesh(['signal', '--host', host.address, '--data-dir', await lan.tempDir('signal-data')]);
      const banner = await signal.waitForOutput(/^signaling on (\S+) \(y-webrtc: (\S+),[^\n]*\ntrust page \(the CA, SHA-256 (\S+)\): (\S+);/m, 'the signaling banner', 60_000);
      const [, url, wss, caFingerprint, trust] = banner;
      expect(url).to.equal(`https://${host.address}:4444`);
      expect(wss).to.equal(`wss://${host.address}:4444/signal`);
      expect(trust).to.equal(`http://${host.address}:8081/`);
      const peers = ['left', 'right'].map((side) => lan.host(side).liquidmesh(['peer', '--name', side, '--signal', url!, '--secret', 'apart', '--trust', trust!]));
      for (const peer of peers) await peer.waitForOutput(new RegExp(`trusting the CA with SHA-256 fingerprint ${caFingerprint}`), 'the CA from the trust page', 30_000);
      await peers[0]!.waitForOutput(/^\+ \S+ joined$/m, 'right to join left', 60_000);
      await peers[1]!.waitForOutput(/^\+ \S+ joined$/m, 'left to join right', 60_000);
    } finally {
      await lan.close();
    }
  });
});

// `liquidmesh start` runs a mesh with roles (ADR 0025): a peer that joins with the printed
// link redeems its `device` invitation and may not deploy (a named error), while the
// gateway, acting for node-1, the owner, deploys; `liquidmesh keys revoke` cuts the peer
// off — disconnected within the liveness timeout. A restart keeps the owner key, the
// grants and the revocation. The owner's single-use link, opened in Chromium, makes that
// page an owner; opened again in another browser profile it is refused with
// ERR_INVITATION_USED.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../node-host/headless/chromium.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from './harness.ts';
import { CLI, HostProcess } from './hosts.ts';

requireLoopbackNamespace();

/** The default liveness timeout of a peer (shared/mesh/peer.ts DEFAULT_TIMING). */
const LIVENESS_TIMEOUT_MS = 5000;

function liquidmesh(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function startMesh(data: string): HostProcess {
  return new HostProcess(spawn(process.execPath, [CLI, 'start', '--no-chromium', '--signal-port', '0', '--web-port', '0', '--gateway-port', '0', '--secret', 'roles-e2e', '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The membership line of the app's mesh view ('' until it shows one). */
async function membershipLine(page: Page): Promise<string> {
  const found = await page.$('lm-app >>> lm-mesh-view >>> .membership');
  return found ? ((await found.evaluate((e) => e.textContent)) ?? '') : '';
}

/** Open `url` in a page of a fresh browser context (its own storage). */
async function openInFreshContext(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.createBrowserContext()).newPage();
  page.on('pageerror', (e) => console.log('owner link page error:', (e as Error).message));
  await page.goto(url);
  return page;
}

describe('liquidmesh start has roles', () => {
  it('a device invited by the join link cannot deploy, the gateway can, and keys revoke cuts the device off', async () => {
    const data = await mkdtemp(join(tmpdir(), 'liquidmesh-roles-data-'));
    let start = startMesh(data);
    let device: NodePeerProcess | undefined;
    try {
      await start.waitForOutput(/Ctrl-C stops everything/, 'the mesh to come up', 150_000);
      const joinUrl = (await start.waitForOutput(/PWA — open to join as a device: +(\S+)/, 'the join URL'))[1]!;
      expect(new URL(joinUrl).searchParams.get('invite'), 'the join link carries an invitation').to.be.a('string').and.not.equal('');
      const ownerKey = (await start.waitForOutput(/owner key: +([0-9a-f]{64})/, 'the owner key'))[1]!;
      expect((await stat(join(data, 'keys', 'owner.key'))).mode & 0o777).to.equal(0o600);
      const gateway = (await start.waitForOutput(/HTTP gateway \(WasmIoT API\): +(http:\/\/127\.0\.0\.1:\d+)/, 'the gateway'))[1]!;
      const env = { LIQUIDMESH_GATEWAY: gateway };

      // The owner's link, printed for the person at the terminal, is single use.
      const ownerLink = (await start.waitForOutput(/owner's page — this machine, once: +(\S+)/, 'the owner link'))[1]!;
      const profile = await mkdtemp(join(tmpdir(), 'liquidmesh-owner-link-'));
      const browser = await puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false, args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`] });
      try {
        const first = await openInFreshContext(browser, ownerLink);
        // A page starting its peer beside a loaded mesh: generous waits.
        await waitFor(async () => (await membershipLine(first)).includes('member of the mesh as owner'), 'the owner link to make the page an owner', 60_000);
        const ownersSeen = async (): Promise<number> => ((await (await fetch(`${gateway}/trust/members`)).json()) as { members: { role?: string }[] }).members.filter((m) => m.role === 'owner').length;
        await waitFor(async () => (await ownersSeen()) === 2, 'node-1 to count the page as a second owner', 60_000);
        const second = await openInFreshContext(browser, ownerLink);
        await waitFor(async () => (await membershipLine(second)).includes('ERR_INVITATION_USED'), 'the second opening to be refused with ERR_INVITATION_USED', 60_000);
        expect(await membershipLine(second)).to.match(/^This device is not a member of the mesh: .*\(ERR_INVITATION_USED\)$/);
      } finally {
        await browser.close();
        await rm(profile, { recursive: true, force: true });
      }

      // A CLI peer joins with the printed link: it redeems the device invitation.
      const joining = new NodePeerProcess('cli-device', ['--pwa', joinUrl]);
      device = joining;
      // A Node process starting beside the mesh on a loaded 2-core machine: a generous wait.
      await waitFor(() => joining.id !== '', 'the device peer to start', 120_000);
      await start.waitForOutput(/^devices: .*cli-device(,|$)/m, 'the device in the owner\'s registry', 60_000);
      const members = JSON.parse((await liquidmesh(['keys', 'list', '--data-dir', data, '--json'])).stdout) as { name: string; publicKey: string }[];
      expect(members.find((k) => k.name === 'owner')?.publicKey).to.equal(ownerKey);

      // A device may not deploy: the write is refused with a named error.
      const refused = await device.command('deploy', { manifest: { name: 'device-fibo', sequence: [{ module: 'fibo', func: 'fibo' }] } }).then(() => 'deployed', (e: Error) => e.message);
      expect(refused).to.contain('ERR_WRITE_FORBIDDEN');

      // The gateway acts for node-1, the owner: it deploys, and the device hosts a step.
      const deployed = await liquidmesh(['deploy', '--step', 'fibo:fibo@cli-device', '--name', 'roles-fibo', '--json'], env);
      expect(deployed.code, deployed.stderr).to.equal(0);
      expect(JSON.parse(deployed.stdout).status).to.equal('ready');
      const called = await liquidmesh(['call', 'roles-fibo', '12'], env);
      expect(called.stdout).to.match(/^233\n {2}fibo\.fibo on cli-device: 233/);

      // Revoked through the CLI: every peer drops it at once, well within the liveness timeout.
      const revoke = await liquidmesh(['keys', 'revoke', 'cli-device', '--data-dir', data, '--json'], env);
      expect(revoke.code, revoke.stderr + revoke.stdout).to.equal(0);
      const revoked = JSON.parse(revoke.stdout) as { name: string; key: string; revoked: boolean };
      expect(revoked).to.include({ name: 'cli-device', revoked: true });
      const revokedAt = Date.now();
      // The owner's banner reports it gone (or no longer lists it: its record has no author now).
      const lastDevices = (): string => start.output.split('\n').filter((l) => l.startsWith('devices: ')).pop() ?? '';
      await waitFor(() => !/cli-device(,|$)/.test(lastDevices()), 'the owner to see the revoked device gone', LIVENESS_TIMEOUT_MS);
      expect(Date.now() - revokedAt).to.be.below(LIVENESS_TIMEOUT_MS);
      // And it stays cut off: the gateway's view of the mesh keeps it gone.
      const seen = (await (await fetch(`${gateway}/file/device`)).json()) as { name: string; alive?: boolean; state?: string }[];
      expect(JSON.stringify(seen.find((d) => d.name === 'cli-device') ?? {})).to.not.match(/"alive":true/);

      const unknown = await liquidmesh(['keys', 'revoke', 'no-such-device', '--data-dir', data, '--json'], env);
      expect(unknown.code).to.equal(1);
      expect(JSON.parse(unknown.stdout).error.code).to.equal('ERR_UNKNOWN_MEMBER');

      // A restart keeps the owner key, the grants and the revocation: nothing is invited again.
      await device.stop();
      await start.stop();
      start = startMesh(data);
      await start.waitForOutput(/Ctrl-C stops everything/, 'the mesh to come up again', 150_000);
      expect((await start.waitForOutput(/owner key: +([0-9a-f]{64})/, 'the owner key'))[1]).to.equal(ownerKey);
      const gatewayAgain = (await start.waitForOutput(/HTTP gateway \(WasmIoT API\): +(http:\/\/127\.0\.0\.1:\d+)/, 'the gateway'))[1]!;
      const kept = (await (await fetch(`${gatewayAgain}/trust/members`)).json()) as { owners: string[]; members: { key: string; name: string; role?: string; revoked: boolean }[] };
      expect(kept.owners).to.deep.equal([ownerKey]);
      expect(kept.members.find((x) => x.key === revoked.key)).to.include({ revoked: true });
      expect(kept.members.find((x) => x.name === 'node-1')).to.include({ role: 'owner', revoked: false });
    } finally {
      await device?.stop();
      await start.stop();
      await rm(data, { recursive: true, force: true });
    }
  }, 400_000);
});

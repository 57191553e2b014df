// `liquidmesh start` runs a mesh with roles (ADR 0025): a peer that joins with the printed
// link redeems its `device` invitation and may not deploy (a named error), while the
// gateway, acting for node-1, the owner, deploys; `liquidmesh keys revoke` cuts the peer
// off — disconnected within the liveness timeout. A restart keeps the owner key, the
// grants and the revocation.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
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

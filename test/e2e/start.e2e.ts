// `npm start`, the main job a new user runs first — signaling, the PWA, two headless
// peers and the HTTP gateway come up with the samples published and deployed — and then
// the `liquidmesh` CLI driving that mesh the way a user would: list, publish, deploy,
// call, migrate, history, and clear errors with non-zero exit codes.
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';

requireLoopbackNamespace();

const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));
const MODULES = fileURLToPath(new URL('../../modules/', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run one `liquidmesh` command to completion. */
function liquidmesh(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run a command that must succeed and answer JSON. */
async function json<T>(args: string[], env: Record<string, string>): Promise<T> {
  const r = await liquidmesh([...args, '--json'], env);
  expect(r.code, `liquidmesh ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
  return JSON.parse(r.stdout) as T;
}

describe('liquidmesh start and the CLI', () => {
  it('brings up the mesh with the samples deployed, is driven by the CLI, and stops on Ctrl-C', async () => {
    // Its own temporary directory, to see that it leaves nothing there, and its own data directory.
    const temp = await mkdtemp(join(tmpdir(), 'liquidmesh-start-tmp-'));
    const data = await mkdtemp(join(tmpdir(), 'liquidmesh-start-data-'));
    const child: ChildProcess = spawn(process.execPath, [CLI, 'start', '--signal-port', '0', '--web-port', '0', '--gateway-port', '0', '--secret', 'e2e', '--data-dir', data], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: temp },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const scratch = await mkdtemp(join(tmpdir(), 'liquidmesh-cli-'));
    try {
      await waitFor(() => out.includes('Ctrl-C stops everything'), 'the mesh to come up', 150_000);
      expect(out).to.match(/fibo\(12\) = 233 on (node-1|chromium-1)/);
      expect(out).to.match(/camera wrote image\.jpeg \(\d+ bytes of image\/jpeg\)/);
      expect(out).to.match(/grayscale made gray\.png/);
      expect(out).to.match(/PWA — open to join as a device: +http:\/\/127\.0\.0\.1:\d+\/\?signal=/);
      expect(out).to.contain('▀'); // the QR code of the join URL
      const gateway = /HTTP gateway \(WasmIoT API\): +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      expect(gateway, out).to.be.a('string');
      const env = { LIQUIDMESH_GATEWAY: gateway! };
      await waitFor(() => out.includes('devices: node-1, chromium-1') || out.includes('devices: chromium-1, node-1'), 'both peers in the registry', 60_000);

      // Look around.
      const devices = await json<{ name: string; engine: string; alive: boolean }[]>(['ls', 'devices'], env);
      expect(devices.map((d) => d.name).sort()).to.deep.equal(['chromium-1', 'node-1']);
      const deviceTable = (await liquidmesh(['ls', 'devices'], env)).stdout;
      expect(deviceTable).to.match(/^NAME +ENGINE +STATE +CPU +MEMORY +MODULES +ID/);
      expect(deviceTable).to.match(/fibo/); // the module placed on one of the devices, by name
      const table = await liquidmesh(['ls', 'deployments'], env);
      expect(table.stdout).to.match(/^ID +NAME +STATUS/);
      expect(table.stdout).to.match(/camera-gray .* ready/);

      // Publish, deploy, call.
      const published = await liquidmesh(['publish', join(MODULES, 'math')], env);
      expect(published.code, published.stderr).to.equal(0);
      expect(published.stdout).to.match(/published math@\d+\.\d+\.\d+ \(id /);
      const deployed = await json<{ status: string; steps: { module: string }[] }>(['deploy', '--step', 'fibo:fibo', '--name', 'cli-fibo'], env);
      expect(deployed.status).to.equal('ready');
      const called = await liquidmesh(['call', 'cli-fibo', '12'], env);
      expect(called.code, called.stderr).to.equal(0);
      expect(called.stdout.split('\n')[0]).to.equal('233');
      expect(called.stdout).to.match(/^ {2}fibo\.fibo on (node-1|chromium-1): 233 in [\d.]+ ms$/m);
      const chain = await liquidmesh(['call', 'camera-gray', '--out', scratch], env);
      expect(chain.code, chain.stderr).to.equal(0);
      const png = await readFile(join(scratch, 'gray.png'));
      expect([...png.subarray(0, 4)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47]);
      const counted: string[] = [];
      for (let i = 0; i < 3; i++) counted.push((await liquidmesh(['call', 'counter', 'stateful-fibo.stateful_fibo'], env)).stdout.split('\n')[0]!);
      expect(counted).to.deep.equal(['1', '2', '3']);
      // Move the counter, with its state, to the other device; it continues 5, 8 there.
      const counter = (await json<{ _id: string; steps: { deviceName: string }[] }[]>(['ls', 'deployments'], env)).find((d) => d._id === 'counter')!;
      const from = counter.steps[0]!.deviceName;
      const to = from === 'node-1' ? 'chromium-1' : 'node-1';
      const moved = await liquidmesh(['migrate', 'counter', 'stateful-fibo', to], env);
      expect(moved.code, moved.stderr).to.equal(0);
      expect(moved.stdout).to.match(new RegExp(`^moved stateful-fibo of counter from ${from} to ${to} in \\d+ ms`));
      const after = (await json<{ _id: string; steps: { deviceName: string }[] }[]>(['ls', 'deployments'], env)).find((d) => d._id === 'counter')!;
      expect(after.steps[0]!.deviceName).to.equal(to);
      for (let i = 0; i < 2; i++) counted.push((await liquidmesh(['call', 'counter', 'stateful-fibo.stateful_fibo'], env)).stdout.split('\n')[0]!);
      expect(counted).to.deep.equal(['1', '2', '3', '5', '8']);
      const history = await json<{ module_name: string; success: boolean }[]>(['history', '--device', 'all', '--limit', '100'], env);
      expect(history.some((h) => h.module_name === 'stateful-fibo' && h.success)).to.equal(true);

      // Mistakes get a named error and a non-zero exit code.
      const unknown = await liquidmesh(['call', 'no-such-deployment', '1'], env);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.match(/^liquidmesh call: .*no-such-deployment.* \(ERR_UNKNOWN_DEPLOYMENT\)/);
      const usage = await liquidmesh(['deploy', '--step', 'fibo'], env);
      expect(usage.code).to.equal(2);
      expect(usage.stderr).to.contain('module:function[@device]');
      const missing = await liquidmesh(['publish', join(scratch, 'nothing-here')], env);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.contain('ERR_MODULE_FILES');
      const away = await liquidmesh(['ls', 'devices', '--json'], { LIQUIDMESH_GATEWAY: 'http://127.0.0.1:9' });
      expect(away.code).to.equal(1);
      expect(JSON.parse(away.stdout).error.code).to.equal('ERR_GATEWAY_UNREACHABLE');
    } finally {
      child.kill('SIGINT');
      await rm(scratch, { recursive: true, force: true });
    }
    try {
      expect(await exited).to.equal(0);
      expect(out).to.contain('stopped');
      expect(await readdir(temp), 'files left in the temporary directory').to.deep.equal([]);
      // The data directory's layout, private to the user.
      for (const path of ['', 'peers/node-1', 'chromium/chromium-1']) expect((await stat(join(data, path))).mode & 0o777).to.equal(0o700);
      expect((await stat(join(data, 'mesh.json'))).mode & 0o777).to.equal(0o600);
    } finally {
      await rm(temp, { recursive: true, force: true });
      await rm(data, { recursive: true, force: true });
    }
  }, 300_000);
});

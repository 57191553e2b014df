// `npm start`, the main job a new user runs first: signaling, the PWA and two headless
// peers hosting the sample modules come up, find each other, and stop cleanly.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';

requireLoopbackNamespace();

describe('liquidmesh start', () => {
  it('brings up the mesh with a Node and a Chromium peer running the sample modules, and stops on Ctrl-C', async () => {
    const cli = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));
    const child = spawn(process.execPath, [cli, 'start', '--signal-port', '0', '--web-port', '0', '--secret', 'e2e'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('devices: node-1, chromium-1') || out.includes('devices: chromium-1, node-1'), 'both peers in the registry', 120_000);
      expect(out).to.contain('fibo(12) = 233');
      expect(out).to.match(/camera wrote image\.jpeg \(\d+ bytes of image\/jpeg\)/);
      expect(out).to.match(/PWA — open to join as a device: +http:\/\/127\.0\.0\.1:\d+\/\?signal=/);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).to.equal(0);
    expect(out).to.contain('stopped');
  });
});

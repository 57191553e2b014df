import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, freshBundle } from '../../node-host/bin/cli-bundle.mjs';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import { HOST_VERSION } from '../../shared/mesh/peer.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';

/** Run the bundled command on bare Node (no loader). */
function run(entry: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(process.execPath, [fileURLToPath(entry), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('the command bundle', () => {
  let dir = '';
  beforeAll(() => {
    // Inside the project, as the bundle's own place is: its packages resolve from node_modules.
    const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(join(cache, 'lm-cli-bundle-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the command on bare Node, lazily loaded parts included, and is reused while it matches the sources', async () => {
    expect(freshBundle(dir)).toBeNull();
    expect((await buildBundle(dir)).built).toBe(true);
    const entry = freshBundle(dir)!;
    expect(entry).not.toBeNull();
    expect(run(entry, ['version'])).toMatchObject({ status: 0, stdout: `${HOST_VERSION}\n` });
    // The usage text comes from the signaling and key commands, each in a chunk of its own.
    const unknown = run(entry, ['nonsense']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command: nonsense');
    expect(unknown.stderr).toMatch(/signal .*--port/);
    expect(unknown.stderr).toContain('keys [list');
    const keys = run(entry, ['keys', 'list', '--data-dir', join(dir, 'data'), '--json']);
    expect(keys.status).toBe(0);
    expect(() => JSON.parse(keys.stdout) as unknown).not.toThrow();
    expect((await buildBundle(dir)).built).toBe(false);
  }, 120_000);

  it('is refused once a source it was built from changed or is gone, and rebuilt', async () => {
    await buildBundle(dir);
    const path = join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as { build: string; inputs: Record<string, [number, number]> };
    const [source, [size, mtimeMs]] = Object.entries(manifest.inputs).find(([p]) => p.endsWith('peer-command.ts'))!;
    writeFileSync(path, JSON.stringify({ ...manifest, inputs: { ...manifest.inputs, [source]: [size, mtimeMs - 1000] } }));
    expect(freshBundle(dir)).toBeNull();
    writeFileSync(path, JSON.stringify({ ...manifest, inputs: { ...manifest.inputs, 'node-host/gone.ts': [1, 1] } }));
    expect(freshBundle(dir)).toBeNull();
    const rebuilt = await buildBundle(dir);
    expect(rebuilt.built).toBe(true);
    expect(freshBundle(dir)).not.toBeNull();
    expect(run(freshBundle(dir)!, ['version']).stdout).toBe(`${HOST_VERSION}\n`);
  }, 120_000);

  it('runs modules in a peer without esbuild at run time: the sandbox worker entry is built with the bundle', async () => {
    requireLoopbackNamespace();
    await buildBundle(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { inputs: Record<string, unknown> };
    // The worker's own sources are inputs: a change to one refuses the bundle like any other.
    expect(Object.keys(manifest.inputs)).toEqual(expect.arrayContaining(['node-host/sandbox/node-worker.ts', 'shared/sandbox/runtime.ts']));
    const signal = await startSignalServer();
    const child = spawn(process.execPath, [fileURLToPath(freshBundle(dir)!), 'peer', '--name', 'solo', '--json', '--control', 'stdio', '--signal', signal.url, '--mesh', 'bundle', '--secret', 'bundle', '--data-dir', mkdtempSync(join(dir, 'peer-'))], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers = new Map<number, (line: { ok: boolean; result?: unknown; error?: unknown }) => void>();
    let up!: () => void;
    const ready = new Promise<void>((resolve) => (up = resolve));
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = JSON.parse(text) as { id?: number; event?: string; ok: boolean };
      if (line.event === 'ready') up();
      if (typeof line.id === 'number') answers.get(line.id)?.(line);
    });
    let next = 1;
    const command = <T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> => new Promise((resolve, reject) => {
      const id = next++;
      answers.set(id, (line) => (line.ok ? resolve(line.result as T) : reject(new Error(JSON.stringify(line.error)))));
      child.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
    try {
      await ready;
      await command('publish', { module: 'fibo' });
      const dep = await command<{ id: string }>('deploy', { manifest: { name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'solo' }] } });
      expect((await command<{ status: string }>('wait', { deployment: dep.id })).status).toBe('ready');
      expect(await command('call', { deployment: dep.id, module: 'fibo', func: 'fibo', args: [12] })).toBe(233);
      // The peer started no process of its own (esbuild's service would be one).
      const children = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === child.pid;
        } catch {
          return false; // gone meanwhile
        }
      });
      expect(children).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await signal.close();
    }
  }, 120_000);
});

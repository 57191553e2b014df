// The sandbox worker script cannot be planted by another local user: it is never read
// from a file, so code placed where earlier versions wrote it (a predictable path under
// the temporary directory) or anywhere else there is never run by a sandbox worker.
import { expect } from 'chai';
import { buildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';

/** Every path under `dir`, recursively, sorted. */
async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('Node sandbox worker script', () => {
  let scratch: string;
  let savedTmp: string | undefined;
  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lm-worker-script-'));
    savedTmp = process.env.TMPDIR;
    // The temporary directory a worker script could be planted in, for this test only.
    process.env.TMPDIR = scratch;
  });
  afterEach(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(scratch, { recursive: true, force: true });
  });

  it('never runs a script planted in the temporary directory, and writes none there', async () => {
    // The bundle as earlier versions built it, to find the name they gave its file.
    const code = buildSync({
      entryPoints: [fileURLToPath(new URL('../../node-host/sandbox/node-worker.ts', import.meta.url))],
      bundle: true, format: 'esm', platform: 'node', target: 'node20', write: false, logLevel: 'silent',
    }).outputFiles[0]!.contents;
    // Where the script used to be written, only when absent: $TMPDIR/liquidmesh/sandbox-worker-<hash>.mjs.
    const oldPath = join(tmpdir(), 'liquidmesh', `sandbox-worker-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
    const marker = join(scratch, 'planted-code-ran');
    const planted = `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n`;
    await mkdir(join(tmpdir(), 'liquidmesh'), { recursive: true });
    await writeFile(oldPath, planted);
    // Any other name a worker script might be looked for under, with the same content.
    await writeFile(join(tmpdir(), 'liquidmesh', 'sandbox-worker.mjs'), planted);
    const before = await listing(scratch);

    const sandbox = createNodeSandbox();
    try {
      const fibo = await sandbox.load({ wasm: new Uint8Array(await readFile(new URL('../../modules/fibo/fibo.wasm', import.meta.url))), grants: ['wasi_snapshot_preview1.*'] });
      const again = await sandbox.load({ wasm: new Uint8Array(await readFile(new URL('../../modules/fibo/fibo.wasm', import.meta.url))), grants: ['wasi_snapshot_preview1.*'] });
      expect((await fibo.call({ fn: 'fibo', convention: { kind: 'scalar', args: [12n] } })).value).to.equal(233n);
      expect((await again.call({ fn: 'fibo', convention: { kind: 'scalar', args: [20n] } })).value).to.equal(10946n);
    } finally {
      await sandbox.close();
    }
    expect(existsSync(marker), 'the planted script ran').to.equal(false);
    expect(await listing(scratch)).to.deep.equal(before);
    expect(await readFile(oldPath, 'utf8')).to.equal(planted);
  });
});

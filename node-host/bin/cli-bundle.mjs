// The `liquidmesh` command compiled ahead of time: its TypeScript sources bundled by
// esbuild into plain ES modules, one chunk per lazily imported part (ADR 0037).
//
// A process that runs the sources through tsx's loader holds the loader's own thread and
// heap, esbuild's service and every compiled source, ~60 MB of a resting peer's 166 MB. The
// bundle runs on bare Node instead; it is used only while it matches the sources exactly
// (every input's size and modification time as recorded at build time), so an edited
// source never runs stale: the command falls back to tsx until the bundle is rebuilt.
//
// Built by `npm run setup`, by `node node-host/bin/cli-bundle.mjs`, and by the benchmarks
// that measure a peer process. It lives in node_modules/.cache/, inside the project, never
// in a directory other users can write (ADR 0019).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the bundle and its manifest live by default. */
export const BUNDLE_DIR = fileURLToPath(new URL('../../node_modules/.cache/liquidmesh-cli/', import.meta.url));
const ENTRY = 'node-host/cli.ts';
const WORKER_ENTRY = 'node-host/sandbox/node-worker.ts';
const WORKER_FILE = 'sandbox-worker.mjs';
// Bundled rather than imported at run time: PeerJS reads the WebRTC globals when it loads,
// and an external import would be hoisted above the module that installs them.
const BUNDLED_PACKAGES = new Set(['peerjs']);

/**
 * The bundle's entry as a file URL when the bundle in `dir` matches the sources, else null.
 * @param {string} [dir]
 * @returns {string | null}
 */
export function freshBundle(dir = BUNDLE_DIR) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
  if (typeof manifest.build !== 'string' || typeof manifest.inputs !== 'object') return null;
  for (const [path, [size, mtimeMs]] of Object.entries(manifest.inputs)) {
    try {
      const now = statSync(join(ROOT, path));
      if (now.size !== size || now.mtimeMs !== mtimeMs) return null;
    } catch {
      return null;
    }
  }
  return pathToFileURL(join(dir, manifest.build, 'cli.mjs')).href;
}

/**
 * Bundle the command's sources into a new build in `dir`, unless the one there matches
 * them. Each build has its own folder and the manifest names the current one, so a
 * process still loading chunks of the build before keeps them; older builds are removed.
 * @param {string} [dir]
 * @returns {Promise<{ entry: string, inputs: number, built: boolean }>}
 */
export async function buildBundle(dir = BUNDLE_DIR) {
  const fresh = freshBundle(dir);
  if (fresh) return { entry: fileURLToPath(fresh), inputs: 0, built: false };
  const { build } = await import('esbuild');
  const { mkdir, readdir, readFile, rename, rm, writeFile } = await import('node:fs/promises');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies })
    .filter((name) => !BUNDLED_PACKAGES.has(name))
    .flatMap((name) => [name, `${name}/*`]);
  const name = `build-${Date.now().toString(36)}-${process.pid}`;
  await mkdir(dir, { recursive: true });
  let previous = null;
  try {
    previous = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).build ?? null;
  } catch {
    // No build before this one.
  }
  // The sandbox's worker entry, built beside the command (node-host/sandbox/node-sandbox.ts
  // builds it the same way when a process runs the sources): a peer then needs no esbuild at
  // run time, whose synchronous build keeps a worker thread and a service process alive.
  const worker = join(dir, name, WORKER_FILE);
  const workerResult = await build({
    absWorkingDir: ROOT,
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: worker,
    metafile: true,
    logLevel: 'warning',
  });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: ENTRY },
    define: { LIQUIDMESH_SANDBOX_WORKER: JSON.stringify(pathToFileURL(worker).href) },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: join(dir, name),
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    external,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [{
      name: 'source-import-meta-url',
      setup(b) {
        // Each module keeps its source file's URL: paths it resolves next to itself (the
        // sandbox worker's entry, the sample modules, the PWA) stay where the sources are.
        b.onLoad({ filter: /\.ts$/ }, async (args) => ({
          contents: (await readFile(args.path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
          loader: 'ts',
        }));
      },
    }],
  });
  const inputs = {};
  for (const path of new Set([...Object.keys(result.metafile.inputs), ...Object.keys(workerResult.metafile.inputs), 'package.json'])) {
    const s = statSync(join(ROOT, path));
    inputs[path] = [s.size, s.mtimeMs];
  }
  const tmp = join(dir, `manifest.json.${process.pid}`);
  await writeFile(tmp, JSON.stringify({ build: name, inputs }));
  await rename(tmp, join(dir, 'manifest.json'));
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('build-') && entry !== name && entry !== previous) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return { entry: join(dir, name, 'cli.mjs'), inputs: Object.keys(inputs).length, built: true };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const done = await buildBundle();
  console.log(done.built ? `cli-bundle: ${done.inputs} sources bundled into ${done.entry}` : `cli-bundle: ${done.entry} matches the sources`);
}

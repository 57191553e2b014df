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
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the bundle and its manifest live. */
export const BUNDLE_DIR = fileURLToPath(new URL('../../node_modules/.cache/liquidmesh-cli/', import.meta.url));
const MANIFEST = `${BUNDLE_DIR}manifest.json`;
const ENTRY = 'node-host/cli.ts';
// Bundled rather than imported at run time: PeerJS reads the WebRTC globals when it loads,
// and an external import would be hoisted above the module that installs them.
const BUNDLED_PACKAGES = new Set(['peerjs']);

/**
 * The bundle's entry as a file URL when the bundle matches the sources, else null.
 * @returns {string | null}
 */
export function freshBundle() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return null;
  }
  for (const [path, [size, mtimeMs]] of Object.entries(manifest.inputs ?? {})) {
    try {
      const now = statSync(`${ROOT}${path}`);
      if (now.size !== size || now.mtimeMs !== mtimeMs) return null;
    } catch {
      return null;
    }
  }
  return pathToFileURL(`${BUNDLE_DIR}${manifest.entry}`).href;
}

/**
 * Bundle the command's sources into {@link BUNDLE_DIR}, replacing what was there.
 * @returns {Promise<{ entry: string, inputs: number, bytes: number }>}
 */
export async function buildBundle() {
  const { build } = await import('esbuild');
  const { readFile, rm, writeFile, rename } = await import('node:fs/promises');
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
  const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
    .filter((name) => !BUNDLED_PACKAGES.has(name))
    .flatMap((name) => [name, `${name}/*`]);
  await rm(BUNDLE_DIR, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: ENTRY },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: BUNDLE_DIR,
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
  for (const path of Object.keys(result.metafile.inputs)) {
    const s = statSync(`${ROOT}${path}`);
    inputs[path] = [s.size, s.mtimeMs];
  }
  inputs['package.json'] = [statSync(`${ROOT}package.json`).size, statSync(`${ROOT}package.json`).mtimeMs];
  const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  const tmp = `${MANIFEST}.${process.pid}`;
  await writeFile(tmp, JSON.stringify({ entry: 'cli.mjs', inputs }));
  await rename(tmp, MANIFEST);
  return { entry: `${BUNDLE_DIR}cli.mjs`, inputs: Object.keys(inputs).length, bytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildBundle();
  console.log(`cli-bundle: ${built.inputs} sources → ${built.entry} (${(built.bytes / 1024).toFixed(0)} KiB)`);
}

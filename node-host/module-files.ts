/**
 * A module on disk: a directory holding `<name>.wasm` (or a single .wasm), its
 * `description.json` and the data files the description names — the layout of
 * `modules/<name>/` — or a lone .wasm file with a description elsewhere. Used by
 * `liquidmesh publish`, by `liquidmesh start` for the samples and by the peer's `publish`
 * control command.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { defineError } from '../shared/errors.ts';
import type { ModuleDescription } from '../shared/registry/description.ts';

/** A module file that is missing or unreadable. */
export const ModuleFileError = defineError('ERR_MODULE_FILES', 'ModuleFileError');

/** What a module directory amounts to. */
export interface ModuleFiles {
  /** The module's name: `--name`, else the description's, else the binary's file name. */
  name: string;
  wasm: Uint8Array;
  wasmFile: string;
  /** Parsed but not validated: the package manager checks it against the binary. */
  description?: ModuleDescription;
  /** Deployment-stage mount → the file's bytes and name. */
  data: Record<string, { bytes: Uint8Array; file: string }>;
}

/** Options of {@link readModuleFiles}. */
export interface ModuleFileOptions {
  name?: string;
  /** A description file other than `<dir>/description.json`. */
  description?: string;
  /** Extra data files: [mount, path]. */
  data?: [string, string][];
}

async function read(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new ModuleFileError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path });
  }
}

/** Read a module directory or a .wasm file; throws ERR_MODULE_FILES naming what is missing. */
export async function readModuleFiles(target: string, options: ModuleFileOptions = {}): Promise<ModuleFiles> {
  const info = await stat(target).catch(() => null);
  if (!info) throw new ModuleFileError(`no such file or directory: ${target}`, { path: target });
  let wasmPath = target;
  const dir = info.isDirectory() ? target : dirname(target);
  if (info.isDirectory()) {
    const wasms = (await readdir(target)).filter((f) => extname(f) === '.wasm');
    const chosen = wasms.find((f) => f === `${basename(target)}.wasm`) ?? (wasms.length === 1 ? wasms[0] : undefined);
    if (!chosen) throw new ModuleFileError(wasms.length === 0 ? `${target} holds no .wasm file` : `${target} holds several .wasm files (${wasms.join(', ')}): name one`, { path: target });
    wasmPath = join(target, chosen);
  }
  const descriptionPath = options.description ?? (info.isDirectory() ? join(dir, 'description.json') : undefined);
  let description: ModuleDescription | undefined;
  if (descriptionPath) {
    const text = await readFile(descriptionPath, 'utf8').catch(() => undefined);
    if (text === undefined && options.description) throw new ModuleFileError(`cannot read description ${descriptionPath}`, { path: descriptionPath });
    if (text !== undefined) {
      try {
        description = JSON.parse(text) as ModuleDescription;
      } catch (e) {
        throw new ModuleFileError(`${descriptionPath} is not JSON: ${(e as Error).message}`, { path: descriptionPath });
      }
    }
  }
  const data: ModuleFiles['data'] = {};
  for (const [mount, file] of Object.entries(description?.dataFiles ?? {})) data[mount] = { bytes: await read(join(dir, file), `data file for mount ${mount}:`), file };
  for (const [mount, path] of options.data ?? []) data[mount] = { bytes: await read(path, `data file for mount ${mount}:`), file: basename(path) };
  const name = options.name ?? description?.name ?? basename(wasmPath, '.wasm');
  return { name, wasm: await read(wasmPath, 'module binary'), wasmFile: basename(wasmPath), ...(description ? { description } : {}), data };
}

/** The sample modules shipped in modules/. */
export function sampleModuleDir(name: string): string {
  return new URL(`../modules/${name}/`, import.meta.url).pathname;
}

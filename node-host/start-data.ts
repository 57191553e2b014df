/**
 * What `liquidmesh start` keeps between runs, in its data directory (node-host/data-dir.ts
 * has the layout): the Node peer under `peers/node-1/`, the Chromium peer's profile under
 * `chromium/chromium-1/`, and the mesh's name and secret in `mesh.json` (0600), so a
 * restart rejoins the same mesh — a new random secret would make it another mesh, and
 * the peers' registries and identities would belong to one nobody can reach.
 *
 *   --data-dir DIR   keep everything in DIR (default: {@link defaultDataDir})
 *   --ephemeral      keep nothing: the peers live in memory and a temporary profile
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { defineError } from '../shared/errors.ts';
import { defaultDataDir, ensurePrivateDir, UnsafeDataDirError, writePrivateFile } from './data-dir.ts';

/** `mesh.json` in a data directory cannot be read as the mesh's settings. */
export const MeshSettingsError = defineError('ERR_MESH_SETTINGS', 'MeshSettingsError');

/** The mesh a `start` joins. */
export interface MeshSettings {
  mesh: string;
  secret: string;
}

/** The data directory `start` was asked for: `--data-dir`, else the default; null with `--ephemeral`. */
export function startDataDir(args: string[], env: NodeJS.ProcessEnv = process.env): string | null {
  const i = args.indexOf('--data-dir');
  const given = i >= 0 ? args[i + 1] : undefined;
  if (args.includes('--ephemeral')) {
    if (given !== undefined) throw new MeshSettingsError('--ephemeral keeps nothing: it cannot be combined with --data-dir');
    return null;
  }
  if (i >= 0 && (given === undefined || given.startsWith('--'))) throw new MeshSettingsError('--data-dir needs a directory');
  return given !== undefined ? resolve(given) : defaultDataDir(env);
}

/**
 * The mesh's name and secret: those given (on the command line or in the environment),
 * else those stored in `<dataDir>/mesh.json`, else a new random secret. What is used is
 * stored (0600) unless `dataDir` is null.
 */
export async function meshSettings(dataDir: string | null, given: Partial<MeshSettings>): Promise<MeshSettings> {
  const stored = dataDir === null ? undefined : await readMeshSettings(join(dataDir, 'mesh.json'));
  const settings: MeshSettings = {
    mesh: given.mesh ?? stored?.mesh ?? 'liquidmesh',
    secret: given.secret ?? stored?.secret ?? randomBytes(6).toString('hex'),
  };
  if (dataDir !== null && (settings.mesh !== stored?.mesh || settings.secret !== stored?.secret)) {
    await ensurePrivateDir(dataDir);
    await writePrivateFile(join(dataDir, 'mesh.json'), `${JSON.stringify(settings, null, 2)}\n`);
  }
  return settings;
}

/** The private directory of one of the data directory's peers (`peers/<name>` or `chromium/<name>`), created 0700. */
export function peerDataDir(dataDir: string, kind: 'peers' | 'chromium', name: string): Promise<string> {
  return ensurePrivateDir(join(dataDir, kind, name));
}

async function readMeshSettings(file: string): Promise<MeshSettings | undefined> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // It holds the secret: only a private file of ours is believed.
  const uid = process.getuid?.();
  if (!info.isFile() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0) {
    throw new UnsafeDataDirError(`${file} must be a regular file of this user that no one else can read (mode 0600)`, { path: file });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new MeshSettingsError(`${file} is not JSON: ${(error as Error).message}; fix or delete it (a new secret makes a new mesh)`, { path: file });
  }
  const { mesh, secret } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof mesh !== 'string' || mesh === '' || typeof secret !== 'string' || secret === '') {
    throw new MeshSettingsError(`${file} must hold {"mesh": "...", "secret": "..."}`, { path: file });
  }
  return { mesh, secret };
}

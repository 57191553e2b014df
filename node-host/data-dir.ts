/**
 * Where a Node host keeps what must survive a restart, and how private files are made.
 *
 * Layout of a data directory (default {@link defaultDataDir}):
 *
 *   <dir>/peers/<name>/     a Node peer's identity, registry, blobs and history
 *   <dir>/chromium/<name>/  a headless Chromium peer's profile (its IndexedDB identity)
 *   <dir>/tls/              the local certificate authority and server certificates
 *   <dir>/gateway-token     the HTTP gateway's bearer token
 *
 * Every directory is created 0700 and every secret file 0600, owned by the user running
 * the host; a directory that others can write is refused rather than trusted.
 */
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defineError } from '../shared/errors.ts';

/** A data directory (or a file in it) is not private to this user. */
export const UnsafeDataDirError = defineError('ERR_UNSAFE_DATA_DIR', 'UnsafeDataDirError');

/** `LIQUIDMESH_DATA_DIR`, else `$XDG_DATA_HOME/liquidmesh`, else `~/.local/share/liquidmesh`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LIQUIDMESH_DATA_DIR) return resolve(env.LIQUIDMESH_DATA_DIR);
  const base = env.XDG_DATA_HOME ? resolve(env.XDG_DATA_HOME) : join(homedir(), '.local', 'share');
  return join(base, 'liquidmesh');
}

/**
 * Create `path` (and its parents) with mode 0700, or check an existing one: it must be a
 * directory (not a symlink) owned by this user and writable by no one else.
 */
export async function ensurePrivateDir(path: string): Promise<string> {
  const dir = resolve(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new UnsafeDataDirError(`${dir} is not a directory`, { path: dir });
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) throw new UnsafeDataDirError(`${dir} belongs to another user`, { path: dir });
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  return dir;
}

/** Write `data` to `path` atomically with mode 0600 (a temporary file renamed over it). */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  await ensurePrivateDir(dirname(path));
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}

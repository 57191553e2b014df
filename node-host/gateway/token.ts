/**
 * The gateway's bearer token: 32 random bytes, base64url, kept in the data directory's
 * `gateway-token` file (0600 in a 0700 directory, see ../data-dir.ts). The host creates
 * it the first time it serves beyond loopback; the CLI reads it from `LIQUIDMESH_TOKEN`
 * or from that file.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultDataDir, ensurePrivateDir, writePrivateFile } from '../data-dir.ts';

/** Name of the token file inside a data directory. */
export const TOKEN_FILE = 'gateway-token';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,}$/;

/** The token file of `dataDir` (default {@link defaultDataDir}). */
export function tokenPath(dataDir?: string): string {
  return join(dataDir ?? defaultDataDir(), TOKEN_FILE);
}

async function readTokenFile(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return TOKEN_SHAPE.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The gateway token of `dataDir`, created (and reported as created) when there is none. */
export async function loadOrCreateToken(dataDir?: string): Promise<{ token: string; path: string; created: boolean }> {
  const path = tokenPath(dataDir);
  await ensurePrivateDir(join(path, '..'));
  const existing = await readTokenFile(path);
  if (existing) return { token: existing, path, created: false };
  const token = randomBytes(32).toString('base64url');
  await writePrivateFile(path, `${token}\n`);
  return { token, path, created: true };
}

/** The token a client sends: `LIQUIDMESH_TOKEN`, else the token file of `dataDir`; undefined when neither has one. */
export async function clientToken(env: NodeJS.ProcessEnv = process.env, dataDir?: string): Promise<string | undefined> {
  const fromEnv = env.LIQUIDMESH_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  return readTokenFile(tokenPath(dataDir ?? defaultDataDir(env)));
}

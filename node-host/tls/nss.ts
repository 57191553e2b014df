/**
 * Trust in a Chromium profile: Chromium on Linux reads user-added CAs from the NSS
 * database under `$HOME/.pki/nssdb`. A headless or kiosk Chromium peer gets a HOME of its
 * own (under its profile directory) whose database trusts the host's CA — the same
 * `certutil` step a user takes — so it opens the HTTPS PWA without a flag that ignores
 * certificate errors, and trusts nothing else extra.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defineError } from '../../shared/errors.ts';

const run = promisify(execFile);

/** certutil (Debian's libnss3-tools) is not installed, or failed. */
export const CertutilError = defineError('ERR_CERTUTIL', 'CertutilError');

/** The NSS nickname the CA is stored under. */
export const NSS_NICKNAME = 'liquidmesh';

/**
 * Make `home/.pki/nssdb` trust `caPem` as a CA for websites (and nothing it trusted under
 * the same nickname before: a renewed CA replaces the old one). Idempotent.
 */
export async function trustCaInNss(home: string, caPem: string): Promise<void> {
  const db = join(home, '.pki', 'nssdb');
  await mkdir(db, { recursive: true, mode: 0o700 });
  const file = join(home, 'liquidmesh-ca.pem');
  await writeFile(file, caPem);
  const certutil = async (args: string[]): Promise<void> => {
    try {
      await run('certutil', ['-d', `sql:${db}`, ...args]);
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new CertutilError('certutil is missing: install libnss3-tools (npm run setup does)');
      throw new CertutilError(`certutil ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
    }
  };
  const exists = await access(join(db, 'cert9.db')).then(() => true, () => false);
  if (!exists) await certutil(['-N', '--empty-password']);
  // Delete every copy under the nickname; certutil -D fails once there is none left.
  for (let i = 0; i < 10; i++) {
    const removed = await certutil(['-D', '-n', NSS_NICKNAME]).then(() => true, () => false);
    if (!removed) break;
  }
  await certutil(['-A', '-t', 'C,,', '-n', NSS_NICKNAME, '-i', file]);
}

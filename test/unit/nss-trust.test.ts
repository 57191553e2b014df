import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureLocalTls, fingerprint } from '../../node-host/tls/local-ca.ts';
import { NSS_NICKNAME, trustCaInNss } from '../../node-host/tls/nss.ts';

const run = promisify(execFile);

/** SHA-256 fingerprints of the certificates stored under the nickname in `home`'s NSS database. */
async function trusted(home: string): Promise<{ fingerprints: string[]; trust: string }> {
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  const list = (await run('certutil', ['-d', db, '-L'])).stdout;
  const trust = new RegExp(`^${NSS_NICKNAME}\\s+(\\S+)`, 'm').exec(list)?.[1] ?? '';
  const pem = (await run('certutil', ['-d', db, '-L', '-n', NSS_NICKNAME, '-a'])).stdout;
  const fingerprints = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => fingerprint(m[0]));
  return { fingerprints, trust };
}

describe('trusting a CA in a Chromium profile', () => {
  it('puts the CA into the NSS database as trusted for websites, and a renewed CA replaces the old one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'liquidmesh-nss-'));
    try {
      const first = await ensureLocalTls({ dir: join(dir, 'a'), names: ['localhost'] });
      const second = await ensureLocalTls({ dir: join(dir, 'b'), names: ['localhost'] });
      const home = join(dir, 'home');
      await trustCaInNss(home, first.caCert);
      expect(await trusted(home)).to.deep.equal({ fingerprints: [first.caFingerprint], trust: 'C,,' });
      await trustCaInNss(home, first.caCert); // again, as on every restart
      expect((await trusted(home)).fingerprints).to.deep.equal([first.caFingerprint]);
      await trustCaInNss(home, second.caCert);
      expect(await trusted(home)).to.deep.equal({ fingerprints: [second.caFingerprint], trust: 'C,,' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

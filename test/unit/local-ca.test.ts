import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { expect } from 'chai';
import { createPrivateKey } from 'node:crypto';
import { request } from 'node:https';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { servedNames, type MachineFacts } from '../../node-host/host-address.ts';
import { connect as tlsConnect } from 'node:tls';
import { ensureLocalTls, fingerprint, namesOf, SERVER_VALIDITY_DAYS } from '../../node-host/tls/local-ca.ts';
import { constraintsAllow } from '../../node-host/tls/name-constraints.ts';
import { keepTlsFresh, resolveServerTls } from '../../node-host/tls/server-tls.ts';
import { startWebServer } from '../../node-host/web-server.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';

const DAY = 24 * 60 * 60 * 1000;
const pi: MachineFacts = { hostname: () => 'kitchen-pi', addresses: () => ['192.168.1.20', '10.99.0.1'] };

/** GET `url` with Node's TLS verifying against `ca` only (no public roots). */
function get(url: string, ca: string | undefined, servername?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const host = new URL(url).hostname;
    // With `servername`, the request goes to the URL's address but checks the certificate for that name.
    const req = request(url, { ca: ca === undefined ? [] : [ca], ...(servername ? { servername, checkServerIdentity: () => undefined } : {}), ...(host !== '127.0.0.1' ? { servername: host } : {}) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the local certificate authority', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'liquidmesh-tls-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('issues a server certificate for every served name, with the extensions browsers require, from a CA whose key only its owner can read', async () => {
    const names = servedNames('0.0.0.0', pi);
    const tls = await ensureLocalTls({ dir: join(dir, 'tls'), names });
    expect(tls.created).to.equal('ca');
    expect(namesOf(tls.cert)).to.have.members(names);
    expect(names).to.include.members(['192.168.1.20', '10.99.0.1', 'kitchen-pi', 'kitchen-pi.local', 'localhost', '127.0.0.1']);

    const cert = new x509.X509Certificate(tls.cert);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.items.filter((n) => n.type === 'ip').map((n) => n.value)).to.include.members(['192.168.1.20', '10.99.0.1', '127.0.0.1']);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).to.deep.equal([x509.ExtendedKeyUsage.serverAuth]);
    expect(cert.getExtension(x509.KeyUsagesExtension)!.usages & x509.KeyUsageFlags.digitalSignature).to.not.equal(0);
    expect(cert.getExtension(x509.BasicConstraintsExtension)!.ca).to.equal(false);
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).to.be.at.most(398 * DAY);

    const ca = new x509.X509Certificate(tls.caCert);
    const constraints = ca.getExtension(x509.BasicConstraintsExtension)!;
    expect(constraints.ca).to.equal(true);
    expect(constraints.critical).to.equal(true);
    expect(ca.getExtension(x509.KeyUsagesExtension)!.usages & x509.KeyUsageFlags.keyCertSign).to.not.equal(0);
    expect(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })).to.equal(true);

    expect((await stat(join(dir, 'tls', 'ca.key'))).mode & 0o777).to.equal(0o600);
    expect((await stat(join(dir, 'tls', 'server.key'))).mode & 0o777).to.equal(0o600);
    expect((await stat(join(dir, 'tls'))).mode & 0o777).to.equal(0o700);
    expect(await readFile(join(dir, 'tls', 'ca.crt'), 'utf8')).to.equal(tls.caCert);
    expect(tls.caFingerprint).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('keeps a valid certificate, and issues a new one near expiry or when the names change, under the same CA', async () => {
    const names = servedNames('192.168.1.20', pi);
    const first = await ensureLocalTls({ dir, names });
    const again = await ensureLocalTls({ dir, names });
    expect(again.created).to.equal('none');
    expect(again.cert).to.equal(first.cert);

    const later = new Date(Date.now() + (SERVER_VALIDITY_DAYS - 10) * DAY);
    const renewed = await ensureLocalTls({ dir, names, now: later });
    expect(renewed.created).to.equal('server');
    expect(renewed.cert).to.not.equal(first.cert);
    expect(renewed.notAfter.getTime()).to.be.greaterThan(later.getTime() + 300 * DAY);
    expect(renewed.caCert).to.equal(first.caCert);

    const moved = await ensureLocalTls({ dir, names: servedNames('192.168.1.77', pi) });
    expect(moved.created).to.equal('server');
    expect(namesOf(moved.cert)).to.include('192.168.1.77').and.not.include('192.168.1.20');
    expect(moved.caCert).to.equal(first.caCert);
  });

  it('makes a new CA when the stored one nears its end, and a server certificate under it', async () => {
    const first = await ensureLocalTls({ dir, names: ['localhost'] });
    const decade = await ensureLocalTls({ dir, names: ['localhost'], now: new Date(Date.now() + 3640 * DAY) });
    expect(decade.created).to.equal('ca');
    expect(decade.caCert).to.not.equal(first.caCert);
    const ca = new x509.X509Certificate(decade.caCert);
    expect(await new x509.X509Certificate(decade.cert).verify({ publicKey: ca.publicKey, signatureOnly: true })).to.equal(true);
  });

  it('uses --cert and --key as given, and names a mismatched or missing pair', async () => {
    const other = await ensureLocalTls({ dir: join(dir, 'elsewhere'), names: ['pi.example'] });
    await writeFile(join(dir, 'my.crt'), other.cert);
    await writeFile(join(dir, 'my.key'), other.key);
    const given = await resolveServerTls({ host: '10.0.0.5', dataDir: join(dir, 'data'), cert: join(dir, 'my.crt'), key: join(dir, 'my.key') });
    expect(given!.material).to.deep.equal({ cert: other.cert, key: other.key });
    expect(given!.local).to.equal(null);
    expect((await rejectionOf(stat(join(dir, 'data', 'tls')))).code).to.equal('ENOENT');

    const mine = await ensureLocalTls({ dir: join(dir, 'mine'), names: ['x'] });
    await writeFile(join(dir, 'wrong.key'), mine.key);
    const mismatch = await rejectionOf(resolveServerTls({ host: '10.0.0.5', dataDir: dir, cert: join(dir, 'my.crt'), key: join(dir, 'wrong.key') }));
    expect(mismatch.code).to.equal('ERR_TLS_FILES');
    const missing = await rejectionOf(resolveServerTls({ host: '10.0.0.5', dataDir: dir, cert: join(dir, 'nope.crt'), key: join(dir, 'my.key') }));
    expect(missing.code).to.equal('ERR_TLS_FILES');
    expect(missing.message).to.contain('nope.crt');
    const half = await rejectionOf(resolveServerTls({ host: '10.0.0.5', dataDir: dir, cert: join(dir, 'my.crt') }));
    expect(half.code).to.equal('ERR_TLS_FILES');
  });

  it('is off on loopback and on everywhere else', async () => {
    expect(await resolveServerTls({ host: '127.0.0.1', dataDir: dir })).to.equal(null);
    const lan = await resolveServerTls({ host: '10.99.0.1', dataDir: dir, machine: pi });
    expect(lan!.local!.names).to.include.members(['10.99.0.1', 'kitchen-pi.local', 'localhost', '127.0.0.1']);
  });

  it('a server with the certificate is verified by Node\'s TLS against the CA, and refused without it', async () => {
    const tls = await ensureLocalTls({ dir, names: servedNames('127.0.0.1', pi) });
    await writeFile(join(dir, 'index.html'), '<p>hello over TLS</p>');
    const web = await startWebServer({ host: '127.0.0.1', port: 0, root: dir, tls: { cert: tls.cert, key: tls.key } });
    try {
      expect(web.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ok = await get(`${web.url}/index.html`, tls.caCert);
      expect(ok.status).to.equal(200);
      expect(ok.body).to.contain('hello over TLS');
      const byName = await get(`https://localhost:${web.port}/index.html`, tls.caCert);
      expect(byName.status).to.equal(200);
      const other = await ensureLocalTls({ dir: join(dir, 'other-ca'), names: ['localhost'] });
      const refused = await rejectionOf(get(`${web.url}/index.html`, other.caCert));
      expect((refused as Error & { code?: string }).code).to.match(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED/);
    } finally {
      await web.close();
    }
  });
});

describe('certificate renewal in a running host', () => {
  it('a renewed certificate is handed to running servers, which serve it to new connections', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'liquidmesh-renew-'));
    const machine: MachineFacts = { hostname: () => 'kitchen-pi', addresses: () => [] };
    // A certificate issued 380 days ago: 17 days are left.
    const local = await ensureLocalTls({ dir: join(dir, 'tls'), names: servedNames('127.0.0.1', machine), now: new Date(Date.now() - 380 * DAY) });
    const first = { material: { cert: local.cert, key: local.key }, local };
    await writeFile(join(dir, 'index.html'), 'renewed?');
    const web = await startWebServer({ host: '127.0.0.1', port: 0, root: dir, tls: first.material });
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: web.port, ca: [first.local!.caCert], servername: 'localhost' }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
    const renewals: string[] = [];
    let stop = async (): Promise<void> => undefined;
    try {
      const before = await served();
      expect(before).to.equal(fingerprint(first.material.cert));
      // The next check finds the certificate near its end and renews it.
      stop = keepTlsFresh({
        host: '127.0.0.1', dataDir: dir, machine, everyMs: 20,
        apply: (tls) => {
          renewals.push(fingerprint(tls.cert));
          web.setTls(tls);
        },
      });
      await waitFor(() => renewals.length > 0, 'a renewal');
      await stop();
      expect(renewals[0]).to.not.equal(before);
      expect(await served()).to.equal(renewals[0]);
    } finally {
      await stop();
      await web.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the local CA vouches only for LAN names', () => {
  it('is constrained to private addresses, .local and localhost plus the host\'s own names, and Node\'s TLS enforces it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'liquidmesh-nc-'));
    try {
      const tls = await ensureLocalTls({ dir, names: ['192.168.1.20', 'kitchen-pi', 'kitchen-pi.local', 'localhost', '127.0.0.1'] });
      const ca = new x509.X509Certificate(tls.caCert);
      expect(ca.getExtension('2.5.29.30')?.critical).to.equal(true);
      expect(constraintsAllow(ca, ['10.1.2.3', '172.20.0.1', 'fd00::1', 'printer.local', 'kitchen-pi', '127.0.0.1', '::1'])).to.equal(true);
      expect(constraintsAllow(ca, ['8.8.8.8'])).to.equal(false);
      expect(constraintsAllow(ca, ['example.com'])).to.equal(false);
      expect(constraintsAllow(ca, ['2001:db8::1'])).to.equal(false);

      // A certificate the CA's key signs for a public name is refused by a verifier that trusts the CA.
      const rogue = await rogueCertificate(dir, tls, 'bank.example');
      const web = await startWebServer({ host: '127.0.0.1', port: 0, root: dir, tls: rogue });
      try {
        const refused = await rejectionOf(get(`https://127.0.0.1:${web.port}/`, tls.caCert, 'bank.example'));
        expect(refused.message).to.match(/name constraint|permitted|subtree/i);
      } finally {
        await web.close();
      }

      // A host that moves to a public address gets a new CA whose constraints include it.
      const moved = await ensureLocalTls({ dir, names: ['203.0.113.7', 'localhost'] });
      expect(moved.created).to.equal('ca');
      expect(constraintsAllow(new x509.X509Certificate(moved.caCert), ['203.0.113.7', '192.168.1.20'])).to.equal(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A server certificate for `name`, signed with the local CA's key as a thief could. */
async function rogueCertificate(dir: string, tls: { caCert: string }, name: string): Promise<{ cert: string; key: string }> {
  const ca = new x509.X509Certificate(tls.caCert);
  const caKey = await crypto.subtle.importKey('pkcs8', createPrivateKey(await readFile(join(dir, 'ca.key'), 'utf8')).export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${name}`, issuer: ca.subject, publicKey: keys.publicKey, signingKey: caKey, signingAlgorithm: alg,
    notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }]), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
  });
  const key = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { cert: cert.toString('pem'), key };
}

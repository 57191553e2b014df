import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLocalTls, type LocalTls } from '../../node-host/tls/local-ca.ts';
import { loadTrustedCa } from '../../node-host/tls/node-trust.ts';
import { startTrustServer, type TrustServer } from '../../node-host/tls/trust-server.ts';
import { rejectionOf } from '../acceptance/wait.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';

requireLoopbackNamespace();

/** Send raw bytes and return whatever comes back before the server closes (or 2 s pass). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.write(bytes);
    setTimeout(() => socket.destroy(), 2000);
  });
}

describe('the trust page server', () => {
  let dir: string;
  let tls: LocalTls;
  let server: TrustServer;
  const joinUrl = 'https://10.99.0.1:8080/?signal=https%3A%2F%2F10.99.0.1%3A4444&mesh=liquidmesh&secret=s3';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'liquidmesh-trust-'));
    tls = await ensureLocalTls({ dir, names: ['10.99.0.1', 'localhost'] });
    server = await startTrustServer({ caCert: tls.caCert, host: '127.0.0.1', port: 0, joinUrl });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the CA as DER for phones and PEM for tools, the same certificate', async () => {
    const crt = await fetch(new URL('ca.crt', server.url));
    expect(crt.status).to.equal(200);
    expect(crt.headers.get('content-type')).to.equal('application/x-x509-ca-cert');
    const der = new Uint8Array(await crt.arrayBuffer());
    expect(der[0]).to.equal(0x30); // a DER SEQUENCE, not PEM text
    const pem = await fetch(new URL('ca.pem', server.url));
    expect(pem.headers.get('content-type')).to.equal('application/x-pem-file');
    const text = await pem.text();
    expect(text).to.contain('-----BEGIN CERTIFICATE-----');
    expect(new x509.X509Certificate(der).equal(new x509.X509Certificate(text))).to.equal(true);
    expect(new x509.X509Certificate(text).equal(new x509.X509Certificate(tls.caCert))).to.equal(true);
    expect((await loadTrustedCa({ url: server.url })).fingerprint).to.equal(tls.caFingerprint);
  });

  it('shows per-platform steps, the fingerprint and the HTTPS join link', async () => {
    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    const html = await page.text();
    for (const step of ['Android', 'iPhone', 'Certificate Trust Settings', 'Firefox', 'Windows', 'macOS', 'Linux', 'certutil']) expect(html).to.contain(step);
    expect(html).to.contain(tls.caFingerprint);
    expect(html).to.contain(`href="${joinUrl.replaceAll('&', '&#38;')}"`);
    expect(html).to.contain('href="/ca.crt"');
  });

  it('answers 404 for any other path and 405 for other methods, and survives garbage', async () => {
    for (const path of ['/ca.key', '/../tls/ca.key', '/index.html', '/ca.crt/x', '//ca.crt']) {
      expect(await raw(server.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), path).to.match(/^HTTP\/1\.1 404/);
    }
    expect((await fetch(new URL('ca.crt', server.url), { method: 'POST', body: 'x' })).status).to.equal(405);
    expect(await raw(server.port, 'GET /%%%%\x00\x01 HTTP/1.1\r\nHost: \x7f\r\n\r\n')).to.match(/^HTTP\/1\.1 400/);
    expect(await raw(server.port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')).to.match(/^HTTP\/1\.1 400/); // a TLS hello
    expect(await raw(server.port, 'GET /ca.pem HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n')).to.match(/^HTTP\/1\.1 400/);
    expect((await fetch(server.url)).status).to.equal(200);
  });

  it('a --trust URL that does not serve a certificate is a named error', async () => {
    const error = await rejectionOf(loadTrustedCa({ url: new URL('nothing/', server.url).href }));
    expect(error.code).to.equal('ERR_TRUST_CA');
    expect((await rejectionOf(loadTrustedCa({ file: join(dir, 'missing.pem') }))).code).to.equal('ERR_TRUST_CA');
  });
});

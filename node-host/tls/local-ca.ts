/**
 * The host's local certificate authority and its server certificate, kept in
 * `<dataDir>/tls/` (see docs/decisions/0020-tls-and-local-ca.md):
 *
 *   ca.key      the CA's private key (PKCS#8 PEM, 0600) — never leaves this directory
 *   ca.crt      the CA certificate (PEM), what users and peers trust
 *   server.key  the server certificate's private key (0600)
 *   server.crt  the server certificate (PEM), for every name the host serves
 *
 * Certificates are built with @peculiar/x509 on WebCrypto (ECDSA P-256, SHA-256). The
 * server certificate follows the rules browsers enforce: names only in the subject
 * alternative name, serverAuth extended key usage, digitalSignature key usage, at most
 * 397 days of validity. It is issued again when it nears expiry, when the set of names
 * changes, or when it was not issued by the CA on disk; the CA lives ten years and is made
 * again only when it nears its own end or the host's names leave what its name
 * constraints permit (every device then has to trust the new one).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { defineError } from '../../shared/errors.ts';
import { ensurePrivateDir, writePrivateFile } from '../data-dir.ts';
import { constraintsAllow, nameConstraintsFor } from './name-constraints.ts';

/** A certificate or key file given with --cert/--key is missing, unreadable or does not fit. */
export const TlsFilesError = defineError('ERR_TLS_FILES', 'TlsFilesError');

/** What an HTTPS server needs: a certificate chain and its private key, both PEM. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/** The host's TLS state after {@link ensureLocalTls}. */
export interface LocalTls extends TlsMaterial {
  /** The CA certificate (PEM) that clients trust. */
  caCert: string;
  /** Path of the CA certificate on disk (for NODE_EXTRA_CA_CERTS and certutil). */
  caPath: string;
  /** SHA-256 fingerprint of the CA certificate, as colon-separated upper-case hex. */
  caFingerprint: string;
  /** Names and addresses the server certificate covers. */
  names: string[];
  /** When the server certificate expires. */
  notAfter: Date;
  /** What was made this time: nothing, a new server certificate, or a new CA (and server certificate). */
  created: 'none' | 'server' | 'ca';
}

/** Options of {@link ensureLocalTls}. */
export interface LocalTlsOptions {
  /** The directory of the CA and certificates, `<dataDir>/tls`. */
  dir: string;
  /** Every name and address the server is reached by (see servedNames). */
  names: string[];
  /** The current time (tests pass a later one to see renewal). */
  now?: Date;
}

const DAY = 24 * 60 * 60 * 1000;
/** Browsers refuse leaf certificates valid for more than 398 days. */
export const SERVER_VALIDITY_DAYS = 397;
/** The CA outlives many server certificates so devices trust it once. */
export const CA_VALIDITY_DAYS = 3650;
/** Renew this long before expiry, so a host that runs for weeks never serves an expired certificate. */
export const RENEW_BEFORE_DAYS = 30;
/** Clocks of phones and small boards drift; a certificate is valid from a little before it was made. */
const BACKDATE_MS = 60 * 60 * 1000;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * Load the CA and server certificate from `options.dir`, making (or renewing) what is
 * missing, expiring or for other names. The CA key is written 0600 in a 0700 directory.
 */
export async function ensureLocalTls(options: LocalTlsOptions): Promise<LocalTls> {
  const dir = await ensurePrivateDir(options.dir);
  const now = options.now ?? new Date();
  const names = normalizeNames(options.names);
  const paths = { caKey: join(dir, 'ca.key'), caCert: join(dir, 'ca.crt'), key: join(dir, 'server.key'), cert: join(dir, 'server.crt') };
  let created: LocalTls['created'] = 'none';

  let ca = await loadCa(paths.caKey, paths.caCert);
  // A CA limited to other names (the host moved to a public address or name) is replaced too.
  if (!ca || expiresSoon(ca.cert, now) || !constraintsAllow(ca.cert, names)) {
    ca = await createCa(now, names);
    await writePrivateFile(paths.caKey, await privateKeyPem(ca.key));
    await writeFile(paths.caCert, ca.cert.toString('pem'), { mode: 0o644 });
    created = 'ca';
  }

  let server = await loadServer(paths.key, paths.cert);
  if (!server || created === 'ca' || expiresSoon(server.cert, now) || !sameNames(namesOf(server.cert), names) || !(await issuedBy(server.cert, ca.cert))) {
    const keys = await generateKeys();
    const cert = await issueServerCert(ca, keys.publicKey, names, now);
    await writePrivateFile(paths.key, await privateKeyPem(keys.privateKey));
    await writeFile(paths.cert, cert.toString('pem'), { mode: 0o644 });
    server = { cert, keyPem: await readFile(paths.key, 'utf8') };
    if (created === 'none') created = 'server';
  }

  const caPem = ca.cert.toString('pem');
  return {
    // The chain: a client that has the CA still needs the server certificate first.
    cert: server.cert.toString('pem'),
    key: server.keyPem,
    caCert: caPem,
    caPath: paths.caCert,
    caFingerprint: fingerprint(caPem),
    names: namesOf(server.cert),
    notAfter: server.cert.notAfter,
    created,
  };
}

/**
 * Read a certificate and key the user already has (`--cert`, `--key`) and check that the
 * key belongs to the certificate; `ERR_TLS_FILES` names the file and what is wrong.
 */
export async function loadUserTls(certPath: string, keyPath: string): Promise<TlsMaterial> {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new TlsFilesError(`cannot read the ${what} ${path}: ${(error as Error).message}`, { path });
    }
  };
  const material = { cert: await read(certPath, 'certificate'), key: await read(keyPath, 'key') };
  try {
    createSecureContext(material);
  } catch (error) {
    throw new TlsFilesError(`${certPath} and ${keyPath} do not make a usable certificate and key: ${(error as Error).message}`, { cert: certPath, key: keyPath });
  }
  return material;
}

/** SHA-256 fingerprint of a PEM certificate, `AB:CD:…` (what certificate viewers show). */
export function fingerprint(pem: string): string {
  const der = new x509.X509Certificate(pem).rawData;
  return createHash('sha256').update(new Uint8Array(der)).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/** The DER bytes of a PEM certificate (what /ca.crt serves). */
export function certificateDer(pem: string): Uint8Array {
  return new Uint8Array(new x509.X509Certificate(pem).rawData);
}

/** The DNS names and IP addresses in a certificate's subject alternative name, lower-case. */
export function namesOf(cert: x509.X509Certificate | string): string[] {
  const c = typeof cert === 'string' ? new x509.X509Certificate(cert) : cert;
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  return normalizeNames((san?.names.items ?? []).filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => n.value));
}

interface Issuer {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function createCa(now: Date, names: string[]): Promise<Issuer> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=LiquidMesh local CA (${dnSafe(hostname())}), O=LiquidMesh`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      // pathLength 0: it signs server certificates, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // Only LAN names: a stolen key cannot vouch for public sites.
      nameConstraintsFor(names),
    ],
  });
  return { cert, key: keys.privateKey };
}

async function issueServerCert(ca: Issuer, publicKey: CryptoKey, names: string[], now: Date): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dnSafe(names[0] ?? 'localhost')}, O=LiquidMesh`,
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + SERVER_VALIDITY_DAYS * DAY),
    publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }) as const)),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
}

async function loadCa(keyPath: string, certPath: string): Promise<Issuer | null> {
  const pems = await readBoth(keyPath, certPath);
  if (!pems) return null;
  try {
    const cert = new x509.X509Certificate(pems.cert);
    const key = await importPrivateKey(pems.key);
    return { cert, key };
  } catch {
    return null; // unreadable: a new CA replaces it
  }
}

async function loadServer(keyPath: string, certPath: string): Promise<{ cert: x509.X509Certificate; keyPem: string } | null> {
  const pems = await readBoth(keyPath, certPath);
  if (!pems) return null;
  try {
    createSecureContext({ cert: pems.cert, key: pems.key });
    return { cert: new x509.X509Certificate(pems.cert), keyPem: pems.key };
  } catch {
    return null;
  }
}

async function readBoth(keyPath: string, certPath: string): Promise<{ key: string; cert: string } | null> {
  try {
    return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function issuedBy(cert: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  return cert.issuer === ca.subject && (await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }));
}

function expiresSoon(cert: x509.X509Certificate, now: Date): boolean {
  return cert.notAfter.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY || cert.notBefore.getTime() > now.getTime();
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  // Node parses the PEM (and refuses what is not a key) before WebCrypto imports it.
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return crypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
}

function normalizeNames(names: string[]): string[] {
  return [...new Set(names.map((n) => n.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter((n) => n !== ''))];
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  // A positive INTEGER without a leading zero byte.
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** A value safe inside a distinguished name string (no separators or escapes). */
function dnSafe(value: string): string {
  return value.replace(/[^A-Za-z0-9 .:_-]/g, '-').slice(0, 60) || 'localhost';
}

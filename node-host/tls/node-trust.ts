/**
 * What this Node process trusts besides the public roots: the local CA of a host it
 * connects to (`peer --trust URL` or `--ca FILE`, the CA `start` made). Node 20 has no
 * API to add a root to the default store after start-up (NODE_EXTRA_CA_CERTS is read
 * once, at launch), so the extra CAs are handed to each client that opens connections:
 * the https module's global agent (the CLI's gateway client) and the WebSocket class that
 * webrtc/globals.ts installs for PeerJS and the signaling socket. Process-wide on
 * purpose: like the system's root store, trust belongs to the process, not to a peer.
 */
import { globalAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultDataDir } from '../data-dir.ts';
import { defineError } from '../../shared/errors.ts';

/** A CA given with --ca or --trust could not be read or fetched, or is not a certificate. */
export const TrustCaError = defineError('ERR_TRUST_CA', 'TrustCaError');

const extra: string[] = [];

/** The CAs added with {@link trustCertificates} (PEM). */
export function trustedExtraCas(): readonly string[] {
  return extra;
}

/** TLS options for a client connection: every public root plus the added CAs; empty when none were added. */
export function clientTlsOptions(): { ca?: string[] } {
  return extra.length === 0 ? {} : { ca: [...rootCertificates, ...extra] };
}

/** Trust `pems` (CA certificates) for every TLS connection this process opens from now on. */
export function trustCertificates(pems: string[]): void {
  for (const pem of pems) if (!extra.includes(pem)) extra.push(pem);
  globalAgent.options.ca = [...rootCertificates, ...extra];
}

/**
 * The CA certificate (PEM) named by `--ca FILE` or fetched from a trust page (`--trust
 * URL`, the page `liquidmesh start` serves; its `/ca.pem`). Plain HTTP is expected for
 * the trust page: nothing is trusted yet. The fingerprint is returned to be shown.
 */
export async function loadTrustedCa(source: { file?: string; url?: string }): Promise<{ pem: string; fingerprint: string }> {
  let pem: string;
  if (source.file !== undefined) {
    pem = await readFile(source.file, 'utf8').catch((error: Error) => {
      throw new TrustCaError(`cannot read the CA certificate ${source.file}: ${error.message}`, { file: source.file });
    });
  } else if (source.url !== undefined) {
    let at: URL;
    try {
      at = new URL('ca.pem', new URL(source.url));
    } catch {
      throw new TrustCaError(`--trust: not a URL: ${source.url}`, { url: source.url });
    }
    const response = await fetch(at, { signal: AbortSignal.timeout(15_000) }).catch((error: Error) => {
      throw new TrustCaError(`cannot fetch the CA from ${at.href}: ${error.message}`, { url: at.href });
    });
    if (!response.ok) throw new TrustCaError(`cannot fetch the CA from ${at.href}: HTTP ${response.status}`, { url: at.href, status: response.status });
    pem = await response.text();
  } else {
    throw new TrustCaError('no CA given: use --ca FILE or --trust URL');
  }
  // The X.509 library loads only here: a peer that trusts no CA never holds it.
  const { fingerprint } = await import('./local-ca.ts');
  try {
    return { pem, fingerprint: fingerprint(pem) };
  } catch {
    throw new TrustCaError('the CA given is not a PEM certificate', { ...source });
  }
}

/**
 * Trust the CA named by `LIQUIDMESH_CA` (a PEM file), else the local CA of the data
 * directory (`--data-dir`, default this machine's) when there is one: how the CLI
 * reaches an HTTPS gateway.
 */
export async function trustLocalCa(env: NodeJS.ProcessEnv = process.env, dataDir?: string): Promise<void> {
  if (env.LIQUIDMESH_CA) {
    trustCertificates([(await loadTrustedCa({ file: env.LIQUIDMESH_CA })).pem]);
    return;
  }
  const own = await readFile(join(dataDir ?? defaultDataDir(env), 'tls', 'ca.crt'), 'utf8').catch(() => null);
  if (own) trustCertificates([own]);
}

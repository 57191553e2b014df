/**
 * Which certificate a command's servers use: none on loopback (browsers already treat
 * localhost and 127.0.0.0/8 as secure), the user's own with `--cert`/`--key`, else the
 * host's local CA in `<dataDir>/tls/` issuing a certificate for every name it serves.
 */
import { join } from 'node:path';
import { isLoopbackHost, type MachineFacts, servedNames } from '../host-address.ts';
import { ensureLocalTls, type LocalTls, type TlsMaterial, TlsFilesError, loadUserTls } from './local-ca.ts';

/** Options of {@link resolveServerTls}. */
export interface ServerTlsOptions {
  /** The address the servers bind. */
  host: string;
  /** The data directory; the CA lives in its `tls/`. */
  dataDir: string;
  /** `--cert`: a certificate (chain) the user already has, PEM. Needs `key`. */
  cert?: string | undefined;
  /** `--key`: its private key, PEM. */
  key?: string | undefined;
  /** Force TLS on loopback too (tests, and users who want https://localhost). */
  always?: boolean;
  /** Where the served names come from (tests). */
  machine?: MachineFacts;
  now?: Date;
}

/** The servers' TLS: the certificate to serve, and the local CA when it is ours. */
export interface ServerTls {
  material: TlsMaterial;
  /** The local CA and what it issued; null when the user's own certificate is used. */
  local: LocalTls | null;
}

/** Decide and prepare the servers' TLS; null means plain HTTP. */
export async function resolveServerTls(options: ServerTlsOptions): Promise<ServerTls | null> {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TlsFilesError('--cert and --key go together: give both or neither', { cert: options.cert, key: options.key });
  }
  if (options.cert !== undefined && options.key !== undefined) return { material: await loadUserTls(options.cert, options.key), local: null };
  if (!options.always && isLoopbackHost(options.host)) return null;
  const local = await ensureLocalTls({
    dir: join(options.dataDir, 'tls'),
    names: servedNames(options.host, options.machine),
    ...(options.now ? { now: options.now } : {}),
  });
  return { material: { cert: local.cert, key: local.key }, local };
}

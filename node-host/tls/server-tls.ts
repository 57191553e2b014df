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

/** Options of {@link keepTlsFresh}. */
export interface TlsRenewalOptions {
  host: string;
  dataDir: string;
  /** Called with the new certificate after a renewal; give it to every server (their `setTls`). */
  apply(tls: LocalTls): void;
  /** A check that failed (it is tried again at the next period). */
  onError?(error: unknown): void;
  /** How often to check (default 12 hours). */
  everyMs?: number;
  machine?: MachineFacts;
  /** The clock (tests move it forward). */
  now?: () => Date;
}

/**
 * Keep a long-running host's certificate valid: check every `everyMs` whether it nears
 * expiry or the host's names changed (a new address from DHCP), and hand a renewed one to
 * `apply` — the servers swap it in without a restart. Returns a function that stops it.
 */
export function keepTlsFresh(options: TlsRenewalOptions): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const check = (): Promise<void> => (running ??= renew().finally(() => (running = null)));
  const renew = async (): Promise<void> => {
    try {
      const local = await ensureLocalTls({
        dir: join(options.dataDir, 'tls'),
        names: servedNames(options.host, options.machine),
        ...(options.now ? { now: options.now() } : {}),
      });
      if (local.created !== 'none' && !stopped) options.apply(local);
    } catch (error) {
      options.onError?.(error);
    }
  };
  const timer = setInterval(() => void check(), options.everyMs ?? 12 * 60 * 60 * 1000);
  // A timer must not keep a stopping process alive.
  timer.unref();
  // Stopping waits for a check under way, so nothing writes into the directory afterwards.
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

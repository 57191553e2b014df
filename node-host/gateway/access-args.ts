/**
 * The gateway's access flags, shared by `liquidmesh start` and `liquidmesh peer`:
 *
 *   --allow-origin ORIGIN      (repeatable) a web origin that may call the gateway, with CORS
 *   --allow-host NAME[:PORT]   (repeatable) another name the gateway is addressed by
 *   --allow-fetch-from X       (repeatable) a local/private host, host:port or CIDR POST /deploy may fetch from
 *   --gui-dir DIR              serve a static web GUI from DIR on the gateway's origin
 *
 * and the bearer token a gateway bound beyond loopback needs (created on first start).
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidParamsError } from '../../shared/errors.ts';
import { isLoopbackHost } from '../host-address.ts';
import { normalizeOrigin } from './access.ts';
import type { GatewayOptions } from './gateway.ts';
import { parseAllowList } from './outbound-fetch.ts';
import { loadOrCreateToken } from './token.ts';

/** Usage text of the flags, for the commands' help. */
export const ACCESS_USAGE = '[--allow-origin O]… [--allow-host H]… [--allow-fetch-from H|H:P|CIDR]… [--gui-dir DIR]';

/** Every value of `--name V` / `--name=V` in `args`. */
export function repeated(args: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new InvalidParamsError(`--${name} needs a value`);
      out.push(v);
      i++;
    } else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

/** The access options of {@link GatewayOptions} a command line asks for (checked, token not yet). */
export async function parseAccessArgs(args: readonly string[]): Promise<Pick<GatewayOptions, 'allowedOrigins' | 'allowedHosts' | 'allowFetchFrom' | 'guiDir'>> {
  const allowedOrigins = repeated(args, 'allow-origin').map(normalizeOrigin);
  const allowedHosts = repeated(args, 'allow-host');
  const allowFetchFrom = repeated(args, 'allow-fetch-from');
  parseAllowList(allowFetchFrom);
  const gui = repeated(args, 'gui-dir').pop();
  const out: Awaited<ReturnType<typeof parseAccessArgs>> = { allowedOrigins, allowedHosts, allowFetchFrom };
  if (gui !== undefined) {
    const info = await stat(gui).catch(() => null);
    if (!info?.isDirectory()) throw new InvalidParamsError(`--gui-dir ${gui} is not a directory`, { guiDir: gui });
    out.guiDir = resolve(gui);
  }
  return out;
}

/**
 * The token for a gateway bound to `bindHost`: none on loopback; beyond it, the data
 * directory's token, created (and announced through `announce`, once) when missing. A
 * host that keeps nothing (`dataDir` null, `--ephemeral`) gets a fresh token each start,
 * announced each time.
 */
export async function gatewayToken(bindHost: string, dataDir: string | null | undefined, announce: (text: string) => void): Promise<{ token?: string }> {
  if (isLoopbackHost(bindHost)) return {};
  if (dataDir === null) {
    const token = randomBytes(32).toString('base64url');
    announce(`gateway token for this run (kept nowhere; clients send "Authorization: Bearer <token>" or set LIQUIDMESH_TOKEN):\n  ${token}`);
    return { token };
  }
  const { token, path, created } = await loadOrCreateToken(dataDir);
  if (created) announce(`gateway token created (kept in ${path}; clients send "Authorization: Bearer <token>"):\n  ${token}`);
  return { token };
}

/**
 * Fetching a URL a request names (`POST /deploy`'s module, description and data-file
 * URLs) without letting the request reach what only the host can reach:
 *
 * - http(s) only; the name is resolved with `dns.lookup` (every address) and each
 *   address checked; loopback, link-local, private (RFC 1918, fc00::/7, CGNAT
 *   100.64/10), unspecified, multicast and reserved addresses are refused unless
 *   `--allow-fetch-from` names the host, the host and port, or a CIDR holding them;
 * - the connection goes to the checked addresses (a `lookup` handed to the request
 *   returns them), so a second DNS answer cannot swap in another target;
 * - redirects are followed by hand, each one checked again, at most 5;
 * - size and time limits on the whole fetch.
 *
 * Failures say as little as possible about what answered: ERR_FETCH_DENIED when the
 * policy refuses a target, ERR_FETCH_FAILED ("could not fetch") for everything else — a
 * closed port, a 404, a reset, a timeout and an oversized body look the same to the
 * client; the reason is logged for the operator.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { defineError, InvalidParamsError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { BadUrlError, FetchFailedError } from './http.ts';

/** The fetch policy refuses the target of a URL (a local or private address). */
export const FetchDeniedError = defineError('ERR_FETCH_DENIED', 'FetchDeniedError');

/** Redirects followed at most. */
export const MAX_REDIRECTS = 5;

/** Addresses no request may make the host fetch from unless allowed by name. */
const DENIED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) DENIED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fe80::', 10], ['fc00::', 7], ['ff00::', 8], ['64:ff9b::', 96], ['2002::', 16], ['100::', 64]] as const) {
  DENIED.addSubnet(net, bits, 'ipv6');
}

/** An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is checked as IPv4. */
function plain(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** True when `address` is loopback, link-local, private, unspecified, multicast or reserved. */
export function isInternalAddress(address: string): boolean {
  const a = plain(address);
  if (a.family === 'ipv6' && /^::ffff:/i.test(a.address)) return true; // a mapped form we do not read
  return DENIED.check(a.address, a.family);
}

interface AllowEntry {
  host?: string;
  port?: number;
  net?: BlockList;
}

/** Parse `--allow-fetch-from` values: `host`, `host:port`, `[v6]:port`, or a CIDR. */
export function parseAllowList(entries: readonly string[]): AllowEntry[] {
  return entries.map((raw) => {
    const text = raw.trim().toLowerCase();
    const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(text);
    if (cidr) {
      const family = isIP(cidr[1]!);
      const bits = Number(cidr[2]);
      if (family === 0 || bits > (family === 4 ? 32 : 128)) throw new InvalidParamsError(`--allow-fetch-from ${raw}: not a CIDR`, { entry: raw });
      const net = new BlockList();
      net.addSubnet(cidr[1]!, bits, family === 4 ? 'ipv4' : 'ipv6');
      return { net };
    }
    const bracket = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(text);
    const hostPort = bracket ?? (isIP(text) === 6 ? [text, text] : /^([^:/\s]+)(?::(\d+))?$/.exec(text));
    if (!hostPort) throw new InvalidParamsError(`--allow-fetch-from ${raw}: expected a host, host:port or CIDR`, { entry: raw });
    const entry: AllowEntry = { host: hostPort[1]! };
    if (hostPort[2] !== undefined) {
      const port = Number(hostPort[2]);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidParamsError(`--allow-fetch-from ${raw}: bad port`, { entry: raw });
      entry.port = port;
    }
    return entry;
  });
}

/** What {@link OutboundFetcher} is built from. */
export interface OutboundOptions {
  /** `--allow-fetch-from` entries. */
  allowFrom?: readonly string[];
  logger: Logger;
  /** Name resolution (default `dns.lookup`); tests give names of their own. */
  lookup?: (host: string) => Promise<LookupAddress[]>;
}

const defaultLookup = (host: string): Promise<LookupAddress[]> =>
  new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

/** A failure whose detail goes to the log only. */
class Quiet extends Error {}

/** Fetches URLs named by requests, under the policy above. */
export class OutboundFetcher {
  readonly #allow: AllowEntry[];
  readonly #log: Logger;
  readonly #lookup: (host: string) => Promise<LookupAddress[]>;

  constructor(options: OutboundOptions) {
    this.#allow = parseAllowList(options.allowFrom ?? []);
    this.#log = options.logger;
    this.#lookup = options.lookup ?? defaultLookup;
  }

  #allowed(name: string, address: string, port: number): boolean {
    const a = plain(address);
    for (const e of this.#allow) {
      if (e.net) {
        if (e.net.check(a.address, a.family)) return true;
      } else if ((e.host === name || e.host === a.address) && (e.port === undefined || e.port === port)) return true;
    }
    return false;
  }

  /** The addresses to connect to for `url`, every one of them permitted; throws ERR_FETCH_DENIED otherwise. */
  async #resolve(url: URL, shown: string): Promise<LookupAddress[]> {
    const name = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    let addresses: LookupAddress[];
    if (isIP(name)) addresses = [{ address: name, family: isIP(name) }];
    else {
      try {
        addresses = await this.#lookup(name);
      } catch (error) {
        throw new Quiet(`cannot resolve ${name}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    if (addresses.length === 0) throw new Quiet(`${name} resolves to nothing`);
    for (const a of addresses) {
      if (isInternalAddress(a.address) && !this.#allowed(name, a.address, port)) {
        throw new FetchDeniedError(`${shown} names a local or private address; the gateway fetches from those only when --allow-fetch-from names them`, { url: shown });
      }
    }
    return addresses;
  }

  /** Fetch `url` (http or https only), at most `limit` bytes, within `timeoutMs` for the whole chain of redirects. */
  async fetch(url: string, limit: number, timeoutMs: number): Promise<Uint8Array> {
    const shown = url.slice(0, 300);
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      throw new BadUrlError(`${JSON.stringify(shown)} is not a URL`, { url: shown });
    }
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new BadUrlError(`${shown} is not an http(s) URL`, { url: shown });
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (let hop = 0; ; hop++) {
        const addresses = await this.#resolve(current, shown);
        const res = await this.#get(current, addresses, signal);
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location !== undefined) {
          res.destroy();
          if (hop >= MAX_REDIRECTS) throw new Quiet(`more than ${MAX_REDIRECTS} redirects`);
          let next: URL;
          try {
            next = new URL(location, current);
          } catch {
            throw new Quiet('a redirect to something that is not a URL');
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Quiet(`a redirect to ${next.protocol}`);
          current = next;
          continue;
        }
        if (status < 200 || status >= 300) {
          res.destroy();
          throw new Quiet(`the server answered ${status}`);
        }
        return await readLimited(res, limit, signal);
      }
    } catch (error) {
      if (error instanceof FetchDeniedError) throw error;
      const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : (error as Error).message;
      this.#log.warn(`fetching ${shown} failed: ${reason}`);
      throw new FetchFailedError(`could not fetch ${shown}`, { url: shown });
    }
  }

  #get(url: URL, addresses: LookupAddress[], signal: AbortSignal): Promise<IncomingMessage> {
    // The socket connects only to the addresses checked above, whatever DNS says now.
    const lookup: LookupFunction = (_host, options, callback) => {
      const all = (options as { all?: boolean }).all === true;
      if (all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { accept: '*/*', 'user-agent': 'liquidmesh-gateway' },
        lookup,
        signal,
        agent: false,
      }, resolve);
      req.on('error', reject);
      req.end();
    });
  }
}

function readLimited(res: IncomingMessage, limit: number, signal: AbortSignal): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > limit) {
    res.destroy();
    return Promise.reject(new Quiet(`the body has ${declared} bytes; at most ${limit} are accepted`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => {
      res.destroy();
      reject(new Quiet('timed out'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        res.destroy();
        signal.removeEventListener('abort', onAbort);
        reject(new Quiet(`the body has more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(new Uint8Array(Buffer.concat(chunks)));
    });
    res.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
    res.on('aborted', () => reject(new Quiet('the connection closed early')));
  });
}

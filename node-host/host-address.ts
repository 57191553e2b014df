/** Facts about the addresses a host binds or is addressed by. */
import { isIP } from 'node:net';
import { hostname as osHostname, networkInterfaces } from 'node:os';

/** True for names and addresses that only this machine can reach (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** True for the wildcard addresses that bind every interface (0.0.0.0, ::). */
export function isWildcardHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === '0.0.0.0' || h === '::' || h === '';
}

/** Where {@link servedNames} learns about this machine; tests pass their own. */
export interface MachineFacts {
  hostname(): string;
  /** Non-loopback addresses of this machine's interfaces. */
  addresses(): string[];
}

const THIS_MACHINE: MachineFacts = {
  hostname: osHostname,
  addresses: () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => !a.internal).map((a) => a.address)),
};

/**
 * Every name and address a host bound to `host` is reached by, lower-case, without
 * duplicates: the bound address (every interface address for 0.0.0.0 or ::), the
 * machine's host name and `<hostname>.local` (mDNS), and localhost, 127.0.0.1 and ::1.
 * The server certificate covers exactly these, and a server may accept a request whose
 * Host header names one of them. IPv6 addresses are given without brackets; link-local
 * ones (fe80::/10, only meaningful with a zone) are left out.
 */
export function servedNames(host: string, machine: MachineFacts = THIS_MACHINE): string[] {
  const bound = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const names = new Set<string>();
  if (isWildcardHost(bound)) for (const a of machine.addresses()) names.add(a.toLowerCase());
  else names.add(bound);
  const name = machine.hostname().toLowerCase().replace(/\.$/, '');
  if (name && isIP(name) === 0) {
    names.add(name);
    // A host name that is already a .local name stays as it is.
    if (!name.endsWith('.local')) names.add(`${name.split('.')[0]}.local`);
  }
  for (const loopback of ['localhost', '127.0.0.1', '::1']) names.add(loopback);
  return [...names].filter((n) => !/^fe[89ab][0-9a-f]:/.test(n) && !n.includes('%'));
}

/**
 * The address to put in URLs for a host bound to `host`: itself, or for a wildcard bind
 * (0.0.0.0, ::) the machine's first LAN address (IPv4 first), so that a printed link or QR
 * code works from another device. Falls back to 127.0.0.1 on a machine without one.
 */
export function advertisedHost(host: string, machine: MachineFacts = THIS_MACHINE): string {
  if (!isWildcardHost(host)) return host;
  const lan = machine.addresses().filter((a) => !/^fe[89ab][0-9a-f]:/i.test(a) && !a.includes('%'));
  return lan.find((a) => isIP(a) === 4) ?? lan[0] ?? '127.0.0.1';
}

/** `url` with its host replaced by {@link advertisedHost} of its current host. */
export function advertisedUrl(url: string, machine: MachineFacts = THIS_MACHINE): string {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isWildcardHost(host)) return url;
  const shown = advertisedHost(host, machine);
  parsed.hostname = isIP(shown) === 6 ? `[${shown}]` : shown;
  return parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}

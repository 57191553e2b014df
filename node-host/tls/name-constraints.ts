/**
 * Name constraints for the local CA: the CA may only vouch for the names a LAN host can
 * have — private and loopback addresses, `.local` and `localhost`, and the host's own
 * names when it was made — so its key, if stolen, cannot impersonate public sites to the
 * devices that trust it. Encoded with @peculiar/asn1-x509 (RFC 5280 NameConstraints);
 * address ranges are checked with Node's BlockList.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { BlockList, isIP } from 'node:net';

/** Address ranges no public site can have: private, carrier-grade NAT, link-local, loopback, unique-local. */
export const LAN_RANGES: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8', 'fc00::/7', 'fe80::/10', '::1/128'];
/** DNS names (with their subdomains) no public site can have. */
export const LAN_DOMAINS: readonly string[] = ['local', 'localhost', 'home.arpa'];

/** The CA's nameConstraints extension (critical): LAN ranges and domains, plus `names` that fall outside them. */
export function nameConstraintsFor(names: readonly string[]): x509.Extension {
  const lan = { ranges: LAN_RANGES, domains: LAN_DOMAINS };
  const permitted = [...LAN_DOMAINS.map((d) => new GeneralName({ dNSName: d })), ...LAN_RANGES.map((r) => new GeneralName({ iPAddress: r }))];
  for (const name of names) {
    if (allows(lan, name)) continue;
    permitted.push(isIP(name) ? new GeneralName({ iPAddress: `${name}/${isIP(name) === 4 ? 32 : 128}` }) : new GeneralName({ dNSName: name }));
  }
  const value = new NameConstraints({ permittedSubtrees: new GeneralSubtrees(permitted.map((base) => new GeneralSubtree({ base }))) });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

/** True when a CA certificate may issue for every one of `names` (a CA without constraints may issue for any). */
export function constraintsAllow(ca: x509.X509Certificate, names: readonly string[]): boolean {
  const extension = ca.getExtension(id_ce_nameConstraints);
  if (!extension) return true;
  const constraints = AsnConvert.parse(extension.value, NameConstraints);
  const subtrees = [...(constraints.permittedSubtrees ?? [])];
  const permitted = {
    domains: subtrees.flatMap((s) => (s.base.dNSName === undefined ? [] : [s.base.dNSName.toLowerCase()])),
    ranges: subtrees.flatMap((s) => (s.base.iPAddress === undefined ? [] : [s.base.iPAddress])),
  };
  return names.every((name) => allows(permitted, name));
}

function allows(permitted: { domains: readonly string[]; ranges: readonly string[] }, name: string): boolean {
  const family = isIP(name);
  if (family === 0) return permitted.domains.some((d) => name === d || name.endsWith(`.${d}`));
  const list = new BlockList();
  for (const range of permitted.ranges) {
    const [address, prefix] = range.split('/') as [string, string | undefined];
    const rangeFamily = isIP(address);
    if (rangeFamily === 0) continue;
    list.addSubnet(address, Number(prefix ?? (rangeFamily === 4 ? 32 : 128)), rangeFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return list.check(name, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The members of a mesh with roles as its registry knows them — owners, and every key
 * holding a grant — with the device name each one claimed; and an owner's revocation of
 * one of them, written where every peer reads it (`trust/revoked/<key>`). Used by the
 * owner's tools: `liquidmesh keys revoke` (through the gateway) and the PWA's mesh view.
 * @module
 */
import { defineError } from '../errors.ts';
import type { PeerId } from '../ports/transport.ts';
import { openEntry } from '../trust/entry-auth.ts';
import { peerIdOfKey, PUBLIC_KEY_HEX, type Signer } from '../trust/keys.ts';
import { type MeshTrust, revokedKey } from '../trust/mesh-trust.ts';
import { InvalidGrantError, type Role } from '../trust/roles.ts';
import { checkRevocation, makeRevocation, type Revocation } from '../trust/statements.ts';
import type { Registry } from './registry.ts';

/** A member reference (name, peer id or key) that names no member, or a revocation that is not an owner's. */
export const UnknownMemberError = defineError('ERR_UNKNOWN_MEMBER', 'UnknownMemberError');

/** One member as an owner sees it. */
export interface Member {
  /** Public key (hex). */
  key: string;
  /** Peer id the key derives to. */
  id: PeerId;
  /** The device name it claimed ('' when none). */
  name: string;
  /** Its role now (undefined: none, e.g. revoked or expired). */
  role: Role | undefined;
  revoked: boolean;
}

function nameClaims(registry: Registry): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const id of registry.trust.keys()) {
    if (!id.startsWith('name/')) continue;
    const claim = registry.trust.get(id) as { key?: unknown; name?: unknown } | undefined;
    if (typeof claim?.key === 'string' && typeof claim.name === 'string' && !byKey.has(claim.key)) byKey.set(claim.key, claim.name);
  }
  return byKey;
}

/**
 * The name `key` claimed for itself, read from the stored claim whose signature is that
 * key's even though the claim no longer counts (its author was revoked): so that a revoked
 * member is still shown by its name, never to resolve a name to a key.
 */
function ownClaimedName(registry: Registry, key: string): string | undefined {
  for (const [id, raw] of registry.doc.getMap('trust').entries()) {
    if (!id.startsWith('name/')) continue;
    const opened = openEntry('trust', id, raw);
    if (opened.ok && opened.author === key && opened.value.key === key && typeof opened.value.name === 'string') return opened.value.name;
  }
  return undefined;
}

/** Every owner and every key with a grant (revoked ones too), owners first. */
export function listMembers(registry: Registry, trust: MeshTrust): Member[] {
  const lookup = (id: string): unknown => registry.trust.get(id);
  const names = nameClaims(registry);
  const keys = new Set(trust.owners);
  for (const id of registry.trust.keys()) if (id.startsWith('grant/')) keys.add(id.slice('grant/'.length));
  return [...keys].filter((k) => PUBLIC_KEY_HEX.test(k)).map((key) => {
    const id = peerIdOfKey(key);
    const revoked = trust.isRevoked(key, lookup);
    const name = names.get(key) ?? registry.devices.get(id)?.name ?? (revoked ? ownClaimedName(registry, key) : undefined) ?? '';
    return { key, id, name, role: trust.roleOf(key, lookup), revoked };
  });
}

/**
 * The key `ref` names: a public key (64 hex digits), a peer id, or a device name.
 * @throws UnknownMemberError (ERR_UNKNOWN_MEMBER) when no member matches.
 */
export function resolveMember(registry: Registry, trust: MeshTrust, ref: string): Member {
  const members = listMembers(registry, trust);
  const found = members.find((m) => m.key === ref) ?? members.find((m) => m.id === ref) ?? members.find((m) => m.name === ref);
  if (!found) throw new UnknownMemberError(`no member of mesh ${trust.mesh} is named "${ref.slice(0, 80)}" (a device name, peer id or public key)`, { member: ref.slice(0, 80) });
  return found;
}

/**
 * Write an owner's revocation into the registry, where every peer reads it and cuts the
 * key off. The revocation proves itself (the CLI signs it with the owner's key file), so
 * whoever relays it needs no authority of its own.
 * @throws InvalidGrantError (ERR_INVALID_GRANT) when it is not an owner's revocation of a member.
 */
export function writeRevocation(registry: Registry, trust: MeshTrust, revocation: Revocation): void {
  const subject: unknown = typeof revocation === 'object' && revocation !== null ? revocation.subject : undefined;
  if (typeof subject !== 'string' || !checkRevocation(revocation, subject, trust)) throw new InvalidGrantError('not a revocation signed by an owner of this mesh');
  if (trust.isOwner(subject)) throw new InvalidGrantError('an owner key cannot be revoked: every member is configured with it');
  registry.trust.set({ id: revokedKey(revocation.subject), revocation });
}

/** Revoke the member `ref` names, signing with `owner` (a root key of this mesh). */
export function revokeMember(registry: Registry, trust: MeshTrust, owner: Signer, ref: string, now: number): Member {
  const member = resolveMember(registry, trust, ref);
  writeRevocation(registry, trust, makeRevocation(owner, { mesh: trust.mesh, subject: member.key, at: now }));
  return { ...member, role: undefined, revoked: true };
}

/**
 * Who is who in one mesh: the owner keys (its roots, known from the invitation or
 * mesh.json every member starts with) and, read from the registry's `trust` map, the
 * grants, redemptions and revocations. Answers "what role does this key hold now?"
 * synchronously, because the registry asks it for every entry it reads.
 *
 * Registry layout of the `trust` map (each value a signed registry entry, `entry-auth.ts`):
 *   grant/<key>        { grant }          the member's grant, written by the member
 *   redeemed/<invkey>  { subject, grant } the first redemption of a single-use invitation
 *   revoked/<key>      { revocation }     an owner's revocation
 *   name/<name>        { key, at }        who claimed a device name first
 * @module
 */
import type { MeshError } from '../errors.ts';
import { checkGrant, checkRevocation, type Grant, type TrustRoots } from './statements.ts';
import { ExpiredGrantError, InvitationUsedError, NotAMemberError, type Role } from './roles.ts';
import { InvalidGrantError } from './roles.ts';

/** Reads one raw value of the registry's `trust` map (undefined when absent). */
export type TrustLookup = (id: string) => unknown;

/** Trust map key of a member's grant. */
export const grantKey = (key: string): string => `grant/${key}`;
/** Trust map key of an invitation's redemption. */
export const redeemedKey = (invitationKey: string): string => `redeemed/${invitationKey}`;
/** Trust map key of a revocation. */
export const revokedKey = (key: string): string => `revoked/${key}`;
/** Trust map key of a name claim. */
export const nameKey = (name: string): string => `name/${name}`;

/** A key's standing: its role, or why it has none. */
export type Standing = { role: Role; grant?: Grant } | { role: undefined; error: MeshError };

/** The roots of a mesh and the standing of keys in it. */
export class MeshTrust implements TrustRoots {
  readonly mesh: string;
  readonly owners: ReadonlySet<string>;
  readonly #now: () => number;

  constructor(options: { mesh: string; owners: Iterable<string>; now?: () => number }) {
    this.mesh = options.mesh;
    this.owners = new Set(options.owners);
    this.#now = options.now ?? (() => Date.now());
  }

  /** True for an owner key. */
  isOwner(key: string): boolean {
    return this.owners.has(key);
  }

  /** True when an owner revoked `key`. */
  isRevoked(key: string, lookup: TrustLookup): boolean {
    const revoked = field(lookup(revokedKey(key)), 'revocation');
    return revoked !== undefined && checkRevocation(revoked, key, this);
  }

  /** The role `key` holds now, if any. */
  roleOf(key: string, lookup: TrustLookup): Role | undefined {
    return this.standing(key, lookup).role;
  }

  /** The role `key` holds now, or the named reason it holds none. */
  standing(key: string, lookup: TrustLookup): Standing {
    if (this.owners.has(key)) return { role: 'owner' };
    const revoked = field(lookup(revokedKey(key)), 'revocation');
    if (revoked !== undefined && checkRevocation(revoked, key, this)) return { role: undefined, error: new NotAMemberError(`key ${key.slice(0, 16)}… was revoked by an owner`) };
    const raw = field(lookup(grantKey(key)), 'grant');
    if (raw === undefined) return { role: undefined, error: new NotAMemberError(`key ${key.slice(0, 16)}… holds no grant in mesh ${this.mesh}`) };
    const checked = checkGrant(raw, this);
    if (!checked.ok) return { role: undefined, error: new InvalidGrantError(checked.error) };
    const grant = checked.grant;
    if (grant.subject !== key) return { role: undefined, error: new InvalidGrantError('the grant is for another key') };
    if (grant.expires !== 0 && grant.expires < this.#now()) return { role: undefined, error: new ExpiredGrantError(`the grant of ${key.slice(0, 16)}… expired`) };
    if (grant.invitation?.once) {
      const redemption = lookup(redeemedKey(grant.invitation.key));
      const subject = typeof redemption === 'object' && redemption !== null ? (redemption as { subject?: unknown }).subject : undefined;
      if (subject !== key) return { role: undefined, error: new InvitationUsedError(`the single-use invitation ${grant.invitation.key.slice(0, 16)}… was redeemed by another key`) };
    }
    return { role: grant.role, grant };
  }
}

function field(entry: unknown, name: string): unknown {
  return typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)[name] : undefined;
}

/**
 * A peer taking its place in a mesh with roles, as it starts: it writes its grant (made
 * by an owner, or redeemed from an invitation with the invitation's key) and, for a
 * single-use invitation, the redemption, then claims its device name. Each step is a
 * signed registry entry that every other peer checks (`trust/write-policy.ts`).
 * @module
 */
import { toHex } from '../bytes.ts';
import type { Identity } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import { grantKey, type MeshTrust, nameKey, redeemedKey } from '../trust/mesh-trust.ts';
import { ExpiredGrantError, InvitationUsedError, NameTakenError } from '../trust/roles.ts';
import { type Grant, type InvitationToken, redeemInvitation } from '../trust/statements.ts';
import type { Registry } from './registry.ts';

/** A peer's place in a mesh with roles. */
export interface PeerRoles {
  /** The mesh's name, as its grants say it. */
  mesh: string;
  /** Owner public keys (hex). */
  owners: string[];
  /** A grant an owner made for this peer's key. */
  grant?: Grant;
  /** Or an invitation to redeem (its token: invitation + seed). */
  invitation?: InvitationToken;
}

/**
 * Write this peer's grant (unless it already holds a role) and claim its name. Throws
 * ERR_GRANT_EXPIRED or ERR_INVITATION_USED when the invitation cannot be redeemed, and
 * ERR_NAME_TAKEN when another key holds the name.
 */
export function joinWithRoles(o: { registry: Registry; trust: MeshTrust; identity: Identity; roles: PeerRoles; name: string; now: number; logger: Logger }): void {
  const { registry, trust, roles } = o;
  const self = toHex(o.identity.publicKey);
  const lookup = (id: string): unknown => registry.trust.get(id);
  if (!trust.isOwner(self) && trust.standing(self, lookup).role === undefined) {
    const grant = roles.grant ?? (roles.invitation ? redeem(roles.invitation, self, o.now, lookup) : undefined);
    if (grant) {
      registry.transact(() => {
        registry.trust.set({ id: grantKey(self), grant });
        if (grant.invitation?.once) registry.trust.set({ id: redeemedKey(grant.invitation.key), subject: self, grant });
      });
    }
    const standing = trust.standing(self, lookup);
    if (standing.role === undefined) {
      // Without a role nothing it writes counts, its name claim neither.
      o.logger.error(`this peer is not a member of mesh ${roles.mesh}: ${standing.error.message} (${standing.error.code})`);
      return;
    }
    o.logger.debug(`member of mesh ${roles.mesh} as ${standing.role}`);
  }
  const claim = registry.trust.get(nameKey(o.name));
  if (claim?.key === self) return;
  if (claim !== undefined) throw new NameTakenError(`the name "${o.name}" belongs to another key in mesh ${roles.mesh}`, { name: o.name });
  registry.trust.set({ id: nameKey(o.name), name: o.name, key: self, at: o.now });
}

function redeem(token: InvitationToken, self: string, now: number, lookup: (id: string) => unknown): Grant {
  const inv = token.invitation;
  if (now > inv.expires) throw new ExpiredGrantError(`the invitation expired at ${new Date(inv.expires).toISOString()}`);
  const redemption = lookup(redeemedKey(inv.key)) as { subject?: unknown } | undefined;
  if (inv.once && redemption !== undefined && redemption.subject !== self) throw new InvitationUsedError('this single-use invitation was already redeemed by another key');
  return redeemInvitation(token, self, now);
}

/**
 * Invitations on the command line (ADR 0025): `liquidmesh keys invite` makes one with an
 * owner key of the key store, `liquidmesh peer --invitation TOKEN` joins with one. The
 * token carries the invitation (signed by the owner) and the seed of its one-time key;
 * the owner's own key never leaves its file.
 */
import type { PeerRoles } from '../../shared/registry/join-roles.ts';
import { isRole, type Role } from '../../shared/trust/roles.ts';
import { decodeInvitationToken, encodeInvitationToken, makeInvitation } from '../../shared/trust/statements.ts';
import { PUBLIC_KEY_HEX } from '../../shared/trust/keys.ts';
import type { UserKey } from './key-store.ts';

/** Default lifetime of an invitation: one day to redeem it. */
export const DEFAULT_INVITATION_HOURS = 24;

/** An invitation token by `owner` for `role` in `mesh`. */
export function inviteToken(owner: UserKey, o: { mesh: string; role?: string; hours?: number; reusable?: boolean; now?: number }): string {
  const role = o.role ?? 'device';
  if (!isRole(role)) throw new RangeError(`--role must be device, operator or owner, not "${role}"`);
  const hours = o.hours ?? DEFAULT_INVITATION_HOURS;
  if (!Number.isFinite(hours) || hours <= 0) throw new RangeError('--hours must be a positive number');
  const token = makeInvitation(owner.identity, { mesh: o.mesh, role: role as Role, expires: (o.now ?? Date.now()) + hours * 3_600_000, once: !o.reusable });
  return encodeInvitationToken(token);
}

/**
 * The roles of a peer that joins with `token`: the owner who signed the invitation, plus
 * every `--owner HEX` given. Throws ERR_INVALID_GRANT for a token that is not one.
 */
export function rolesFromInvitation(token: string, argv: readonly string[]): PeerRoles {
  const decoded = decodeInvitationToken(token);
  const owners = new Set([decoded.invitation.by]);
  argv.forEach((arg, i) => {
    if (arg !== '--owner') return;
    const key = argv[i + 1] ?? '';
    if (!PUBLIC_KEY_HEX.test(key)) throw new RangeError('--owner wants a public key: 64 lowercase hex digits');
    owners.add(key);
  });
  return { mesh: decoded.invitation.mesh, owners: [...owners], invitation: decoded };
}

/**
 * What a peer holding an owner key of its mesh (start's node-1) does for the other owners:
 * it makes invitations and revocations, which only a root key can sign, when a member
 * with the `owner` role asks (`rpc-policy.ts` checks the role before the handler runs).
 * So an owner's browser tab, which holds a grant but no root key, can put an invitation
 * for the role it picks into its join QR code, and revoke a member from its mesh view.
 *
 *   trust.invite  {role?, hours?, reusable?}  → {token, role, expires, once}
 *   trust.revoke  {member}                    → the member, revoked
 * @module
 */
import { toHex } from '../bytes.ts';
import type { Unsubscribe } from '../events.ts';
import { InvalidParamsError } from '../errors.ts';
import { type Member, revokeMember } from '../registry/members.ts';
import { isRole, type Role } from '../trust/roles.ts';
import { encodeInvitationToken, makeInvitation } from '../trust/statements.ts';
import type { Peer } from './peer.ts';

/** An invitation made on request. */
export interface InvitationReply {
  /** The token a join URL carries (`invite=`). */
  token: string;
  role: Role;
  /** Redeem by (ms since epoch). */
  expires: number;
  /** Single use. */
  once: boolean;
}

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    'trust.invite': { params: { role?: string; hours?: number; reusable?: boolean }; result: InvitationReply };
    'trust.revoke': { params: { member: string }; result: Member };
  }
}

/** How long an invitation made for a join QR code may wait to be redeemed, by default. */
export const QR_INVITATION_HOURS = 24;
const MAX_HOURS = 24 * 30;

/** An invitation for `role` signed by `peer`'s own key (an owner key of its mesh). */
export function inviteFrom(peer: Peer, o: { role?: string; hours?: number; reusable?: boolean; now: number }): InvitationReply {
  const trust = peer.registry.gate?.trust;
  if (!trust || !trust.isOwner(toHex(peer.identity.publicKey))) throw new InvalidParamsError('this peer holds no owner key of its mesh');
  const role = o.role ?? 'device';
  if (!isRole(role)) throw new InvalidParamsError(`role must be device, operator or owner, not "${String(role).slice(0, 40)}"`);
  const hours = o.hours ?? QR_INVITATION_HOURS;
  if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > MAX_HOURS) throw new InvalidParamsError(`hours must be a number above 0 and at most ${MAX_HOURS}`);
  const expires = o.now + hours * 3_600_000;
  const once = o.reusable !== true;
  const token = makeInvitation(peer.identity, { mesh: trust.mesh, role, expires, once });
  return { token: encodeInvitationToken(token), role, expires, once };
}

/** Serve `trust.invite` and `trust.revoke` from `peer`, an owner of its mesh. */
export function serveOwnerRequests(peer: Peer, now: () => number = () => Date.now()): Unsubscribe {
  const trust = peer.registry.gate?.trust;
  if (!trust || !trust.isOwner(toHex(peer.identity.publicKey))) throw new InvalidParamsError('only a peer holding an owner key serves owner requests');
  const offs = [
    peer.rpc.handle('trust.invite', (p) => inviteFrom(peer, { ...p, now: now() })),
    peer.rpc.handle('trust.revoke', (p) => {
      if (typeof p?.member !== 'string' || p.member === '') throw new InvalidParamsError('member: a device name, peer id or public key');
      return revokeMember(peer.registry, trust, peer.identity, p.member, now());
    }),
  ];
  return () => offs.forEach((off) => off());
}

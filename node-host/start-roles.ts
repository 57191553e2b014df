/**
 * Roles in the mesh `liquidmesh start` runs (ADR 0025): the owner key is made on the first
 * start and kept as `<data dir>/keys/owner.key` (0600) — the key `liquidmesh keys invite`
 * and `keys revoke` sign with — and node-1 runs with it, so node-1 is the mesh's owner
 * and its gateway acts with an owner's power (its callers pass the gateway's own token,
 * Host and Origin checks first). Every other peer joins with an invitation: chromium-1
 * with one handed to its page before any script runs, phones with the one in the join
 * URL and its QR code. What the registry keeps (grants, redemptions, revocations) lives
 * in each peer's data, so a restart needs no new invitation.
 * With `--ephemeral` the owner key lives in memory for this run only.
 */
import { toHex } from '../shared/bytes.ts';
import { Identity } from '../shared/identity/identity.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import type { Role } from '../shared/trust/roles.ts';
import { encodeInvitationToken, makeInvitation } from '../shared/trust/statements.ts';
import { loadOrCreateUserKey, OWNER_KEY_NAME } from './keys/key-store.ts';

/** How long a join link printed by `start` lets devices join: a day, then a restart prints a new one. */
export const JOIN_INVITATION_HOURS = 24;
/** How long chromium-1 has to redeem its invitation. */
const LAUNCH_INVITATION_HOURS = 1;

/** The roles of a started mesh. */
export interface StartRoles {
  /** The owner key: node-1's identity. */
  owner: Identity;
  /** The mesh's owner keys (hex): what every member is configured with. */
  owners: string[];
  /** node-1's roles options: an owner needs no grant. */
  node: PeerRoles;
  /** A new invitation token by the owner. */
  invite(role: Role, o?: { hours?: number; reusable?: boolean; now?: number }): string;
}

/** Load (or on the first start make) the owner key of `dataDir`; in memory when null. */
export async function startRoles(dataDir: string | null, mesh: string): Promise<StartRoles> {
  const owner = dataDir === null ? await Identity.generate() : (await loadOrCreateUserKey(OWNER_KEY_NAME, dataDir)).identity;
  const owners = [toHex(owner.publicKey)];
  return {
    owner,
    owners,
    node: { mesh, owners },
    invite(role, o = {}) {
      const now = o.now ?? Date.now();
      const token = makeInvitation(owner, { mesh, role, expires: now + (o.hours ?? JOIN_INVITATION_HOURS) * 3_600_000, once: o.reusable !== true });
      return encodeInvitationToken(token);
    },
  };
}

/** The invitation chromium-1 redeems on its first start (single use, an hour). */
export function launchInvitation(roles: StartRoles): string {
  return roles.invite('device', { hours: LAUNCH_INVITATION_HOURS });
}

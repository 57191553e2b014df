/**
 * Roles of a mesh's members and the errors of authority. Three roles, each including the
 * one below it: `device` hosts modules and writes its own description, presence and
 * phases; `operator` publishes modules, creates and changes deployments and calls
 * functions; `owner` grants and revokes. Owners are the keys listed in the mesh's
 * configuration; everyone else holds the role of an owner-rooted grant (`statements.ts`).
 * @module
 */
import { defineError } from '../errors.ts';

/** A member's role. */
export type Role = 'device' | 'operator' | 'owner';

/** Every role, weakest first. */
export const ROLES: readonly Role[] = ['device', 'operator', 'owner'];

/** True for a known role name. */
export function isRole(value: unknown): value is Role {
  return value === 'device' || value === 'operator' || value === 'owner';
}

/** True when `role` includes what `needed` may do (no role includes nothing). */
export function roleAtLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** The caller's role does not allow what it asked (a device deploying, a device reading history…). */
export const RoleRequiredError = defineError('ERR_ROLE_REQUIRED', 'RoleRequiredError');
/** The caller holds no valid grant in this mesh (none, expired, or revoked). */
export const NotAMemberError = defineError('ERR_NOT_A_MEMBER', 'NotAMemberError');
/** A grant, invitation or revocation whose signature or chain does not hold. */
export const InvalidGrantError = defineError('ERR_INVALID_GRANT', 'InvalidGrantError');
/** A single-use invitation that another key already redeemed. */
export const InvitationUsedError = defineError('ERR_INVITATION_USED', 'InvitationUsedError');
/** An invitation or grant past its expiry. */
export const ExpiredGrantError = defineError('ERR_GRANT_EXPIRED', 'ExpiredGrantError');
/** A registry write this key may not make (another device's entry, a deployment by a device…). */
export const WriteForbiddenError = defineError('ERR_WRITE_FORBIDDEN', 'WriteForbiddenError');
/** A device name already claimed by another key. */
export const NameTakenError = defineError('ERR_NAME_TAKEN', 'NameTakenError');
/** A registry entry larger than an entry may be. */
export const EntryTooLargeError = defineError('ERR_ENTRY_TOO_LARGE', 'EntryTooLargeError');

/**
 * The roles this page joins its mesh with (ADR 0025), from, in order:
 *   1. the command that launched this browser (`liquidmesh start`'s chromium-1): the
 *      owners and an invitation, set before the page's scripts by
 *      node-host/headless/chromium.ts — never through a URL;
 *   2. the join link's `invite` parameter (a phone that scanned the QR code): the
 *      invitation, whose signer is the mesh's owner;
 *   3. what this browser kept from an earlier join of the same mesh: the owner keys. Its
 *      grant is in the registry kept in IndexedDB, so no invitation is needed again.
 * None of them: a mesh without roles (any member may do anything).
 * @module
 */
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import { PUBLIC_KEY_HEX } from '../shared/trust/keys.ts';
import { InvalidGrantError } from '../shared/trust/roles.ts';
import { decodeInvitationToken } from '../shared/trust/statements.ts';

/** The query parameter of a join link carrying an invitation token. */
export const INVITE_PARAM = 'invite';

const storageKey = (mesh: string): string => `liquidmesh-roles:${mesh}`;

type Scope = { __liquidmeshRoles?: unknown };

function owners(value: unknown): string[] | null {
  return Array.isArray(value) && value.length > 0 && value.every((k) => typeof k === 'string' && PUBLIC_KEY_HEX.test(k)) ? (value as string[]) : null;
}

/**
 * The page's roles for `mesh`, or undefined in a mesh without roles. Keeps the owners of
 * an invitation for later joins.
 * @throws InvalidGrantError (ERR_INVALID_GRANT) for an invitation that is not one, or one of another mesh.
 */
export function pageRoles(o: { mesh: string; params: URLSearchParams; scope?: Scope; storage?: Pick<Storage, 'getItem' | 'setItem'> }): PeerRoles | undefined {
  const scope = o.scope ?? (globalThis as Scope);
  const storage = o.storage ?? localStorage;
  const keep = (roles: PeerRoles): PeerRoles => {
    try {
      storage.setItem(storageKey(o.mesh), JSON.stringify({ owners: roles.owners }));
    } catch {
      // Storage disabled: the next join needs the link again.
    }
    return roles;
  };
  if (typeof scope.__liquidmeshRoles === 'string') {
    const given = JSON.parse(scope.__liquidmeshRoles) as { mesh?: unknown; owners?: unknown; invitation?: unknown };
    const keys = owners(given.owners);
    if (given.mesh === o.mesh && keys) {
      return keep({ mesh: o.mesh, owners: keys, ...(typeof given.invitation === 'string' ? { invitation: decodeInvitationToken(given.invitation) } : {}) });
    }
  }
  const text = o.params.get(INVITE_PARAM);
  if (text) {
    const invitation = decodeInvitationToken(text);
    if (invitation.invitation.mesh !== o.mesh) throw new InvalidGrantError(`the invitation is for mesh ${invitation.invitation.mesh}, this link joins ${o.mesh}`);
    return keep({ mesh: o.mesh, owners: [invitation.invitation.by], invitation });
  }
  try {
    const kept = JSON.parse(storage.getItem(storageKey(o.mesh)) ?? 'null') as { owners?: unknown } | null;
    const keys = owners(kept?.owners);
    return keys ? { mesh: o.mesh, owners: keys } : undefined;
  } catch {
    return undefined;
  }
}

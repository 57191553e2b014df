/**
 * The mesh's members, for its owners' tools (ADR 0025): `GET /trust/members` names the
 * mesh and its owner keys and lists every owner and granted key with its device name and
 * role; `POST /trust/revocations` takes an
 * owner-signed revocation (`{revocation}`, as `liquidmesh keys revoke` signs it with the
 * owner's key file) and writes it into the registry, where every peer reads it and cuts
 * the key off. The gateway only relays it: the statement proves itself, so the gateway's
 * own role gives it no power over membership. Both answer ERR_NO_ROLES on a peer whose
 * mesh has no roles.
 */
import { defineError } from '../../shared/errors.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import { listMembers, resolveMember, writeRevocation } from '../../shared/registry/members.ts';
import type { MeshTrust } from '../../shared/trust/mesh-trust.ts';
import type { Revocation } from '../../shared/trust/statements.ts';
import type { GatewayContext } from './context.ts';
import { explain, parseJson, readBody, sendJson } from './http.ts';
import type { Router } from './router.ts';

/** The gateway's peer is in a mesh without roles: there are no members to list or revoke. */
export const NoRolesError = defineError('ERR_NO_ROLES', 'NoRolesError');

/** Status codes of this API's errors. */
const STATUS = { ERR_NO_ROLES: 409, ERR_UNKNOWN_MEMBER: 404, ERR_INVALID_GRANT: 400 };

/** Register the member routes. */
export function trustRoutes(router: Router, g: GatewayContext): void {
  const { peer } = g.node;
  const trust = (): MeshTrust => {
    const found = peer.registry.gate?.trust;
    if (!found) throw new NoRolesError('this mesh has no roles: start it with `liquidmesh start` or give its peers invitations');
    return found;
  };

  router.on('GET', '/trust/members', async ({ res }) => {
    const answer = await explain('Failed listing members', () => {
      const roots = trust();
      return { mesh: roots.mesh, owners: [...roots.owners], members: listMembers(peer.registry, roots) };
    }, STATUS);
    sendJson(res, 200, answer);
  });

  router.on('POST', '/trust/revocations', async ({ req, res }) => {
    const member = await explain('Failed revoking', async () => {
      const body = parseJson(await readBody(req, g.limits.jsonBytes));
      const revocation = isPlainObject(body) ? body.revocation : undefined;
      const roots = trust();
      writeRevocation(peer.registry, roots, revocation as Revocation);
      return resolveMember(peer.registry, roots, (revocation as Revocation).subject);
    }, STATUS);
    sendJson(res, 200, member);
  });
}

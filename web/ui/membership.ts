/**
 * This page's standing in a mesh with roles (ADR 0025), as the views show it: its role,
 * or why it has none (an invitation someone else redeemed first, an expired one, a
 * revocation), the role of each device, and the peer that holds an owner key (start's
 * node-1), which makes invitations and revocations for owner pages
 * (shared/mesh/owner-service.ts).
 * @module
 */
import { toHex } from '../../shared/bytes.ts';
import { listMembers, type Member } from '../../shared/registry/members.ts';
import type { Role } from '../../shared/trust/roles.ts';
import type { MeshNode } from './controllers.ts';

/** Where this page stands: no roles in this mesh, a role, or none with the reason. */
export type Membership = { roles: false } | { roles: true; role: Role } | { roles: true; role: undefined; error: string; code: string };

/** This page's membership now. */
export function membershipOf(node: MeshNode | undefined): Membership {
  const trust = node?.peer.registry.gate?.trust;
  if (!node || !trust) return { roles: false };
  const registry = node.peer.registry;
  const standing = trust.standing(toHex(node.peer.identity.publicKey), (id) => registry.trust.get(id));
  return standing.role !== undefined ? { roles: true, role: standing.role } : { roles: true, role: undefined, error: standing.error.message, code: standing.error.code };
}

/** The role of device `id` (by the key of its record), if the mesh has roles and it holds one. */
export function roleOfDevice(node: MeshNode | undefined, id: string): Role | undefined {
  const registry = node?.peer.registry;
  const trust = registry?.gate?.trust;
  const key = registry?.devices.get(id)?.publicKey;
  return trust && key ? trust.roleOf(key, (k) => registry.trust.get(k)) : undefined;
}

/**
 * Members an owner revoked, with the names they had claimed: a revoked member's own
 * entries no longer count, so without this its name would vanish from the views.
 */
export function revokedMembers(node: MeshNode | undefined): Member[] {
  const registry = node?.peer.registry;
  const trust = registry?.gate?.trust;
  if (!registry || !trust) return [];
  return listMembers(registry, trust).filter((m) => m.revoked);
}

/** An alive peer (not this one) that holds an owner key of the mesh: it serves owner requests. */
export function ownerPeerOf(node: MeshNode | undefined): string | undefined {
  const peer = node?.peer;
  const trust = peer?.registry.gate?.trust;
  if (!peer || !trust) return undefined;
  const alive = new Set(peer.alive());
  return peer.registry.devices.values().find((d) => d.id !== peer.id && alive.has(d.id) && d.publicKey !== undefined && trust.isOwner(d.publicKey))?.id;
}

/** A one-line description of `m` for the views ('' in a mesh without roles). */
export function membershipText(m: Membership): string {
  if (!m.roles) return '';
  return m.role !== undefined ? `This device is a member of the mesh as ${m.role}.` : `This device is not a member of the mesh: ${m.error} (${m.code})`;
}

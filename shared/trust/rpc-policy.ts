/**
 * Which role each request between peers needs. Reading another device's request history
 * (arguments and results) is for operators; calling a function, running a chain step and
 * migrating are for operators or for the peers a deployment placed a step on (a chain
 * forwards from device to device, a migration moves from one to another); the plumbing
 * every member needs (describe, ping, blobs, pub/sub) is for any member. A method not
 * listed needs an operator: new methods are closed until someone opens them.
 * @module
 */
import type { MeshError } from '../errors.ts';
import { NotAMemberError, type Role, RoleRequiredError, roleAtLeast } from './roles.ts';

/** What a method needs. */
export interface MethodRule {
  role: Role;
  /** A peer placed on a step of the deployment named in the params may call it too. */
  participants?: boolean;
}

/** The rules of the methods peers serve. */
export const METHOD_RULES: Readonly<Record<string, MethodRule>> = {
  'peer.describe': { role: 'device' },
  'peer.ping': { role: 'device' },
  'blob.has': { role: 'device' },
  'blob.read': { role: 'device' },
  'network.ping': { role: 'device' },
  'pubsub.deliver': { role: 'device' },
  'supervisor.deployed': { role: 'device' },
  'supervisor.history': { role: 'operator' },
  'supervisor.call': { role: 'operator', participants: true },
  'chain.run': { role: 'operator', participants: true },
  'migration.start': { role: 'operator', participants: true },
  'migration.prepare': { role: 'operator', participants: true },
  'migration.stream': { role: 'operator', participants: true },
  'migration.part': { role: 'operator', participants: true },
  'migration.round': { role: 'operator', participants: true },
  'migration.commit': { role: 'operator', participants: true },
  'migration.abort': { role: 'operator', participants: true },
  // Served by a peer holding an owner key (mesh/owner-service.ts) for the other owners.
  'trust.invite': { role: 'owner' },
  'trust.revoke': { role: 'owner' },
};

/** The deployment id a request names, if any (`deploymentId` in its params). */
export function deploymentOfParams(params: unknown): string | undefined {
  const id = typeof params === 'object' && params !== null ? (params as { deploymentId?: unknown }).deploymentId : undefined;
  return typeof id === 'string' ? id : undefined;
}

/** What is known of a caller when its request arrives. */
export interface Caller {
  /** Its role, or undefined with the reason. */
  role: Role | undefined;
  /** Why it has no role (shown to it). */
  error?: MeshError;
  /** Whether it takes part in the deployment the request names. */
  participant: () => boolean;
}

/** Why `caller` may not call `method`, or undefined when it may. */
export function refuseCall(method: string, caller: Caller): MeshError | undefined {
  const rule = METHOD_RULES[method] ?? { role: 'operator' as Role };
  if (caller.role === undefined) return caller.error ?? new NotAMemberError(`${method} is for members of the mesh`);
  if (roleAtLeast(caller.role, rule.role)) return undefined;
  if (rule.participants && caller.participant()) return undefined;
  return new RoleRequiredError(`${method} needs the ${rule.role} role${rule.participants ? ' or a step of the deployment' : ''}; the caller is a ${caller.role}`, { method, needed: rule.role, role: caller.role });
}

/**
 * The one key of a deployed module on a peer: its deployment and its name there. Tables
 * keyed by it (versions, subscriptions, the step agent's work) build it only here and
 * read it back only here, so a deployment id holding any character cannot be confused
 * with another pair.
 * @module
 */

/** A (deployment, module name) pair as a map key; made by {@link moduleKey} alone. */
export type ModuleKey = string & { readonly __moduleKey: true };

/** A deployed module named by its deployment and its name within it. */
export interface ModuleName {
  deploymentId: string;
  name: string;
}

// NUL cannot appear in a deployment id or a module name a schema accepts, so the join is unambiguous.
const SEPARATOR = '\u0000';

/** The key of module `name` of `deploymentId`. */
export function moduleKey(deploymentId: string, name: string): ModuleKey {
  return `${deploymentId}${SEPARATOR}${name}` as ModuleKey;
}

/** The deployment and module a key names. */
export function moduleOfKey(key: ModuleKey): ModuleName {
  const at = key.indexOf(SEPARATOR);
  return { deploymentId: key.slice(0, at), name: key.slice(at + 1) };
}

/** `deployment/module`, for messages and logs. */
export function showModuleKey(key: ModuleKey): string {
  const { deploymentId, name } = moduleOfKey(key);
  return `${deploymentId}/${name}`;
}

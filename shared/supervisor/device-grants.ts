/**
 * The device's side of capability grants: its owner's policy, applied to each module it
 * loads. A deployment's request only bounds what a module may get; what it is granted is
 * the part of that request the policy offers to the deployment's operator and the
 * module's verified publisher. The sandbox then refuses any import outside the grant
 * (ERR_IMPORT_DENIED, naming it). When the owner changes the policy (switches the camera
 * off), host services of modules already loaded are checked against the new policy on
 * every call, so a withdrawn capability stops at once, without a reload.
 * @module
 */
import type { HostServices } from '../ports/sandbox.ts';
import { HOST_IMPORTS, isGranted } from '../sandbox/capabilities.ts';
import { ImportDeniedError } from '../sandbox/errors.ts';
import { type CapabilityPolicy, grantedCapabilities, type Requester } from '../trust/capability-policy.ts';

/** Services whose calls are not checked here: pub/sub topics have their own grants. */
const UNCHECKED = new Set<string>(['publish', 'subscribe']);

/** One device's capability policy and what it granted to each loaded module. */
export class DeviceGrants {
  #policy: CapabilityPolicy;
  readonly #requests = new Map<string, { requested: string[]; who: Requester }>();
  readonly #listeners = new Set<(policy: CapabilityPolicy) => void>();

  constructor(policy: CapabilityPolicy) {
    this.#policy = policy;
  }

  /** The owner's current policy. */
  get policy(): CapabilityPolicy {
    return this.#policy;
  }

  /** Replace the policy; loaded modules lose what it no longer offers on their next host call. */
  set(policy: CapabilityPolicy): void {
    this.#policy = policy;
    for (const l of this.#listeners) l(policy);
  }

  /** Be told of every policy change; returns the unsubscribe function. */
  onChange(listener: (policy: CapabilityPolicy) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** What the module loaded under `key` is granted of `requested`; remembered for the service checks. */
  grant(key: string, requested: readonly string[], who: Requester): string[] {
    this.#requests.set(key, { requested: [...requested], who });
    return grantedCapabilities(this.#policy, requested, who);
  }

  /** Forget the module under `key` (unloaded). */
  forget(key: string): void {
    this.#requests.delete(key);
  }

  /**
   * `services` for the module under `key`, each checked against the current policy on
   * every call: a service none of whose imports is still granted throws ERR_IMPORT_DENIED.
   */
  guard(key: string, services: HostServices): HostServices {
    const out: Record<string, unknown> = { ...services };
    for (const [service, fn] of Object.entries(services)) {
      if (typeof fn !== 'function' || UNCHECKED.has(service)) continue;
      const imports = Object.entries(HOST_IMPORTS).filter(([, need]) => need === service).map(([name]) => name);
      if (imports.length === 0) continue;
      out[service] = async (...args: unknown[]) => {
        const request = this.#requests.get(key);
        if (request) {
          const granted = grantedCapabilities(this.#policy, request.requested, request.who);
          if (!imports.some((name) => isGranted(name, granted))) {
            // `network.ping` never rejects (the worker waits for its answer): unreachable.
            if (service === 'ping') return -1;
            const name = imports.find((n) => isGranted(n, request.requested)) ?? imports[0];
            throw new ImportDeniedError(`module imports ${name}, which this device's owner no longer offers to its deployment`, { import: name });
          }
        }
        return (fn as (...a: unknown[]) => unknown).apply(services, args);
      };
    }
    return out as HostServices;
  }
}

/**
 * The supervisor's pub/sub bookkeeping: which module of which deployment subscribed to
 * which topic patterns. Entries are added when a module's `pubsub.subscribe` host call
 * succeeds and removed when the module is undeployed; a mesh router reads them to know
 * which topics this peer wants.
 * @module
 */
import { isTopicGranted } from '../protocol/topics.ts';
import { type ModuleKey, moduleKey } from './module-key.ts';

/** One module's subscription to a topic pattern. */
export interface Subscription {
  deploymentId: string;
  /** The module's name within the deployment. */
  module: string;
  /** The pattern it subscribed to. */
  topic: string;
}

/** A deployed module that subscribed to something. */
export interface Subscriber {
  deploymentId: string;
  module: string;
}

/** Subscriptions by (deployment, module). */
export class SubscriptionTable {
  readonly #byModule = new Map<ModuleKey, { deploymentId: string; module: string; topics: Set<string> }>();

  /** Record that `module` of `deploymentId` subscribed to `topic` (idempotent). */
  add(deploymentId: string, module: string, topic: string): void {
    const key = moduleKey(deploymentId, module);
    let entry = this.#byModule.get(key);
    if (!entry) this.#byModule.set(key, (entry = { deploymentId, module, topics: new Set() }));
    entry.topics.add(topic);
  }

  /** Forget a module's subscriptions, or every module's of the deployment when `module` is omitted. */
  remove(deploymentId: string, module?: string): void {
    for (const [key, entry] of [...this.#byModule]) {
      if (entry.deploymentId === deploymentId && (module === undefined || entry.module === module)) this.#byModule.delete(key);
    }
  }

  /** Keep only the module's subscriptions that `grants` (subscribe patterns) still cover. */
  retainGranted(deploymentId: string, module: string, grants: readonly string[]): void {
    const entry = this.#byModule.get(moduleKey(deploymentId, module));
    if (!entry) return;
    for (const topic of [...entry.topics]) if (!isTopicGranted(topic, grants)) entry.topics.delete(topic);
  }

  /** Modules with a subscription matching `topic`, each once. */
  subscribers(topic: string): Subscriber[] {
    const out: Subscriber[] = [];
    for (const { deploymentId, module, topics } of this.#byModule.values()) {
      if (isTopicGranted(topic, [...topics])) out.push({ deploymentId, module });
    }
    return out;
  }

  /** Every subscription, in the order they were made per module. */
  list(): Subscription[] {
    return [...this.#byModule.values()].flatMap(({ deploymentId, module, topics }) => [...topics].map((topic) => ({ deploymentId, module, topic })));
  }

  /** Forget everything. */
  clear(): void {
    this.#byModule.clear();
  }
}

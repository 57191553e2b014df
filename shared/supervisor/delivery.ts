/**
 * Pub/sub delivery into the modules of one peer: who subscribed to which topic (the
 * `subscribe` host service records it), and handing a message to each matching module's
 * `on_message` export through the same gate as any call.
 * @module
 */
import { toErrorInfo } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { HostServices } from '../ports/sandbox.ts';
import { DeploymentNotFoundError } from '../sandbox/errors.ts';
import { fileRefs } from './call-record.ts';
import type { RequestHistory } from './history.ts';
import { moduleKey } from './module-key.ts';
import { type Subscription, SubscriptionTable } from './subscriptions.ts';
import type { VersionTable } from './versions.ts';

/** The export a subscribed module receives messages through: `on_message(topic_ptr, topic_len, data_ptr, data_len)`. */
export const ON_MESSAGE = 'on_message';

/** What delivery needs of the supervisor it belongs to. */
export interface DeliveryParts {
  versions: VersionTable;
  history: RequestHistory;
  log: Logger;
  now: () => number;
}

/** Subscriptions of the modules on one peer, and delivery of messages to them. */
export class PubSubDelivery {
  /** Who subscribed to what. */
  readonly table = new SubscriptionTable();
  readonly #p: DeliveryParts;

  constructor(parts: DeliveryParts) {
    this.#p = parts;
  }

  /** Topics a deployed module subscribed to. */
  subscriptionsOf(deploymentId: string, name: string): string[] {
    return this.table.list().filter((s) => s.deploymentId === deploymentId && s.module === name).map((s) => s.topic);
  }

  /** Every subscription here. */
  subscriptions(): Subscription[] {
    return this.table.list();
  }

  /** `services` for one deployed module: `subscribe` also records who subscribed. */
  servicesFor(services: HostServices, deploymentId: string, name: string): HostServices {
    const { subscribe } = services;
    if (!subscribe) return services;
    return {
      ...services,
      subscribe: async (topic) => {
        await subscribe(topic);
        // A call still finishing on an undeployed module subscribes it to nothing.
        if (this.#p.versions.get(moduleKey(deploymentId, name))) this.table.add(deploymentId, name, topic);
      },
    };
  }

  /**
   * Deliver a message to every module whose subscription matches `topic`; a handler that
   * fails is logged and recorded, the others still run. Resolves with how many handled it.
   */
  async deliver(topic: string, data: Uint8Array): Promise<number> {
    const handled = await Promise.all(
      this.table.subscribers(topic).map(async ({ deploymentId, module }) => {
        try {
          await this.#deliverTo(deploymentId, module, topic, data);
          return 1;
        } catch (error) {
          this.#p.log.warn(`${deploymentId}/${module} failed to handle a message on ${topic}: ${(error as Error).message}`);
          return 0;
        }
      }),
    );
    return handled.reduce((a: number, b) => a + b, 0);
  }

  async #deliverTo(deploymentId: string, moduleName: string, topic: string, data: Uint8Array): Promise<void> {
    const { versions, history } = this.#p;
    const route = await versions.enter(moduleKey(deploymentId, moduleName));
    if ('movedTo' in route) throw new DeploymentNotFoundError(`${deploymentId}/${moduleName} moved to ${route.movedTo}; the message is delivered there if it subscribed`);
    const version = route.here;
    const requestId = await history.nextId();
    const startedAt = this.#p.now();
    const t0 = performance.now();
    const inputFiles = await fileRefs({ message: data }, {});
    const entry = { requestId, deploymentId, moduleName, functionName: ON_MESSAGE, method: 'pubsub', args: [topic], inputFiles, startedAt };
    try {
      await version.instance.call({ fn: ON_MESSAGE, convention: { kind: 'message', alloc: 'alloc', topic, data } });
      await history.record({ ...entry, success: true, result: null, durationMs: performance.now() - t0 });
    } catch (error) {
      await history.record({ ...entry, success: false, error: toErrorInfo(error), durationMs: performance.now() - t0 });
      throw error;
    } finally {
      versions.leave(version);
    }
  }
}

/**
 * Pub/sub across the mesh (the FaaS-on-IoT seed's "Data Xchange", without a broker):
 * a module's `pubsub.publish` reaches this peer's own subscribers and every linked peer,
 * each of which hands it to the modules that subscribed there. Whether a module may use
 * a topic is decided where the module runs, from its deployment's topic grants (see the
 * sandbox); this layer only carries messages.
 *
 * Publishing never waits for handlers: the publishing module is blocked until `publish`
 * resolves, and a handler on the same instance would otherwise wait for it forever.
 * @module
 */
import type { Unsubscribe } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Peer } from '../mesh/peer.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';

/** A message on a topic. */
export interface TopicMessage {
  topic: string;
  data: Uint8Array;
}

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Deliver a published message to the callee's subscribers; answers how many got it. */
    'pubsub.deliver': { params: TopicMessage; result: { delivered: number } };
  }
}

/**
 * Carries a peer's module pub/sub beyond the mesh as well (the NATS bridge to MQTT
 * devices, node-host/nats/mqtt-bridge.ts). It hears only what the sandbox already
 * allowed: publishes and subscriptions within the deployment's topic grants.
 */
export interface TopicBridge {
  /** A module here published `data` on `topic`. */
  published(topic: string, data: Uint8Array): void;
  /** A module here subscribed to the pattern `topic`. */
  subscribed(topic: string): void;
}

/** Serve `pubsub.deliver` on `peer`. */
export function servePubSub(peer: Peer, supervisor: Supervisor): Unsubscribe {
  return peer.rpc.handle('pubsub.deliver', async ({ topic, data }) => ({ delivered: await supervisor.deliver(topic, data) }));
}

/**
 * The `publish` host service for modules on a peer: deliver locally and send to every
 * linked peer, without waiting for any handler to run.
 */
export function meshPublisher(getPeer: () => Peer, getSupervisor: () => Supervisor, log: Logger): (topic: string, data: Uint8Array) => Promise<void> {
  return async (topic, data) => {
    const peer = getPeer();
    const copy = data.slice();
    getSupervisor()
      .deliver(topic, copy)
      .catch((e: unknown) => log.warn(`delivering ${topic} here: ${(e as Error).message}`));
    for (const other of peer.linked()) {
      peer.call(other, 'pubsub.deliver', { topic, data: copy }).catch((e: unknown) => log.debug(`delivering ${topic} to ${other}: ${(e as Error).message}`));
    }
  };
}

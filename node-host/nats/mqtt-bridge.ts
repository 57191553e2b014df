/**
 * Module pub/sub to and from NATS subjects, so that plain MQTT devices (an ESP32 sensor
 * on nats-server's MQTT listener) publish to and hear from modules (ADR 0023). nats-server
 * maps the MQTT topic `a/b` to the subject `a.b`; so do we for module topics.
 *
 * Only what the sandbox allowed crosses: a module's publish within its publish grants is
 * also published on the subject, and each pattern a module subscribed to within its
 * subscribe grants subscribes the bridge to the matching subject; a message arriving
 * there goes to this peer's subscribed modules. The subscriptions follow the supervisor's
 * table (re-read after every module subscription and every `syncMs`), so an undeployed
 * module stops receiving. Messages our bridges publish carry `Liquidmesh-Origin` and are
 * not taken back in: linked peers already had them over the mesh.
 */
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { createLogger, type Logger } from '../../shared/log.ts';
import type { TopicBridge } from '../../shared/orchestrator/pubsub.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';

/** Header naming the peer whose module published a message. */
export const ORIGIN_HEADER = 'Liquidmesh-Origin';

/** The NATS subject of a module topic or pattern (`*` one segment, final `#` the rest), or null when a segment cannot be a subject token. */
export function topicToSubject(topic: string): string | null {
  const segments = topic.split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '#' && i === segments.length - 1) out.push('>');
    else if (s === '*') out.push('*');
    else if (s.length === 0 || /[\s.*>#]/.test(s)) return null;
    else out.push(s);
  }
  return out.join('.');
}

/** The module topic of a NATS subject (`a.b` → `a/b`). */
export function subjectToTopic(subject: string): string {
  return subject.split('.').join('/');
}

/** Options of {@link NatsTopicBridge}. */
export interface NatsTopicBridgeOptions {
  /** Opens the bridge's own connection (give it `noEcho`). */
  connect: () => Promise<NatsConnection>;
  /** How often the subscriptions are compared with the supervisor's (default 1000 ms). */
  syncMs?: number;
  logger?: Logger;
}

/** A {@link TopicBridge} over NATS subjects. Pass it to the peer, then `start` it with the running peer. */
export class NatsTopicBridge implements TopicBridge {
  readonly #o: NatsTopicBridgeOptions;
  readonly #log: Logger;
  readonly #subscriptions = new Map<string, Subscription>();
  #nc: NatsConnection | null = null;
  #node: SupervisedPeer | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** The client's header factory, loaded on start: a peer that never bridges does not hold the client. */
  #headers: (() => MsgHdrs) | null = null;

  constructor(options: NatsTopicBridgeOptions) {
    this.#o = options;
    this.#log = options.logger ?? createLogger('mqtt-bridge');
  }

  /** Connect and follow `node`'s module subscriptions. */
  async start(node: SupervisedPeer): Promise<void> {
    this.#headers = (await import('@nats-io/transport-node')).headers;
    this.#nc = await this.#o.connect();
    this.#node = node;
    this.#sync();
    this.#timer = setInterval(() => this.#sync(), this.#o.syncMs ?? 1000);
  }

  /** Unsubscribe and close the connection. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const nc = this.#nc;
    this.#nc = null;
    this.#node = null;
    this.#subscriptions.clear();
    await nc?.drain().catch((e: unknown) => this.#log.debug(`closing: ${(e as Error).message}`));
  }

  published(topic: string, data: Uint8Array): void {
    const nc = this.#nc;
    const node = this.#node;
    const subject = topicToSubject(topic);
    if (!nc || !node || !subject || !this.#headers) return;
    const h = this.#headers();
    h.set(ORIGIN_HEADER, node.peer.id);
    try {
      nc.publish(subject, data, { headers: h });
    } catch (error) {
      this.#log.warn(`${topic} not bridged: ${(error as Error).message}`);
    }
  }

  subscribed(): void {
    // The supervisor records the subscription once this call returns.
    setTimeout(() => this.#sync(), 0);
  }

  /** Subscribe to what modules here want and nothing else. */
  #sync(): void {
    const nc = this.#nc;
    const node = this.#node;
    if (!nc || !node) return;
    const wanted = new Map<string, string>();
    for (const { topic } of node.supervisor.subscriptions()) {
      const subject = topicToSubject(topic);
      if (subject) wanted.set(subject, topic);
      else this.#log.debug(`topic ${topic} has no NATS subject; not bridged`);
    }
    for (const [subject, sub] of [...this.#subscriptions]) {
      if (wanted.has(subject)) continue;
      sub.unsubscribe();
      this.#subscriptions.delete(subject);
    }
    for (const subject of wanted.keys()) {
      if (this.#subscriptions.has(subject)) continue;
      this.#subscriptions.set(subject, nc.subscribe(subject, {
        callback: (error, message) => {
          if (error) return this.#log.debug(`${subject}: ${error.message}`);
          if (message.headers?.get(ORIGIN_HEADER)) return;
          const topic = subjectToTopic(message.subject);
          this.#node?.supervisor.deliver(topic, message.data.slice()).catch((e: unknown) => this.#log.warn(`delivering ${topic}: ${(e as Error).message}`));
        },
      }));
    }
  }
}

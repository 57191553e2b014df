/**
 * Pub/sub topic permissions in the sandbox. A topic is a `/`-separated list of segments
 * (`poly/request`); grant patterns use `*` for exactly one segment and, as their last
 * segment, `#` for the rest — matched by the manifest's `isTopicGranted`, so a
 * subscription pattern is granted only by a pattern at least as broad. A deployment
 * grants patterns to publish to and to subscribe to; the sandbox checks every `pubsub.*`
 * host call against them before any host service runs.
 * @module
 */
import { TopicDeniedError } from '../orchestrator/errors.ts';
import { isTopicGranted } from '../orchestrator/manifest.ts';
import type { HostServices, LoadSpec } from '../ports/sandbox.ts';

/** Longest topic or pattern accepted, in characters. */
export const MAX_TOPIC_LENGTH = 1024;

/** True when `topic` is a concrete topic one may publish to: non-empty, bounded, no wildcard segment. */
function isConcrete(topic: string): boolean {
  return topic.length > 0 && topic.length <= MAX_TOPIC_LENGTH && !topic.split('/').some((s) => s === '*' || s === '#');
}

/**
 * Throw ERR_TOPIC_DENIED, naming the topic, unless `topic` may be published to
 * (`publish`) or subscribed to (`subscribe`) under `grants` (none: every topic denied).
 */
export function checkTopic(kind: 'publish' | 'subscribe', topic: string, grants: LoadSpec['topics']): void {
  const shown = JSON.stringify(topic.slice(0, 200));
  if (kind === 'publish' && !isConcrete(topic)) {
    throw new TopicDeniedError(`cannot publish to ${shown}: a topic is 1 to ${MAX_TOPIC_LENGTH} characters with no * or # segment`, { topic, kind });
  }
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new TopicDeniedError(`cannot subscribe to ${shown}: a topic pattern is 1 to ${MAX_TOPIC_LENGTH} characters`, { topic, kind });
  }
  if (!isTopicGranted(topic, grants?.[kind] ?? [])) throw new TopicDeniedError(`this deployment may not ${kind} to topic ${shown}`, { topic, kind });
}

/**
 * `services` with `publish` and `subscribe` checked against `grants` first: a denied
 * topic rejects with ERR_TOPIC_DENIED and the service is never called.
 */
export function guardTopics(services: HostServices, grants: LoadSpec['topics']): HostServices {
  const { publish, subscribe } = services;
  const out: HostServices = { ...services };
  if (publish) {
    out.publish = async (topic, data) => {
      checkTopic('publish', topic, grants);
      await publish(topic, data);
    };
  }
  if (subscribe) {
    out.subscribe = async (topic) => {
      checkTopic('subscribe', topic, grants);
      await subscribe(topic);
    };
  }
  return out;
}

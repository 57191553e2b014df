/**
 * Pub/sub topics and their permissions. A topic is a `/`-separated list of segments
 * (`poly/request`); grant patterns use `*` for exactly one segment and, as their last
 * segment, `#` for the rest, so a subscription pattern is granted only by a pattern at
 * least as broad. A deployment grants patterns to publish to and to subscribe to; the
 * sandbox checks every `pubsub.*` host call against them before any host service runs,
 * and the supervisor delivers a message only to the subscriptions that still match.
 * Both sit above this folder, which is why the matching lives here and not with the
 * manifest that declares the grants.
 * @module
 */
import { defineError } from '../errors.ts';
import type { HostServices, LoadSpec } from '../ports/sandbox.ts';

/** A module published or subscribed to a topic its deployment does not grant. */
export const TopicDeniedError = defineError('ERR_TOPIC_DENIED', 'TopicDeniedError');


/** Longest topic or pattern accepted, in characters. */
export const MAX_TOPIC_LENGTH = 1024;

/**
 * Whether `topic` matches `pattern`. Both are split on `/`; a `*` segment of the pattern
 * matches exactly one segment, a trailing `#` matches the rest (zero or more segments,
 * as in MQTT). A topic that itself holds wildcards (a subscription) matches only a
 * pattern at least as broad: `poly/*` does not match `poly/#`.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#' && i === p.length - 1) return t.length >= i;
    if (i >= t.length) return false;
    if (p[i] === '*' ? t[i] === '#' : p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/** Whether any of the grant `patterns` matches `topic` (see {@link topicMatches}). */
export function isTopicGranted(topic: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => topicMatches(pattern, topic));
}

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

/**
 * `pubsub`: publish to and subscribe to the mesh's topics.
 * @module
 */
import { fromUtf8 } from '../../bytes.ts';
import { bytesAt, type HostCapability } from './host-import.ts';

/**
 * `pubsub.publish(topicPtr, topicLen, dataPtr, dataLen) -> i32` and
 * `pubsub.subscribe(topicPtr, topicLen) -> i32`: 0 on success; a denied topic or a failed
 * service fails the module's call instead.
 */
export const pubsub: HostCapability = {
  module: 'pubsub',
  functions: { publish: 'publish', subscribe: 'subscribe' },
  writesMemory: false,
  create: (ctx) => ({
    publish: (topicPtr, topicLen, dataPtr, dataLen) => (ctx.bridge('publish', [fromUtf8(bytesAt(ctx, topicPtr, topicLen)), bytesAt(ctx, dataPtr, dataLen)]), 0),
    subscribe: (topicPtr, topicLen) => (ctx.bridge('subscribe', [fromUtf8(bytesAt(ctx, topicPtr, topicLen))]), 0),
  }),
};

/*
 * LiquidMesh's pub/sub host imports (module "pubsub"; the worker side is
 * shared/sandbox/host-imports/pubsub.ts).  Each returns 0 on success; a topic
 * the deployment does not grant fails the module's call instead.  Messages on
 * a subscribed topic arrive through the module's own export
 * on_message(topic_ptr, topic_len, data_ptr, data_len), its inputs placed with
 * alloc (see bump_alloc.h).
 */
#ifndef LIQUIDMESH_PUBSUB_H
#define LIQUIDMESH_PUBSUB_H

#include <stdint.h>

__attribute__((import_module("pubsub"), import_name("publish")))
int32_t pubsub_publish(const char *topic, uint32_t topic_len, const unsigned char *data, uint32_t data_len);

__attribute__((import_module("pubsub"), import_name("subscribe")))
int32_t pubsub_subscribe(const char *topic, uint32_t topic_len);

#endif

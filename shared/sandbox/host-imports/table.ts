/**
 * Every host capability a worker can serve, one file each. Denied by default: an import
 * module not listed here is served by nobody, and the load-time check
 * (../capabilities.ts) refuses a module importing it. To add a capability, write a file
 * beside this one exporting a {@link HostCapability}, list it here, and test it in
 * test/unit/host-imports.test.ts.
 * @module
 */
import { camera } from './camera.ts';
import { communication } from './communication.ts';
import { dht } from './dht.ts';
import type { HostCapability } from './host-import.ts';
import { network } from './network.ts';
import { pubsub } from './pubsub.ts';
import { sensors } from './sensors.ts';
import { sys } from './sys.ts';
import { wasiNn } from './wasi-nn.ts';

/** The host capabilities by import module name. */
export const HOST_CAPABILITIES: ReadonlyMap<string, HostCapability> = new Map(
  [sys, camera, dht, sensors, network, communication, pubsub, wasiNn].map((c) => [c.module, c]),
);

/**
 * `network`: the Rust supervisor's ping; here it reaches mesh peers by address
 * (shared/mesh/network-ping.ts).
 * @module
 */
import { f64At, type HostCapability } from './host-import.ts';

/** `network.ping(a, b, c, d) -> f32`: round trip in ms to a.b.c.d, −1 on failure (the host's answer). */
export const network: HostCapability = {
  module: 'network',
  functions: { ping: 'ping' },
  writesMemory: false,
  create: (ctx) => ({
    ping: (a, b, c, d) => f64At(ctx.bridge('ping', [[a, b, c, d].map((x) => x & 255).join('.')])),
  }),
};

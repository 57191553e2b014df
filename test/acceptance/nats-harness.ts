/**
 * Puts the NATS transport through the transport acceptance suite, against a real
 * nats-server the test file starts (see test/helpers/nats-server.ts).
 */
import { NatsTransport, type NatsConnectionLike, type NatsTransportOptions } from '../../shared/adapters/nats-transport.ts';
import type { Transport } from '../../shared/ports/transport.ts';
import type { TransportHarness } from './transport.ts';

/** A harness whose transports connect through `connect()`. */
export function natsTransportHarness(name: string, connect: () => () => Promise<NatsConnectionLike>, extra: Partial<NatsTransportOptions> = {}): TransportHarness {
  return {
    name,
    timeoutMs: 10_000,
    async setup(count, topology) {
      // A mesh of its own per setup, so cases sharing the server never meet.
      const mesh = `acceptance-${Math.random().toString(36).slice(2)}`;
      const links = topology.kind === 'hub-and-spoke' ? (a: string, b: string) => a === topology.hub || b === topology.hub : undefined;
      const make = (): Transport => new NatsTransport({ connect: connect(), mesh, secret: 'acceptance', announceMs: 250, timeoutMs: 2000, ...(links ? { links } : {}), ...extra });
      const transports = Array.from({ length: count }, make);
      const extras: Transport[] = [];
      return {
        transports,
        extra: () => {
          const t = make();
          extras.push(t);
          return t;
        },
        teardown: async () => {
          await Promise.all([...transports, ...extras].map((t) => t.disconnect()));
        },
      };
    },
  };
}

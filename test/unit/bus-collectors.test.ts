// Who collects for the mesh bus, and what a peer receives on it at rest, on a manual clock
// with an in-memory bus (the same BusSync, Presence and Yjs document a peer runs; only the
// NATS cluster is replaced): a crowd whose presence knows few of the registry's devices
// does not step up by that view, and settles on the two lowest ids; the messages a peer
// receives per heartbeat period at rest do not grow with the number of peers.
import { expect } from 'chai';
import * as Y from 'yjs';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { BUS_ORIGIN, BusSync } from '../../shared/mesh/bus-sync.ts';
import type { BusChannel, MeshBus } from '../../shared/ports/mesh-bus.ts';
import type { PeerId, Transport } from '../../shared/ports/transport.ts';
import { Presence } from '../../shared/registry/presence.ts';
import { collectLogs } from '../helpers/mesh.ts';

const HEARTBEAT_MS = 1000;
type Handler = (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void;

/** One bus for every peer of the test: publish reaches every subscriber; a request reaches one `state` subscriber. */
class MemoryBusHub {
  readonly #subs = new Map<BusChannel, Set<{ owner: PeerId; handler: Handler }>>();
  /** Messages delivered to each peer, every channel. */
  readonly received = new Map<PeerId, number>();
  readonly #clock: ManualClock;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  #deliver(owner: PeerId, run: () => void): void {
    this.received.set(owner, (this.received.get(owner) ?? 0) + 1);
    queueMicrotask(run);
  }

  bus(owner: PeerId): MeshBus {
    const subs = (channel: BusChannel): Set<{ owner: PeerId; handler: Handler }> => {
      let set = this.#subs.get(channel);
      if (!set) this.#subs.set(channel, (set = new Set()));
      return set;
    };
    return {
      transport: {} as Transport,
      maxDirectBytes: 0,
      publish: (channel, data) => {
        for (const s of subs(channel)) this.#deliver(s.owner, () => s.handler(data));
      },
      sendTo: () => {},
      subscribe: (channel, handler) => {
        const entry = { owner, handler };
        subs(channel).add(entry);
        return () => void subs(channel).delete(entry);
      },
      request: (data, timeoutMs) =>
        new Promise((resolve) => {
          const answerers = [...subs('state')].filter((s) => s.owner !== owner);
          const timer = this.#clock.setTimeout(() => resolve(null), timeoutMs);
          const one = answerers[Math.floor(answerers.length / 2)];
          if (!one) return;
          this.#deliver(one.owner, () =>
            one.handler(data, (reply) => {
              this.#clock.clearTimeout(timer);
              this.#deliver(owner, () => resolve(reply));
            }),
          );
        }),
    };
  }
}

interface TestPeer {
  id: PeerId;
  doc: Y.Doc;
  presence: Presence;
  sync: BusSync;
}

async function crowd(n: number, extraDevices = 0): Promise<{ clock: ManualClock; hub: MemoryBusHub; peers: TestPeer[]; run: (ms: number) => Promise<void>; stop: () => void }> {
  const clock = new ManualClock(1_000_000);
  const hub = new MemoryBusHub(clock);
  const log = collectLogs();
  const peers: TestPeer[] = [];
  for (let i = 0; i < n; i++) {
    const identity = await Identity.generate();
    const doc = new Y.Doc();
    // The registry lists devices presence does not know (yet): a crowd still joining.
    for (let d = 0; d < extraDevices; d++) doc.getMap('devices').set(`ffff${String(d).padStart(28, '0')}`, { name: `elsewhere-${d}` });
    doc.getMap('devices').set(identity.id, { name: `p${i}` });
    const logger = createLogger(`p${i}`, log.sink);
    const presence = new Presence({ doc, clock, self: { peerId: identity.id, name: `p${i}`, telemetry: { cpu: 0, memory: 0, callsPerSecond: 0 } }, heartbeatMs: HEARTBEAT_MS, timeoutMs: 5 * HEARTBEAT_MS, logger });
    const sync = new BusSync({ bus: hub.bus(identity.id), identity, doc, presence, clock, logger, heartbeatMs: HEARTBEAT_MS, batchMs: 50, antiEntropyMs: 5 * HEARTBEAT_MS });
    // As Peer wires them: what did not come from the bus goes on it.
    const fromBus = (origin: unknown): boolean => typeof origin === 'string' && origin.startsWith(BUS_ORIGIN);
    presence.on('outgoing', ({ clients, origin }) => !fromBus(origin) && sync.presence(clients));
    doc.on('update', (update: Uint8Array, origin: unknown) => !fromBus(origin) && sync.update(update));
    peers.push({ id: identity.id, doc, presence, sync });
  }
  for (const p of peers) p.sync.start();
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      for (let k = 0; k < 2; k++) await new Promise((r) => setImmediate(r));
    }
  };
  const stop = (): void => {
    for (const p of peers) {
      p.sync.stop();
      p.presence.destroy();
    }
  };
  return { clock, hub, peers, run, stop };
}

const lowest = (peers: TestPeer[], k: number): PeerId[] => peers.map((p) => p.id).sort().slice(0, k);
const collecting = (peers: TestPeer[]): PeerId[] => peers.filter((p) => p.sync.collecting).map((p) => p.id).sort();

describe('Collectors of the mesh bus', () => {
  it('are not chosen by a view of presence that knows under half the registry, and settle on the two lowest ids', async () => {
    // Eight peers start at once in a registry of eighty devices: by its own view each ranks lowest.
    const { peers, run, stop } = await crowd(8, 72);
    try {
      // Past the two heartbeat periods a joiner listens before it may collect.
      await run(4 * HEARTBEAT_MS);
      expect(collecting(peers), 'collectors chosen by a partial view').to.deep.equal([]);
      // Nobody digests at all for three windows: someone has to, and the mesh settles on two.
      await run(20 * HEARTBEAT_MS);
      expect(collecting(peers)).to.deep.equal(lowest(peers, 2));
    } finally {
      stop();
    }
  }, 120_000);

  it('give every peer the same number of messages per heartbeat period at rest, with 3 peers or with 9', async () => {
    const perPeerPerPeriod: number[] = [];
    for (const n of [3, 9]) {
      const { hub, peers, run, stop } = await crowd(n);
      try {
        await run(20 * HEARTBEAT_MS);
        expect(peers.every((p) => p.doc.getMap('devices').size === n && p.presence.alive().length === n - 1), `${n} peers to know each other`).to.equal(true);
        expect(collecting(peers)).to.deep.equal(lowest(peers, 2));
        const before = [...hub.received.values()].reduce((a, b) => a + b, 0);
        const periods = 10;
        await run(periods * HEARTBEAT_MS);
        const after = [...hub.received.values()].reduce((a, b) => a + b, 0);
        perPeerPerPeriod.push((after - before) / n / periods);
      } finally {
        stop();
      }
    }
    // Two digests, a collector's share of the heartbeats (2n up deliveries over n peers) and
    // an anti-entropy round every five periods: about 4.4, whatever n is.
    expect(perPeerPerPeriod[1]).to.be.closeTo(perPeerPerPeriod[0]!, 0.5);
    expect(perPeerPerPeriod[1]).to.be.below(5);
  }, 120_000);
});

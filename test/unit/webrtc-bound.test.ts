// A large site: WebRTC connections per peer bounded, the NATS backbone beside them. Real
// node-datachannel connections through a real signaling server, a real nats-server, all
// inside the loopback-only network namespace npm test creates.
import '../../node-host/webrtc/globals.ts';
import { expect } from 'chai';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { LOOPBACK } from '../acceptance/webrtc-harness.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

requireLoopbackNamespace();
const AUTH = { token: 'site-token-5' };
let signal: SignalServer;
let cluster: NatsCluster;
beforeAll(async () => {
  [signal, cluster] = await Promise.all([startSignalServer(), startNatsCluster({ auth: AUTH })]);
});
afterAll(async () => {
  await signal?.close();
  await cluster?.stop();
});

describe('A site with a bound on WebRTC connections', () => {
  it('keeps each peer within its bound and reaches every other peer over the backbone: calls to everyone answer', async () => {
    const N = 5;
    const BOUND = 2;
    const log = collectLogs();
    const webrtc: WebRtcTransport[] = [];
    const peers: Peer[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const w = new WebRtcTransport({ signalUrl: signal.url, mesh: 'big-site', secret: 's', announceMs: 300, rtcConfig: LOOPBACK, maxConnections: BOUND });
        webrtc.push(w);
        const peer = new Peer({
          // WebRTC first: used wherever it links a pair, the backbone for the rest.
          transports: [w, new NatsTransport({ connect: natsConnector({ servers: cluster.urls, ...AUTH }), mesh: 'big-site', secret: 's', announceMs: 300 })],
          store: memoryStore(),
          device: { name: `p${i}`, engine: 'node' },
          logger: createLogger(`p${i}`, log.sink),
          persistRegistry: false,
        });
        await peer.start();
        peers.push(peer);
      }
      // Links that joined never exceed the bound; with our own dials in progress (dropped if
      // the bound fills before they come through) a peer holds at most twice as many.
      const bounded: number[] = [];
      const held: number[] = [];
      const sample = (): void => {
        bounded.push(...webrtc.map((w) => w.peers().length));
        held.push(...webrtc.map((w) => w.connectionCount));
      };
      await waitFor(() => {
        sample();
        return peers.every((p) => p.linked().length === N - 1 && p.registry.devices.size === N);
      }, 'every peer linked to every other and registered', 30_000);
      // Some pairs do use WebRTC, none beyond the bound.
      await waitFor(() => {
        sample();
        return webrtc.filter((w) => w.peers().length > 0).length >= 2;
      }, 'WebRTC links inside the site', 30_000);
      expect(Math.max(...bounded)).to.be.at.most(BOUND);
      expect(Math.max(...held)).to.be.at.most(2 * BOUND);
      expect(webrtc.every((w) => w.peers().length < N - 1)).to.equal(true);
      for (const from of peers) {
        for (const to of peers) {
          if (from === to) continue;
          const answer = await from.call(to.id, 'peer.ping', { sentAt: Date.now() });
          expect(answer).to.not.equal(undefined);
        }
      }
      sample();
      expect(Math.max(...bounded)).to.be.at.most(BOUND);
      expect(Math.max(...held)).to.be.at.most(2 * BOUND);
    } finally {
      await Promise.all(peers.map((p) => p.stop()));
    }
  });

  it('converges to one connected mesh with two connections per peer and no backbone', async () => {
    const N = 6;
    const BOUND = 2;
    const log = collectLogs();
    const webrtc: WebRtcTransport[] = [];
    const peers: Peer[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const w = new WebRtcTransport({ signalUrl: signal.url, mesh: 'bound-two', secret: 's', announceMs: 300, rtcConfig: LOOPBACK, maxConnections: BOUND });
        webrtc.push(w);
        peers.push(new Peer({ transports: [w], store: memoryStore(), device: { name: `b${i}`, engine: 'node' }, logger: createLogger(`b${i}`, log.sink), persistRegistry: false }));
      }
      // All at once: the crowd that used to fill every bound with dials in progress.
      await Promise.all(peers.map((p) => p.start()));
      const seen: number[] = [];
      await waitFor(() => {
        seen.push(...webrtc.map((w) => w.peers().length));
        return peers.every((p) => p.alive().length === N - 1 && p.registry.devices.size === N);
      }, 'six peers with two connections each to form one mesh', 90_000);
      expect(Math.max(...seen)).to.be.at.most(BOUND);
      const far = peers.find((p) => p !== peers[0] && !peers[0]!.linked().includes(p.id))!;
      await waitFor(() => peers[0]!.hops(far.id) !== undefined, 'a route beyond the links', 20_000);
      expect(await peers[0]!.call(far.id, 'peer.ping', { sentAt: Date.now() })).to.not.equal(undefined);
    } finally {
      await Promise.all(peers.map((p) => p.stop()));
    }
  });

  it('refuses a dial at its bound by saying so, not by going silent', async () => {
    const transports: WebRtcTransport[] = [];
    const make = (): WebRtcTransport => {
      const w = new WebRtcTransport({ signalUrl: signal.url, mesh: 'bound-one', secret: 's', announceMs: 300, rtcConfig: LOOPBACK, maxConnections: 1 });
      transports.push(w);
      return w;
    };
    const id = (n: number): string => n.toString(16).padStart(32, '0');
    try {
      const [a, b, c] = [make(), make(), make()];
      await a.connect(id(0x20));
      await b.connect(id(0x21));
      // Generous waits: each is a condition that comes, later on a loaded machine.
      await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 'the first two to connect', 30_000);
      // The lowest id dials: c dials both, and both are at their bound of one.
      await c.connect(id(0x10));
      await waitFor(() => c.refusals >= 1, 'a refusal to reach the dialler', 30_000);
      expect(c.peers()).to.deep.equal([]);
      expect(a.peers()).to.deep.equal([id(0x21)]);
      expect(b.peers()).to.deep.equal([id(0x20)]);
    } finally {
      await Promise.all(transports.map((t) => t.disconnect()));
    }
  });
});

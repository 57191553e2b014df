// The NATS transport with a bound on links (a bounded overlay instead of every pair),
// against a real three-server nats-server cluster this file starts on 127.0.0.1: peers
// spread over the servers form one mesh through a few links each, calls reach peers
// they hold no link to, and a peer at its bound says no instead of going silent.
import { connect } from '@nats-io/transport-node';
import { expect } from 'chai';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import type { PeerId } from '../../shared/ports/transport.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { token: 'overlay-token-3' };
let cluster: NatsCluster;
const peers: Peer[] = [];
const transports: NatsTransport[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, auth: AUTH });
});
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
  await Promise.all(transports.splice(0).map((t) => t.disconnect()));
});

function transport(mesh: string, index: number, maxLinks: number): NatsTransport {
  const servers = cluster.urls.map((_, k) => cluster.urls[(index + k) % cluster.urls.length]!);
  const t = new NatsTransport({ connect: natsConnector({ servers, ...AUTH, noRandomize: true }), mesh, secret: 'overlay', announceMs: 300, timeoutMs: 3000, quietAnnounceMs: 2000, maxLinks });
  transports.push(t);
  return t;
}

async function site(mesh: string, n: number, maxLinks: number): Promise<Peer[]> {
  const log = collectLogs();
  const out: Peer[] = [];
  for (let i = 0; i < n; i++) {
    const peer = new Peer({
      transports: [transport(mesh, i, maxLinks)],
      store: memoryStore(),
      device: { name: `${mesh}-${i}`, engine: 'node' },
      logger: createLogger(`${mesh}-${i}`, log.sink),
      persistRegistry: false,
    });
    peers.push(peer);
    out.push(peer);
  }
  await Promise.all(out.map((p) => p.start()));
  return out;
}

/** Every peer sees every other alive and lists every device: one connected mesh. */
function oneMesh(group: Peer[]): boolean {
  return group.every((p) => p.registry.devices.size === group.length && p.alive().length === group.length - 1);
}

describe('The NATS transport with a bound on links', () => {
  it('joins twelve peers on three servers into one mesh with at most three links each, and routes calls beyond them', async () => {
    const group = await site('overlay-12', 12, 3);
    await waitFor(() => oneMesh(group), 'every peer to see every other alive', 120_000);
    for (const p of group) expect(p.linked().length).to.be.within(1, 3);
    const from = group[0]!;
    const far = group.find((p) => p !== from && !from.linked().includes(p.id))!;
    expect(far, 'a peer with no link to the first').to.not.equal(undefined);
    await waitFor(() => from.hops(far.id) !== undefined, 'a route to a peer beyond the links', 20_000);
    expect((await from.call(far.id, 'peer.describe', {})).name).to.equal(far.registry.devices.get(far.id)!.name);
  }, 180_000);

  it('converges to one connected mesh with two links per peer', async () => {
    const group = await site('overlay-bound-2', 8, 2);
    await waitFor(() => oneMesh(group), 'eight peers with two links each to form one mesh', 120_000);
    for (const p of group) expect(p.linked().length).to.be.within(1, 2);
  }, 180_000);

  it('says no at its bound (a sealed refusal the dialler sees at once) instead of going silent', async () => {
    const observer = await connect({ servers: cluster.urls, ...AUTH });
    try {
      const refusals: string[] = [];
      // Frames to inboxes: byte 0 is the frame type, 4 a refusal; bytes 1–16 the sender.
      observer.subscribe('lm.*.in.*', { callback: (_e, m) => void (m.data[0] === 4 && refusals.push(m.subject.slice(m.subject.lastIndexOf('.') + 1))) });
      await observer.flush();
      const id = (n: number): PeerId => n.toString(16).padStart(32, 'e');
      const [a, b, c] = [transport('overlay-no', 0, 1), transport('overlay-no', 1, 1), transport('overlay-no', 2, 1)];
      await a.connect(id(1));
      await b.connect(id(2));
      await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 'the first two to link');
      // The third hears both announce and dials; both are at their bound of one.
      await c.connect(id(3));
      await waitFor(() => refusals.includes(id(3)), 'a refusal sent to the third peer', 20_000);
      expect(a.peers()).to.deep.equal([id(2)]);
      expect(b.peers()).to.deep.equal([id(1)]);
      expect(c.peers()).to.deep.equal([]);
    } finally {
      await observer.close();
    }
  });
});

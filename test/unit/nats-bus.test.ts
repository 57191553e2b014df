// Registry and presence over the NATS mesh bus (ADR 0023), against a real three-server
// nats-server cluster this file starts on 127.0.0.1: peers with at most three links each
// learn every device and see every peer alive through a few collectors' digests, a late
// joiner gets the whole state by one request, a goodbye reaches everyone at once, and what
// is not signed by a member (or not sealed with the mesh key) changes nothing.
import { connect } from '@nats-io/transport-node';
import { expect } from 'chai';
import * as Y from 'yjs';
import { concatBytes, utf8 } from '../../shared/bytes.ts';
import { deriveMeshKeys } from '../../shared/adapters/mesh-secret.ts';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { encodeMessage } from '../../shared/protocol/wire.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { token: 'bus-token-1' };
const HEARTBEAT_MS = 500;
let cluster: NatsCluster;
const peers: Peer[] = [];
const transports: NatsTransport[] = [];
const log = collectLogs();

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

async function join(mesh: string, index: number, livenessTimeoutMs = 5000, links?: (local: string, remote: string) => boolean): Promise<Peer> {
  const servers = cluster.urls.map((_, k) => cluster.urls[(index + k) % cluster.urls.length]!);
  const t = new NatsTransport({ connect: natsConnector({ servers, ...AUTH, noRandomize: true }), mesh, secret: 'bus', announceMs: 300, timeoutMs: 3000, quietAnnounceMs: 2000, maxLinks: 3, quietAtRest: true, ...(links ? { links } : {}) });
  transports.push(t);
  const peer = new Peer({
    transports: [t],
    bus: t.bus,
    store: memoryStore(),
    device: { name: `${mesh}-${index}`, engine: 'node' },
    logger: createLogger(`${mesh}-${index}`, log.sink),
    persistRegistry: false,
    timing: { heartbeatMs: HEARTBEAT_MS, livenessTimeoutMs, antiEntropyMs: 2000, relayBatchMs: 20 },
  });
  peers.push(peer);
  await peer.start();
  return peer;
}

function oneMesh(group: Peer[]): boolean {
  return group.every((p) => p.registry.devices.size === group.length && p.alive().length === group.length - 1);
}

/** Messages published on the mesh's `down` subject while `during` runs. */
async function countDown(during: () => Promise<void>): Promise<number> {
  const observer = await connect({ servers: cluster.urls, ...AUTH });
  try {
    let count = 0;
    observer.subscribe('lm.*.down', { callback: () => void count++ });
    await observer.flush();
    await during();
    return count;
  } finally {
    await observer.close();
  }
}

describe('Registry and presence over the NATS mesh bus', () => {
  it('brings fourteen peers with three links each to one registry and one presence through a few digests, and a late joiner at once', async () => {
    const group: Peer[] = [];
    for (let i = 0; i < 14; i++) group.push(await join('bus-14', i));
    await waitFor(() => oneMesh(group), 'every peer to list every device and see every other alive', 60_000);
    for (const p of group) expect(p.linked().length).to.be.at.most(3);
    // At rest the mesh hears a few collectors' digests per heartbeat, not one heartbeat per peer.
    const periods = 6;
    const down = await countDown(() => new Promise((r) => setTimeout(r, periods * HEARTBEAT_MS)));
    expect(down / periods, 'digests per heartbeat period').to.be.at.most(4.5).and.to.be.below(group.length);
    const late = await join('bus-14', 14);
    group.push(late);
    await waitFor(() => late.registry.devices.size === group.length && late.alive().length === group.length - 1, 'the late joiner to know everyone', 20_000);
    await waitFor(() => oneMesh(group), 'everyone to know the late joiner', 20_000);
  }, 240_000);

  it('sees a peer that says goodbye leave at once, long before the liveness timeout', async () => {
    const group: Peer[] = [];
    for (let i = 0; i < 5; i++) group.push(await join('bus-bye', i, 120_000));
    await waitFor(() => oneMesh(group), 'five peers to form one mesh', 60_000);
    const leaving = group.pop()!;
    const id = leaving.id;
    await leaving.stop();
    await waitFor(() => group.every((p) => !p.alive().includes(id)), 'everyone to see the departed peer gone', 30_000);
  }, 240_000);

  it('lets two peers whose overlay links never connect call each other over the bus', async () => {
    // Two islands: a peer links only to peers of its own half (the transport's topology filter).
    const half = new Map<string, number>();
    const sameHalf = (a: string, b: string): boolean => half.get(a) !== undefined && half.get(a) === half.get(b);
    const group: Peer[] = [];
    for (let i = 0; i < 4; i++) {
      const p = await join('bus-islands', i, 5000, sameHalf);
      half.set(p.id, i % 2);
      group.push(p);
    }
    await waitFor(() => oneMesh(group), 'four peers to share one registry and presence', 60_000);
    await waitFor(() => group.every((p) => p.linked().length === 1), 'each peer to link to the other of its half', 30_000);
    const [a, b] = [group[0]!, group[1]!];
    expect(a.linked()).to.not.include(b.id);
    expect(a.hops(b.id), 'an overlay path between the halves').to.equal(undefined);
    const answer = await a.call(b.id, 'peer.ping', { sentAt: 1 });
    expect(answer.peer).to.equal(b.id);
    const back = await b.call(a.id, 'peer.ping', { sentAt: 2 });
    expect(back.peer).to.equal(a.id);
    // What a member's client could put on b's bus subject: bytes that are no routed call, and
    // a call claiming to come from a without a's signature. Both are dropped by name.
    const keys = await deriveMeshKeys('bus-islands', 'bus');
    const subject = `lm.${keys.topic.replace(/^liquidmesh-/, '')}.to.${b.id}`;
    const call = encodeMessage({ t: 'rpc', f: { t: 'req', id: 'forged-1', m: 'peer.ping', p: { sentAt: 3 } } });
    const forged = encodeMessage({ t: 'route', s: a.id, d: b.id, h: 16, ts: Date.now(), b: call, sig: new Uint8Array(64).fill(9) });
    const observer = await connect({ servers: cluster.urls, ...AUTH });
    try {
      observer.publish(subject, await keys.encrypt(utf8('not a routed call')));
      observer.publish(subject, await keys.encrypt(forged));
      await observer.flush();
      await waitFor(() => log.lines.some((l) => l.text.includes('not a routed call')), 'b to drop the bytes that are no routed call', 20_000);
      await waitFor(() => log.lines.some((l) => l.text.includes(`direct message from ${a.id}: bad signature`)), 'b to drop the call a did not sign', 20_000);
    } finally {
      await observer.close();
    }
    expect(b.running).to.equal(true);
    expect((await a.call(b.id, 'peer.ping', { sentAt: 4 })).peer).to.equal(b.id);
  }, 240_000);

  it('ignores a digest not signed by its sender, and one sealed with another mesh key', async () => {
    const group: Peer[] = [];
    for (let i = 0; i < 3; i++) group.push(await join('bus-forged', i));
    await waitFor(() => oneMesh(group), 'three peers to form one mesh', 60_000);
    const keys = await deriveMeshKeys('bus-forged', 'bus');
    const otherKeys = await deriveMeshKeys('bus-forged', 'not-the-secret');
    const h = keys.topic.replace(/^liquidmesh-/, '');
    // A registry update naming a device nobody has, as a digest (type 2).
    const doc = new Y.Doc();
    doc.getMap('devices').set('f'.repeat(32), { id: 'f'.repeat(32), name: 'forged' });
    const update = Y.encodeStateAsUpdate(doc);
    const len = (n: number): Uint8Array => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const body = concatBytes([len(update.byteLength), update, len(0), len(0), len(0)]);
    const stranger = await Identity.generate();
    const signed = (signature: Uint8Array): Uint8Array => concatBytes([new Uint8Array([2]), stranger.publicKey, signature, body]);
    const goodSignature = stranger.signSync(concatBytes([utf8('liquidmesh-bus-v1'), new Uint8Array([2]), body]));
    const forged = signed(new Uint8Array(64).fill(7));
    const observer = await connect({ servers: cluster.urls, ...AUTH });
    try {
      observer.publish(`lm.${h}.down`, await keys.encrypt(forged));
      observer.publish(`lm.${h}.down`, await otherKeys.encrypt(signed(goodSignature)));
      observer.publish(`lm.${h}.down`, utf8('not sealed at all'));
      await observer.flush();
      await waitFor(() => log.lines.some((l) => l.text.includes('bad signature')), 'a peer to drop the forged digest', 20_000);
      expect(group.some((p) => p.registry.doc.getMap('devices').has('f'.repeat(32))), 'a forged device listed').to.equal(false);
      // A control: the same digest, properly signed and sealed, is taken (the mesh secret and a key are the gate without roles).
      observer.publish(`lm.${h}.down`, await keys.encrypt(signed(goodSignature)));
      await observer.flush();
      await waitFor(() => group.every((p) => p.registry.doc.getMap('devices').has('f'.repeat(32))), 'the signed, sealed digest to be applied', 20_000);
    } finally {
      await observer.close();
    }
    expect(group.every((p) => p.running)).to.equal(true);
  }, 240_000);
});

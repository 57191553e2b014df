// The NATS transport in Node over TCP, against a real nats-server (Debian's) that this
// file starts on 127.0.0.1 with a user and password: the transport acceptance suite, and
// what only a shared messaging cluster raises (strangers on the cluster, what it sees).
import { wsconnect } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import WebSocket from 'ws';
import { expect } from 'chai';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { natsConnector, natsMaxLinksFromArgs, natsOptionsFromArgs } from '../../node-host/nats/nats-connect.ts';
import type { PeerId, TransportMessage } from '../../shared/ports/transport.ts';
import { natsTransportHarness } from '../acceptance/nats-harness.ts';
import { runTransportTests } from '../acceptance/transport.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { user: 'mesh', pass: 'cluster-password-1' };
let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster({ auth: AUTH, websocket: true });
});
afterAll(async () => {
  await cluster?.stop();
});

runTransportTests(natsTransportHarness('NatsTransport in Node', () => natsConnector({ servers: cluster.urls, ...AUTH })));

describe('NatsTransport specifics', () => {
  const id = (n: number): PeerId => n.toString(16).padStart(32, 'd');
  const made: NatsTransport[] = [];
  const make = (mesh: string, secret: string): NatsTransport => {
    const t = new NatsTransport({ connect: natsConnector({ servers: cluster.urls, ...AUTH }), mesh, secret, announceMs: 250, timeoutMs: 2000 });
    made.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.disconnect()));
  });

  it('is refused by the cluster without credentials, or with a wrong password, with ERR_NATS_AUTH', async () => {
    const none = await rejectionOf(natsConnector({ servers: cluster.urls })());
    expect(none.code).to.equal('ERR_NATS_AUTH');
    const wrong = await rejectionOf(natsConnector({ servers: cluster.urls, user: AUTH.user, pass: 'guess' })());
    expect(wrong.code).to.equal('ERR_NATS_AUTH');
    // The transport surfaces the same error from connect.
    const t = new NatsTransport({ connect: natsConnector({ servers: cluster.urls }), mesh: 'm', secret: 's' });
    expect((await rejectionOf(t.connect(id(9)))).code).to.equal('ERR_NATS_AUTH');
  });

  it('keeps another mesh secret apart on the same cluster, and shows the cluster neither the secret nor the payloads', async () => {
    const observer = await connect({ servers: cluster.urls, ...AUTH });
    const seen: { subject: string; data: Uint8Array }[] = [];
    observer.subscribe('>', { callback: (_e, m) => void seen.push({ subject: m.subject, data: m.data.slice() }) });
    await observer.flush();
    try {
      const a = make('plant', 'right-secret');
      const b = make('plant', 'right-secret');
      const outsider = make('plant', 'wrong-secret');
      await Promise.all([a.connect(id(1)), b.connect(id(2)), outsider.connect(id(3))]);
      await waitFor(() => a.peers().includes(id(2)) && b.peers().includes(id(1)), 'a and b to meet');
      const box: TransportMessage[] = [];
      b.on('message', (m) => box.push(m));
      const marker = new TextEncoder().encode('PLAINTEXT-MARKER-0123456789');
      await a.send(id(2), marker);
      await waitFor(() => box.length === 1, 'the message');
      expect(new TextDecoder().decode(box[0]!.data)).to.equal('PLAINTEXT-MARKER-0123456789');
      await new Promise((r) => setTimeout(r, 800));
      expect(outsider.peers()).to.deep.equal([]);
      expect(a.peers()).to.deep.equal([id(2)]);
      const text = (bytes: Uint8Array): string => new TextDecoder('latin1').decode(bytes);
      expect(seen.length).to.be.greaterThan(0);
      for (const m of seen) {
        expect(m.subject).to.not.contain('right-secret');
        expect(m.subject).to.not.contain('plant');
        expect(text(m.data)).to.not.contain('PLAINTEXT-MARKER');
        expect(text(m.data)).to.not.contain('right-secret');
      }
    } finally {
      await observer.close();
    }
  });

  it('drops frames a cluster client forges into an inbox, and the link goes on', async () => {
    const a = make('forge', 's');
    const b = make('forge', 's');
    await Promise.all([a.connect(id(4)), b.connect(id(5))]);
    await waitFor(() => a.peers().includes(id(5)) && b.peers().includes(id(4)), 'the link');
    const box: TransportMessage[] = [];
    b.on('message', (m) => box.push(m));
    const intruder = await connect({ servers: cluster.urls, ...AUTH });
    try {
      // Frames that claim to come from a, with every header byte it could guess.
      const inboxes: string[] = [];
      intruder.subscribe('lm.*.in.*', { callback: (_e, m) => void inboxes.push(m.subject) });
      await intruder.flush();
      await a.send(id(5), new Uint8Array([1]));
      await waitFor(() => box.length === 1 && inboxes.length > 0, 'a first message and its subject');
      const forged = new Uint8Array(200);
      forged[0] = 2;
      forged.set(Buffer.from(id(4), 'hex'), 1);
      for (let i = 0; i < 20; i++) intruder.publish(inboxes[0]!, forged);
      await intruder.flush();
      await a.send(id(5), new Uint8Array([2]));
      await waitFor(() => box.length === 2, 'the second real message');
      expect(box.map((m) => Array.from(m.data))).to.deep.equal([[1], [2]]);
    } finally {
      await intruder.close();
    }
  });

  it('links a browser-style client (WebSocket, the PWA\'s wsconnect) with a Node one (TCP)', async () => {
    // Node 20 has no global WebSocket; the browser's own is used in the PWA.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    const browserSide = new NatsTransport({ connect: () => wsconnect({ servers: [cluster.servers[0]!.wsUrl!], ...AUTH }), mesh: 'ws', secret: 's', announceMs: 250, timeoutMs: 2000 });
    made.push(browserSide);
    const nodeSide = make('ws', 's');
    await Promise.all([browserSide.connect(id(6)), nodeSide.connect(id(7))]);
    await waitFor(() => browserSide.peers().includes(id(7)) && nodeSide.peers().includes(id(6)), 'the WebSocket and TCP clients to link');
    const atNode: TransportMessage[] = [];
    const atBrowser: TransportMessage[] = [];
    nodeSide.on('message', (m) => atNode.push(m));
    browserSide.on('message', (m) => atBrowser.push(m));
    await browserSide.send(id(7), new Uint8Array([1, 2, 3]));
    await nodeSide.send(id(6), new Uint8Array([4, 5]));
    await waitFor(() => atNode.length === 1 && atBrowser.length === 1, 'a message each way');
    expect([Array.from(atNode[0]!.data), Array.from(atBrowser[0]!.data)]).to.deep.equal([[1, 2, 3], [4, 5]]);
  });

  it('keeps the current link when a cluster client replays a hi of a peer\'s earlier, crashed session', async () => {
    const intruder = await connect({ servers: cluster.urls, ...AUTH });
    try {
      const frames: { subject: string; data: Uint8Array }[] = [];
      intruder.subscribe('lm.*.in.*', { callback: (_e, m) => void frames.push({ subject: m.subject, data: m.data.slice() }) });
      await intruder.flush();
      let raw: Awaited<ReturnType<ReturnType<typeof natsConnector>>> | null = null;
      const crashing = new NatsTransport({
        connect: async () => (raw = await natsConnector({ servers: cluster.urls, ...AUTH })()),
        mesh: 'replay', secret: 's', announceMs: 250, timeoutMs: 2000,
      });
      made.push(crashing);
      const watcher = make('replay', 's');
      // The crashing peer is there first, so it is the one that says hi when the watcher announces itself.
      await crashing.connect(id(21));
      await watcher.connect(id(20));
      await waitFor(() => watcher.peers().includes(id(21)) && crashing.peers().includes(id(20)), 'the first link');
      const hiToWatcher = (): { subject: string; data: Uint8Array } | undefined =>
        frames.find((f) => f.subject.endsWith(`.in.${id(20)}`) && f.data[0] === 1 && Buffer.from(f.data.subarray(1, 17)).toString('hex') === id(21));
      await waitFor(() => hiToWatcher() !== undefined, 'a hi from the first session, seen on the cluster');
      const captured = hiToWatcher()!;
      // The process dies: no goodbye, its session is simply never heard again.
      await raw!.close();
      const churn: string[] = [];
      watcher.on('peer-left', (p) => churn.push(`left:${p}`));
      watcher.on('peer-joined', (p) => churn.push(`joined:${p}`));
      await waitFor(() => churn.includes(`left:${id(21)}`), 'the crashed session to time out');
      const again = make('replay', 's');
      await again.connect(id(21));
      await waitFor(() => watcher.peers().includes(id(21)) && again.peers().includes(id(20)), 'the restarted peer to link');
      for (let i = 0; i < 3; i++) intruder.publish(captured.subject, captured.data);
      await intruder.flush();
      await new Promise((r) => setTimeout(r, 500));
      const box: TransportMessage[] = [];
      watcher.on('message', (m) => box.push(m));
      await again.send(id(20), new Uint8Array([7]));
      await waitFor(() => box.length === 1, 'a message from the restarted peer');
      expect(churn).to.deep.equal([`left:${id(21)}`, `joined:${id(21)}`]);
    } finally {
      await intruder.close();
    }
  });

  it('reads --nats options: repeatable and comma-separated servers, one kind of credentials', () => {
    expect(natsOptionsFromArgs(['--name', 'x'], {})).to.equal(null);
    expect(natsOptionsFromArgs(['--nats', 'nats://a:4222,nats://b:4222', '--nats', 'nats://c:4222', '--nats-user', 'u', '--nats-pass', 'p'], {})).to.deep.equal({
      servers: ['nats://a:4222', 'nats://b:4222', 'nats://c:4222'], noRandomize: true, user: 'u', pass: 'p',
    });
    expect(natsOptionsFromArgs(['--nats', 'nats://a:4222'], { LIQUIDMESH_NATS_TOKEN: 't' })).to.deep.equal({ servers: ['nats://a:4222'], noRandomize: true, token: 't' });
    expect(() => natsOptionsFromArgs(['--nats', 'http://a'], {})).to.throw(/not a nats:\/\/host:port URL/);
    expect(() => natsOptionsFromArgs(['--nats-token', 't'], {})).to.throw(/need --nats URL/);
    expect(() => natsOptionsFromArgs(['--nats', 'nats://a:1', '--nats-user', 'u'], {})).to.throw(/--nats-pass/);
    expect(() => natsOptionsFromArgs(['--nats', 'nats://a:1', '--nats-token', 't', '--nats-creds', 'f'], {})).to.throw(/one of/);
    expect(natsMaxLinksFromArgs(['--nats', 'nats://a:1'])).to.equal(undefined);
    expect(natsMaxLinksFromArgs(['--nats', 'nats://a:1', '--nats-max-links', '6'])).to.equal(6);
    expect(() => natsMaxLinksFromArgs(['--nats-max-links', '0'])).to.throw(/at least 1/);
    expect(() => natsOptionsFromArgs(['--nats-max-links', '4'], {})).to.throw(/need --nats URL/);
  });
});

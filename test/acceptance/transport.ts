/**
 * The acceptance suite every Transport adapter passes, in two topologies: all-to-all
 * (every peer reaches every other) and hub-and-spoke (spokes reach only the hub).
 * Runs under vitest in Node and under web-test-runner (mocha) in Chromium: it uses the
 * global `describe`/`it` and chai's `expect`.
 */
import { expect } from 'chai';
import type { PeerId, Transport, TransportMessage } from '../../shared/ports/transport.ts';
import { rejectionOf, waitFor } from './wait.ts';

/** Which peers can reach which. */
export type Topology = { kind: 'all-to-all' } | { kind: 'hub-and-spoke'; hub: PeerId };

/** A set of transports on one fresh network. */
export interface TransportFixture {
  transports: Transport[];
  /** A further, unconnected transport on the same network (for rejoin cases). */
  extra(): Transport;
  teardown(): Promise<void>;
}

/** How an adapter is set up for the suite. */
export interface TransportHarness {
  name: string;
  /** Unconnected transports on a new network whose links follow `topology`. */
  setup(count: number, topology: Topology): Promise<TransportFixture>;
  /** Give up on a wait after this long (real networks are slower). */
  timeoutMs?: number;
}

const ids = (n: number): PeerId[] => Array.from({ length: n }, (_, i) => i.toString(16).padStart(32, 'a'));

function inbox(t: Transport): TransportMessage[] {
  const got: TransportMessage[] = [];
  t.on('message', (m) => got.push(m));
  return got;
}

/** Run the suite against `harness`. */
export function runTransportTests(harness: TransportHarness): void {
  const timeout = harness.timeoutMs ?? 5000;
  const topologies: { label: string; topology: (peers: PeerId[]) => Topology; linked: (a: PeerId, b: PeerId, peers: PeerId[]) => boolean }[] = [
    { label: 'all-to-all', topology: () => ({ kind: 'all-to-all' }), linked: (a, b) => a !== b },
    {
      label: 'hub-and-spoke',
      topology: (peers) => ({ kind: 'hub-and-spoke', hub: peers[0]! }),
      linked: (a, b, peers) => a !== b && (a === peers[0] || b === peers[0]),
    },
  ];

  for (const { label, topology, linked } of topologies) {
    describe(`Transport acceptance: ${harness.name} (${label})`, function () {
      const N = 4;
      let fixture: TransportFixture;
      let peers: PeerId[];

      async function connectAll(): Promise<Transport[]> {
        peers = ids(N);
        fixture = await harness.setup(N, topology(peers));
        const ts = fixture.transports;
        await Promise.all(ts.map((t, i) => t.connect(peers[i]!)));
        await waitFor(
          () => ts.every((t, i) => peers.filter((p) => linked(peers[i]!, p, peers)).every((p) => t.peers().includes(p))),
          'every linked pair to join',
          timeout,
        );
        return ts;
      }

      afterEach(async () => {
        await fixture?.teardown();
      });

      it('reports exactly the peers the topology links, with peer-joined events', async () => {
        peers = ids(N);
        fixture = await harness.setup(N, topology(peers));
        const ts = fixture.transports;
        const joined: PeerId[][] = ts.map(() => []);
        ts.forEach((t, i) => t.on('peer-joined', (p) => joined[i]!.push(p)));
        await Promise.all(ts.map((t, i) => t.connect(peers[i]!)));
        await waitFor(() => ts.every((_, i) => joined[i]!.length === peers.filter((p) => linked(peers[i]!, p, peers)).length), 'peer-joined events', timeout);
        ts.forEach((t, i) => {
          const expected = peers.filter((p) => linked(peers[i]!, p, peers)).sort();
          expect([...t.peers()].sort()).to.deep.equal(expected);
          expect([...joined[i]!].sort()).to.deep.equal(expected);
        });
      });

      it('delivers bytes intact with the sender id between every linked pair', async () => {
        const ts = await connectAll();
        const boxes = ts.map(inbox);
        for (let i = 0; i < N; i++) {
          for (let j = 0; j < N; j++) {
            if (!linked(peers[i]!, peers[j]!, peers)) continue;
            await ts[i]!.send(peers[j]!, new Uint8Array([i, j, 0, 255]));
          }
        }
        for (let j = 0; j < N; j++) {
          const senders = peers.filter((p) => linked(p, peers[j]!, peers));
          await waitFor(() => boxes[j]!.length === senders.length, `messages at peer ${j}`, timeout);
          for (const m of boxes[j]!) {
            const i = peers.indexOf(m.from);
            expect(Array.from(m.data)).to.deep.equal([i, j, 0, 255]);
          }
        }
      });

      it('keeps the order of messages from one sender', async () => {
        const ts = await connectAll();
        const box = inbox(ts[1]!);
        const sends: Promise<void>[] = [];
        for (let k = 0; k < 100; k++) sends.push(ts[0]!.send(peers[1]!, new Uint8Array([k])));
        await Promise.all(sends);
        await waitFor(() => box.length === 100, '100 messages', timeout);
        expect(box.map((m) => m.data[0])).to.deep.equal(Array.from({ length: 100 }, (_, k) => k));
      });

      it('carries a message of exactly maxMessageSize and refuses a larger one with ERR_PAYLOAD_TOO_LARGE', async () => {
        const ts = await connectAll();
        const box = inbox(ts[1]!);
        const max = ts[0]!.maxMessageSize;
        const big = new Uint8Array(max);
        big[0] = 7;
        big[max - 1] = 9;
        await ts[0]!.send(peers[1]!, big);
        await waitFor(() => box.length === 1, 'the max-size message', timeout);
        expect(box[0]!.data.byteLength).to.equal(max);
        expect([box[0]!.data[0], box[0]!.data[max - 1]]).to.deep.equal([7, 9]);
        const error = await rejectionOf(ts[0]!.send(peers[1]!, new Uint8Array(max + 1)));
        expect(error.code).to.equal('ERR_PAYLOAD_TOO_LARGE');
      });

      it('delivers framed sends (views of one buffer, room in front) intact, in order, and refuses one too large', async () => {
        const ts = await connectAll();
        const sender = ts[0]!;
        // Only transports that offer it; the others are sent to with plain `send`.
        if (!sender.sendFramed || sender.headroom === undefined) return;
        const room = sender.headroom;
        const box = inbox(ts[1]!);
        const max = sender.maxMessageSize;
        const sizes = [1, 1000, max];
        const buffer = new Uint8Array(sizes.reduce((sum, n) => sum + room + n, 0));
        const frames: Uint8Array[] = [];
        let at = 0;
        for (const [k, n] of sizes.entries()) {
          const frame = buffer.subarray(at, at + room + n);
          frame.fill(k + 1, room);
          frames.push(frame);
          at += room + n;
        }
        for (const frame of frames) await sender.sendFramed(peers[1]!, frame);
        await waitFor(() => box.length === sizes.length, 'the framed messages', timeout);
        expect(box.map((m) => m.data.byteLength)).to.deep.equal(sizes);
        expect(box.map((m) => [m.data[0], m.data[m.data.byteLength - 1]])).to.deep.equal([[1, 1], [2, 2], [3, 3]]);
        const error = await rejectionOf(sender.sendFramed(peers[1]!, new Uint8Array(room + max + 1)));
        expect(error.code).to.equal('ERR_PAYLOAD_TOO_LARGE');
      });

      it('refuses to send to a peer it cannot reach with ERR_PEER_UNREACHABLE', async () => {
        const ts = await connectAll();
        const stranger = 'f'.repeat(32);
        expect((await rejectionOf(ts[0]!.send(stranger, new Uint8Array([1])))).code).to.equal('ERR_PEER_UNREACHABLE');
        if (label === 'hub-and-spoke') {
          expect((await rejectionOf(ts[1]!.send(peers[2]!, new Uint8Array([1])))).code).to.equal('ERR_PEER_UNREACHABLE');
        }
      });

      it('refuses to send before connect with ERR_NOT_CONNECTED', async () => {
        peers = ids(N);
        fixture = await harness.setup(N, topology(peers));
        const error = await rejectionOf(fixture.transports[0]!.send(peers[1]!, new Uint8Array([1])));
        expect(error.code).to.equal('ERR_NOT_CONNECTED');
      });

      it('tells the linked peers when one disconnects', async () => {
        const ts = await connectAll();
        const leaver = label === 'hub-and-spoke' ? 1 : 3;
        const left: PeerId[][] = ts.map(() => []);
        ts.forEach((t, i) => t.on('peer-left', (p) => left[i]!.push(p)));
        await ts[leaver]!.disconnect();
        const watchers = peers.map((_, i) => i).filter((i) => i !== leaver && linked(peers[i]!, peers[leaver]!, peers));
        await waitFor(() => watchers.every((i) => left[i]!.includes(peers[leaver]!)), 'peer-left at the linked peers', timeout);
        for (const i of watchers) expect(ts[i]!.peers()).to.not.include(peers[leaver]!);
      });

      it('makes disconnect idempotent, removes its listeners and refuses sends afterwards', async () => {
        const ts = await connectAll();
        let eventsAfter = 0;
        ts[1]!.on('message', () => eventsAfter++);
        ts[1]!.on('peer-joined', () => eventsAfter++);
        ts[1]!.on('peer-left', () => eventsAfter++);
        await ts[1]!.disconnect();
        await ts[1]!.disconnect();
        expect(ts[1]!.peers()).to.deep.equal([]);
        // Traffic and churn elsewhere must not reach the disconnected transport's listeners.
        await ts[0]!.send(peers[2]!, new Uint8Array([1]));
        await ts[3]!.disconnect();
        await new Promise((r) => setTimeout(r, 50));
        expect(eventsAfter).to.equal(0);
        expect((await rejectionOf(ts[1]!.send(peers[0]!, new Uint8Array([1])))).code).to.equal('ERR_NOT_CONNECTED');
      });

      it('stops calling a listener once it unsubscribes', async () => {
        const ts = await connectAll();
        let calls = 0;
        const off = ts[1]!.on('message', () => calls++);
        const box = inbox(ts[1]!);
        await ts[0]!.send(peers[1]!, new Uint8Array([1]));
        await waitFor(() => box.length === 1, 'first message', timeout);
        off();
        await ts[0]!.send(peers[1]!, new Uint8Array([2]));
        await waitFor(() => box.length === 2, 'second message', timeout);
        expect(calls).to.equal(1);
      });

      it('sees a peer again when it reconnects with the same id', async () => {
        const ts = await connectAll();
        const watcher = 0;
        const leaver = 2;
        const joined: PeerId[] = [];
        ts[watcher]!.on('peer-joined', (p) => joined.push(p));
        await ts[leaver]!.disconnect();
        await waitFor(() => !ts[watcher]!.peers().includes(peers[leaver]!), 'the leaver to be gone', timeout);
        const again = fixture.extra();
        const box = inbox(ts[watcher]!);
        await again.connect(peers[leaver]!);
        await waitFor(() => joined.includes(peers[leaver]!), 'the rejoined peer', timeout);
        await waitFor(() => again.peers().includes(peers[watcher]!), 'the rejoined peer to see the watcher', timeout);
        await again.send(peers[watcher]!, new Uint8Array([42]));
        await waitFor(() => box.some((m) => m.from === peers[leaver] && m.data[0] === 42), 'a message from the rejoined peer', timeout);
      });
    });
  }
}

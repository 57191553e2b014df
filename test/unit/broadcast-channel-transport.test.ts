// BroadcastChannelTransport: the transport acceptance suite, real peers over it, and the
// cases only a discovery protocol has (silence, reloads, duplicate ids). Isomorphic: the
// Chromium entry point (test/browser/core.test.ts) runs this same file.
import { expect } from 'chai';
import {
  BROADCAST_CHANNEL_DEFAULTS,
  BroadcastChannelTransport,
  type BroadcastChannelTransportOptions,
  broadcastChannelName,
} from '../../shared/adapters/broadcast-channel-transport.ts';
import { DuplicatePeerError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import type { PeerId, TransportMessage } from '../../shared/ports/transport.ts';
import { broadcastChannelTransportHarness, uniqueMeshName } from '../acceptance/broadcast-channel-harness.ts';
import { runTransportTests } from '../acceptance/transport.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';

runTransportTests(broadcastChannelTransportHarness);

const W: PeerId = 'a'.repeat(32);
const X: PeerId = 'b'.repeat(32);

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function inbox(t: BroadcastChannelTransport): TransportMessage[] {
  const got: TransportMessage[] = [];
  t.on('message', (m) => got.push(m));
  return got;
}

/** Every peer-joined and peer-left, in order, as `joined:<id>` / `left:<id>`. */
function churn(t: BroadcastChannelTransport): string[] {
  const seen: string[] = [];
  t.on('peer-joined', (p) => seen.push(`joined:${p}`));
  t.on('peer-left', (p) => seen.push(`left:${p}`));
  return seen;
}

/** Connect a transport whose clock is manual: its duplicate check ends when the clock says so. */
async function connectOn(t: BroadcastChannelTransport, id: PeerId, clock: ManualClock): Promise<void> {
  const connecting = t.connect(id);
  clock.advance(BROADCAST_CHANNEL_DEFAULTS.duplicateCheckMs);
  await connecting;
}

describe('BroadcastChannelTransport', () => {
  let mesh: string;
  let cleanup: (() => Promise<void>)[];
  const transport = (options: Partial<BroadcastChannelTransportOptions> = {}): BroadcastChannelTransport => {
    const t = new BroadcastChannelTransport({ channel: mesh, ...options });
    cleanup.push(() => t.disconnect());
    return t;
  };

  beforeEach(() => {
    mesh = uniqueMeshName('unit');
    cleanup = [];
  });
  afterEach(async () => {
    for (const done of cleanup.splice(0).reverse()) await done();
  });

  it('links three real peers: each lists the others\' devices and answers peer.ping', async () => {
    const log = collectLogs();
    const names = ['tab-1', 'tab-2', 'worker'];
    const peers = names.map(
      (name) =>
        new Peer({
          transports: [new BroadcastChannelTransport({ channel: mesh })],
          store: memoryStore(),
          device: { name, engine: 'node', capabilities: ['sys.millis'] },
          logger: createLogger(`peer:${name}`, log.sink),
        }),
    );
    cleanup.push(async () => {
      await Promise.all(peers.map((p) => p.stop()));
    });
    await Promise.all(peers.map((p) => p.start()));

    await waitFor(() => peers.every((p) => p.registry.devices.size === 3), 'every registry to list three devices');
    await waitFor(() => peers.every((p) => p.linked().length === 2), 'every peer to be linked to the other two');
    for (const p of peers) {
      expect(p.registry.devices.values().map((d) => d.name).sort()).to.deep.equal([...names].sort());
      expect([...p.linked()].sort()).to.deep.equal(peers.filter((q) => q !== p).map((q) => q.id).sort());
    }
    for (const a of peers) {
      for (const b of peers) {
        if (a === b) continue;
        const pong = await a.call(b.id, 'peer.ping', { sentAt: 42 });
        expect(pong).to.deep.equal({ sentAt: 42, peer: b.id });
      }
    }
    expect(log.lines.filter((l) => l.level !== 'debug')).to.deep.equal([]);
  });

  it('reports a killed tab (channel gone without a bye, no more beats) as left only once timeoutMs of silence has passed', async () => {
    const watcherClock = new ManualClock();
    const victimClock = new ManualClock();
    let victimChannel: BroadcastChannel | null = null;
    const watcher = transport({ clock: watcherClock });
    const victim = transport({
      clock: victimClock,
      createChannel: (name) => (victimChannel = new BroadcastChannel(name)),
    });
    const seen = churn(watcher);
    await connectOn(watcher, W, watcherClock);
    await connectOn(victim, X, victimClock);
    await waitFor(() => watcher.peers().includes(X) && victim.peers().includes(W), 'the pair to join');

    // The kill: the channel closes with nothing said, and the victim's clock never moves
    // again, so no timer of it (no heartbeat) ever runs.
    victimChannel!.close();
    watcherClock.advance(BROADCAST_CHANNEL_DEFAULTS.timeoutMs - BROADCAST_CHANNEL_DEFAULTS.heartbeatMs);
    await delay(50); // a bye, had one been sent, would have arrived by now
    expect(seen).to.deep.equal([`joined:${X}`]);
    expect(watcher.peers()).to.deep.equal([X]);

    watcherClock.advance(2 * BROADCAST_CHANNEL_DEFAULTS.heartbeatMs);
    expect(seen).to.deep.equal([`joined:${X}`, `left:${X}`]);
    expect(watcher.peers()).to.deep.equal([]);
    expect((await rejectionOf(watcher.send(X, new Uint8Array([1])))).code).to.equal('ERR_PEER_UNREACHABLE');
  });

  it('re-links a peer it dropped for silence once it is heard again, as a new connection on both sides', async () => {
    const clockW = new ManualClock();
    const clockX = new ManualClock();
    const w = transport({ clock: clockW });
    const x = transport({ clock: clockX });
    await connectOn(w, W, clockW);
    await connectOn(x, X, clockX);
    await waitFor(() => w.peers().includes(X) && x.peers().includes(W), 'the pair to join');
    const seenW = churn(w);
    const seenX = churn(x);
    const boxW = inbox(w);
    const boxX = inbox(x);

    // X's timers stall (a throttled tab) while W's run: W drops X; X still counts W as joined.
    clockW.advance(BROADCAST_CHANNEL_DEFAULTS.timeoutMs + BROADCAST_CHANNEL_DEFAULTS.heartbeatMs);
    expect(seenW).to.deep.equal([`left:${X}`]);
    // Sent on the connection W has ended: it must not surface in the next one.
    await x.send(W, new Uint8Array([1]));
    // X's timers run again: its heartbeat tells W it is alive.
    clockX.advance(BROADCAST_CHANNEL_DEFAULTS.heartbeatMs);
    await waitFor(() => seenW.length === 2 && seenX.length === 2, 'both sides to see a new connection');
    expect(seenW).to.deep.equal([`left:${X}`, `joined:${X}`]);
    expect(seenX).to.deep.equal([`left:${W}`, `joined:${W}`]);

    await x.send(W, new Uint8Array([2]));
    await w.send(X, new Uint8Array([3]));
    await waitFor(() => boxW.length > 0 && boxX.length > 0, 'a message each way on the new connection');
    await delay(20);
    expect(boxW.map((m) => [...m.data])).to.deep.equal([[2]]);
    expect(boxX.map((m) => [...m.data])).to.deep.equal([[3]]);
  });

  it('joins once when a heartbeat overtakes the answer to a hello (no spurious new connection)', async () => {
    const clockW = new ManualClock();
    const clockX = new ManualClock();
    const w = transport({ clock: clockW });
    const x = transport({ clock: clockX });
    await connectOn(w, W, clockW);
    const seenW = churn(w);
    const seenX = churn(x);
    await connectOn(x, X, clockX);
    // W beats before it has even read X's hello, so X hears W's beat before W's here and
    // asks W to link; W must see that this request predates its answer.
    clockW.advance(BROADCAST_CHANNEL_DEFAULTS.heartbeatMs);
    await waitFor(() => w.peers().includes(X) && x.peers().includes(W), 'the pair to join');
    await delay(50);
    expect(seenW).to.deep.equal([`joined:${X}`]);
    expect(seenX).to.deep.equal([`joined:${W}`]);
  });

  it('switches at once to a reloaded instance of a peer id (no bye from the old one): peer-left, then peer-joined', async () => {
    const clockW = new ManualClock();
    let oldChannel: BroadcastChannel | null = null;
    const w = transport({ clock: clockW });
    const clockBefore = new ManualClock();
    const before = transport({ clock: clockBefore, createChannel: (n) => (oldChannel = new BroadcastChannel(n)) });
    await connectOn(w, W, clockW);
    await connectOn(before, X, clockBefore);
    await waitFor(() => w.peers().includes(X), 'the first instance to join');
    const seen = churn(w);

    oldChannel!.close();
    const clockAfter = new ManualClock();
    const after = transport({ clock: clockAfter });
    const box = inbox(after);
    await connectOn(after, X, clockAfter);
    // W's clock stands still: this is the new session's hello at work, not a timeout.
    await waitFor(() => seen.length === 2 && after.peers().includes(W), 'W to see the new instance');
    expect(seen).to.deep.equal([`left:${X}`, `joined:${X}`]);
    await w.send(X, new Uint8Array([7]));
    await waitFor(() => box.length === 1, 'the message at the new instance');
    expect([...box[0]!.data]).to.deep.equal([7]);
  });

  it('keeps an old instance that comes back to life (it missed the duplicate check) apart from the new one', async () => {
    const log = collectLogs();
    const w = transport();
    const old = transport({ logger: createLogger('old', log.sink) });
    await w.connect(W);
    await old.connect(X);
    await waitFor(() => w.peers().includes(X) && old.peers().includes(W), 'the first instance to join');
    const seen = churn(w);
    const boxW = inbox(w);
    const boxOld = inbox(old);

    // As if the old instance were frozen and could not answer the claim.
    const fresh = transport({ duplicateCheckMs: 0 });
    const boxFresh = inbox(fresh);
    await fresh.connect(X);
    await waitFor(() => seen.length === 2 && fresh.peers().includes(W), 'W to follow the new instance');
    expect(seen).to.deep.equal([`left:${X}`, `joined:${X}`]);
    expect(log.lines.map((l) => l.level)).to.deep.equal(['warn']);

    await old.send(W, new Uint8Array([1]));
    await fresh.send(W, new Uint8Array([2]));
    await w.send(X, new Uint8Array([3]));
    await waitFor(() => boxW.length > 0 && boxFresh.length > 0, 'the new instance and W to exchange');
    await delay(50);
    expect(boxW.map((m) => [...m.data])).to.deep.equal([[2]]);
    expect(boxFresh.map((m) => [...m.data])).to.deep.equal([[3]]);
    expect(boxOld).to.deep.equal([]);
  });

  it('refuses a second transport with an id already connected (ERR_DUPLICATE_PEER) and leaves the first undisturbed', async () => {
    const w = transport();
    const first = transport();
    await w.connect(W);
    await first.connect(X);
    await waitFor(() => w.peers().includes(X) && first.peers().includes(W), 'the pair to join');
    const seen = churn(w);
    const box = inbox(w);

    const second = transport();
    const error = await rejectionOf(second.connect(X));
    expect(error).to.be.instanceOf(DuplicatePeerError);
    expect(error.code).to.equal('ERR_DUPLICATE_PEER');
    expect(second.peers()).to.deep.equal([]);
    expect((await rejectionOf(second.send(W, new Uint8Array([1])))).code).to.equal('ERR_NOT_CONNECTED');

    await first.send(W, new Uint8Array([9]));
    await waitFor(() => box.length === 1, 'the first instance to still reach W');
    await delay(20);
    expect(seen).to.deep.equal([]);
    expect(first.peers()).to.deep.equal([W]);
    // The refused transport may still connect under an id of its own.
    await second.connect('c'.repeat(32));
    await waitFor(() => w.peers().includes('c'.repeat(32)), 'the refused transport to join under another id');
  });

  it('lets exactly one of two simultaneous claims of one id through', async () => {
    const results = await Promise.allSettled([transport().connect(X), transport().connect(X)]);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
    expect(refused).to.have.length(1);
    expect((refused[0]!.reason as { code?: string }).code).to.equal('ERR_DUPLICATE_PEER');
  });

  it('rejects a connect still checking for duplicates when disconnected (ERR_NOT_CONNECTED)', async () => {
    const t = transport({ clock: new ManualClock() });
    const connecting = t.connect(W);
    await t.disconnect();
    expect((await rejectionOf(connecting)).code).to.equal('ERR_NOT_CONNECTED');
    expect(t.peers()).to.deep.equal([]);
  });

  it('ignores foreign posts, malformed envelopes and forgeries without the sender\'s session', async () => {
    const log = collectLogs();
    const w = transport({ logger: createLogger('w', log.sink) });
    const x = transport();
    await w.connect(W);
    await x.connect(X);
    // Both ways: x sends to w below.
    await waitFor(() => w.peers().includes(X) && x.peers().includes(W), 'the pair to join');
    const seen = churn(w);
    const box = inbox(w);

    const raw = new BroadcastChannel(broadcastChannelName(mesh));
    try {
      raw.postMessage('not an envelope');
      raw.postMessage({ lm: 1, type: 'msg', from: X, session: 'guess', seq: 1, to: W, data: 'not bytes' });
      raw.postMessage({ lm: 1, type: 'bye', from: X, session: 'guess', seq: 2 });
      raw.postMessage({ lm: 1, type: 'beat', from: X, session: 'guess', seq: 3 });
    } finally {
      raw.close();
    }
    await x.send(W, new Uint8Array([5]));
    await waitFor(() => box.length === 1, 'the genuine message');
    expect([...box[0]!.data]).to.deep.equal([5]);
    expect(seen).to.deep.equal([]);
    expect(w.peers()).to.deep.equal([X]);
  });

  it('refuses settings under which healthy peers would flap (ERR_INVALID_PARAMS)', () => {
    expect(() => new BroadcastChannelTransport({ channel: mesh, heartbeatMs: 1000, timeoutMs: 1000 })).to.throw().with.property('code', 'ERR_INVALID_PARAMS');
    expect(() => new BroadcastChannelTransport({ channel: '' })).to.throw().with.property('code', 'ERR_INVALID_PARAMS');
  });
});

// The WebRTC transport in Node (node-datachannel), against the real signaling server,
// inside the loopback-only network namespace npm test creates.
import '../../node-host/webrtc/globals.ts';
import { expect } from 'chai';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { deriveMeshKeys } from '../../shared/adapters/mesh-secret.ts';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { runTransportTests } from '../acceptance/transport.ts';
import { waitFor } from '../acceptance/wait.ts';
import { LOOPBACK, webRtcTransportHarness } from '../acceptance/webrtc-harness.ts';

requireLoopbackNamespace();
let server: SignalServer;
beforeAll(async () => {
  server = await startSignalServer();
});
afterAll(async () => {
  await server.close();
});

runTransportTests(webRtcTransportHarness('WebRtcTransport in Node', () => server.url));

/**
 * Make the process's `nth` (0-based) `crypto.subtle[op]` answer `ms` late, as on a busy
 * machine: `verify` checks a remote's mesh proof, `sign` makes our own. `calls` counts the
 * calls made; `restore` puts the function back.
 */
function lateCrypto(op: 'verify' | 'sign', nth: number, ms: number): { calls: () => number; restore: () => void } {
  const subtle = globalThis.crypto.subtle as unknown as Record<'verify' | 'sign', (...args: unknown[]) => Promise<unknown>>;
  const real = subtle[op].bind(globalThis.crypto.subtle);
  let calls = 0;
  subtle[op] = async (...args: unknown[]) => {
    if (calls++ === nth) await new Promise((r) => setTimeout(r, ms));
    return real(...args);
  };
  return { calls: () => calls, restore: () => (subtle[op] = real) };
}

describe('WebRtcTransport specifics', () => {
  const id = (n: number): string => n.toString(16).padStart(32, 'c');
  const made: WebRtcTransport[] = [];
  const make = (o: Partial<ConstructorParameters<typeof WebRtcTransport>[0]> = {}): WebRtcTransport => {
    const t = new WebRtcTransport({ signalUrl: server.url, mesh: 'specifics', secret: 'right', announceMs: 300, rtcConfig: LOOPBACK, ...o });
    made.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.disconnect()));
  });

  it('keeps a peer with the wrong mesh secret out: it finds no one and no one finds it', async () => {
    const a = make();
    const b = make();
    const outsider = make({ secret: 'wrong' });
    await Promise.all([a.connect(id(1)), b.connect(id(2)), outsider.connect(id(3))]);
    await waitFor(() => a.peers().includes(id(2)), 'a and b to meet');
    await new Promise((r) => setTimeout(r, 1500));
    expect(outsider.peers()).to.deep.equal([]);
    expect(a.peers()).to.deep.equal([id(2)]);
    expect(b.peers()).to.deep.equal([id(1)]);
  });

  it('reports a peer that falls silent (a killed process says no goodbye) as gone after the timeout', async () => {
    const watcher = make({ heartbeatMs: 200, timeoutMs: 1500 });
    // Its clock never moves: it neither pings nor notices anything, like a frozen process.
    const frozen = make({ clock: new ManualClock() });
    const left: string[] = [];
    watcher.on('peer-left', (p) => left.push(p));
    await Promise.all([watcher.connect(id(4)), frozen.connect(id(5))]);
    await waitFor(() => watcher.peers().includes(id(5)), 'the link');
    await waitFor(() => left.includes(id(5)), 'the silent peer to be reported gone', 10_000);
    expect(watcher.connectionCount).to.equal(0);
  });

  it('reports a killed peer gone soon after its signaling socket dies, long before the silence floor, and keeps a living peer at rest that only lost the server', async () => {
    // Links settle at once: keepalives a second apart (rest pings), so the living peer is
    // kept only because it answers the probe its will brought.
    const floor = { timeoutMs: 30_000, maxTimeoutMs: 30_000, settleMs: 0 };
    const watcher = make(floor);
    const left: string[] = [];
    watcher.on('peer-left', (p) => left.push(p));
    await watcher.connect(id(6));
    // The sockets each peer opens, to cut its signaling connection the way its death does.
    const sockets = new Map<string, WebSocket[]>();
    const Real = globalThis.WebSocket;
    const opening = (name: string, t: WebRtcTransport): Promise<void> => {
      const mine: WebSocket[] = [];
      sockets.set(name, mine);
      globalThis.WebSocket = class extends Real {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          mine.push(this);
        }
      };
      return t.connect(name === 'dead' ? id(7) : id(8)).finally(() => {
        globalThis.WebSocket = Real;
      });
    };
    // Its clock never moves: no keepalive leaves it, like a killed process.
    const dead = make({ ...floor, clock: new ManualClock() });
    await opening('dead', dead);
    const living = make(floor);
    await opening('living', living);
    await waitFor(() => watcher.peers().includes(id(7)) && watcher.peers().includes(id(8)), 'both links', 30_000);
    for (const name of ['dead', 'living']) {
      const signal = sockets.get(name)!.find((ws) => ws.url.endsWith('/signal'))!;
      (signal as unknown as { terminate(): void }).terminate();
    }
    await waitFor(() => left.includes(id(7)), 'the dead peer to be reported gone', 10_000);
    // The living one's will arrived too; it keeps talking over the link and stays.
    await new Promise((r) => setTimeout(r, 2000));
    expect(left).to.deep.equal([id(7)]);
    expect(watcher.peers()).to.deep.equal([id(8)]);
  });

  it('gives up a connection that fails silently before opening and dials again at once, not after the dial timeout', async () => {
    // libdatachannel can close a connection before its channel opens and say so only in
    // connectionstatechange (its ICE state event never comes, so PeerJS never learns). The
    // dialler's first peer connection does that here; the dialler's clock is manual and is
    // moved one second, a tenth of the dial timeout: only a redial of its own joins them.
    const g = globalThis as unknown as { RTCPeerConnection: typeof RTCPeerConnection };
    const Real = g.RTCPeerConnection;
    let failed = false;
    let first = true;
    g.RTCPeerConnection = class extends Real {
      #silent = false;
      constructor(...args: ConstructorParameters<typeof RTCPeerConnection>) {
        super(...args);
        if (!first) return;
        first = false;
        this.addEventListener('signalingstatechange', () => {
          if (this.signalingState !== 'have-local-offer' || this.#silent) return;
          this.#silent = true;
          queueMicrotask(() => {
            this.close();
            failed = true;
          });
        });
      }
      override dispatchEvent(event: Event): boolean {
        return this.#silent && event.type !== 'connectionstatechange' ? true : super.dispatchEvent(event);
      }
    };
    try {
      const clock = new ManualClock();
      const remote = make();
      const dialler = make({ clock });
      await remote.connect(id(21));
      await dialler.connect(id(20));
      await waitFor(() => failed, 'the first connection to fail');
      clock.advance(1000);
      await waitFor(() => dialler.peers().includes(id(21)) && remote.peers().includes(id(20)), 'the pair to join over a second connection');
      expect(dialler.connectionCount).to.equal(1);
    } finally {
      g.RTCPeerConnection = Real;
    }
  });

  it('re-announces the same sealed bytes while what it says is unchanged, and opens each only once', async () => {
    // A listener on the mesh's topic, as any subscriber (the server included) is.
    const keys = await deriveMeshKeys('specifics', 'right');
    const heard = new Map<string, number>();
    const listener = new WebSocket(`${server.url.replace(/^http/, 'ws')}/signal`);
    await new Promise((resolve) => (listener.onopen = resolve));
    listener.onmessage = (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as { type?: string; data?: string };
      if (message.type === 'publish' && message.data) heard.set(message.data, (heard.get(message.data) ?? 0) + 1);
    };
    listener.send(JSON.stringify({ type: 'subscribe', topics: [keys.topic] }));
    const subtle = globalThis.crypto.subtle;
    const decrypt = subtle.decrypt.bind(subtle);
    let opened = 0;
    subtle.decrypt = ((...args: Parameters<SubtleCrypto['decrypt']>) => {
      opened++;
      return decrypt(...args);
    }) as SubtleCrypto['decrypt'];
    try {
      const a = make({ announceMs: 100 });
      const b = make({ announceMs: 100 });
      await Promise.all([a.connect(id(20)), b.connect(id(21))]);
      await waitFor(() => a.peers().includes(id(21)) && b.peers().includes(id(20)), 'a and b to link');
      // What was published while they linked has been opened by now.
      await new Promise((r) => setTimeout(r, 1000));
      const before = opened;
      const known = new Map(heard);
      // At rest each re-announces every 500 ms: several repeats of texts heard before reach the other.
      const repeats = (): number => [...known.keys()].reduce((sum, text) => sum + heard.get(text)! - known.get(text)!, 0);
      await waitFor(() => repeats() >= 4, 'four repeated announcements', 10_000);
      // Each peer opens a text it has not seen (a directed announcement, say) once; a repeat, never.
      const fresh = [...heard.keys()].filter((text) => !known.has(text)).length;
      expect(opened - before).to.be.at.most(2 * fresh);
    } finally {
      subtle.decrypt = decrypt;
      listener.close();
    }
  });

  /**
   * Two peers `first` and `second` that each send three of the largest messages the moment
   * they join; what each received (each message's fill byte, in order) once both have three.
   */
  const threeEachWayAtJoin = async (first: string, second: string): Promise<Map<string, number[]>> => {
    const got = new Map<string, number[]>([
      [first, []],
      [second, []],
    ]);
    const ends = [make(), make()] as const;
    for (const [t, self] of [
      [ends[0], first],
      [ends[1], second],
    ] as const) {
      t.on('peer-joined', (peer) => {
        for (let n = 1; n <= 3; n++) void t.send(peer, new Uint8Array(t.maxMessageSize).fill(n));
      });
      t.on('message', (m) => got.get(self)!.push(m.data[0]));
    }
    await Promise.all([ends[0].connect(first), ends[1].connect(second)]);
    await waitFor(() => got.get(first)!.length === 3 && got.get(second)!.length === 3, 'three messages each way', 10_000);
    return got;
  };

  const joinRaces = [
    {
      // The first proof is checked at once, the second 400 ms late: one end joins and sends
      // while the other has its proof in hand but not yet checked.
      title: 'delivers what a peer sends the moment it joins, even while the other end is still checking its proof',
      late: () => lateCrypto('verify', 1, 400),
      ids: [22, 23],
    },
    {
      // One end makes its proof 400 ms late: it has the other's proof checked long before, and
      // what it sends the moment it joins must not reach the other end ahead of that proof.
      title: 'puts its own proof on the link before what it sends at the join, however late the proof is made',
      late: () => lateCrypto('sign', 0, 400),
      ids: [26, 27],
    },
  ];
  for (const race of joinRaces) {
    it(race.title, async () => {
      const late = race.late();
      const [first, second] = race.ids.map(id) as [string, string];
      try {
        const got = await threeEachWayAtJoin(first, second);
        expect(late.calls()).to.be.at.least(2);
        expect(got.get(first)).to.deep.equal([1, 2, 3]);
        expect(got.get(second)).to.deep.equal([1, 2, 3]);
      } finally {
        late.restore();
      }
    });
  }

  it('ends a link whose remote sends more than 8 MiB before its proof is checked, and holds none of it', async () => {
    // Long enough for 10 MiB to arrive first on a busy machine.
    const late = lateCrypto('verify', 1, 6000);
    try {
      const a = make();
      const b = make();
      const left: string[] = [];
      const got: number[] = [];
      for (const t of [a, b]) {
        // Whichever joins first floods the other: 160 messages of 64 KiB, 10 MiB.
        t.on('peer-joined', (peer) => {
          for (let n = 0; n < 160; n++) void t.send(peer, new Uint8Array(t.maxMessageSize)).catch(() => undefined);
        });
        t.on('peer-left', (peer) => left.push(peer));
        t.on('message', () => got.push(1));
      }
      await Promise.all([a.connect(id(24)), b.connect(id(25))]);
      await waitFor(() => left.length > 0, 'the flooding end to see the link end', 20_000);
      expect(got).to.deep.equal([]);
    } finally {
      late.restore();
    }
  });

  it('does not accumulate connections when a peer comes and goes', async () => {
    const kiosk = make();
    await kiosk.connect(id(6));
    for (let round = 0; round < 5; round++) {
      const visitor = make();
      await visitor.connect(id(7));
      await waitFor(() => kiosk.peers().includes(id(7)), `visitor ${round} to join`);
      await visitor.disconnect();
      await waitFor(() => !kiosk.peers().includes(id(7)), `visitor ${round} to leave`);
    }
    expect(kiosk.connectionCount).to.equal(0);
  });
});

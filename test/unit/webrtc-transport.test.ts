// The WebRTC transport in Node (node-datachannel), against the real signaling server,
// inside the loopback-only network namespace npm test creates.
import '../../node-host/webrtc/globals.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'chai';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
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

  /**
   * A transport in a process of its own, linked as `id`: stopped (SIGSTOP) it is a frozen
   * peer that neither sends nor answers; killed (SIGKILL) its sockets close with it, as a
   * crashed peer's do. Only another process can be either.
   */
  async function peerProcess(peerId: string, o: Record<string, unknown> = {}): Promise<ChildProcess> {
    const url = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);
    const script = `
      await import(${url('../../node-host/webrtc/globals.ts')});
      const { WebRtcTransport } = await import(${url('../../shared/adapters/webrtc-transport.ts')});
      const t = new WebRtcTransport(${JSON.stringify({ signalUrl: server.url, mesh: 'specifics', secret: 'right', announceMs: 300, rtcConfig: LOOPBACK, ...o })});
      t.on('peer-joined', (p) => console.log('joined ' + p));
      await t.connect(${JSON.stringify(peerId)});
      setInterval(() => undefined, 60_000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    return child;
  }
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('reports a peer that falls silent (a frozen process answers nothing) as gone after the timeout', async () => {
    const watcher = make({ heartbeatMs: 200, timeoutMs: 1500 });
    const left: string[] = [];
    watcher.on('peer-left', (p) => left.push(p));
    await watcher.connect(id(4));
    const frozen = await peerProcess(id(5));
    await waitFor(() => watcher.peers().includes(id(5)), 'the link', 30_000);
    frozen.kill('SIGSTOP');
    await waitFor(() => left.includes(id(5)), 'the silent peer to be reported gone', 10_000);
    expect(watcher.connectionCount).to.equal(0);
  });

  it('reports a killed peer gone soon after its signaling socket dies, long before the silence floor, and keeps a living peer that only lost the server', async () => {
    const floor = { timeoutMs: 30_000, maxTimeoutMs: 30_000 };
    const watcher = make(floor);
    const left: string[] = [];
    watcher.on('peer-left', (p) => left.push(p));
    await watcher.connect(id(6));
    // The living peer's sockets, to cut its signaling connection as a lost server would.
    const sockets: WebSocket[] = [];
    const Real = globalThis.WebSocket;
    const living = make(floor);
    globalThis.WebSocket = class extends Real {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        sockets.push(this);
      }
    };
    try {
      await living.connect(id(8));
    } finally {
      globalThis.WebSocket = Real;
    }
    const dead = await peerProcess(id(7), floor);
    await waitFor(() => watcher.peers().includes(id(7)) && watcher.peers().includes(id(8)), 'both links', 30_000);
    dead.kill('SIGKILL');
    (sockets.find((ws) => ws.url.endsWith('/signal')) as unknown as { terminate(): void }).terminate();
    await waitFor(() => left.includes(id(7)), 'the dead peer to be reported gone', 10_000);
    // The living one's will arrived too; it answers the probe over the link and stays.
    await new Promise((r) => setTimeout(r, 2000));
    expect(left).to.deep.equal([id(7)]);
    expect(watcher.peers()).to.deep.equal([id(8)]);
  });

  it('sends a link at rest about one keepalive per period, not four a second', async () => {
    // Counted on the wire: frames the quiet peer's channel delivers to the watcher.
    const watcher = make();
    const quiet = make();
    await Promise.all([watcher.connect(id(9)), quiet.connect(id(10))]);
    await waitFor(() => watcher.peers().includes(id(10)) && quiet.peers().includes(id(9)), 'the link');
    const frames: number[] = [];
    const Channel = globalThis.RTCDataChannel as unknown as { prototype: { send(data: unknown): void } };
    const send = Channel.prototype.send;
    Channel.prototype.send = function (this: unknown, data: unknown) {
      frames.push(Date.now());
      send.call(this, data);
    };
    try {
      await new Promise((r) => setTimeout(r, 5000));
    } finally {
      Channel.prototype.send = send;
    }
    // Two peers, one link: each side sends one keepalive per 833 ms period (a few more
    // when a check lands early), 12 to 18 in these 5 s; at four a second each it was 40.
    expect(frames.length).to.be.within(2, 24);
    expect(watcher.peers()).to.deep.equal([id(10)]);
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

// Partial meshes on the in-memory network: peers linked only to some others (a line, a
// ring with chords), calls and blob fetches routed through linked peers, and presence
// relayed only where a peer would not hear it directly.
import { expect } from 'chai';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork, type MemoryTransport } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { decodeMessage, encodeMessage } from '../../shared/protocol/wire.ts';
import { rejectionOf } from '../acceptance/wait.ts';
import { collectLogs, type CollectedLog, memoryStore } from '../helpers/mesh.ts';

declare module '../../shared/rpc/methods.ts' {
  interface MeshMethods {
    'test.count': { params: Record<string, never>; result: number };
  }
}

interface Site {
  peers: Peer[];
  transports: MemoryTransport[];
  clock: ManualClock;
  log: CollectedLog;
  /** Move the clock on in steps, letting messages flow between them. */
  run(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start one peer per index, linked only where `linked(i, j)` says. `watched`: the links
 * close themselves when silent, as WebRTC's do (here they close when a peer leaves).
 */
async function site(n: number, linked: (i: number, j: number) => boolean, options: { watched?: boolean } = {}): Promise<Site> {
  const identities = await Promise.all(Array.from({ length: n }, () => Identity.generate()));
  const index = new Map(identities.map((id, i) => [id.id, i]));
  const network = new MemoryNetwork({ links: (a, b) => linked(index.get(a)!, index.get(b)!) });
  const clock = new ManualClock();
  const log = collectLogs();
  const peers: Peer[] = [];
  const transports: MemoryTransport[] = [];
  for (let i = 0; i < n; i++) {
    const transport = options.watched ? Object.assign(network.createTransport(), { closesSilentLinks: true }) : network.createTransport();
    const peer = new Peer({
      transports: [transport],
      store: memoryStore(),
      clock,
      identity: identities[i]!,
      device: { name: `p${i}`, engine: 'node' },
      logger: createLogger(`p${i}`, log.sink),
      timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 5000 },
      persistRegistry: false,
    });
    await peer.start();
    peers.push(peer);
    transports.push(transport);
  }
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      for (let k = 0; k < 3; k++) await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { peers, transports, clock, log, run, stop: async () => void (await Promise.all(peers.map((p) => p.stop()))) };
}

/** Run the clock until `predicate` holds. */
async function until(s: Site, predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !predicate(); i++) await s.run(100);
  expect(predicate(), what).to.equal(true);
}

const line = (i: number, j: number): boolean => Math.abs(i - j) === 1;

describe('A partial mesh (peers linked only to their neighbours on a line)', () => {
  let s: Site | undefined;
  afterEach(async () => {
    await s?.stop();
    s = undefined;
  });

  it('converges: every registry lists every peer and every peer sees every other alive', async () => {
    s = await site(5, line);
    const { peers } = s;
    await until(s, () => peers.every((p) => p.registry.devices.size === 5 && p.alive().length === 4) && peers[0]!.hops(peers[4]!.id) !== undefined, 'registries complete, everyone alive, the far end routable');
    expect(peers.map((p) => p.linked().length)).to.deep.equal([1, 2, 2, 2, 1]);
    expect(peers[0]!.hops(peers[4]!.id)).to.equal(4);
    expect(peers[0]!.hops(peers[1]!.id)).to.equal(1);
  });

  it('calls a peer three hops away through the peers between, and the callee sees the caller as the caller', async () => {
    s = await site(4, line);
    const { peers } = s;
    const [a, , , d] = peers as [Peer, Peer, Peer, Peer];
    await until(s, () => a.hops(d.id) === 3 && d.registry.devices.get(a.id) !== undefined, 'a route from a to d');
    const callers: string[] = [];
    d.rpc.handle('test.count', (_p, { from }) => (callers.push(from), callers.length));
    const described = await a.call(d.id, 'peer.describe', {});
    expect(described.name).to.equal('p3');
    expect(await a.call(d.id, 'test.count', {})).to.equal(1);
    expect(callers).to.deep.equal([a.id]);
    expect(a.linked()).to.not.include(d.id);
    expect(peers[1]!.forwarded + peers[2]!.forwarded).to.be.greaterThan(0);
  });

  it('fetches a blob held only by a peer two hops away, verified and stored', async () => {
    s = await site(3, line);
    const [a, , c] = s.peers as [Peer, Peer, Peer];
    const bytes = new Uint8Array(700 * 1024).map((_, i) => (i * 31) % 251);
    const hash = await c.store.blobs.put(bytes);
    await until(s, () => a.reachable().includes(c.id), 'c reachable from a');
    const fetched = await a.fetchBlob(hash, { chunkBytes: 128 * 1024 });
    expect(fetched).to.deep.equal(bytes);
    expect(await a.store.blobs.has(hash)).to.equal(true);
    expect(await s.peers[1]!.store.blobs.has(hash)).to.equal(false);
  });

  it('refuses a call to a peer with no route with ERR_PEER_UNREACHABLE, at once', async () => {
    // Two islands: p0–p1 and p2–p3.
    s = await site(4, (i, j) => (i < 2) === (j < 2) && i !== j);
    const [a, , , d] = s.peers as [Peer, Peer, Peer, Peer];
    await s.run(2000);
    const error = await rejectionOf(a.call(d.id, 'peer.describe', {}));
    expect(error.code).to.equal('ERR_PEER_UNREACHABLE');
    // Still answers its own island.
    expect((await a.call(s.peers[1]!.id, 'peer.describe', {})).name).to.equal('p1');
  });

  it('refuses at once a call to a peer that just vanished, though an older route through another peer still names it', async () => {
    s = await site(3, (i, j) => i !== j);
    const [a, , c] = s.peers as [Peer, Peer, Peer];
    await s.run(2000);
    // c's process dies: every link to it drops; b's advertised links still list c until b's next heartbeat.
    await s.transports[2]!.disconnect();
    expect(a.alive()).to.not.include(c.id);
    const settled = await Promise.race([
      rejectionOf(a.call(c.id, 'peer.describe', {})),
      // No clock advance: a call sent along the stale route would wait out its time limit.
      (async () => {
        for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
        return null;
      })(),
    ]);
    expect(settled?.code).to.equal('ERR_PEER_UNREACHABLE');
  });

  it('ends a call waiting for a peer reached through another as soon as the relay says it lost that peer, not when presence gives up on it', async () => {
    s = await site(3, line);
    const [a, , c] = s.peers as [Peer, Peer, Peer];
    await until(s, () => a.hops(c.id) === 2 && c.registry.devices.get(a.id) !== undefined, 'a route from a to c');
    c.rpc.handle('test.count', () => new Promise<number>(() => undefined)); // busy until it dies
    let settled: { code?: string } | undefined;
    void rejectionOf(a.call(c.id, 'test.count', {}, { timeoutMs: 60_000 })).then((e) => (settled = e));
    await s.run(300);
    expect(settled).to.equal(undefined);
    // c's process dies: b sees its link drop, a hears only that b no longer links c.
    await s.transports[2]!.disconnect();
    await s.run(1000);
    expect(settled?.code).to.equal('ERR_PEER_LEFT');
  });

  it('does not run a routed request a relay forged in another peer\'s name', async () => {
    s = await site(3, line);
    const [a, , c] = s.peers as [Peer, Peer, Peer];
    await until(s, () => c.registry.devices.get(a.id) !== undefined && a.hops(c.id) === 2, 'a route from a to c');
    let ran = 0;
    c.rpc.handle('test.count', () => ++ran);
    // b, a relay, claims a request comes from a: it cannot sign it with a's key.
    const inner = encodeMessage({ t: 'rpc', f: { t: 'req', id: 'forged-1', m: 'test.count', p: {} } });
    const forged = encodeMessage({ t: 'route', s: a.id, d: c.id, h: 8, ts: Date.now(), b: inner, sig: new Uint8Array(64).fill(7) });
    await s.transports[1]!.send(c.id, forged);
    await s.run(500);
    expect(ran).to.equal(0);
    expect(s.log.lines.some((l) => l.level === 'warn' && /bad signature/.test(l.text))).to.equal(true);
    // A genuine routed call still runs.
    expect(await a.call(c.id, 'test.count', {})).to.equal(1);
  });
});

describe('Presence in a mesh at rest', () => {
  let s: Site | undefined;
  afterEach(async () => {
    await s?.stop();
    s = undefined;
  });

  /** Presence messages each peer receives over `seconds` of rest. */
  async function presenceReceived(site: Site, seconds: number): Promise<number[]> {
    const counts = site.transports.map(() => 0);
    const offs = site.transports.map((t, i) => t.on('message', ({ data }) => {
      const decoded = decodeMessage(data);
      if (decoded.ok && decoded.value.t === 'aware') counts[i]!++;
    }));
    await site.run(seconds * 1000);
    for (const off of offs) off();
    return counts;
  }

  it('in a full mesh, each peer hears each heartbeat once (no relays over direct links)', async () => {
    const n = 8;
    s = await site(n, (i, j) => i !== j);
    const site0 = s;
    await until(s, () => site0.peers.every((p) => p.alive().length === n - 1 && p.linked().length === n - 1), 'a full mesh');
    await s.run(1000);
    const counts = await presenceReceived(s, 10);
    // One heartbeat a second from each of the n - 1 others; flooding would be (n - 1)(n - 2).
    for (const c of counts) expect(c).to.be.within(9 * (n - 1), 12 * (n - 1));
    expect(s.peers.every((p) => p.alive().length === n - 1)).to.equal(true);
  });

  it('in a full mesh whose links vouch for their ends, no heartbeat travels at rest and every peer stays alive', async () => {
    const n = 8;
    s = await site(n, (i, j) => i !== j, { watched: true });
    const site0 = s;
    await until(s, () => site0.peers.every((p) => p.alive().length === n - 1 && p.linked().length === n - 1), 'a full mesh');
    await s.run(2000);
    const left: string[] = [];
    for (const p of s.peers) p.on('device-left', (id) => left.push(id));
    // Eight times the liveness timeout: the links alone keep everyone alive.
    const counts = await presenceReceived(s, 40);
    expect(counts).to.deep.equal(s.peers.map(() => 0));
    expect(left).to.deep.equal([]);
    expect(s.peers.every((p) => p.alive().length === n - 1)).to.equal(true);
    // A peer that leaves is gone for everyone at once (its links close).
    await s.transports[n - 1]!.disconnect();
    await s.run(200);
    expect(s.peers.slice(0, n - 1).every((p) => p.alive().length === n - 2)).to.equal(true);
  });

  it('on a line whose links vouch for their ends, heartbeats still reach the peers beyond a neighbour, and only them', async () => {
    const n = 5;
    s = await site(n, line, { watched: true });
    const site0 = s;
    await until(s, () => site0.peers.every((p) => p.alive().length === n - 1), 'everyone alive');
    await s.run(2000);
    const left: string[] = [];
    for (const p of s.peers) p.on('device-left', (id) => left.push(id));
    const counts = await presenceReceived(s, 30);
    expect(left).to.deep.equal([]);
    expect(s.peers.every((p) => p.alive().length === n - 1)).to.equal(true);
    // Each end hears the three peers beyond its neighbour once a second, not its neighbour.
    expect(counts[0]).to.be.within(30 * (n - 2) - 6, 30 * (n - 2) + 6);
  });

  it('in a ring with chords, every peer stays alive to every other over 30 s, hearing each heartbeat a bounded number of times', async () => {
    const n = 12;
    // Each peer linked to its two ring neighbours and the one opposite: at most 3 links.
    const ring = (i: number, j: number): boolean => { const d = Math.abs(i - j); return d === 1 || d === n - 1 || d === n / 2; };
    s = await site(n, ring);
    const site0 = s;
    await until(s, () => site0.peers.every((p) => p.alive().length === n - 1), 'everyone alive');
    await s.run(2000);
    const left: string[] = [];
    for (const p of s.peers) p.on('device-left', (id) => left.push(id));
    const counts = await presenceReceived(s, 30);
    expect(left).to.deep.equal([]);
    expect(s.peers.every((p) => p.alive().length === n - 1)).to.equal(true);
    // At most about two copies of each of the n - 1 heartbeats a second (relays are chosen, not flooded).
    for (const c of counts) expect(c).to.be.below(30 * 2.2 * (n - 1));
  });
});

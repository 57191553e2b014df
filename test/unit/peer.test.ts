import { expect } from 'chai';
import { sha256Hex, toHex } from '../../shared/bytes.ts';
import { MeshError, PeerLeftError } from '../../shared/errors.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { encodeMessage } from '../../shared/protocol/wire.ts';
import { type Peer, Y } from '../../shared/mesh/peer.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { createMesh, type Mesh, memoryStore } from '../helpers/mesh.ts';

declare module '../../shared/rpc/methods.ts' {
  interface MeshMethods {
    'test.hang': { params: Record<string, never>; result: never };
  }
}

describe('Peer: five peers in one process', () => {
  let mesh: Mesh;
  afterEach(async () => mesh?.stopAll());

  it('join, see each other\'s device descriptions, call each other, and see one leave', async () => {
    const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    mesh = await createMesh(names);
    const { peers } = mesh;

    await waitFor(() => peers.every((p) => p.registry.devices.size === 5), 'every registry to list five devices');
    for (const p of peers) {
      expect(p.registry.devices.values().map((d) => d.name).sort()).to.deep.equal([...names].sort());
      for (const q of peers) expect(p.registry.devices.get(q.id)?.publicKey).to.equal(toHex(q.identity.publicKey));
    }
    await waitFor(() => peers.every((p) => p.alive().length === 4), 'every peer to see four live peers');
    await waitFor(() => peers.every((p) => p.linked().length === 4), 'every pair to be linked');

    for (const a of peers) {
      for (const b of peers) {
        if (a === b) continue;
        const described = await a.call(b.id, 'peer.describe', {});
        expect(described.name).to.equal(b.registry.devices.get(b.id)!.name);
      }
    }

    const [alpha, , , , echo] = peers as [typeof peers[0], unknown, unknown, unknown, typeof peers[0]];
    echo.rpc.handle('test.hang', () => new Promise<never>(() => undefined));
    const pending = alpha.call(echo.id, 'test.hang', {});
    const leftSeen: string[] = [];
    for (const p of peers.slice(0, 4)) p.on('device-left', (id) => leftSeen.push(`${p.id}:${id}`));
    await waitFor(() => echo.rpc !== undefined && alpha.rpc.pendingCount === 1, 'the call to be pending');
    await echo.stop();

    const error = await rejectionOf(pending);
    expect(error).to.be.instanceOf(PeerLeftError);
    expect(error.code).to.equal('ERR_PEER_LEFT');
    await waitFor(() => peers.slice(0, 4).every((p) => !p.alive().includes(echo.id)), 'the others to see echo gone');
    expect(leftSeen.length).to.equal(4);
    for (const p of peers.slice(0, 4)) expect(p.linked()).to.not.include(echo.id);
  });
});

describe('Peer identity', () => {
  it('derives the id from the Ed25519 public key', async () => {
    const identity = await Identity.generate();
    expect(identity.publicKey.byteLength).to.equal(32);
    expect(identity.id).to.equal((await sha256Hex(identity.publicKey)).slice(0, 32));
  });

  it('keeps its id across a restart through the store', async () => {
    const store = memoryStore();
    const mesh = await createMesh([]);
    const first = await mesh.add('phoenix', store);
    const id = first.id;
    await first.stop();
    const second = await mesh.add('phoenix', store);
    expect(second.id).to.equal(id);
    await mesh.stopAll();
  });

  describe('refuses a peer that claims another peer\'s id', () => {
    let mesh: Mesh;
    afterEach(async () => mesh?.stopAll());

    async function impostor(network: MemoryNetwork, claimedId: string, hello: (nonce: Uint8Array) => Uint8Array, after: Uint8Array[]) {
      const transport = network.createTransport();
      transport.on('peer-joined', (peer) => {
        void transport.send(peer, hello(new Uint8Array(32))).then(() => Promise.all(after.map((m) => transport.send(peer, m))));
      });
      await transport.connect(claimedId);
      return transport;
    }

    function forgedUpdate(): Uint8Array {
      const doc = new Y.Doc();
      doc.getMap('modules').set('forged', { id: 'forged' });
      return encodeMessage({ t: 'update', u: Y.encodeStateAsUpdate(doc) });
    }

    it('when it cannot sign for the key of that id (ERR_BAD_SIGNATURE)', async () => {
      mesh = await createMesh(['honest']);
      const [honest] = mesh.peers;
      const victim = await Identity.generate();
      const rejected: MeshError[] = [];
      honest!.on('link-rejected', ({ error }) => rejected.push(error));
      const fake = await impostor(
        mesh.network,
        victim.id,
        (nonce) => encodeMessage({ t: 'hello', v: 1, id: victim.id, pk: victim.publicKey, nonce }),
        [encodeMessage({ t: 'auth', pk: victim.publicKey, sig: new Uint8Array(64).fill(7) }), forgedUpdate()],
      );
      await waitFor(() => rejected.length === 1, 'the impostor to be rejected');
      expect(rejected[0]!.code).to.equal('ERR_BAD_SIGNATURE');
      expect(honest!.linked()).to.not.include(victim.id);
      expect(honest!.registry.doc.getMap('modules').has('forged')).to.equal(false);
      await fake.disconnect();
    });

    it('when the key it presents belongs to another id (ERR_IDENTITY_MISMATCH)', async () => {
      mesh = await createMesh(['honest']);
      const [honest] = mesh.peers;
      const victim = await Identity.generate();
      const attacker = await Identity.generate();
      const rejected: MeshError[] = [];
      honest!.on('link-rejected', ({ error }) => rejected.push(error));
      const fake = await impostor(
        mesh.network,
        victim.id,
        (nonce) => encodeMessage({ t: 'hello', v: 1, id: victim.id, pk: attacker.publicKey, nonce }),
        [forgedUpdate()],
      );
      await waitFor(() => rejected.length === 1, 'the impostor to be rejected');
      expect(rejected[0]!.code).to.equal('ERR_IDENTITY_MISMATCH');
      expect(honest!.registry.doc.getMap('modules').has('forged')).to.equal(false);
      await fake.disconnect();
    });
  });
});

describe('Peer registry sync', () => {
  let mesh: Mesh;
  afterEach(async () => mesh?.stopAll());

  it('repairs a lost update at the next anti-entropy round, though the same state vector was answered before the change', async () => {
    const network = new MemoryNetwork({ delivery: 'manual' });
    const clock = new ManualClock();
    mesh = await createMesh(['a', 'b'], { network, clock, timing: { antiEntropyMs: 1000 } });
    const [a, b] = mesh.peers as [Peer, Peer];
    const drain = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        while (network.queueLength > 0) network.deliver(0);
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    for (let i = 0; i < 40 && !(a.linked().includes(b.id) && b.registry.devices.get(a.id)); i++) {
      clock.advance(100);
      await drain();
    }
    // A round at rest: a answers b's state vector (nothing missing).
    clock.advance(1000);
    await drain();
    a.registry.doc.getMap('notes').set('k', 'v');
    // The update's relay (sent at the end of the task) is lost on the way to b.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    expect(network.queueLength).to.be.greaterThan(0);
    while (network.queueLength > 0) network.drop(0);
    expect(b.registry.doc.getMap('notes').get('k')).to.equal(undefined);
    // b's state vector is the same as in the last round; a's answer must not be.
    clock.advance(1000);
    await drain();
    expect(b.registry.doc.getMap('notes').get('k')).to.equal('v');
  });

  it('converges through a hub: spokes that cannot reach each other see each other\'s writes', async () => {
    const network = new MemoryNetwork({ links: (a, b) => hub !== undefined && (a === hub || b === hub) });
    let hub: string | undefined;
    mesh = await createMesh([], { network });
    const h = await mesh.add('hub');
    hub = h.id;
    const left = await mesh.add('left');
    const right = await mesh.add('right');
    await waitFor(() => left.linked().length === 1 && right.linked().length === 1, 'spokes to link to the hub');
    expect(left.linked()).to.deep.equal([h.id]);
    await waitFor(() => right.registry.devices.get(left.id) !== undefined, 'right to learn of left through the hub');
    await waitFor(() => left.alive().includes(right.id), 'left to see right alive through the hub');
    left.registry.deployments.put({
      id: 'dep-1', name: 'fibo', manifest: { sequence: [] }, solution: { '0': right.id }, revision: 1,
      coordinator: left.id, status: 'deploying', createdAt: 1, updatedAt: 1,
    });
    await waitFor(() => right.registry.deployments.get('dep-1') !== undefined, 'the deployment to reach right');
    right.registry.deployments.setPhase('dep-1', '0', right.id, { phase: 'ready', at: 2, revision: 1 });
    await waitFor(() => left.registry.deployments.get('dep-1')?.phases[`0/${right.id}`]?.phase === 'ready', 'the phase to reach left');
  });

  it('ignores malformed entries written by another peer and keeps serving', async () => {
    mesh = await createMesh(['a', 'b']);
    const [a, b] = mesh.peers as [typeof mesh.peers[0], typeof mesh.peers[0]];
    await waitFor(() => b.registry.devices.size === 2, 'b to see both devices');
    // Peer a writes junk straight into the document, bypassing the typed accessors.
    a.registry.doc.transact(() => {
      a.registry.doc.getMap('devices').set('0'.repeat(32), { name: 42 });
      a.registry.doc.getMap('modules').set('not-a-hash', 'junk');
      a.registry.doc.getMap('deployments').set('dep-x', 'not a map');
    });
    await waitFor(() => b.registry.doc.getMap('devices').has('0'.repeat(32)), 'the junk to reach b');
    expect(b.registry.devices.size).to.equal(2);
    expect(b.registry.modules.values()).to.deep.equal([]);
    expect(b.registry.deployments.get('dep-x')).to.equal(undefined);
    expect(mesh.log.lines.some((l) => l.level === 'warn' && l.text.includes('malformed devices entry'))).to.equal(true);
    expect((await b.call(a.id, 'peer.ping', { sentAt: 5 })).sentAt).to.equal(5);
  });

  it('drops an undecodable registry update and keeps working', async () => {
    mesh = await createMesh(['a']);
    const [a] = mesh.peers;
    const raw = mesh.network.createTransport();
    const rogue = await Identity.generate();
    // A correctly authenticated peer that sends garbage as a registry update.
    const { Peer } = await import('../../shared/mesh/peer.ts');
    const sender = new Peer({ transports: [raw], store: memoryStore(), clock: mesh.clock, identity: rogue, device: { name: 'rogue', engine: 'node' }, logger: undefined });
    await sender.start();
    // Both ends: a may see the link a moment before the sender does.
    await waitFor(() => a!.linked().includes(rogue.id) && sender.linked().includes(a!.id), 'the rogue link');
    await raw.send(a!.id, encodeMessage({ t: 'update', u: new Uint8Array([255, 1, 2, 3, 4]) }));
    await waitFor(() => mesh.log.lines.some((l) => l.text.includes('invalid registry update')), 'the bad update to be logged');
    expect((await sender.call(a!.id, 'peer.ping', { sentAt: 1 })).peer).to.equal(a!.id);
    await sender.stop();
  });

  it('lets a restarted peer catch up on what it missed', async () => {
    mesh = await createMesh(['stay', 'go']);
    const [stay, go] = mesh.peers as [typeof mesh.peers[0], typeof mesh.peers[0]];
    const goStore = go.store;
    await go.stop();
    stay.registry.deployments.put({
      id: 'while-away', name: 'x', manifest: {}, solution: {}, revision: 0, coordinator: stay.id, status: 'pending', createdAt: 1, updatedAt: 1,
    });
    const back = await mesh.add('go', goStore);
    await waitFor(() => back.registry.deployments.get('while-away') !== undefined, 'the restarted peer to catch up');
    expect(back.id).to.equal(go.id);
  });
});

describe('Peer presence', () => {
  it('sees a silently vanished peer leave after the liveness timeout, also when it only heard of it through a relay', async () => {
    const clock = new ManualClock();
    let hub = '';
    const network = new MemoryNetwork({ links: (a, b) => a === hub || b === hub });
    const mesh = await createMesh([], { network, clock, timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000 } });
    const h = await mesh.add('hub');
    hub = h.id;
    const watcher = await mesh.add('watcher');
    const doomed = await mesh.add('doomed');
    await waitFor(() => watcher.alive().includes(doomed.id), 'watcher to see doomed through the hub');
    // A crash: the transport goes away without the peer announcing anything.
    await mesh.transports[2]!.disconnect();
    await waitFor(() => !h.alive().includes(doomed.id), 'the hub to see its direct link drop');
    for (let t = 0; t < 4000; t += 500) {
      clock.advance(500);
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(watcher.alive()).to.include(doomed.id);
    for (let t = 0; t < 2500; t += 500) {
      clock.advance(500);
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(watcher.alive()).to.not.include(doomed.id);
    expect(watcher.alive()).to.include(h.id);
    await Promise.all([h.stop(), watcher.stop(), doomed.stop()]);
  });

  it('sees a peer that stops leave at once, also when it only heard of it through a relay, and sees it back under the same id', async () => {
    const clock = new ManualClock();
    let hub = '';
    const network = new MemoryNetwork({ links: (a, b) => a === hub || b === hub });
    const mesh = await createMesh([], { network, clock, timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000 } });
    const h = await mesh.add('hub');
    hub = h.id;
    const watcher = await mesh.add('watcher');
    const store = memoryStore();
    const phone = await mesh.add('phone', store);
    await waitFor(() => watcher.alive().includes(phone.id), 'watcher to see the phone through the hub');
    const left: string[] = [];
    watcher.on('device-left', (id) => left.push(id));
    await phone.stop();
    // No time passes on the clock: only the goodbye, relayed by the hub, can tell the watcher.
    await waitFor(() => !watcher.alive().includes(phone.id), 'the watcher to see the phone leave');
    expect(left).to.deep.equal([phone.id]);
    expect(watcher.alive()).to.include(h.id);
    expect(clock.now()).to.equal(0);

    const back = await mesh.add('phone', store);
    expect(back.id).to.equal(phone.id);
    await waitFor(() => watcher.alive().includes(back.id), 'the watcher to see the phone back');
    await Promise.all([h.stop(), watcher.stop(), back.stop()]);
  });

  it('does not grow the registry document with heartbeats', async () => {
    const clock = new ManualClock();
    const mesh = await createMesh(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'], { clock, timing: { heartbeatMs: 1000, antiEntropyMs: 60_000 } });
    await waitFor(() => mesh.peers.every((p) => p.alive().length === 9), 'everyone alive');
    const size = () => Y.encodeStateAsUpdate(mesh.peers[0]!.registry.doc).byteLength;
    const before = size();
    for (let s = 0; s < 600; s++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(mesh.peers.every((p) => p.alive().length === 9)).to.equal(true);
    expect(size()).to.equal(before);
    await mesh.stopAll();
  });
});

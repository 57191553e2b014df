import { expect } from 'chai';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { ANTI_ENTROPY_PEERS, AntiEntropyRounds } from '../../shared/mesh/anti-entropy-rounds.ts';
import type { Peer } from '../../shared/mesh/peer.ts';
import { createMesh, type Mesh } from '../helpers/mesh.ts';

describe('AntiEntropyRounds: which linked peers a round asks', () => {
  it('asks every link each round while a peer has few of them', () => {
    const rounds = new AntiEntropyRounds(4);
    for (let i = 0; i < 3; i++) expect(rounds.next(['c', 'a', 'b']).sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('asks a few links per round, in turn, so that every link is asked within a bounded number of rounds', () => {
    const rounds = new AntiEntropyRounds(4);
    const links = Array.from({ length: 19 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const asked = new Map<string, number>();
    for (let round = 0; round < 5; round++) {
      const these = rounds.next(links);
      expect(these).to.have.length(4);
      expect(new Set(these).size).to.equal(4);
      for (const p of these) asked.set(p, (asked.get(p) ?? 0) + 1);
    }
    // Five rounds of four cover all nineteen links, one of them twice.
    expect([...asked.keys()].sort()).to.deep.equal(links);
    expect([...asked.values()].filter((n) => n === 2)).to.have.length(1);
  });

  it('keeps its turn when links come and go: a new link is asked within a turn, a gone one never', () => {
    const rounds = new AntiEntropyRounds(2);
    expect(rounds.next(['a', 'b', 'c', 'd'])).to.deep.equal(['a', 'b']);
    // b left, e joined: the turn goes on after b.
    expect(rounds.next(['a', 'c', 'd', 'e'])).to.deep.equal(['c', 'd']);
    expect(rounds.next(['a', 'c', 'd', 'e'])).to.deep.equal(['e', 'a']);
  });
});

describe('Anti-entropy in a mesh larger than a round', () => {
  let mesh: Mesh;
  afterEach(async () => mesh?.stopAll());

  it('repairs an update every relay of which was lost, at every peer, within two rounds', async () => {
    const network = new MemoryNetwork({ delivery: 'manual' });
    const clock = new ManualClock();
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    expect(names.length - 1).to.be.greaterThan(ANTI_ENTROPY_PEERS);
    mesh = await createMesh(names, { network, clock, timing: { antiEntropyMs: 1000 } });
    const peers = mesh.peers as Peer[];
    const drain = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        while (network.queueLength > 0) network.deliver(0);
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    for (let i = 0; i < 80 && !peers.every((p) => p.linked().length === names.length - 1 && p.registry.devices.size === names.length); i++) {
      clock.advance(100);
      await drain();
    }
    expect(peers.every((p) => p.linked().length === names.length - 1)).to.equal(true);
    clock.advance(1000);
    await drain();
    const [writer] = peers as [Peer];
    writer.registry.doc.getMap('notes').set('k', 'v');
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    expect(network.queueLength).to.be.greaterThan(0);
    while (network.queueLength > 0) network.drop(0);
    expect(peers.filter((p) => p.registry.doc.getMap('notes').get('k') === 'v')).to.have.length(1);
    for (let round = 0; round < 2; round++) {
      clock.advance(1000);
      await drain();
    }
    expect(peers.map((p) => p.registry.doc.getMap('notes').get('k'))).to.deep.equal(names.map(() => 'v'));
  });
});

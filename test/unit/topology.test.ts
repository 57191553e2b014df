// The link a peer at its bound may give up for a peer it cannot reach: only one whose
// peer stays reachable through others, so making room never splits the mesh.
import { expect } from 'chai';
import { Topology } from '../../shared/routing/topology.ts';

const id = (c: string): string => c.repeat(32);
const [A, B, C, D, E] = ['a', 'b', 'c', 'd', 'e'].map(id) as [string, string, string, string, string];

describe('Topology: a link that can be given up', () => {
  it('names a link of a triangle: its peer is still reached through the third', () => {
    const t = new Topology(A);
    t.setOwnLinks([B, C]);
    t.set(B, [A, C]);
    t.set(C, [A, B]);
    expect(t.redundantLink()).to.equal(B);
  });

  it('names none on a line: every link is the only way to its side', () => {
    const t = new Topology(B);
    t.setOwnLinks([A, C]);
    t.set(A, [B]);
    t.set(C, [B, D]);
    t.set(D, [C]);
    expect(t.redundantLink()).to.equal(undefined);
  });

  it('names none while the others have not said whom they are linked to', () => {
    const t = new Topology(A);
    t.setOwnLinks([B, C]);
    expect(t.redundantLink()).to.equal(undefined);
  });

  it('finds the way round a longer cycle, and the peer we cannot reach has no hops', () => {
    const t = new Topology(A);
    t.setOwnLinks([B, D]);
    t.set(B, [A, C]);
    t.set(C, [B, D]);
    t.set(D, [C, A]);
    expect(t.redundantLink()).to.equal(B);
    expect(t.hops(E)).to.equal(undefined);
  });
});

describe('Topology: routes as links form and break', () => {
  it('counts a link one end advertises before the other has caught up', () => {
    const t = new Topology(A);
    t.setOwnLinks([B]);
    t.set(B, [A]);
    t.set(C, []);
    t.set(C, [B]); // C linked to B; B has not said so yet
    expect(t.hops(C)).to.equal(2);
    expect(t.nextHop(C)).to.equal(B);
  });

  it('drops a route to a dead peer once the peer next to it stops advertising their link, though the dead one never withdraws it', () => {
    const t = new Topology(A);
    t.setOwnLinks([B]);
    t.set(C, [B]);
    t.set(B, [A, C]);
    expect(t.nextHop(C)).to.equal(B);
    t.set(B, [A]); // B saw C die; C says nothing any more
    expect(t.hops(C)).to.equal(undefined);
    expect(t.nextHop(C)).to.equal(undefined);
  });
});

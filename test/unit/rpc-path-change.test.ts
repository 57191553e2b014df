// A call in flight when the link it went over closes, while another transport still reaches
// the callee (a bounded site gave a WebRTC link up; the backbone stays): the caller sends
// it again over the other transport, and the callee, having answered already, answers from
// the answer it kept instead of running it twice.
import { expect } from 'chai';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork, type MemoryTransport } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { decodeMessage } from '../../shared/protocol/wire.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';

declare module '../../shared/rpc/methods.ts' {
  interface MeshMethods {
    'test.tally': { params: { n: number }; result: number };
  }
}

describe('A call whose link closes under it while another transport reaches the callee', () => {
  let peers: Peer[] = [];
  afterEach(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    peers = [];
  });

  /**
   * Two peers on a site network (delivered by hand) and a backbone (delivered at once).
   * `siteFirst`: the site links them before the backbone does and both end up on both;
   * otherwise only the backbone links them and the site stays cut until the test joins it.
   */
  async function pair(siteFirst = true) {
    const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
    let siteOn = siteFirst;
    const site = new MemoryNetwork({ delivery: 'manual', links: () => siteOn });
    let backboneOn = !siteFirst;
    const backbone = new MemoryNetwork({ links: () => backboneOn });
    const clock = new ManualClock();
    const log = collectLogs();
    let runs = 0;
    const onSite: MemoryTransport[] = [];
    for (const [i, identity] of [ia, ib].entries()) {
      const first = site.createTransport();
      onSite.push(first);
      const peer = new Peer({
        // The site first: used while it links the pair, the backbone otherwise.
        transports: [first, backbone.createTransport()],
        store: memoryStore(),
        clock,
        identity,
        device: { name: `p${i}`, engine: 'node' },
        logger: createLogger(`p${i}`, log.sink),
        persistRegistry: false,
      });
      await peer.start();
      peers.push(peer);
    }
    const [a, b] = peers as [Peer, Peer];
    b.rpc.handle('test.tally', ({ n }) => {
      runs++;
      return n + 1;
    });
    await waitFor(() => {
      site.deliverAll();
      return a.linked().includes(b.id) && b.linked().includes(a.id);
    }, 'the pair linked');
    if (siteFirst) {
      backboneOn = true;
      backbone.setPartition(null);
      // Authenticated on both, the site first: it carries their messages.
      await waitFor(() => {
        site.deliverAll();
        return [a.transportsOf(b.id), b.transportsOf(a.id)].every((ts) => ts.length === 2 && onSite.includes(ts[0] as MemoryTransport));
      }, 'the backbone linking the pair too');
    }
    const joinSite = (): void => {
      siteOn = true;
      site.setPartition(null);
    };
    return { a, b, site, onSite, joinSite, runs: () => runs };
  }

  /** Index of the first queued site message of RPC frame kind `t` (req or res). */
  function queued(site: MemoryNetwork, t: 'req' | 'res'): number {
    for (let i = 0; i < site.queueLength; i++) {
      const m = decodeMessage(site.peek(i)!.data);
      if (m.ok && m.value.t === 'rpc' && m.value.f.t === t) return i;
    }
    return -1;
  }

  it('gets the answer lost with the link over the backbone, and the callee runs the call once', async () => {
    const { a, b, site, runs } = await pair();
    const call = a.call(b.id, 'test.tally', { n: 41 });
    await waitFor(() => queued(site, 'req') >= 0, 'the request on the site link');
    site.deliver(queued(site, 'req'));
    await waitFor(() => queued(site, 'res') >= 0, 'the answer on the site link');
    expect(runs()).to.equal(1);
    // The site link closes with the answer still on it.
    site.setPartition([[a.id], [b.id]]);
    expect(await call).to.equal(42);
    expect(runs()).to.equal(1);
  });

  it('gets a request lost with the link served over the backbone', async () => {
    const { a, b, site, runs } = await pair();
    const call = a.call(b.id, 'test.tally', { n: 1 });
    await waitFor(() => queued(site, 'req') >= 0, 'the request on the site link');
    site.setPartition([[a.id], [b.id]]);
    expect(await call).to.equal(2);
    expect(runs()).to.equal(1);
  });
  it('gets an answer sent over a link still handshaking on the caller\'s side, lost when it closed', async () => {
    const { a, b, site, onSite, joinSite, runs } = await pair(false);
    joinSite();
    // Both say hello over the site; only a's proof reaches b, so b counts the link up and a does not yet.
    await waitFor(() => onSite.every((t) => t.peers().length === 1), 'the site joining the pair');
    await waitFor(() => {
      for (let i = 0; i < site.queueLength; i++) {
        const m = decodeMessage(site.peek(i)!.data);
        if (m.ok && m.value.t === 'hello') {
          site.deliver(i);
          return false;
        }
        if (m.ok && m.value.t === 'auth' && site.peek(i)!.to === b.id) site.deliver(i);
      }
      return b.transportsOf(a.id)[0] === onSite[1];
    }, 'b counting the site link up');
    expect(a.transportsOf(b.id)).to.have.length(1);
    // a calls over the backbone; b answers over the site, where a holds it for the handshake.
    const call = a.call(b.id, 'test.tally', { n: 9 });
    await waitFor(() => queued(site, 'res') >= 0, 'the answer on the site link');
    site.setPartition([[a.id], [b.id]]);
    expect(await call).to.equal(10);
    expect(runs()).to.equal(1);
  });
});

// A site as a partial mesh: six `liquidmesh peer` processes over real WebRTC on loopback,
// each allowed at most three connections (`--max-links 3`: with two, six peers at their
// bound often formed two closed triangles, which a peer at its bound now breaks by giving
// up a redundant link, but only after rounds of refused dials — ADR 0029). Every peer still sees every
// other, calls every other (through linked peers where it has no link of its own) and
// fetches a blob from a peer it is not linked to.
import { expect } from 'chai';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { type MeshView, NodePeerProcess } from './harness.ts';

requireLoopbackNamespace();

const N = 6;
const BOUND = 3;

describe('A partial mesh of Node peer processes (--max-links)', () => {
  let signal: SignalServer | undefined;
  const nodes: NodePeerProcess[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await signal?.close();
  });

  it('keeps every peer within its bound, and every peer sees, calls and fetches from every other', async () => {
    signal = await startSignalServer();
    const args = ['--signal', signal.url, '--mesh', 'partial-site', '--secret', 'site-secret', '--max-links', String(BOUND)];
    for (let i = 0; i < N; i++) nodes.push(new NodePeerProcess(`site-${i}`, args));
    await Promise.all(nodes.map((n) => n.ready()));
    let views: MeshView[] = [];
    await waitFor(async () => {
      views = await Promise.all(nodes.map((n) => n.view()));
      return views.every((v) => v.devices.length === N && v.alive.length === N - 1);
    }, 'every peer to see every other alive', 120_000);
    for (const v of views) expect(v.linked.length).to.be.at.most(BOUND);
    const ids = views.map((v) => v.id);
    const unlinked = views.flatMap((v, i) => ids.filter((id) => id !== v.id && !v.linked.includes(id)).map((to) => ({ from: i, to })));
    // With six peers and at most three links each, many pairs have no link of their own.
    expect(unlinked.length).to.be.greaterThan(N);

    // Routes follow the links each peer advertises, a heartbeat behind presence: a ping may
    // find no route for a moment after everyone is seen, never for long.
    for (const [i, node] of nodes.entries()) {
      for (const to of ids) {
        if (to === ids[i]) continue;
        let last = '';
        await waitFor(async () => {
          try {
            return typeof (await node.command<{ ms: number }>('ping', { to })).ms === 'number';
          } catch (error) {
            last = (error as Error).message;
            return false;
          }
        }, `site-${i} to ping ${to}`, 30_000).catch((error: Error) => {
          throw new Error(`${error.message}; the last attempt: ${last}`);
        });
      }
    }

    // A blob held by one peer, fetched by a peer that has no link to it.
    const { from, to } = unlinked[0]!;
    const holder = nodes[ids.indexOf(to)]!;
    const { hash } = await holder.command<{ hash: string }>('put', { size: 600 * 1024 });
    const fetched = await nodes[from]!.command<{ size: number }>('fetch', { hash });
    expect(fetched.size).to.equal(600 * 1024);
  });
});

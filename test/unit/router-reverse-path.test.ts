// Routed messages before the graph is known: advertisements travel with presence and arrive
// in any order, so a peer may be asked something through a relay before it has heard whom
// the asker is linked to. It answers back the way the request came.
import { expect } from 'chai';
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import type { PeerId } from '../../shared/ports/transport.ts';
import type { RouteMessage, RpcFrame, WireMessage } from '../../shared/protocol/wire.ts';
import { REVERSE_PATH_MS, Router } from '../../shared/routing/router.ts';
import { Topology } from '../../shared/routing/topology.ts';
import { rejectionOf } from '../acceptance/wait.ts';
import { collectLogs } from '../helpers/mesh.ts';

interface Node {
  identity: Identity;
  topology: Topology;
  router: Router;
  up: Set<PeerId>;
  sent: { to: PeerId; message: WireMessage }[];
  delivered: { from: PeerId; frame: RpcFrame }[];
}

async function nodes(n: number): Promise<{ nodes: Node[]; clock: { t: number } }> {
  const identities = await Promise.all(Array.from({ length: n }, () => Identity.generate()));
  const keys = new Map(identities.map((i) => [i.id, i.publicKey]));
  const clock = { t: 1_000 };
  const out = identities.map((identity): Node => {
    const up = new Set<PeerId>();
    const sent: Node['sent'] = [];
    const delivered: Node['delivered'] = [];
    const topology = new Topology(identity.id);
    const router = new Router({
      identity,
      topology,
      links: {
        isUp: (peer) => up.has(peer),
        send: async (to, message) => {
          if (!up.has(to)) throw new Error(`no link to ${to}`);
          sent.push({ to, message });
        },
      },
      publicKeyOf: (peer) => keys.get(peer),
      deliver: (from, frame) => delivered.push({ from, frame }),
      wallClock: () => Date.now(),
      now: () => clock.t,
      logger: createLogger('router', collectLogs().sink),
    });
    return { identity, topology, router, up, sent, delivered };
  });
  return { nodes: out, clock };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
const routed = (node: Node, i = -1): RouteMessage => node.sent.at(i)!.message as RouteMessage;

describe('Routed messages: the way back before the graph knows it', () => {
  it('answers a routed request back through the link it came in on, while the graph knows no path to the asker', async () => {
    const { nodes: [a, b] } = await nodes(2);
    // b is linked to a relay r; it has heard nothing of a's links.
    const r = 'f'.repeat(32);
    b!.up.add(r);
    b!.topology.setOwnLinks([r]);
    a!.up.add(r);
    a!.topology.setOwnLinks([r]);
    a!.topology.set(r, [a!.identity.id, b!.identity.id]);
    await a!.router.send(b!.identity.id, { t: 'req', id: 'q1', m: 'peer.ping', p: {} });
    const request = routed(a!);
    expect(a!.sent.at(-1)!.to).to.equal(r);
    b!.router.receive(r, request);
    await settle();
    expect(b!.delivered.map((d) => d.from)).to.deep.equal([a!.identity.id]);
    expect(b!.topology.nextHop(a!.identity.id)).to.equal(undefined);
    await b!.router.send(a!.identity.id, { t: 'res', id: 'q1', r: {} });
    expect(b!.sent.at(-1)!.to).to.equal(r);
    // And the answer is genuine at a.
    a!.router.receive(r, routed(b!));
    await settle();
    expect(a!.delivered.map((d) => d.frame)).to.deep.equal([{ t: 'res', id: 'q1', r: {} }]);
  });

  it('passes an answer on at a relay the way the request came, when the relay knows no path to the asker', async () => {
    const { nodes: [a, relay, b] } = await nodes(3);
    const [A, R, B] = [a!.identity.id, relay!.identity.id, b!.identity.id];
    a!.up.add(R);
    a!.topology.setOwnLinks([R]);
    a!.topology.set(R, [A, B]);
    // The relay is linked to b and hears a's request through a link named x, not through a
    // link the graph knows of (a's advertisement has not reached it).
    const x = 'e'.repeat(32);
    relay!.up.add(B).add(x);
    relay!.topology.setOwnLinks([B, x]);
    await a!.router.send(B, { t: 'req', id: 'q2', m: 'peer.ping', p: {} });
    relay!.router.receive(x, routed(a!));
    expect(relay!.sent.at(-1)!.to).to.equal(B);
    // b answers; the relay passes it back towards a through x.
    b!.up.add(R);
    b!.topology.setOwnLinks([R]);
    b!.topology.set(R, [A, B]);
    await b!.router.send(A, { t: 'res', id: 'q2', r: {} });
    relay!.router.receive(B, routed(b!));
    expect(relay!.sent.at(-1)!.to).to.equal(x);
    expect((relay!.sent.at(-1)!.message as RouteMessage).d).to.equal(A);
    expect(toHex((relay!.sent.at(-1)!.message as RouteMessage).sig)).to.equal(toHex(routed(b!).sig));
  });

  it('prefers a path the graph knows over the way a message came in', async () => {
    const { nodes: [a, b] } = await nodes(2);
    const [A, B] = [a!.identity.id, b!.identity.id];
    const [r1, r2] = ['1'.repeat(32), '2'.repeat(32)];
    a!.up.add(r1);
    a!.topology.setOwnLinks([r1]);
    a!.topology.set(r1, [A, B]);
    await a!.router.send(B, { t: 'req', id: 'q3', m: 'peer.ping', p: {} });
    b!.up.add(r1).add(r2);
    b!.topology.setOwnLinks([r1, r2]);
    b!.router.receive(r1, routed(a!));
    b!.topology.set(r2, [A, B]);
    await b!.router.send(A, { t: 'res', id: 'q3', r: {} });
    expect(b!.sent.at(-1)!.to).to.equal(r2);
  });

  it('forgets the way back once its link is down or it is old, and then says the asker is unreachable', async () => {
    const { nodes: [a, b], clock } = await nodes(2);
    const [A, B] = [a!.identity.id, b!.identity.id];
    const r = 'f'.repeat(32);
    a!.up.add(r);
    a!.topology.setOwnLinks([r]);
    a!.topology.set(r, [A, B]);
    b!.up.add(r);
    b!.topology.setOwnLinks([r]);
    await a!.router.send(B, { t: 'req', id: 'q4', m: 'peer.ping', p: {} });
    b!.router.receive(r, routed(a!));
    expect(b!.router.reachable(A)).to.equal(true);
    clock.t += REVERSE_PATH_MS + 1;
    expect(b!.router.reachable(A)).to.equal(false);
    expect((await rejectionOf(b!.router.send(A, { t: 'res', id: 'q4', r: {} }))).code).to.equal('ERR_PEER_UNREACHABLE');
    b!.router.receive(r, routed(a!));
    expect(b!.router.reachable(A)).to.equal(true);
    b!.up.delete(r);
    expect(b!.router.reachable(A)).to.equal(false);
  });
});

// The NATS backbone end to end: the built PWA in headless Chromium joins over WebSocket
// (?nats=ws://…) and a Node peer started with `liquidmesh peer --nats` joins over TCP, no
// signaling server between them; they see each other and call each other. With the mesh
// bus (`--nats-bus`, `?nats-bus=1`), peers attached to different servers of the cluster do
// the same while registry and presence travel on the bus's subjects, which an operator's
// client watching the cluster sees. A real three-server cluster with a token, inside the
// loopback-only network namespace.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { expect } from 'chai';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';
import { BrowserPeer, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

describe('The mesh over the NATS backbone', () => {
  const e2e = useE2eServices('e2e-nats-timings.json');
  const { browsers, nodes } = e2e;
  const token = 'e2e-backbone-token';
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3, auth: { token }, websocket: true });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('joins a PWA over WebSocket and a Node peer over TCP through the cluster alone', async () => {
    const mesh = 'e2e-nats';
    const secret = 'e2e-nats-secret';
    const node = new NodePeerProcess('node-on-nats', ['--mesh', mesh, '--secret', secret, '--nats', cluster.urls[0]!, '--nats-token', token]);
    nodes.push(node);
    // No `signal`: the page's only way to the Node peer is the backbone.
    const [tab] = await Promise.all([
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'pwa-on-nats', params: { mesh, secret, nats: cluster.servers[0]!.wsUrl!, 'nats-token': token } }),
      node.ready(),
    ]);
    browsers.push(tab!);
    await waitFor(async () => {
      const [t, n] = await Promise.all([tab!.view(), node.view()]);
      return t.alive.includes(n.id) && n.alive.includes(t.id);
    }, 'the tab and the Node peer to see each other alive', 60_000);
    const [t, n] = await Promise.all([tab!.view(), node.view()]);
    expect(t.devices.map((d) => d.name).sort()).to.deep.equal(['node-on-nats', 'pwa-on-nats']);
    const answered = await tab!.run(async (lm, target) => (await lm.peer.call(target as string, 'peer.ping', { sentAt: 1 })).peer, n.id);
    expect(answered).to.equal(n.id);
    expect((await node.command<{ ms: number }>('ping', { to: t.id })).ms).to.be.a('number');
  });

  /** Counts the messages on the mesh bus's subjects (any mesh), as an operator's client sees them. */
  async function watchBus(url: string): Promise<{ nc: NatsConnection; up: () => number; down: () => number }> {
    const nc = await connect({ servers: url, token });
    let up = 0;
    let down = 0;
    nc.subscribe('lm.*.up', { callback: () => void up++ });
    nc.subscribe('lm.*.down', { callback: () => void down++ });
    await nc.flush();
    return { nc, up: () => up, down: () => down };
  }

  it('joins two command-line peers on different servers of the cluster over the mesh bus: they see each other and call', async () => {
    const mesh = 'e2e-nats-bus';
    const secret = 'e2e-nats-bus-secret';
    const watch = await watchBus(cluster.urls[0]!);
    try {
      // Each peer knows only its own server: the cluster carries everything between them.
      const a = new NodePeerProcess('bus-a', ['--mesh', mesh, '--secret', secret, '--nats', cluster.urls[1]!, '--nats-token', token, '--nats-bus']);
      const b = new NodePeerProcess('bus-b', ['--mesh', mesh, '--secret', secret, '--nats', cluster.urls[2]!, '--nats-token', token, '--nats-bus']);
      nodes.push(a, b);
      await Promise.all([a.ready(), b.ready()]);
      await waitFor(async () => {
        const [va, vb] = await Promise.all([a.view(), b.view()]);
        return va.alive.includes(vb.id) && vb.alive.includes(va.id) && va.devices.length === 2 && vb.devices.length === 2;
      }, 'the two peers to list and see each other alive', 60_000);
      const [va, vb] = await Promise.all([a.view(), b.view()]);
      expect(va.devices.map((d) => d.name).sort()).to.deep.equal(['bus-a', 'bus-b']);
      // Calls still go over a link of the backbone; it forms beside the bus.
      await waitFor(async () => (await a.view()).linked.includes(vb.id), 'a link between the two peers', 60_000);
      expect((await a.command<{ ms: number }>('ping', { to: vb.id })).ms).to.be.a('number');
      expect((await b.command<{ ms: number }>('ping', { to: va.id })).ms).to.be.a('number');
      // Registry and presence go over the bus: heartbeats up to the collectors, digests down
      // (a collector steps up after a window of heartbeats: two quick peers can be linked
      // and answering before the first digest goes down).
      expect(watch.up()).to.be.greaterThan(0);
      await waitFor(() => watch.down() > 0, 'a collector\'s digest down the bus', 30_000);
    } finally {
      await watch.nc.close();
    }
  });

  it('joins a PWA asked for the bus (?nats-bus=1) and a Node peer with --nats-bus: they see each other and call', async () => {
    const mesh = 'e2e-nats-bus-pwa';
    const secret = 'e2e-nats-bus-pwa-secret';
    const watch = await watchBus(cluster.urls[0]!);
    try {
      const node = new NodePeerProcess('node-on-bus', ['--mesh', mesh, '--secret', secret, '--nats', cluster.urls[2]!, '--nats-token', token, '--nats-bus']);
      nodes.push(node);
      const [tab] = await Promise.all([
        BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'pwa-on-bus', params: { mesh, secret, nats: cluster.servers[1]!.wsUrl!, 'nats-token': token, 'nats-bus': '1' } }),
        node.ready(),
      ]);
      browsers.push(tab!);
      await waitFor(async () => {
        const [t, n] = await Promise.all([tab!.view(), node.view()]);
        return t.alive.includes(n.id) && n.alive.includes(t.id) && t.devices.length === 2 && n.devices.length === 2;
      }, 'the tab and the Node peer to list and see each other alive', 60_000);
      const n = await node.view();
      await waitFor(async () => (await tab!.view()).linked.includes(n.id), 'a link between the tab and the Node peer', 60_000);
      const answered = await tab!.run(async (lm, target) => (await lm.peer.call(target as string, 'peer.ping', { sentAt: 1 })).peer, n.id);
      expect(answered).to.equal(n.id);
      expect(watch.down()).to.be.greaterThan(0);
    } finally {
      await watch.nc.close();
    }
  });
});

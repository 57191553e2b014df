// The NATS backbone end to end: the built PWA in headless Chromium joins over WebSocket
// (?nats=ws://…) and a Node peer started with `liquidmesh peer --nats` joins over TCP, no
// signaling server between them; they see each other and call each other. A real
// nats-server with a token, inside the loopback-only network namespace.
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
    cluster = await startNatsCluster({ auth: { token }, websocket: true });
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
});

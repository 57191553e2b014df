// Orchestration end to end over real WebRTC: a Node peer with a fake camera and two
// headless Chromium peers (fake camera devices) form a mesh. The Node peer publishes
// fibo, camera and grayscale and coordinates: fibo(12) = 233; the chain camera →
// grayscale runs across two peers and returns a PNG; pub/sub carries the polynomial
// client/server exchange between peers; the grayscale peer is killed and its step is
// re-placed; the coordinator is killed and the surviving peer adopts the deployment.
import { expect } from 'chai';
import type { Orchestrator } from '../../shared/orchestrator/orchestrator.ts';
import type { DeploymentRecord, PhaseRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';
import { BrowserPeer, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; orchestrator: Orchestrator };
type Deployment = DeploymentRecord & { phases: Record<string, PhaseRecord> };

describe('Orchestration over WebRTC', () => {
  const e2e = useE2eServices('e2e-orchestration-timings.json');
  const { browsers, nodes, timings } = e2e;

  it('publishes, deploys, chains across peers, carries pub/sub, re-places a lost step and adopts an orphan', async () => {
    const params = { signal: e2e.signal.url, mesh: 'orch', secret: 'orch-secret' };
    // Every device's owner has switched its camera and sensors on (the flags a user types).
    const node = new NodePeerProcess('node-1', ['--signal', e2e.signal.url, '--mesh', params.mesh, '--secret', params.secret, '--offer', 'camera', '--offer', 'sensors']);
    nodes.push(node);
    const [c1, c2] = await Promise.all([
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-1', params, policy: OFFER_EVERYTHING }),
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-2', params, policy: OFFER_EVERYTHING }),
      node.ready(),
    ]);
    browsers.push(c1!, c2!);
    await waitFor(async () => (await Promise.all([node.view(), c1!.view(), c2!.view()])).every((v) => v.alive.length === 2 && v.linked.length === 2), 'a full mesh of three', 60_000);
    const id = { node: node.id, c1: (await c1!.view()).id, c2: (await c2!.view()).id };

    // Every phase a step goes through shows up in the registry: watch from chromium-2.
    await c2!.run((lm) => {
      const seen: string[] = [];
      (globalThis as { phasesSeen?: string[] }).phasesSeen = seen;
      lm.peer.registry.on('change', () => {
        for (const d of lm.peer.registry.deployments.values()) for (const p of Object.values(d.phases)) if (!seen.includes(p.phase)) seen.push(p.phase);
      });
    });

    for (const module of ['fibo', 'camera', 'grayscale-c', 'poly-client', 'poly-server']) await node.command('publish', { module });
    await waitFor(() => c1!.run((lm) => lm.peer.registry.modules.size === 5), 'the module records to reach chromium-1');
    expect(await c1!.run((lm) => (lm as Lm).orchestrator.packages.resolve('grayscale').version)).to.equal('2.0.0');

    // fibo, placed by the coordinator, fetched peer-to-peer and called: 233 for 12.
    const fib = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'chromium-1' }] } });
    expect((await node.command<Deployment>('wait', { deployment: fib.id })).status).to.equal('ready');
    expect(await c2!.run(async (lm, dep) => (await (lm as Lm).orchestrator.execute(dep as string, { args: { param0: '12' } })).result.value, fib.id)).to.equal(233);

    // The chain camera → grayscale on two different Chromium peers, coordinated by node-1.
    const t0 = Date.now();
    const chain = await node.command<DeploymentRecord>('deploy', {
      manifest: { name: 'gray', antiAffinity: true, engines: ['chromium'], sequence: [{ module: 'camera', func: 'take_image_predefined_path' }, { module: 'grayscale', func: 'grayscale_jpeg' }] },
    });
    const first = await node.command<Deployment>('wait', { deployment: chain.id });
    timings.chainDeployMs = Date.now() - t0;
    expect(first.status).to.equal('ready');
    const [camPeer, grayPeer] = [first.solution['0']!, first.solution['1']!];
    expect(new Set([camPeer, grayPeer])).to.deep.equal(new Set([id.c1, id.c2]));
    expect(await c2!.run(() => (globalThis as { phasesSeen?: string[] }).phasesSeen)).to.include.members(['resolving', 'fetching', 'loading', 'ready']);
    const runChain = (via: BrowserPeer) =>
      via.run(async (lm, dep) => {
        const out = await (lm as Lm).orchestrator.execute(dep as string);
        const png = out.result.files.find((f) => f.name === 'gray.png')!;
        const view = new DataView(png.bytes.buffer, png.bytes.byteOffset);
        return {
          value: out.result.value,
          signature: Array.from(png.bytes.slice(1, 4)),
          width: view.getUint32(16),
          height: view.getUint32(20),
          colourType: png.bytes[25],
          steps: out.steps.map((s) => ({ peer: s.peer, module: s.module, files: s.files.map((f) => f.name) })),
        };
      }, chain.id);
    const gray = await runChain(c1!);
    expect(gray.signature).to.deep.equal([0x50, 0x4e, 0x47]); // "PNG"
    expect(gray.colourType).to.equal(0); // 8-bit gray
    expect(gray.value).to.equal(gray.width * gray.height);
    expect(gray.steps).to.deep.equal([
      { peer: camPeer, module: 'camera', files: ['image.jpeg'] },
      { peer: grayPeer, module: 'grayscale', files: ['gray.png'] },
    ]);

    // Pub/sub between peers: the server on Chromium, the client on Node.
    const topics = { 'poly-server': { subscribe: ['poly/request'], publish: ['poly/roots'] }, 'poly-client': { subscribe: ['poly/roots'], publish: ['poly/request'] } };
    const server = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'poly-server', topics, sequence: [{ module: 'poly-server', func: 'start', device: 'chromium-2' }] } });
    const client = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'poly-client', topics, sequence: [{ module: 'poly-client', func: 'solve', device: 'node-1' }] } });
    await node.command('wait', { deployment: server.id, status: 'ready' });
    await node.command('wait', { deployment: client.id, status: 'ready' });
    await node.command('execute', { deployment: server.id });
    await node.command('execute', { deployment: client.id, args: [1, -3, 2] });
    await waitFor(async () => (await node.command<number>('call', { deployment: client.id, module: 'poly-client', func: 'root_count' })) === 2, 'the roots to come back');
    expect([await node.command('call', { deployment: client.id, module: 'poly-client', func: 'root1' }), await node.command('call', { deployment: client.id, module: 'poly-client', func: 'root2' })]).to.deep.equal([2, 1]);
    const rogue = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'rogue', topics: { 'poly-client': { subscribe: ['poly/roots'], publish: [] } }, sequence: [{ module: 'poly-client', func: 'solve', device: 'chromium-1' }] } });
    await node.command('wait', { deployment: rogue.id, status: 'ready' });
    const refused = await node.command('execute', { deployment: rogue.id, args: [1, 0, -4] }).catch((e: Error) => e.message);
    expect(String(refused)).to.contain('ERR_TOPIC_DENIED');

    // Kill the grayscale peer: its step is re-placed, and the chain answers again.
    const [grayBrowser, survivor] = grayPeer === id.c1 ? [c1!, c2!] : [c2!, c1!];
    const killedAt = Date.now();
    grayBrowser.kill();
    const healed = await node.command<Deployment>('wait', { deployment: chain.id, status: 'ready', revisionAbove: first.revision, timeoutMs: 30_000 });
    timings.failoverToReadyMs = Date.now() - killedAt;
    expect(healed.solution['1']).to.equal(camPeer);
    const again = await runChain(survivor);
    timings.failoverToAnsweredMs = Date.now() - killedAt;
    expect(again.value).to.equal(gray.value);
    expect(again.steps.map((s) => s.peer)).to.deep.equal([camPeer, camPeer]);

    // Kill the coordinator: the one peer left adopts its deployments.
    node.kill();
    const adopted = await survivor.run(async (lm, dep) => (await (lm as Lm).orchestrator.waitFor(dep as string, (v) => v.record.coordinator === (lm as Lm).peer.id, 30_000)).record, chain.id);
    expect(adopted.coordinator).to.equal(camPeer);
    expect(adopted.status).to.equal('ready');
    expect((await runChain(survivor)).value).to.equal(gray.value);
  });
});

// Live migration end to end over real WebRTC, between engines: a Node peer and a headless
// Chromium peer. stateful-fibo answers 1, 2, 3 on the Node peer, moves with its state to
// Chromium and answers 5, 8 there, then moves back and answers 13 — while the registry on
// both sides shows where it runs.
import { expect } from 'chai';
import type { MigrationResult } from '../../shared/orchestrator/migration.ts';
import type { Orchestrator } from '../../shared/orchestrator/orchestrator.ts';
import type { DeploymentRecord, PhaseRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { BrowserPeer, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; orchestrator: Orchestrator };
type Deployment = DeploymentRecord & { phases: Record<string, PhaseRecord> };

describe('Live migration over WebRTC', () => {
  const e2e = useE2eServices('e2e-migration-timings.json');
  const { browsers, nodes, timings } = e2e;

  it('moves a stateful module from Node to Chromium and back, state intact', async () => {
    const params = { signal: e2e.signal.url, mesh: 'migrate', secret: 'migrate-secret' };
    const node = new NodePeerProcess('node-1', ['--signal', e2e.signal.url, '--mesh', params.mesh, '--secret', params.secret]);
    nodes.push(node);
    const [c1] = await Promise.all([BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-1', params }), node.ready()]);
    browsers.push(c1!);
    await waitFor(async () => (await Promise.all([node.view(), c1!.view()])).every((v) => v.alive.length === 1 && v.linked.length === 1), 'a mesh of two', 60_000);
    const chromium = (await c1!.view()).id;

    await node.command('publish', { module: 'stateful-fibo' });
    const dep = await node.command<DeploymentRecord>('deploy', { manifest: { name: 'fib', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'node-1' }] } });
    expect((await node.command<Deployment>('wait', { deployment: dep.id })).status).to.equal('ready');
    await waitFor(() => c1!.run((lm, id) => (lm as Lm).peer.registry.deployments.get(id as string)?.record.status === 'ready', dep.id), 'chromium-1 sees it ready');
    const next = (): Promise<unknown> => c1!.run(async (lm, id) => (await (lm as Lm).orchestrator.call(id as string, 'stateful-fibo', 'stateful_fibo')).value, dep.id);
    expect([await next(), await next(), await next()]).to.deep.equal([1, 2, 3]);

    const there = await c1!.run((lm, id) => (lm as Lm).orchestrator.migrate(id as string, 'stateful-fibo', 'chromium-1'), dep.id) as MigrationResult;
    timings.nodeToChromiumMs = there.durationMs;
    timings.nodeToChromiumPausedMs = there.pausedMs;
    expect([there.from, there.to]).to.deep.equal([node.id, chromium]);
    expect(await c1!.run((lm, id) => (lm as Lm).peer.registry.deployments.get(id as string)?.record.solution['0'], dep.id)).to.equal(chromium);
    expect([await next(), await next()]).to.deep.equal([5, 8]);

    const back = await c1!.run((lm, id) => (lm as Lm).orchestrator.migrate(id as string, '0', 'node-1'), dep.id) as MigrationResult;
    timings.chromiumToNodeMs = back.durationMs;
    expect(back.to).to.equal(node.id);
    await waitFor(async () => (await node.command<Deployment>('wait', { deployment: dep.id })).solution['0'] === node.id, 'node-1 sees the step back');
    expect(await node.command('call', { deployment: dep.id, module: 'stateful-fibo', func: 'stateful_fibo' })).to.equal(13);
  });
});

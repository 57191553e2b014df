// Hot standby (`replicas` in the manifest) between real peers with real registries and
// real Node worker sandboxes on the in-memory network: the standby is placed and kept in
// sync, takes over with the state of the last acknowledged call when its primary is cut
// off, answers a call it already holds the effect of instead of running it again, and a
// primary that comes back does not serve.
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { publishModule, TestMesh } from '../acceptance/test-mesh.ts';
import { takeoverEpoch } from '../../shared/orchestrator/standby.ts';

/** stateful-fibo answers 1, 2, 3, 5, 8, … one per call. */
const FIB = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765, 10946, 17711, 28657, 46368, 75025, 121393];

const moduleFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));

describe('Hot standby on Node worker threads', () => {
  let testMesh: TestMesh;
  const mesh = (names: string[]): Promise<SupervisedPeer[]> => testMesh.start(names);
  /** A stateful-fibo deployment on `on`, with one standby, seen ready with its standby by every peer. */
  const deployWithStandby = async (coordinator: SupervisedPeer, on: string, replicas = 1): Promise<string> => {
    await publishModule(coordinator, 'stateful-fibo', moduleFile);
    const dep = coordinator.orchestrator.deploy({ name: 'fib', replicas, sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: on }] });
    for (const q of testMesh.peers) await waitFor(() => { const r = q.peer.registry.deployments.get(dep.id)?.record; return r?.status === 'ready' && (r.standby?.['0']?.length ?? 0) === replicas; }, 'every peer sees it ready with its standby', 15_000);
    return dep.id;
  };
  const record = (p: SupervisedPeer, id: string) => p.peer.registry.deployments.get(id)!.record;
  const fib = async (p: SupervisedPeer, id: string): Promise<number> => (await p.orchestrator.execute(id, {}, { readyTimeoutMs: 15_000 })).result.value as number;
  const runs = (p: SupervisedPeer, id: string) => p.supervisor.deployed().some((d) => d.deploymentId === id);

  beforeEach(() => {
    testMesh = new TestMesh(createNodeSandbox);
  });
  afterEach(async () => {
    await testMesh.stop();
  });

  it('places the standby on another device, where it holds a warm copy that serves nothing', async () => {
    const [a, b, c] = await mesh(['a', 'b', 'c']);
    const id = await deployWithStandby(c!, 'a');
    const r = record(c!, id);
    expect(r.solution['0']).toBe(a!.peer.id);
    expect(r.standby!['0']).toHaveLength(1);
    expect(r.standby!['0']![0]).not.toBe(a!.peer.id);
    expect([await fib(c!, id), await fib(b!, id), await fib(a!, id)]).toEqual([1, 2, 3]);
    // The standby loaded nothing that serves: only the primary lists the module.
    const standby = testMesh.peers.find((p) => p.peer.id === r.standby!['0']![0])!;
    expect(runs(a!, id)).toBe(true);
    expect(runs(standby, id)).toBe(false);
    // Every call ran once, on the primary.
    const history = await c!.peer.call(a!.peer.id, 'supervisor.history', { deploymentId: id });
    expect(history.map((h) => h.result as number).sort((x, y) => x - y)).toEqual([1, 2, 3]);
  });

  it('takes over when the primary is cut off: the count continues from the last acknowledged call, none lost, none answered twice', async () => {
    const [a, b, c] = await mesh(['a', 'b', 'c']);
    // c coordinates and calls; with three devices the standby is b or c.
    const id = await deployWithStandby(c!, 'a');
    const standbyId = record(c!, id).standby!['0']![0]!;
    const answers: number[] = [];
    for (let i = 0; i < 3; i++) answers.push(await fib(c!, id));
    // Calls in flight while the primary is cut off from every other peer.
    const inFlight = Array.from({ length: 6 }, () => fib(c!, id).then((v) => answers.push(v)));
    testMesh.network.setPartition([[a!.peer.id], [b!.peer.id, c!.peer.id]]);
    await Promise.all(inFlight);
    await waitFor(() => record(c!, id).solution['0'] === standbyId, 'the standby to record itself as the primary');
    for (let i = 0; i < 3; i++) answers.push(await fib(c!, id));
    const sorted = [...answers].sort((x, y) => x - y);
    // Every call answered exactly once, and the answers continue the sequence without a gap.
    expect(sorted).toEqual(FIB.slice(0, answers.length));
    // One takeover: an epoch above 0 (ADR 0038: the block above 0, at the taker's slot).
    expect(record(c!, id).epoch).toBe(takeoverEpoch(0, standbyId));
    expect(record(c!, id).status).toBe('ready');
    // The standby's own history holds only the calls it ran: none it answered from the primary's state.
    const ran = await c!.peer.call(standbyId, 'supervisor.history', { deploymentId: id });
    expect(new Set(ran.map((h) => h.result)).size).toBe(ran.length);
    expect(b!.peer.id === standbyId || c!.peer.id === standbyId).toBe(true);
  });

  it('a primary that comes back does not serve: its state is refused and it unloads its copy', async () => {
    const [a, b, c] = await mesh(['a', 'b', 'c']);
    const id = await deployWithStandby(c!, 'a');
    const standbyId = record(c!, id).standby!['0']![0]!;
    expect([await fib(c!, id), await fib(c!, id)]).toEqual([1, 2]);
    testMesh.network.setPartition([[a!.peer.id], [b!.peer.id, c!.peer.id]]);
    await waitFor(() => record(c!, id).solution['0'] === standbyId, 'the standby to take over');
    expect(await fib(c!, id)).toBe(3);
    testMesh.network.setPartition(null);
    await waitFor(() => record(a!, id).solution['0'] === standbyId && record(c!, id).solution['0'] === standbyId, 'every side to agree on the new primary', 15_000);
    await waitFor(() => !runs(a!, id), 'the old primary to unload its copy', 15_000);
    // A caller that does not yet see the new primary alive sends its call to the standby,
    // which takes over once more (ADR 0038): correct, but not what this test is about.
    await waitFor(() => a!.peer.alive().includes(standbyId), 'the old primary to see the new one alive', 15_000);
    // Calls from anywhere, the old primary included, go on from the last acknowledged value.
    expect([await fib(a!, id), await fib(c!, id)]).toEqual([5, 8]);
    // The primary that came back took nothing over again.
    expect(record(b!, id).epoch).toBe(takeoverEpoch(0, standbyId));
  });

  it('refuses the state of a primary the record no longer names, with ERR_STANDBY_FENCED', async () => {
    const [a, , c] = await mesh(['a', 'b', 'c']);
    const id = await deployWithStandby(c!, 'a');
    const standbyId = record(c!, id).standby!['0']![0]!;
    expect(await fib(c!, id)).toBe(1);
    const error = await rejectionOf(c!.peer.call(standbyId, 'standby.state', { deploymentId: id, module: 'stateful-fibo', epoch: 0, seq: 9, full: false, snapshot: '00'.repeat(32), bytes: 0, data: new Uint8Array(0) }));
    expect(error.code).toBe('ERR_STANDBY_FENCED');
    // The standby is intact: it still takes over with the acknowledged state.
    testMesh.network.setPartition([[a!.peer.id], testMesh.peers.filter((p) => p !== a).map((p) => p.peer.id)]);
    await waitFor(() => record(c!, id).solution['0'] === standbyId, 'the standby to take over');
    expect(await fib(c!, id)).toBe(2);
  });

  it('moves a module with a standby where it was dragged: the target leads on from the source\'s count and its standby takes its copy', async () => {
    const [a, b, c, d] = await mesh(['a', 'b', 'c', 'd']);
    const id = await deployWithStandby(d!, 'a');
    const answers = [await fib(d!, id), await fib(d!, id), await fib(d!, id)];
    const standbyId = record(d!, id).standby!['0']![0]!;
    const target = [b!, c!, d!].find((p) => p.peer.id !== standbyId)!;
    await d!.orchestrator.migrate(id, 'stateful-fibo', target.peer.id);
    for (let i = 0; i < 3; i++) answers.push(await fib(d!, id));
    // The standby took the target's copy: the move stands, and no takeover undid it.
    expect(answers).toEqual(FIB.slice(0, 6));
    expect(record(d!, id).solution['0']).toBe(target.peer.id);
    expect(record(d!, id).epoch ?? 0).toBe(0);
    expect(runs(target, id)).toBe(true);
    // The standby holds the moved state: cut the target off and the count goes on.
    testMesh.network.setPartition([[target.peer.id], testMesh.peers.filter((p) => p !== target).map((p) => p.peer.id)]);
    const caller = [a!, b!, c!, d!].find((p) => p !== target)!;
    await waitFor(() => record(caller, id).solution['0'] === standbyId, 'the standby to take over from the target');
    expect(await fib(caller, id)).toBe(FIB[6]);
  });
});

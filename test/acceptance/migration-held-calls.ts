/**
 * The calls a move holds, over any Sandbox adapter: they travel to the target right behind
 * the commit (not after its answer) and are answered there once it has installed the
 * copy, and their answers reach their callers before the source writes the new routing;
 * when the target refuses the commit, the source runs them itself. Either way each is
 * answered once, in the module's order. Real peers, registries and workers on the
 * in-memory network.
 */
import { expect } from 'chai';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { MigrationHarness } from './migration.ts';
import { publishModule, TestMesh } from './test-mesh.ts';
import { rejectionOf, waitFor } from './wait.ts';

/** Run the held-calls suite against `harness`. */
export function runHeldCallTests(harness: MigrationHarness): void {
  describe(`Calls held by a move on ${harness.name}`, function () {
    let testMesh: TestMesh;
    const mesh = (names: string[]): Promise<SupervisedPeer[]> => testMesh.start(names);
    const counter = async (by: SupervisedPeer, on: string): Promise<string> => {
      await publishModule(by, 'counter-c', harness.moduleFile);
      const dep = by.orchestrator.deploy({ name: 'held', sequence: [{ module: 'counter-c', func: 'next', device: on }] });
      await by.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 15_000);
      for (const q of testMesh.peers) await waitFor(() => q.peer.registry.deployments.get(dep.id)?.record.status === 'ready', 'every peer sees it ready');
      return dep.id;
    };
    /** The counter's next value (it counts along the Fibonacci sequence: 1, 2, 3, 5, 8, …). */
    const next = (p: SupervisedPeer, dep: string) => p.orchestrator.call(dep, 'counter-c', 'next').then((o) => Number(o.value));

    /**
     * Before `source` sends a commit: `count` calls from `caller` reach it (and wait, the
     * module being held), each counted as it arrives; `corrupt` flips a byte of the commit.
     */
    const holdCallsAtCommit = (source: SupervisedPeer, caller: SupervisedPeer, dep: string, count: number, corrupt: boolean): Promise<number>[] => {
      const held: Promise<number>[] = [];
      const send = source.peer.call.bind(source.peer);
      source.peer.call = (async (to, method, params, options) => {
        if (method !== 'migration.commit') return send(to, method, params, options);
        let arrived = 0;
        const supervisor = source.supervisor;
        const enter = supervisor.call.bind(supervisor);
        supervisor.call = (deploymentId, ...rest) => {
          if (deploymentId === dep) arrived++;
          return enter(deploymentId, ...rest);
        };
        for (let i = 0; i < count; i++) held.push(next(caller, dep));
        await waitFor(() => arrived === count, 'the calls reach the held module');
        supervisor.call = enter;
        if (!corrupt) return send(to, method, params, options);
        const data = (params as { data?: Uint8Array }).data?.slice();
        if (data && data.byteLength > 0) data[0] = data[0]! ^ 0xff;
        return send(to, method, { ...params, ...(data ? { data } : {}) } as typeof params, options);
      }) as typeof source.peer.call;
      return held;
    };

    beforeEach(() => {
      testMesh = new TestMesh(harness.sandbox);
    });
    afterEach(async () => {
      await testMesh.stop();
    });

    it('lets the held calls go with the commit, before its answer: the target answers them from the moved state', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const dep = await counter(a!, 'a');
      expect([await next(c!, dep), await next(c!, dep)]).to.deep.equal([1, 2]);
      const held = holdCallsAtCommit(a!, c!, dep, 3, false);
      const result = await a!.orchestrator.migrate(dep, 'counter-c', 'b');
      expect(result.to).to.equal(b!.peer.id);
      expect(result.trace!.released, 'released before the commit was answered').to.be.lessThan(result.trace!.committed!);
      expect((await Promise.all(held)).sort((x, y) => x - y), 'each held call answered once').to.deep.equal([3, 5, 8]);
      await waitFor(() => c!.peer.registry.deployments.get(dep)?.record.solution['0'] === b!.peer.id, 'the routing');
      expect(await next(c!, dep), 'the target went on from the held calls').to.equal(13);
    });

    it('answers the held calls before the source writes the new routing: their callers do not wait on the switch', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const dep = await counter(a!, 'a');
      expect([await next(c!, dep), await next(c!, dep)]).to.deep.equal([1, 2]);
      // In the order they happen: each held call's answer at its caller, the source's routing write.
      const events: string[] = [];
      const deployments = a!.peer.registry.deployments;
      const put = deployments.put.bind(deployments);
      deployments.put = ((record) => {
        if (record.id === dep && record.solution['0'] === b!.peer.id) events.push('routed');
        return put(record);
      }) as typeof deployments.put;
      const held = holdCallsAtCommit(a!, c!, dep, 3, false);
      // The calls are made (and `held` filled) before the commit is sent, long before its answer.
      const migrated = a!.orchestrator.migrate(dep, 'counter-c', 'b');
      await waitFor(() => held.length === 3, 'the calls are made');
      const answers = held.map((call) => call.then((value) => (events.push('answered'), value)));
      await migrated;
      expect((await Promise.all(answers)).sort((x, y) => x - y), 'each held call answered once').to.deep.equal([3, 5, 8]);
      expect(events, 'the held calls answered, then the routing written').to.deep.equal(['answered', 'answered', 'answered', 'routed']);
    });

    it('runs the held calls on the source once each when the target refuses the commit, and serves on there', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const dep = await counter(a!, 'a');
      expect([await next(c!, dep), await next(c!, dep)]).to.deep.equal([1, 2]);
      const held = holdCallsAtCommit(a!, c!, dep, 3, true);
      const failed = await rejectionOf(a!.orchestrator.migrate(dep, 'counter-c', 'b'));
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(failed.message).to.contain('ERR_HASH_MISMATCH');
      expect((await Promise.all(held)).sort((x, y) => x - y), 'each held call answered once, none lost').to.deep.equal([3, 5, 8]);
      expect(a!.peer.registry.deployments.get(dep)?.record.solution['0']).to.equal(a!.peer.id);
      expect(await next(c!, dep), 'the source went on from the held calls').to.equal(13);
      await waitFor(() => !b!.supervisor.deployed().some((d) => d.deploymentId === dep), 'b keeps nothing');
    });
  });
}

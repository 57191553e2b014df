/**
 * Pre-copy of a live migration over any Sandbox adapter: the rounds that ship what calls
 * write while the source still serves lose none of those writes, a failed round leaves
 * the source serving from its own state, and repeated pages travel as references. Real
 * peers, registries and workers on the in-memory network.
 */
import { expect } from 'chai';
import { decodeSnapshot, encodeSnapshot } from '../../shared/sandbox/snapshot.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { MigrationHarness } from './migration.ts';
import { publishModule, TestMesh } from './test-mesh.ts';
import { rejectionOf, waitFor } from './wait.ts';

/** Run the pre-copy suite against `harness`. */
export function runPrecopyTests(harness: MigrationHarness): void {
  describe(`Migration pre-copy on ${harness.name}`, function () {
    let testMesh: TestMesh;
    const mesh = (names: string[]): Promise<SupervisedPeer[]> => testMesh.start(names);
    /** counter-c deployed twice on `on`: the one to move, and a reference that gets the same calls. */
    const counters = async (by: SupervisedPeer, on: string): Promise<{ moving: string; reference: string }> => {
      await publishModule(by, 'counter-c', harness.moduleFile);
      const ids: string[] = [];
      for (const name of ['moving', 'reference']) {
        const dep = by.orchestrator.deploy({ name, sequence: [{ module: 'counter-c', func: 'next', device: on }] });
        await by.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 15_000);
        for (const q of testMesh.peers) await waitFor(() => q.peer.registry.deployments.get(dep.id)?.record.status === 'ready', 'every peer sees it ready');
        ids.push(dep.id);
      }
      return { moving: ids[0]!, reference: ids[1]! };
    };
    const call = (p: SupervisedPeer, dep: string, fn: string, args: number[] = []) => p.orchestrator.call(dep, 'counter-c', fn, { args }).then((o) => o.value);

    beforeEach(() => {
      testMesh = new TestMesh(harness.sandbox, harness.deflate ? { deflate: harness.deflate } : {});
    });
    afterEach(async () => {
      await testMesh.stop();
    });

    it('keeps every write the calls make while the state is copied: the moved state equals one that got the same calls', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const { moving, reference } = await counters(a!, 'a');
      // Rewriting 512 KiB per call makes every round find fresh pages to ship.
      const calls: [string, number[]][] = [];
      for (const dep of [moving, reference]) await call(c!, dep, 'fill', [512]);
      let stop = false;
      const load = (async () => {
        for (let i = 0; !stop; i++) {
          const next: [string, number[]] = i % 3 === 2 ? ['fill', [512]] : ['next', []];
          await call(c!, moving, ...next);
          calls.push(next);
        }
      })();
      await waitFor(() => calls.length >= 5, 'the load runs');
      const result = await c!.orchestrator.migrate(moving, 'counter-c', 'b');
      const after = calls.length;
      await waitFor(() => calls.length >= after + 5, 'the load runs on after the move');
      stop = true;
      await load;
      expect(result.rounds, 'pre-copy rounds ran while the source served').to.be.greaterThan(0);
      await waitFor(() => c!.peer.registry.deployments.get(moving)?.record.solution['0'] === b!.peer.id, 'the routing reaches c');
      for (const [fn, args] of calls) await call(c!, reference, fn, args);
      expect(await call(c!, moving, 'checksum'), 'heap and counter as if the calls ran on one instance').to.equal(await call(c!, reference, 'checksum'));
      expect(await call(c!, moving, 'next')).to.equal(await call(c!, reference, 'next'));
    });

    it('gives up on a round the target refuses: the source serves on from its state and the target keeps nothing', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const { moving, reference } = await counters(a!, 'a');
      for (const dep of [moving, reference]) {
        await call(c!, dep, 'fill', [256]);
        await call(c!, dep, 'next');
      }
      // Calls rewrite 512 KiB each while the move runs, so that rounds are shipped.
      const calls: [string, number[]][] = [];
      let stop = false;
      const load = (async () => {
        for (let i = 0; !stop; i++) {
          const next: [string, number[]] = i % 2 === 1 ? ['fill', [512]] : ['next', []];
          await call(c!, moving, ...next);
          calls.push(next);
        }
      })();
      await waitFor(() => calls.length >= 4, 'the load runs');
      // Every pre-copy round reaches b with a flipped byte: b refuses it by its hash.
      const source = a!.peer;
      const send = source.call.bind(source);
      source.call = ((to, method, params, options) => {
        if (method !== 'migration.round') return send(to, method, params, options);
        const round = params as { data?: Uint8Array };
        const data = round.data?.slice();
        if (data) data[data.byteLength - 1] = data[data.byteLength - 1]! ^ 0xff;
        return send(to, method, { ...params, ...(data ? { data } : {}) } as typeof params, options);
      }) as typeof source.call;
      const failed = await rejectionOf(c!.orchestrator.migrate(moving, 'counter-c', 'b'));
      stop = true;
      await load;
      for (const [fn, args] of calls) await call(c!, reference, fn, args);
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(failed.message).to.contain('ERR_HASH_MISMATCH');
      expect(a!.peer.registry.deployments.get(moving)?.record.solution['0']).to.equal(a!.peer.id);
      expect(a!.peer.registry.deployments.get(moving)?.record.migration?.phase).to.equal('failed');
      await waitFor(() => !b!.supervisor.deployed().some((d) => d.deploymentId === moving), 'b drops what it staged');
      expect(await call(c!, moving, 'next'), 'the source carries on from its own state').to.equal(await call(c!, reference, 'next'));
      expect(await call(c!, moving, 'checksum')).to.equal(await call(c!, reference, 'checksum'));
    });

    it('ships no pre-copy round when the calls since the base wrote little, and the state still moves whole', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      const { moving, reference } = await counters(a!, 'a');
      for (const dep of [moving, reference]) {
        await call(c!, dep, 'fill', [1024]);
        await call(c!, dep, 'next');
      }
      const result = await c!.orchestrator.migrate(moving, 'counter-c', 'b');
      expect(result.rounds, 'nothing written since the base: the hold ships what little there is').to.equal(0);
      expect(result.deltaBytes).to.be.lessThan(1024 * 1024);
      await waitFor(() => c!.peer.registry.deployments.get(moving)?.record.solution['0'] === b!.peer.id, 'the routing reaches c');
      expect(await call(c!, moving, 'checksum')).to.equal(await call(c!, reference, 'checksum'));
      expect(await call(c!, moving, 'next')).to.equal(await call(c!, reference, 'next'));
    });

    it('says how much calls wrote since the last snapshot without starting the count over', async () => {
      const sandbox = harness.sandbox();
      try {
        const instance = await sandbox.load({ wasm: await harness.moduleFile('counter-c/counter-c.wasm'), grants: [] });
        await instance.call({ fn: 'fill', convention: { kind: 'scalar', args: [1024] } });
        await instance.snapshot({ sinceLast: true });
        expect(await instance.writtenSinceSnapshot!(), 'nothing since the snapshot').to.equal(0);
        await instance.call({ fn: 'fill', convention: { kind: 'scalar', args: [512] } });
        const written = await instance.writtenSinceSnapshot!();
        expect(written, 'at least the 512 KiB the call filled').to.be.at.least(512 * 1024);
        expect(written, 'not the whole 1 MiB heap').to.be.lessThan(1024 * 1024);
        // Asking did not start the count over: the next delta still holds those pages.
        const delta = await instance.snapshot({ sinceLast: true });
        expect(delta.delta).to.equal(true);
        expect(Object.keys(delta.pages).length * 64 * 1024).to.be.at.least(512 * 1024);
        expect(await instance.writtenSinceSnapshot!()).to.equal(0);
      } finally {
        await sandbox.close();
      }
    });

    it('restores a whole snapshot over a used memory: what the snapshot does not hold is zero afterwards', async () => {
      const sandbox = harness.sandbox();
      try {
        const wasm = await harness.moduleFile('counter-c/counter-c.wasm');
        const source = await sandbox.load({ wasm, grants: [] });
        await source.call({ fn: 'fill', convention: { kind: 'scalar', args: [64] } });
        const target = await sandbox.load({ wasm, grants: [] });
        // The target's heap holds 2 MiB of its own bytes, far past the source's 64 KiB.
        await target.call({ fn: 'fill', convention: { kind: 'scalar', args: [2048] } });
        const snapshot = await source.snapshot();
        await target.restore(snapshot);
        const after = await target.snapshot();
        expect(Object.keys(after.pages).sort(), 'the same non-zero pages as the source').to.deep.equal(Object.keys(snapshot.pages).sort());
        expect(encodeSnapshot({ ...after, memoryPages: snapshot.memoryPages })).to.deep.equal(encodeSnapshot(snapshot));
      } finally {
        await sandbox.close();
      }
    });

    it('ships a page that repeats the one before it as a reference, and refuses a reference to a page not there', async () => {
      const sandbox = harness.sandbox();
      try {
        const wasm = await harness.moduleFile('counter-c/counter-c.wasm');
        const source = await sandbox.load({ wasm, grants: [] });
        await source.call({ fn: 'fill', convention: { kind: 'scalar', args: [4096] } });
        const before = await source.call({ fn: 'checksum', convention: { kind: 'scalar', args: [] } });
        const snapshot = await source.snapshot();
        const encoded = encodeSnapshot(snapshot);
        // 4 MiB of a 256-byte pattern: a few distinct pages travel, the rest as references.
        expect(encoded.byteLength).to.be.lessThan(512 * 1024);
        const target = await sandbox.load({ wasm, grants: [] });
        await target.restore(decodeSnapshot(encoded));
        expect((await target.call({ fn: 'checksum', convention: { kind: 'scalar', args: [] } })).value).to.equal(before.value);
        // A reference to a page the snapshot does not list is refused by name.
        const header = JSON.parse(new TextDecoder().decode(encoded.subarray(12, 12 + new DataView(encoded.buffer, encoded.byteOffset).getUint32(8, true)))) as { copies: [number, number][] };
        expect(header.copies.length).to.be.greaterThan(40);
        const forged = new TextEncoder().encode(JSON.stringify({ ...header, copies: [[header.copies[0]![0], 65535]] }).padEnd(new DataView(encoded.buffer, encoded.byteOffset).getUint32(8, true)));
        const bad = encoded.slice();
        bad.set(forged, 12);
        expect(() => decodeSnapshot(bad)).to.throw().with.property('code', 'ERR_SNAPSHOT_INVALID');
      } finally {
        await sandbox.close();
      }
    });
  });
}

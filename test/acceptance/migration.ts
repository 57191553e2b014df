/**
 * Live migration over any Sandbox adapter: snapshot completeness (memory, the shadow
 * stack pointer and other private globals, changed tables, the wire form), then moving
 * and cloning running modules between real peers with real registries and real workers on
 * the in-memory network — under load, with the target killed mid-way, with a corrupted
 * or foreign snapshot. Runs in Node (worker threads) and Chromium (Workers).
 */
import type { Deflate } from '../../shared/ports/deflate.ts';
import type { Sha256Factory } from '../../shared/ports/sha256.ts';
import { expect } from 'chai';
import { sha256Hex } from '../../shared/bytes.ts';
import type { BlobStore } from '../../shared/ports/blob-store.ts';
import type { Sandbox } from '../../shared/ports/sandbox.ts';
import { decodeSnapshot, diffSnapshot, encodeSnapshot } from '../../shared/sandbox/snapshot.ts';
import { isPacked, packSnapshot, unpackSnapshot } from '../../shared/sandbox/snapshot-packing.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { memoryStore } from '../helpers/mesh.ts';
import { publishModule, TestMesh } from './test-mesh.ts';
import { rejectionOf, waitFor } from './wait.ts';

/** What the suite needs from an environment. */
export interface MigrationHarness {
  name: string;
  /** A fresh sandbox for one peer. */
  sandbox(): Sandbox;
  /** Bytes of a file under modules/ (e.g. `fibo/fibo.wasm`). */
  moduleFile(path: string): Promise<Uint8Array>;
  /** The incremental SHA-256 the runtime's peers have, if any (Node's). */
  sha256?: Sha256Factory;
  /** The synchronous zlib the runtime's peers have, if any (Node's). */
  deflate?: Deflate;
}

const scalar = (fn: string, ...args: (number | bigint)[]) => ({ fn, convention: { kind: 'scalar' as const, args } });

/** A store that remembers the hash of every blob written to it in `written`. */
function recordingStore(inner: BlobStore, written: string[]): BlobStore {
  return {
    has: (hash) => inner.has(hash),
    get: (hash) => inner.get(hash),
    read: (hash, offset, length) => inner.read(hash, offset, length),
    list: () => inner.list(),
    delete: (hash) => inner.delete(hash),
    put: async (bytes, expected) => {
      const hash = await inner.put(bytes, expected);
      written.push(hash);
      return hash;
    },
  };
}

/** Make `peer` flip a byte of the snapshot delta it sends in `migration.commit` while `when()` holds. */
function corruptCommits(peer: SupervisedPeer['peer'], when: () => boolean): void {
  const call = peer.call.bind(peer);
  peer.call = ((to, method, params, options) => {
    if (method !== 'migration.commit' || !when()) return call(to, method, params, options);
    const commit = params as { data?: Uint8Array };
    const data = commit.data?.slice();
    if (data && data.byteLength > 0) data[0] = data[0]! ^ 0xff;
    return call(to, method, { ...params, ...(data ? { data } : {}) } as typeof params, options);
  }) as typeof peer.call;
}

/** Run the suite against `harness`. */
export function runMigrationTests(harness: MigrationHarness): void {
  const wasm = (name: string): Promise<Uint8Array> => harness.moduleFile(`${name}/${name}.wasm`);

  describe(`Snapshots for migration on ${harness.name}`, function () {
    let sandbox: Sandbox;
    afterEach(async () => {
      await sandbox?.close();
    });

    it('carries a C module’s statics, heap and shadow stack through the wire form', async () => {
      sandbox = harness.sandbox();
      const bytes = await wasm('counter-c');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      const values = [];
      for (let i = 0; i < 3; i++) values.push((await a.call(scalar('next'))).value);
      expect(values).to.deep.equal([1n, 2n, 3n]);
      expect((await a.call(scalar('fill', 300))).value).to.be.greaterThan(4);
      const sum = (await a.call(scalar('checksum'))).value;
      const wire = encodeSnapshot(await a.snapshot());
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(decodeSnapshot(wire));
      expect((await b.call(scalar('checksum'))).value).to.equal(sum);
      expect([(await b.call(scalar('next'))).value, (await b.call(scalar('next'))).value]).to.deep.equal([5n, 8n]);
      expect((await b.call(scalar('recent_sum'))).value).to.equal(19n);
    });

    it('applies a delta over a restored base: only changed pages travel, the result is the whole state', async () => {
      sandbox = harness.sandbox();
      const bytes = await wasm('counter-c');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      await a.call(scalar('fill', 1024));
      const base = await a.snapshot();
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(decodeSnapshot(encodeSnapshot(base)));
      for (let i = 0; i < 4; i++) await a.call(scalar('next'));
      await a.call(scalar('fill', 100));
      const delta = diffSnapshot(base, await a.snapshot());
      expect(Object.keys(delta.pages).length).to.be.lessThan(Object.keys(base.pages).length);
      await b.restore(decodeSnapshot(encodeSnapshot(delta)));
      expect((await b.call(scalar('checksum'))).value).to.equal((await a.call(scalar('checksum'))).value);
      expect((await b.call(scalar('next'))).value).to.equal(8n);
    });

    it('takes a snapshot of only what calls wrote since the previous one; base plus it is the whole state', async () => {
      sandbox = harness.sandbox();
      const bytes = await wasm('counter-c');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      await a.call(scalar('fill', 1024));
      const base = await a.snapshot();
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(decodeSnapshot(encodeSnapshot(base)));
      for (let i = 0; i < 4; i++) await a.call(scalar('next'));
      await a.call(scalar('fill', 100));
      const since = await a.snapshot({ sinceLast: true });
      expect(since.delta).to.equal(true);
      expect(Object.keys(since.pages).length).to.be.lessThan(Object.keys(base.pages).length);
      await b.restore(decodeSnapshot(encodeSnapshot(since)));
      expect((await b.call(scalar('checksum'))).value).to.equal((await a.call(scalar('checksum'))).value);
      expect((await b.call(scalar('recent_sum'))).value).to.equal((await a.call(scalar('recent_sum'))).value);
      expect((await b.call(scalar('next'))).value).to.equal((await a.call(scalar('next'))).value);
      // Nothing written since: a delta of no pages.
      await a.snapshot();
      expect(Object.keys((await a.snapshot({ sinceLast: true })).pages)).to.have.length(0);
    });

    it('compresses a snapshot of repeated data for the wire and unpacks it exactly; random state travels as it is', async () => {
      sandbox = harness.sandbox();
      const bytes = await wasm('counter-c');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      await a.call(scalar('fill', 2048));
      const wire = encodeSnapshot(await a.snapshot());
      const packed = await packSnapshot(wire);
      expect(isPacked(packed)).to.equal(true);
      expect(packed.byteLength).to.be.lessThan(wire.byteLength / 4);
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(decodeSnapshot(await unpackSnapshot(packed)));
      expect((await b.call(scalar('checksum'))).value).to.equal((await a.call(scalar('checksum'))).value);
      expect((await b.call(scalar('next'))).value).to.equal((await a.call(scalar('next'))).value);
      // Pages of random bytes do not shrink: they are not compressed at all.
      const page = (): Uint8Array => crypto.getRandomValues(new Uint8Array(65536));
      const random = encodeSnapshot({ moduleId: 'a'.repeat(64), pages: { 0: page(), 1: page(), 2: page(), 3: page(), 4: page() }, memoryPages: 5, globals: {}, files: {} });
      const same = await packSnapshot(random);
      expect(isPacked(same)).to.equal(false);
      expect(await unpackSnapshot(same)).to.equal(same);
    });

    it('refuses a packed snapshot that is corrupt or expands past the length it declares', async () => {
      const wire = encodeSnapshot({ moduleId: 'a'.repeat(64), pages: { 0: new Uint8Array(65536).fill(3), 7: new Uint8Array(65536).fill(9) }, memoryPages: 8, globals: {}, files: {} });
      const big = new Uint8Array(512 * 1024);
      big.set(wire);
      // A valid packing of more bytes than a snapshot holds, declared smaller: a would-be bomb.
      const packed = await packSnapshot(big);
      expect(isPacked(packed)).to.equal(true);
      const lying = packed.slice();
      new DataView(lying.buffer).setBigUint64(8, 1024n, true);
      expect(await rejectionOf(unpackSnapshot(lying))).to.include({ code: 'ERR_SNAPSHOT_INVALID' });
      const truncated = packed.slice(0, packed.byteLength - 8);
      expect(await rejectionOf(unpackSnapshot(truncated))).to.include({ code: 'ERR_SNAPSHOT_INVALID' });
      const huge = packed.slice();
      new DataView(huge.buffer).setBigUint64(8, 2n ** 40n, true);
      expect(await rejectionOf(unpackSnapshot(huge))).to.include({ code: 'ERR_SNAPSHOT_INVALID' });
    });

    it('carries table slots the module changed at run time', async () => {
      sandbox = harness.sandbox();
      const bytes = await wasm('dispatch');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      expect((await a.call(scalar('swap'))).value).to.equal(2);
      const snap = await a.snapshot();
      expect(Object.keys(snap.tables ?? {})).to.have.length(1);
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      expect((await b.call(scalar('handle'))).value).to.equal(1);
      await b.restore(decodeSnapshot(encodeSnapshot(snap)));
      expect((await b.call(scalar('handle'))).value).to.equal(2);
      expect((await b.call(scalar('swap'))).value).to.equal(1);
    });

    it('encodes every kind of value exactly: NaN, -0, i64 extremes, files, tables, deltas', () => {
      const id = 'ab'.repeat(32);
      const page = new Uint8Array(65536).fill(7);
      const snap = {
        moduleId: id,
        pages: { 2: page },
        memoryPages: 3,
        globals: { nan: NaN, negativeZero: -0, big: 2n ** 63n - 1n, small: -(2n ** 63n), f: 1.5 },
        files: { 'a.txt': new Uint8Array([1, 2, 3]), empty: new Uint8Array(0) },
        tables: { __lm_t0: { length: 3, slots: { 0: 4, 2: null } } },
      };
      const back = decodeSnapshot(encodeSnapshot(snap));
      expect(back.moduleId).to.equal(id);
      expect(back.memoryPages).to.equal(3);
      expect([...back.pages[2]!.subarray(0, 4)]).to.deep.equal([7, 7, 7, 7]);
      expect(Number.isNaN(back.globals.nan)).to.equal(true);
      expect(Object.is(back.globals.negativeZero, -0)).to.equal(true);
      expect([back.globals.big, back.globals.small, back.globals.f]).to.deep.equal([2n ** 63n - 1n, -(2n ** 63n), 1.5]);
      expect(Object.keys(back.files).sort()).to.deep.equal(['a.txt', 'empty']);
      expect(back.tables).to.deep.equal(snap.tables);
      // A page that became zero travels as a zero page in the delta.
      const delta = diffSnapshot(snap, { ...snap, pages: {} });
      expect(delta.delta).to.equal(true);
      expect(decodeSnapshot(encodeSnapshot(delta)).pages[2]!.every((b) => b === 0)).to.equal(true);
    });

    it('refuses snapshot bytes that do not decode, and a snapshot of another module', async () => {
      sandbox = harness.sandbox();
      const fibo = await sandbox.load({ wasm: await wasm('stateful-fibo'), grants: [] });
      const wire = encodeSnapshot(await fibo.snapshot());
      expect(() => decodeSnapshot(wire.subarray(0, wire.byteLength - 1))).to.throw().with.property('code', 'ERR_SNAPSHOT_INVALID');
      expect(() => decodeSnapshot(new Uint8Array(64))).to.throw().with.property('code', 'ERR_SNAPSHOT_INVALID');
      const counter = await sandbox.load({ wasm: await wasm('counter-c'), grants: [] });
      expect((await rejectionOf(counter.restore(decodeSnapshot(wire)))).code).to.equal('ERR_SNAPSHOT_MISMATCH');
      expect((await counter.call(scalar('next'))).value).to.equal(1n);
    });
  });

  describe(`Live migration on ${harness.name}`, function () {
    let testMesh: TestMesh;
    const mesh = (names: string[], stores: Record<string, BlobStore> = {}): Promise<SupervisedPeer[]> => testMesh.start(names, stores);
    const publish = (p: SupervisedPeer, dir: string): Promise<void> => publishModule(p, dir, harness.moduleFile);
    const deployOn = async (p: SupervisedPeer, name: string, steps: { module: string; func: string; device: string }[]) => {
      const dep = p.orchestrator.deploy({ name, sequence: steps });
      await p.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 15_000);
      for (const q of testMesh.peers) await waitFor(() => q.peer.registry.deployments.get(dep.id)?.record.status === 'ready', 'every peer sees it ready');
      return dep;
    };
    const fib = (p: SupervisedPeer, dep: string, options: { peer?: string } = {}) =>
      p.orchestrator.call(dep, 'stateful-fibo', 'stateful_fibo', {}, options).then((o) => o.value);
    const placed = (p: SupervisedPeer, dep: string, step = '0') => p.peer.registry.deployments.get(dep)?.record.solution[step];
    const runs = (p: SupervisedPeer, dep: string, name: string) => p.supervisor.deployed().some((d) => d.deploymentId === dep && d.name === name);

    beforeEach(() => {
      testMesh = new TestMesh(harness.sandbox, harness.deflate ? { deflate: harness.deflate } : {});
    });
    afterEach(async () => {
      await testMesh.stop();
    });

    it('moves a stateful counter: 1, 2, 3 on a, then 5, 8 on b, and the registry shows it on b', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'stateful-fibo');
      const dep = await deployOn(a!, 'fib', [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'a' }]);
      expect([await fib(c!, dep.id), await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([1, 2, 3]);
      const result = await c!.orchestrator.migrate('fib', 'stateful-fibo', 'b');
      expect(result).to.include({ deploymentId: dep.id, module: 'stateful-fibo', from: a!.peer.id, to: b!.peer.id, mode: 'move' });
      expect(result.snapshotBytes).to.be.greaterThan(0);
      expect(result.pausedMs).to.be.a('number');
      expect(result.durationMs).to.be.a('number');
      expect(placed(a!, dep.id)).to.equal(b!.peer.id);
      await waitFor(() => placed(c!, dep.id) === b!.peer.id, 'the routing reaches c');
      expect([await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([5, 8]);
      // A caller with stale routing still reaches the moved instance: a forwards to b.
      expect((await c!.peer.call(a!.peer.id, 'supervisor.call', { deploymentId: dep.id, module: 'stateful-fibo', fn: 'stateful_fibo' })).value).to.equal(13);
      await waitFor(() => !runs(a!, dep.id, 'stateful-fibo'), 'a unloads its copy');
      await waitFor(() => c!.orchestrator.get('fib').phases[`0/${b!.peer.id}`]?.phase === 'ready', 'b reports the step ready');
      const view = c!.orchestrator.get('fib');
      expect(view.record.status).to.equal('ready');
      expect(view.record.migration).to.include({ phase: 'done', from: a!.peer.id, to: b!.peer.id });
      const history = await c!.peer.call(b!.peer.id, 'supervisor.history', { deploymentId: dep.id });
      expect(history.map((h) => h.result)).to.have.members([5, 8, 13]).and.to.have.length(3);
    });

    it('ships snapshots from memory: neither peer writes one to its store, and the target serves on', async () => {
      const written: Record<string, string[]> = { a: [], b: [] };
      const [a, b] = await mesh(['a', 'b'], { a: recordingStore(memoryStore().blobs, written.a!), b: recordingStore(memoryStore().blobs, written.b!) });
      await publish(a!, 'counter-c');
      const dep = await deployOn(a!, 'state', [{ module: 'counter-c', func: 'next', device: 'a' }]);
      expect((await a!.orchestrator.call(dep.id, 'counter-c', 'fill', { args: [256] })).value).to.be.greaterThan(0);
      const before = (await a!.orchestrator.call(dep.id, 'counter-c', 'checksum')).value;
      const moduleBlob = a!.orchestrator.packages.resolve('counter-c').id;
      written.a!.length = 0;
      written.b!.length = 0;
      const result = await a!.orchestrator.migrate(dep.id, 'counter-c', 'b');
      expect(result.snapshotBytes).to.be.greaterThan(256 * 1024);
      // The counter's heap repeats itself: the base travelled compressed.
      expect(result.baseWireBytes).to.be.lessThan(result.snapshotBytes / 4);
      // The target stored the module it loaded, and nothing else; the source stored nothing.
      expect(written.a).to.deep.equal([]);
      expect(written.b!.filter((hash) => hash !== moduleBlob)).to.deep.equal([]);
      await waitFor(() => placed(a!, dep.id) === b!.peer.id, 'the routing');
      expect((await a!.orchestrator.call(dep.id, 'counter-c', 'checksum')).value).to.equal(before);
    });

    it('answers every call of a steady load exactly once and in order per caller while it moves', async () => {
      const [a, b, c, d] = await mesh(['a', 'b', 'c', 'd']);
      await publish(a!, 'stateful-fibo');
      const dep = await deployOn(a!, 'fib', [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'a' }]);
      let stop = false;
      let answered = 0;
      // The counter's values wrap at 2^64 and reach the caller as decimal strings past 2^53:
      // each answer is turned into its position in the sequence (1 for the first call, …).
      const position = new Map<string, number>();
      for (let i = 1, p = 0n, q = 1n; i <= 100_000; i++) {
        [p, q] = [q, BigInt.asIntN(64, p + q)];
        position.set(String(q), i);
      }
      const load = async (p: SupervisedPeer): Promise<number[]> => {
        const got: number[] = [];
        while (!stop) {
          got.push(position.get(String(await fib(p, dep.id))) ?? -1);
          answered++;
        }
        return got;
      };
      const callers = [load(c!), load(c!), load(d!)];
      await waitFor(() => answered >= 20, 'the load runs');
      const result = await d!.orchestrator.migrate(dep.id, '0', b!.peer.id);
      const after = answered;
      await waitFor(() => answered >= after + 20, 'the load runs on after the move');
      stop = true;
      const answers = await Promise.all(callers);
      for (const got of answers) expect(got, 'each caller sees increasing values').to.deep.equal([...got].sort((x, y) => x - y));
      const all = answers.flat().sort((x, y) => x - y);
      expect(all, 'every call answered once, none lost, none twice').to.deep.equal(Array.from({ length: all.length }, (_, i) => i + 1));
      expect(result.to).to.equal(b!.peer.id);
      expect(answers.every((got) => got.length > 0)).to.equal(true);
    });

    it('keeps serving on the source with its state when the target dies mid-migration', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'stateful-fibo');
      const dep = await deployOn(a!, 'fib', [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'a' }]);
      expect([await fib(c!, dep.id), await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([1, 2, 3]);
      const off = a!.peer.registry.on('change', () => {
        if (a!.peer.registry.deployments.get(dep.id)?.record.migration?.phase !== 'transferring') return;
        off();
        void testMesh.kill(b!);
      });
      const failed = await rejectionOf(c!.orchestrator.migrate(dep.id, 'stateful-fibo', 'b'));
      off();
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(placed(a!, dep.id)).to.equal(a!.peer.id);
      expect(a!.peer.registry.deployments.get(dep.id)?.record.migration?.phase).to.equal('failed');
      expect([await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([5, 8]);
    });

    it('refuses a corrupted snapshot and a foreign one; the source serves on from its state', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'stateful-fibo');
      await publish(a!, 'counter-c');
      const dep = await deployOn(a!, 'fib', [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'a' }]);
      // b fetches the module blobs while they are served intact, then the snapshot arrives corrupted.
      await b!.peer.fetchBlob(c!.orchestrator.packages.resolve('stateful-fibo').id);
      expect([await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([1, 2]);
      // Corrupt the delta a ships once calls are held.
      let corrupt = true;
      corruptCommits(a!.peer, () => corrupt);
      const bad = await rejectionOf(c!.orchestrator.migrate('fib', 'stateful-fibo', 'b'));
      corrupt = false;
      expect(bad.code).to.equal('ERR_MIGRATION_FAILED');
      expect(bad.message).to.contain('ERR_HASH_MISMATCH');
      expect(placed(a!, dep.id)).to.equal(a!.peer.id);
      expect(await fib(c!, dep.id)).to.equal(3);
      // A snapshot of another module is refused by the target by name.
      const step = a!.peer.registry.deployments.get(dep.id)!.record.steps![0]!;
      const counter = a!.orchestrator.packages.resolve('counter-c');
      const foreignBytes = encodeSnapshot({ moduleId: counter.id, pages: {}, memoryPages: 1, globals: {}, files: {} });
      const foreign = await a!.peer.store.blobs.put(foreignBytes);
      // A prepare whose base (one part) is the snapshot `data`.
      const prepare = async (data: Uint8Array) => {
        const prepared = a!.peer.call(b!.peer.id, 'migration.prepare', { migrationId: 'foreign', deploymentId: dep.id, module: step.name, step, timeoutMs: 5000 });
        await a!.peer.call(b!.peer.id, 'migration.part', { migrationId: 'foreign', deploymentId: dep.id, index: 0, parts: 1, snapshot: await sha256Hex(data), data });
        return prepared;
      };
      expect((await rejectionOf(prepare(foreignBytes))).code).to.equal('ERR_SNAPSHOT_MISMATCH');
      await prepare(encodeSnapshot(await a!.supervisor.instance(dep.id, step.name).snapshot()));
      const mismatch = await rejectionOf(a!.peer.call(b!.peer.id, 'migration.commit', { migrationId: 'foreign', snapshot: foreign, bytes: 0, subscriptions: [] }));
      expect(mismatch.code).to.equal('ERR_SNAPSHOT_MISMATCH');
      expect((await a!.peer.call(b!.peer.id, 'migration.abort', { migrationId: 'foreign' })).aborted).to.equal(true);
      expect(runs(b!, dep.id, 'stateful-fibo')).to.equal(false);
      expect([await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([5, 8]);
      expect((await rejectionOf(c!.orchestrator.migrate('fib', 'nope', 'b'))).code).to.equal('ERR_UNKNOWN_MODULE');
      expect((await rejectionOf(c!.orchestrator.migrate('fib', 'stateful-fibo', 'nowhere'))).code).to.equal('ERR_UNKNOWN_DEVICE');
    });

    it('clones: both copies answer from the same state onwards, and the registry records the replica', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'stateful-fibo');
      const dep = await deployOn(a!, 'fib', [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'a' }]);
      expect([await fib(c!, dep.id), await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([1, 2, 3]);
      const result = await c!.orchestrator.migrate(dep.id, 'stateful-fibo', 'b', { mode: 'clone' });
      expect(result.mode).to.equal('clone');
      await waitFor(() => c!.peer.registry.deployments.get(dep.id)?.record.replicas?.['0']?.includes(b!.peer.id) === true, 'the replica reaches c');
      expect(placed(c!, dep.id)).to.equal(a!.peer.id);
      // Each peer that runs a copy calls its own; another peer picks one with `peer`.
      expect(await fib(a!, dep.id)).to.equal(5);
      expect(await fib(b!, dep.id)).to.equal(5);
      expect(await fib(c!, dep.id, { peer: b!.peer.id })).to.equal(8);
      expect(await fib(c!, dep.id)).to.equal(8);
      await waitFor(() => c!.orchestrator.get(dep.id).phases[`0/${b!.peer.id}`]?.phase === 'ready', 'the clone is ready');
      expect(runs(a!, dep.id, 'stateful-fibo') && runs(b!, dep.id, 'stateful-fibo')).to.equal(true);
    });

    it('moves a Rust command module (no _start, no _initialize) with its state, and it keeps using WASI', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'rust-fibo');
      const dep = await deployOn(a!, 'rust', [{ module: 'rust-fibo', func: 'stateful_fibo', device: 'a' }]);
      const next = () => c!.orchestrator.call(dep.id, 'rust-fibo', 'stateful_fibo').then((o) => o.value);
      expect([await next(), await next(), await next()]).to.deep.equal([1, 2, 3]);
      const result = await c!.orchestrator.migrate('rust', 'rust-fibo', 'b');
      expect(result).to.include({ from: a!.peer.id, to: b!.peer.id, mode: 'move' });
      await waitFor(() => placed(c!, dep.id) === b!.peer.id, 'the routing reaches c');
      expect([await next(), await next()]).to.deep.equal([5, 8]);
      expect((await c!.orchestrator.call(dep.id, 'rust-fibo', 'fibo', { args: [12] })).value).to.equal(233);
      // A negative n goes through WASI (stderr, proc_exit) on the restored instance.
      expect((await rejectionOf(c!.orchestrator.call(dep.id, 'rust-fibo', 'fibo', { args: [-1] }))).code).to.equal('ERR_WASM_EXIT');
    });

    it('moves a Rust reactor and an Emscripten module with their state', async () => {
      const [a, b] = await mesh(['a', 'b']);
      await publish(a!, 'rust-reactor');
      await publish(a!, 'emcc-fibo');
      const dep = await deployOn(a!, 'toolchains', [
        { module: 'rust-reactor', func: 'add', device: 'a' },
        { module: 'emcc-fibo', func: 'fibo', device: 'a' },
      ]);
      for (const [x, y] of [[1, 2], [3, 4], [5, 6]]) await a!.orchestrator.call(dep.id, 'rust-reactor', 'add', { args: [x, y] });
      const results = await b!.orchestrator.followMe('toolchains', 'b');
      expect(results.map((r) => r.to)).to.deep.equal([b!.peer.id, b!.peer.id]);
      await waitFor(() => placed(a!, dep.id) === b!.peer.id && placed(a!, dep.id, '1') === b!.peer.id, 'a sees both moved');
      expect((await a!.orchestrator.call(dep.id, 'rust-reactor', 'calls')).value).to.equal(3);
      const greet = await a!.orchestrator.call(dep.id, 'rust-reactor', 'greet');
      expect(greet.stdout).to.equal('hello from a Rust reactor, 3 adds so far\n');
      expect((await a!.orchestrator.call(dep.id, 'emcc-fibo', 'fibo', { args: [20] })).value).to.equal(10946);
    });

    it('follows me: every module of a deployment moves to one device, C and AssemblyScript state intact', async () => {
      const [a, b, c] = await mesh(['a', 'b', 'c']);
      await publish(a!, 'stateful-fibo');
      await publish(a!, 'counter-c');
      const dep = await deployOn(a!, 'pair', [
        { module: 'counter-c', func: 'next', device: 'a' },
        { module: 'stateful-fibo', func: 'stateful_fibo', device: 'b' },
      ]);
      const next = () => c!.orchestrator.call(dep.id, 'counter-c', 'next').then((o) => o.value);
      expect([await next(), await next(), await next()]).to.deep.equal([1, 2, 3]);
      await c!.orchestrator.call(dep.id, 'counter-c', 'fill', { args: [2048] });
      const sum = (await c!.orchestrator.call(dep.id, 'counter-c', 'checksum')).value;
      expect([await fib(c!, dep.id), await fib(c!, dep.id)]).to.deep.equal([1, 2]);
      const results = await a!.orchestrator.followMe('pair', 'c');
      expect(results.map((r) => [r.module, r.to])).to.deep.equal([['counter-c', c!.peer.id], ['stateful-fibo', c!.peer.id]]);
      // The 2 MiB heap repeats one pattern: a few pages travel, the rest as references to them.
      expect(results[0]!.snapshotBytes).to.be.greaterThan(64 * 1024).and.lessThan(2048 * 1024);
      const record = c!.orchestrator.get(dep.id).record;
      expect(record.solution).to.deep.equal({ '0': c!.peer.id, '1': c!.peer.id });
      expect((await c!.orchestrator.call(dep.id, 'counter-c', 'checksum')).value).to.equal(sum);
      expect([await next(), await next()]).to.deep.equal([5, 8]);
      expect(await fib(c!, dep.id)).to.equal(3);
      await waitFor(() => !runs(a!, dep.id, 'counter-c') && !runs(b!, dep.id, 'stateful-fibo'), 'the sources unload');
      const executed = await a!.orchestrator.execute(dep.id);
      expect(executed.steps.map((s) => s.peer)).to.deep.equal([c!.peer.id, c!.peer.id]);
    });
  });
}

/**
 * The base snapshot of a live migration in parts, over any Sandbox adapter: a state cut
 * in parts and restored one part after another is the state restored whole; a move of
 * state that does not repeat travels in several parts and arrives intact; a part that
 * arrives corrupted, numbered wrong or not at all fails the move by name, the source
 * serves on from its own state and the target keeps nothing. Over a direct link the
 * parts stream as bulk pieces: pieces out of order, twice, cut short or for a part the
 * base lacks fail the move as malformed, and a third peer's pieces are dropped. Real
 * peers, registries and workers on the in-memory network.
 */
import { expect } from 'chai';
import { sha256Hex } from '../../shared/bytes.ts';
import { MethodNotFoundError, RpcTimeoutError } from '../../shared/errors.ts';
import type { InstanceSnapshot } from '../../shared/ports/sandbox.ts';
import { BASE_PART_PAGES, type MigrationPart, PART_STRIDE } from '../../shared/orchestrator/migration-base.ts';
import { decodeSnapshot, encodeSnapshot } from '../../shared/sandbox/snapshot.ts';
import { joinParts, splitSnapshot } from '../../shared/sandbox/snapshot-parts.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { MigrationHarness } from './migration.ts';
import { publishModule, TestMesh } from './test-mesh.ts';
import { rejectionOf, waitFor } from './wait.ts';

const scalar = (fn: string, ...args: number[]) => ({ fn, convention: { kind: 'scalar' as const, args } });

/**
 * `snapshot` with every page that repeats the one before it (counter-c's heap pattern)
 * replaced by random bytes: a state that does not repeat, so it travels page by page.
 */
function scrambled(snapshot: InstanceSnapshot): InstanceSnapshot {
  const pages = { ...snapshot.pages };
  const keys = Object.keys(pages).map(Number).sort((a, b) => a - b);
  for (const p of keys) {
    if (snapshot.pages[p] !== snapshot.pages[p - 1]) continue;
    const page = new Uint8Array(65536);
    // getRandomValues fills at most 64 KiB per call.
    crypto.getRandomValues(page);
    pages[p] = page;
  }
  return { ...snapshot, pages };
}

/** Run the base-in-parts suite against `harness`. */
export function runBasePartTests(harness: MigrationHarness): void {
  describe(`Migration base in parts on ${harness.name}`, function () {
    let testMesh: TestMesh;
    beforeEach(() => {
      testMesh = new TestMesh(harness.sandbox, { ...(harness.sha256 ? { sha256: harness.sha256 } : {}), ...(harness.deflate ? { deflate: harness.deflate } : {}) });
    });
    afterEach(async () => {
      await testMesh.stop();
    });

    /** counter-c on a, 4 MiB of heap that does not repeat, as c sees it; its checksum. */
    const denseCounter = async (by: SupervisedPeer): Promise<{ dep: string; checksum: unknown }> => {
      await publishModule(by, 'counter-c', harness.moduleFile);
      const dep = by.orchestrator.deploy({ name: 'dense', sequence: [{ module: 'counter-c', func: 'next', device: 'a' }] });
      await by.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 15_000);
      for (const q of testMesh.peers) await waitFor(() => q.peer.registry.deployments.get(dep.id)?.record.status === 'ready', 'every peer sees it ready');
      await by.orchestrator.call(dep.id, 'counter-c', 'fill', { args: [4096] });
      await by.orchestrator.call(dep.id, 'counter-c', 'next');
      const instance = by.supervisor.instance(dep.id, 'counter-c');
      await instance.restore(scrambled(await instance.snapshot()));
      return { dep: dep.id, checksum: (await by.orchestrator.call(dep.id, 'counter-c', 'checksum')).value };
    };
    /**
     * Make `source` pass each `migration.part` it sends through `change` (undefined: the
     * part is lost); returns the undo. The parts travel inline, as to a target of an
     * earlier build, which does not know `migration.stream` (the streamed path's hostile
     * cases are in migration-bulk.ts).
     */
    const tamper = (source: SupervisedPeer, change: (part: MigrationPart) => MigrationPart | undefined): (() => void) => {
      const original = source.peer.call;
      const send = original.bind(source.peer);
      source.peer.call = ((to, method, params, options) => {
        if (method === 'migration.stream') return Promise.reject(new MethodNotFoundError('no method migration.stream'));
        if (method !== 'migration.part') return send(to, method, params, options);
        const part = change({ ...(params as MigrationPart), data: (params as MigrationPart).data!.slice() });
        // Lost on the way: the source's call for it times out.
        if (!part) return Promise.reject(new RpcTimeoutError('migration.part got no answer'));
        return send(to, method, part as typeof params, options);
      }) as typeof source.peer.call;
      return () => {
        source.peer.call = original;
      };
    };
    /** After a failed move: a serves on from its own state, b keeps nothing. */
    const servesOn = async (a: SupervisedPeer, b: SupervisedPeer, c: SupervisedPeer, dep: string, checksum: unknown): Promise<void> => {
      expect(a.peer.registry.deployments.get(dep)?.record.solution['0']).to.equal(a.peer.id);
      expect(a.peer.registry.deployments.get(dep)?.record.migration?.phase).to.equal('failed');
      await waitFor(() => !b.supervisor.deployed().some((d) => d.deploymentId === dep), 'b drops what it staged');
      expect((await c.orchestrator.call(dep, 'counter-c', 'checksum')).value, 'the source’s state as it was').to.equal(checksum);
      expect(Number((await c.orchestrator.call(dep, 'counter-c', 'next')).value), 'the counter goes on').to.equal(2);
    };

    it('restores a state cut in parts, one part after another, exactly as the state restored whole', async () => {
      const sandbox = harness.sandbox();
      try {
        const wasm = await harness.moduleFile('counter-c/counter-c.wasm');
        const source = await sandbox.load({ wasm, grants: [] });
        await source.call(scalar('fill', 2048));
        await source.call(scalar('next'));
        await source.restore(scrambled(await source.snapshot()));
        const sum = (await source.call(scalar('checksum'))).value;
        const snapshot = await source.snapshot();
        const parts = splitSnapshot(snapshot, BASE_PART_PAGES);
        expect(parts.length, '2 MiB that does not repeat: more than one part').to.be.greaterThan(1);
        expect(parts.slice(1).every((p) => p.part === true && Object.keys(p.globals).length === 0)).to.equal(true);
        const whole = await sandbox.load({ wasm, grants: [] });
        await whole.restore(decodeSnapshot(encodeSnapshot(snapshot)));
        // The target's memory holds bytes of its own first: the first part clears them.
        const inParts = await sandbox.load({ wasm, grants: [] });
        await inParts.call(scalar('fill', 3072));
        for (const part of parts) await inParts.restore(decodeSnapshot(encodeSnapshot(part)));
        // Memory does not shrink: the target keeps its larger size, with zeros past the state.
        const restored = await inParts.snapshot();
        expect(restored.memoryPages).to.be.at.least(snapshot.memoryPages);
        expect(await sha256Hex(encodeSnapshot({ ...restored, memoryPages: snapshot.memoryPages })), 'the same pages, globals, files').to.equal(await sha256Hex(encodeSnapshot(await whole.snapshot())));
        expect((await inParts.call(scalar('checksum'))).value).to.equal(sum);
        // Parts that arrived together are restored in one step, joined: the same state.
        const joined = await sandbox.load({ wasm, grants: [] });
        await joined.call(scalar('fill', 3072));
        await joined.restore(joinParts(parts.slice(0, 2).map((p) => decodeSnapshot(encodeSnapshot(p)))));
        if (parts.length > 2) await joined.restore(joinParts(parts.slice(2).map((p) => decodeSnapshot(encodeSnapshot(p)))));
        expect(await sha256Hex(encodeSnapshot({ ...(await joined.snapshot()), memoryPages: snapshot.memoryPages })), 'joined parts: the same state').to.equal(await sha256Hex(encodeSnapshot(await whole.snapshot())));
        expect((await joined.call(scalar('checksum'))).value).to.equal(sum);
        expect((await inParts.call(scalar('next'))).value).to.equal((await whole.call(scalar('next'))).value);
        // A part is pages only, and says so: as a whole snapshot it does not decode.
        const part = encodeSnapshot(parts[1]!);
        part[4] = 2;
        expect(() => decodeSnapshot(part)).to.throw().with.property('code', 'ERR_SNAPSHOT_INVALID');
      } finally {
        await sandbox.close();
      }
    });

    it('moves 4 MiB that does not repeat in parts, each restored as it arrives, and the state arrives whole', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      const result = await c!.orchestrator.migrate(dep, 'counter-c', 'b');
      expect(result.baseParts, 'several parts of 1 MiB').to.be.at.least(4);
      expect(result.snapshotBytes).to.be.greaterThan(4 * 1024 * 1024);
      await waitFor(() => c!.peer.registry.deployments.get(dep)?.record.solution['0'] === b!.peer.id, 'the routing reaches c');
      expect((await c!.orchestrator.call(dep, 'counter-c', 'checksum')).value).to.equal(checksum);
      expect(Number((await c!.orchestrator.call(dep, 'counter-c', 'next')).value)).to.equal(2);
    });

    it('refuses a part that arrives corrupted by its hash: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      tamper(a!, (part) => {
        if (part.index === 2) part.data![part.data!.byteLength - 1]! ^= 0xff;
        return part;
      });
      const failed = await rejectionOf(c!.orchestrator.migrate(dep, 'counter-c', 'b'));
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(failed.message).to.contain('ERR_HASH_MISMATCH');
      await servesOn(a!, b!, c!, dep, checksum);
    });

    it('fails the move by name when a part is lost or numbered wrong: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      const undo = tamper(a!, (part) => (part.index === 1 ? undefined : part));
      const lost = await rejectionOf(c!.orchestrator.migrate(dep, 'counter-c', 'b'));
      undo();
      expect(lost.code).to.equal('ERR_MIGRATION_FAILED');
      expect(lost.message).to.contain('ERR_RPC_TIMEOUT');
      await servesOn(a!, b!, c!, dep, checksum);
      const after = (await c!.orchestrator.call(dep, 'counter-c', 'checksum')).value;
      // The same part sent twice in place of another.
      tamper(a!, (part) => (part.index === 2 ? { ...part, index: 1 } : part));
      const twice = await rejectionOf(c!.orchestrator.migrate(dep, 'counter-c', 'b'));
      expect(twice.code).to.equal('ERR_MIGRATION_FAILED');
      expect(twice.message).to.contain('ERR_SNAPSHOT_INVALID');
      expect(a!.peer.registry.deployments.get(dep)?.record.solution['0']).to.equal(a!.peer.id);
      await waitFor(() => !b!.supervisor.deployed().some((d) => d.deploymentId === dep), 'b drops what it staged');
      expect((await c!.orchestrator.call(dep, 'counter-c', 'checksum')).value).to.equal(after);
    });

    /**
     * Make `source` send the base's bulk pieces through `send` in place of its own
     * `sendBulk` (which `send` gets to call); returns the undo. `sent` counts the parts
     * whose pieces went out.
     */
    const onBulk = (
      source: SupervisedPeer,
      send: (real: SupervisedPeer['peer']['sendBulk'], to: string, stream: number, at: number, bytes: Uint8Array) => Promise<void>,
    ): { sent: number; undo: () => void } => {
      const original = source.peer.sendBulk;
      const real = original.bind(source.peer);
      const parts = new Set<number>();
      const counter = { sent: 0, undo: () => void (source.peer.sendBulk = original) };
      // A part may go as several runs of pieces (its header, then its pages): parts are counted.
      source.peer.sendBulk = (to, stream, at, bytes) => {
        parts.add(Math.floor(at / PART_STRIDE));
        counter.sent = parts.size;
        return send(real, to, stream, at, bytes);
      };
      return counter;
    };
    /** The move fails by ERR_MALFORMED_MESSAGE; a serves on, b keeps nothing. */
    const refusedAsMalformed = async (a: SupervisedPeer, b: SupervisedPeer, c: SupervisedPeer, dep: string, checksum: unknown): Promise<void> => {
      const failed = await rejectionOf(c.orchestrator.migrate(dep, 'counter-c', 'b'));
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(failed.message).to.contain('ERR_MALFORMED_MESSAGE');
      await servesOn(a, b, c, dep, checksum);
    };

    it('streams the parts as bulk pieces over the direct link and the state arrives whole; a third peer’s pieces on the stream are dropped', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      let injected = 0;
      const bulk = onBulk(a!, async (real, to, stream, at, bytes) => {
        if (at === PART_STRIDE) {
          // c writes junk where part 1 goes on b's stream, just before a does: taken, it
          // would spoil the part (wrong bytes, or a's pieces no longer continuing it).
          await c!.peer.sendBulk(b!.peer.id, stream, at, new Uint8Array(4096).fill(7));
          injected++;
        }
        return real(to, stream, at, bytes);
      });
      const result = await c!.orchestrator.migrate(dep, 'counter-c', 'b');
      bulk.undo();
      expect(bulk.sent, 'every part streamed').to.equal(result.baseParts);
      expect(injected).to.equal(1);
      await waitFor(() => c!.peer.registry.deployments.get(dep)?.record.solution['0'] === b!.peer.id, 'the routing reaches c');
      expect((await c!.orchestrator.call(dep, 'counter-c', 'checksum')).value).to.equal(checksum);
      expect(Number((await c!.orchestrator.call(dep, 'counter-c', 'next')).value)).to.equal(2);
    });

    it('refuses streamed pieces out of their part’s order: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      // Part 1 sent from its 8th byte: a gap.
      onBulk(a!, (real, to, stream, at, bytes) => (at === PART_STRIDE ? real(to, stream, at + 7, bytes.subarray(7)) : real(to, stream, at, bytes)));
      await refusedAsMalformed(a!, b!, c!, dep, checksum);
    });

    it('refuses a part’s pieces sent twice: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      onBulk(a!, async (real, to, stream, at, bytes) => {
        await real(to, stream, at, bytes);
        if (at === 2 * PART_STRIDE) await real(to, stream, at, bytes);
      });
      await refusedAsMalformed(a!, b!, c!, dep, checksum);
    });

    it('refuses a streamed part cut short: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      onBulk(a!, (real, to, stream, at, bytes) => real(to, stream, at, at === PART_STRIDE ? bytes.subarray(0, bytes.byteLength - 100) : bytes));
      await refusedAsMalformed(a!, b!, c!, dep, checksum);
    });

    it('refuses a streamed part whose bytes changed on the way by its hash (taken as the pieces arrive where the peer hashes incrementally): the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      // Part 1 arrives whole and in order, one byte in its middle flipped.
      onBulk(a!, (real, to, stream, at, bytes) => {
        if (at !== PART_STRIDE) return real(to, stream, at, bytes);
        const changed = bytes.slice();
        changed[changed.byteLength >> 1]! ^= 0x01;
        return real(to, stream, at, changed);
      });
      const failed = await rejectionOf(c!.orchestrator.migrate(dep, 'counter-c', 'b'));
      expect(failed.code).to.equal('ERR_MIGRATION_FAILED');
      expect(failed.message).to.contain('ERR_HASH_MISMATCH');
      await servesOn(a!, b!, c!, dep, checksum);
    });

    it('refuses pieces of a part the base does not have: the source serves on, the target keeps nothing', async () => {
      const [a, b, c] = await testMesh.start(['a', 'b', 'c']);
      const { dep, checksum } = await denseCounter(a!);
      // Pieces where part 1000 would go, in a base of a few parts.
      onBulk(a!, async (real, to, stream, at, bytes) => {
        if (at === 0) await real(to, stream, 1000 * PART_STRIDE, bytes.subarray(0, 1024));
        return real(to, stream, at, bytes);
      });
      await refusedAsMalformed(a!, b!, c!, dep, checksum);
    });
  });
}

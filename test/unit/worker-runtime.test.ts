/**
 * The parts of the sandbox worker's runtime, each in the test's own thread (no worker):
 * the calling conventions, the state copies, and the message loop over a port pair.
 */
import { expect } from 'chai';
import type { CallRequest, InstanceSnapshot } from '../../shared/ports/sandbox.ts';
import { answersOf, callsMessage } from '../../shared/sandbox/call-packing.ts';
import { runCall } from '../../shared/sandbox/conventions.ts';
import { CONTROL_RELIED, type HostToWorker, type StateRef, STATE_TURNS, type WorkerToHost } from '../../shared/sandbox/protocol.ts';
import { runSandboxWorker } from '../../shared/sandbox/runtime.ts';
import { StateCopies } from '../../shared/sandbox/state-copies.ts';
import { spareFaultSpan } from '../../shared/sandbox/worker-instance.ts';
import type { Unit } from '../../shared/sandbox/unit.ts';
import { COUNTER_WAT, initFor, unitOf } from '../helpers/worker-units.ts';

const i32At = (unit: Unit, at: number): number => new DataView(unit.memory!.buffer).getInt32(at, true);
const call = (unit: Unit, request: CallRequest) => runCall(unit, request);
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('Calling conventions', () => {
  it('scalar: numbers in, the number out', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    expect(call(unit, { fn: 'add', convention: { kind: 'scalar', args: [2, 40] } }).value).to.equal(42);
  });

  it('bytes: the input where alloc says, the output where the function points, its length through the pointer', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    const result = call(unit, { fn: 'echo', convention: { kind: 'bytes', alloc: 'alloc', input: new Uint8Array([5, 6, 7]) } });
    expect([...result.bytes!]).to.deep.equal([5, 6, 7]);
  });

  it('buffer: written at the module pointer, changed in place, read back', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    const result = call(unit, { fn: 'double', convention: { kind: 'buffer', pointer: 'buf', input: new Uint8Array([21, 1]) } });
    expect([...result.bytes!]).to.deep.equal([42, 1]);
  });

  it('message: topic and data by pointer and length', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    expect(call(unit, { fn: 'sum2', convention: { kind: 'message', alloc: 'alloc', topic: 'héllo', data: new Uint8Array(10) } }).value).to.equal(16);
  });

  it('buffers: each input by pointer and length', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    expect(call(unit, { fn: 'sum2', convention: { kind: 'buffers', alloc: 'alloc', inputs: [new Uint8Array(3), new Uint8Array(4)] } }).value).to.equal(7);
  });

  it('refuses a convention it does not know, or a function the module lacks, by name', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    const hostile = { fn: 'add', convention: { kind: 'toString' } } as unknown as CallRequest;
    expect(codeOf(() => call(unit, hostile))).to.equal('ERR_FUNCTION_NOT_FOUND');
    expect(codeOf(() => call(unit, { fn: 'nope', convention: { kind: 'scalar', args: [] } }))).to.equal('ERR_FUNCTION_NOT_FOUND');
  });

  it('feeds the call its files, and returns as outputs only files the call itself wrote', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    call(unit, { fn: 'add', convention: { kind: 'scalar', args: [1, 1] }, files: { in: new Uint8Array([1]), stale: new Uint8Array([2]) } });
    expect([...unit.dir.dir.contents.keys()].sort()).to.deep.equal(['in', 'stale']);
    const result = call(unit, { fn: 'add', convention: { kind: 'scalar', args: [1, 1] }, outputs: ['stale'] });
    expect(result.files).to.deep.equal({});
  });
});

/** State copies for `unit` whose every turn has been copied and handed over once (so the next copy moves only what changed). */
function settledCopies(unit: Unit): StateCopies {
  const control = new Int32Array(new SharedArrayBuffer(16));
  control[CONTROL_RELIED] = -1;
  const copies = new StateCopies(control, true);
  for (let i = 0; i < STATE_TURNS; i++) {
    copies.copy(unit);
    copies.handOver();
  }
  return copies;
}

describe('State copies', () => {
  for (const track of [true, false]) {
    describe(track ? 'a module whose writes are tracked' : 'an untracked module', () => {
      it('copies memory and globals after a call, and hands each buffer over once', async () => {
        const { unit } = await unitOf(COUNTER_WAT, undefined, { track });
        const control = new Int32Array(new SharedArrayBuffer(16));
        control[CONTROL_RELIED] = -1;
        const copies = new StateCopies(control, true);
        const refs: StateRef[] = [];
        for (let i = 0; i < STATE_TURNS + 2; i++) {
          call(unit, { fn: 'inc', convention: { kind: 'scalar', args: [] } });
          copies.copy(unit);
          const copy = copies.lastGood!;
          expect(new DataView(copy.memory).getInt32(100, true)).to.equal(i + 1);
          expect(Object.values(copy.globals)).to.include(i + 1);
          refs.push(copies.handOver()!);
        }
        // Each turn's buffer travels the first time it is named, never again.
        const named = refs.filter((r) => r.memory).map((r) => r.turn);
        expect(new Set(named).size).to.equal(named.length);
        expect(refs.every((r, i) => i === 0 || r.turn !== refs[i - 1]!.turn)).to.equal(true);
      });

      it('never writes the turn the host relies on', async () => {
        const { unit } = await unitOf(COUNTER_WAT, undefined, { track });
        const control = new Int32Array(new SharedArrayBuffer(16));
        control[CONTROL_RELIED] = -1;
        const copies = new StateCopies(control, true);
        copies.copy(unit);
        const relied = copies.handOver()!;
        control[CONTROL_RELIED] = relied.turn;
        const kept = new Uint8Array(copies.lastGood!.memory).slice();
        for (let i = 0; i < 6; i++) {
          call(unit, { fn: 'inc', convention: { kind: 'scalar', args: [] } });
          copies.copy(unit);
          expect(copies.handOver()!.turn).to.not.equal(relied.turn);
        }
        expect(i32At(unit, 100)).to.equal(6);
        expect(new DataView(kept.buffer).getInt32(100, true)).to.equal(0);
      });

      it('rolls a failed call back to the last good state, grown pages zeroed', async () => {
        const { unit } = await unitOf(COUNTER_WAT, undefined, { track });
        const control = new Int32Array(new SharedArrayBuffer(16));
        control[CONTROL_RELIED] = -1;
        const copies = new StateCopies(control, true);
        call(unit, { fn: 'inc', convention: { kind: 'scalar', args: [] } });
        copies.copy(unit);
        expect(() => call(unit, { fn: 'incThenFail', convention: { kind: 'scalar', args: [] } })).to.throw(WebAssembly.RuntimeError);
        expect(i32At(unit, 100)).to.equal(2);
        copies.rollback(unit);
        expect(i32At(unit, 100)).to.equal(1);
        expect(call(unit, { fn: 'inc', convention: { kind: 'scalar', args: [] } }).value).to.equal(2);
      });

      it('keeps what WASI wrote for a call in its copy, and no more than WASI may have written', async () => {
        // `read` reads the file "in" into page 3 through WASI; `now` asks the clock for a
        // time at byte 256. The module's own stores touch neither.
        const source = `(module
          (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
          (memory (export "memory") 8)
          (data (i32.const 512) "in")
          (data (i32.const 600) "\\00\\00\\03\\00\\10\\00\\00\\00")
          (func (export "read") (result i32)
            (drop (call $open (i32.const 3) (i32.const 0) (i32.const 512) (i32.const 2) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 700)))
            (call $read (i32.load (i32.const 700)) (i32.const 600) (i32.const 1) (i32.const 704)))
          (func (export "now") (result i32) (call $clock (i32.const 0) (i64.const 0) (i32.const 256))))`;
        const { unit } = await unitOf(source, undefined, { track });
        const copies = settledCopies(unit);
        const text = new TextEncoder().encode('sixteen bytes in');
        expect(call(unit, { fn: 'read', convention: { kind: 'scalar', args: [] }, files: { in: text } }).value).to.equal(0);
        copies.copy(unit);
        expect([...new Uint8Array(copies.lastGood!.memory, 0x30000, 16)]).to.deep.equal([...text]);
        copies.handOver();
        // Changed behind the span's back: a copy takes it only if the call counts as writing everything.
        new Uint8Array(unit.memory!.buffer)[0x50000] = 77;
        expect(call(unit, { fn: 'now', convention: { kind: 'scalar', args: [] } }).value).to.equal(0);
        copies.copy(unit);
        const copy = new Uint8Array(copies.lastGood!.memory);
        expect(new DataView(copy.buffer).getBigUint64(256, true)).to.not.equal(0n);
        expect(copy[0x50000]).to.equal(track ? 0 : 77);
      });

      it('after the state is replaced, the next copy takes all of memory again', async () => {
        const { unit } = await unitOf(COUNTER_WAT, undefined, { track });
        const copies = settledCopies(unit);
        // Written behind the span's back, as a restore does.
        new Uint8Array(unit.memory!.buffer)[5000] = 77;
        copies.replaced(unit);
        copies.copy(unit);
        expect(new Uint8Array(copies.lastGood!.memory)[5000]).to.equal(77);
      });
    });
  }

  it('keeps nothing when the instance is not tracked for resumption', async () => {
    const { unit } = await unitOf(COUNTER_WAT);
    const copies = new StateCopies(new Int32Array(new SharedArrayBuffer(16)), false);
    copies.copy(unit);
    expect(copies.lastGood).to.equal(null);
    expect(copies.handOver()).to.equal(undefined);
  });
});

describe('Worker message loop (in this thread)', () => {
  /** A port pair: the loop's side, and what it posted. */
  function port() {
    const posted: WorkerToHost[] = [];
    let handler: ((m: HostToWorker) => void) | null = null;
    runSandboxWorker({ post: (m) => void posted.push(m), onMessage: (h) => void (handler = h) });
    return { posted, send: (m: HostToWorker) => handler!(m) };
  }

  it('answers ready, then the calls of one message together with the state after them', async () => {
    const init = await initFor(COUNTER_WAT);
    const { posted, send } = port();
    send(init);
    expect(posted[0]!.t).to.equal('ready');
    send({ t: 'calls', first: 0, requests: [0, 1, 2].map(() => ({ fn: 'inc', convention: { kind: 'scalar', args: [] } })) });
    expect(posted).to.have.length(2);
    const answers = posted[1] as Extract<WorkerToHost, { t: 'answers' }>;
    // Three successes with a value each: they travel packed, as values alone.
    expect(answers).to.have.property('values');
    expect(answersOf(answers).map((a) => (a.ok ? a.value : a.error.code))).to.deep.equal([1, 2, 3]);
    expect(answers.state!.globals).to.include(3);
  });

  it('a failed call is answered by name and leaves no trace', async () => {
    const init = await initFor(COUNTER_WAT);
    const { posted, send } = port();
    send(init);
    // Packed as the host packs them; a failure among the answers sends them all as objects.
    send(callsMessage(0, ['inc', 'incThenFail', 'inc'].map((fn) => ({ fn, convention: { kind: 'scalar', args: [] } })), false));
    const message = posted[1] as Extract<WorkerToHost, { t: 'answers' }>;
    expect(message).to.have.property('answers');
    expect(answersOf(message).map((a) => (a.ok ? a.value : a.error.code))).to.deep.equal([1, 'ERR_WASM_TRAP', 2]);
  });

  it('takes a snapshot and restores it into another instance of the module', async () => {
    const a = port();
    a.send(await initFor(COUNTER_WAT));
    a.send({ t: 'calls', first: 0, requests: [0, 1, 2, 3].map(() => ({ fn: 'inc', convention: { kind: 'scalar', args: [] } })) });
    a.send({ t: 'snapshot', id: 7 });
    const snap = a.posted.at(-1) as Extract<WorkerToHost, { t: 'snapshot' }>;
    expect(snap.id).to.equal(7);
    const b = port();
    b.send(await initFor(COUNTER_WAT));
    b.send({ t: 'restore', id: 8, snapshot: { ...snap.snapshot, moduleId: 'counter' } });
    expect(b.posted.at(-1)).to.include({ t: 'done', id: 8 }).and.not.have.property('error');
    b.send({ t: 'calls', first: 0, requests: [{ fn: 'inc', convention: { kind: 'scalar', args: [] } }] });
    const answers = answersOf(b.posted.at(-1) as Extract<WorkerToHost, { t: 'answers' }>);
    expect(answers[0]).to.deep.include({ ok: true, value: 5 });
  });

  it('answers zeroes with new shared buffers of the size asked, zero, and none for a size no memory has', () => {
    const { posted, send } = port();
    send({ t: 'zeroes', id: 3, bytes: 2 * 65536, count: 2, lo: 0, hi: 65536 });
    const answer = posted.at(-1) as Extract<WorkerToHost, { t: 'zeroes' }>;
    expect(answer).to.include({ t: 'zeroes', id: 3 });
    expect(answer.buffers).to.have.length(2);
    expect(answer.buffers[0]).to.not.equal(answer.buffers[1]);
    for (const b of answer.buffers) {
      expect(b).to.be.instanceOf(SharedArrayBuffer);
      expect(b.byteLength).to.equal(2 * 65536);
      expect(new Uint8Array(b).every((x) => x === 0)).to.equal(true);
    }
    for (const bad of [{ bytes: 1000, count: 1 }, { bytes: 65536, count: 4 }, { bytes: 65537 * 65536, count: 1 }]) {
      send({ t: 'zeroes', id: 4, lo: 0, hi: 65536, ...bad });
      expect((posted.at(-1) as Extract<WorkerToHost, { t: 'zeroes' }>).buffers).to.deep.equal([]);
    }
  });

  it('has the spare fault in only the span a whole restore leaves non-zero, and nothing for a delta, a later part, or a snapshot claiming more memory than the instance may have', () => {
    const page = new Uint8Array(65536);
    const snapshot = (memoryPages: number, at: number[]): InstanceSnapshot => ({ moduleId: 'm', memoryPages, globals: [], files: {}, pages: Object.fromEntries(at.map((p) => [p, page])) }) as unknown as InstanceSnapshot;
    // 64 MiB of memory, pages written from 16 to 95 (5 MiB): that span, of buffers the memory's size.
    expect(spareFaultSpan(snapshot(1024, [16, 40, 95]), 4096, true)).to.deep.equal({ bytes: 1024 * 65536, lo: 16 * 65536, hi: 96 * 65536 });
    // A module whose writes are not tracked copies all of memory into each turn.
    expect(spareFaultSpan(snapshot(1024, [16]), 4096, false)).to.deep.equal({ bytes: 1024 * 65536, lo: 0, hi: 1024 * 65536 });
    // Under 4 MiB of span: not worth asking.
    expect(spareFaultSpan(snapshot(1024, [16, 40]), 4096, true)).to.equal(null);
    // Two pages 4 GiB apart from a source that lies about the memory: its restore fails, and the spare touches nothing first.
    expect(spareFaultSpan(snapshot(65536, [0, 65535]), 4096, true)).to.equal(null);
    // A delta, or a later part of a base, writes into turns readied already: nothing to ask.
    expect(spareFaultSpan({ ...snapshot(1024, [16, 95]), delta: true }, 4096, true)).to.equal(null);
    expect(spareFaultSpan({ ...snapshot(1024, [16, 95]), part: true }, 4096, true)).to.equal(null);
  });

  it('after a restore that leaves the turns for later, the prime takes the buffers it is given for them', async () => {
    const a = port();
    a.send(await initFor(COUNTER_WAT));
    // Grown, so that the restore grows the target's memory past its turns' buffers.
    a.send({ t: 'calls', first: 0, requests: ['grow', 'inc', 'inc', 'inc', 'inc'].map((fn) => ({ fn, convention: { kind: 'scalar', args: [] } })) });
    a.send({ t: 'snapshot', id: 1 });
    const snap = a.posted.at(-1) as Extract<WorkerToHost, { t: 'snapshot' }>;
    const b = port();
    const init = await initFor(COUNTER_WAT);
    // The host's part: it relies on each state a message names.
    const rely = (m: WorkerToHost): void => {
      if ((m.t === 'ready' || m.t === 'done' || m.t === 'answers') && m.state) Atomics.store(new Int32Array(init.control!), CONTROL_RELIED, m.state.turn);
    };
    b.send(init);
    rely(b.posted.at(-1)!);
    b.send({ t: 'restore', id: 2, snapshot: { ...snap.snapshot, moduleId: 'counter' }, turnsLater: true });
    expect(b.posted.at(-1)).to.include({ t: 'done', id: 2 }).and.not.have.property('error');
    rely(b.posted.at(-1)!);
    // As a spare hands them over: zero, the memory's size.
    const given = [new SharedArrayBuffer(2 * 65536), new SharedArrayBuffer(2 * 65536)];
    b.send({ t: 'prime', id: 3, buffers: [...given] });
    expect(b.posted.at(-1)).to.include({ t: 'done', id: 3 });
    // The next calls write their copies into every turn in turn: each buffer is named the
    // first time, and the two given are among them, holding the state after the call.
    const named: SharedArrayBuffer[] = [];
    for (let i = 0; i < STATE_TURNS; i++) {
      b.send({ t: 'calls', first: i, requests: [{ fn: 'inc', convention: { kind: 'scalar', args: [] } }] });
      const answer = b.posted.at(-1) as Extract<WorkerToHost, { t: 'answers' }>;
      rely(answer);
      expect(answersOf(answer)[0]).to.deep.include({ ok: true, value: 5 + i });
      const memory = answer.state?.memory;
      if (memory && given.includes(memory)) {
        named.push(memory);
        expect(new DataView(memory).getInt32(100, true)).to.equal(5 + i);
      }
    }
    expect(named).to.have.members(given);
  });

  it('refuses a snapshot naming a table the module does not have', async () => {
    const { posted, send } = port();
    send(await initFor(COUNTER_WAT));
    send({ t: 'restore', id: 1, snapshot: { moduleId: 'x', pages: {}, memoryPages: 1, globals: {}, files: {}, tables: { nope: { length: 1, slots: {} } } } });
    const done = posted.at(-1) as Extract<WorkerToHost, { t: 'done' }>;
    expect(done.error?.code).to.equal('ERR_SNAPSHOT_INVALID');
  });

  it('reports a module that cannot instantiate as failed, by name', async () => {
    const { posted, send } = port();
    send(await initFor('(module (import "env" "nope" (func)))'));
    expect(posted).to.have.length(1);
    const failed = posted[0] as Extract<WorkerToHost, { t: 'failed' }>;
    expect(failed.t).to.equal('failed');
    expect(failed.error.code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
    expect(failed.error.message).to.contain('env.nope');
    // Later messages find no instance and are dropped.
    send({ t: 'calls', first: 0, requests: [{ fn: 'inc', convention: { kind: 'scalar', args: [] } }] });
    expect(posted).to.have.length(1);
  });
});

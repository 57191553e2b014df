/**
 * The state copies a worker keeps so that a successor can resume if it is stopped, and
 * so that a failed call can be undone. Each linked unit (the app `''`, each provider by
 * name) has {@link STATE_TURNS} shared buffers. Calls write their copy into the working
 * turn, which is neither the turn last handed to the host nor the one the host relies on
 * (the control buffer says which): the copy a successor would resume from is never being
 * written. Per turn, the class keeps the range in which that turn's buffer may differ
 * from memory, so a copy of a tracked module moves only what it wrote.
 *
 * Without shared memory the host cannot see these buffers: each hand-over carries instead
 * the bytes of the copy that changed since the previous one (a `delta`), and the host keeps
 * its own copy up to date with them.
 * @module
 */
import type { WasmValue } from '../ports/sandbox.ts';
import { CONTROL_RELIED, STATE_TURNS, type StateCopy, type StateRef } from './protocol.ts';
import { EVERYTHING, NOTHING, PAGE, type Range, takeSpan, union, type Unit, writeGlobals, writeState } from './unit.ts';

/** The buffers, pending ranges and hand-over of one worker's state copies. */
export class StateCopies {
  readonly #control: Int32Array;
  readonly #track: boolean;
  /** False without shared memory: hand-overs carry deltas instead of buffers. */
  readonly #shared: boolean;
  /** STATE_TURNS buffers per unit key. */
  readonly #buffers = new Map<string, (SharedArrayBuffer | ArrayBuffer | null)[]>();
  /** Without shared memory, per unit key: what the host's copy may lack (since the last hand-over). */
  readonly #toHost = new Map<string, Range>();
  /** Per unit key and turn: the range in which that turn's buffer may differ from memory. */
  readonly #pending = new Map<string, Range[]>();
  /** Buffers a message has named already (the host keeps them). */
  readonly #handedOver = new WeakSet<SharedArrayBuffer | ArrayBuffer>();
  #working = 0;
  #handed = -1;
  #lastGood: StateCopy | null = null;
  #unsent: { copy: StateCopy; ref: StateRef } | null = null;
  /** What the app wrote since the last snapshot (everything until the first, or after a restore). */
  #sinceSnapshot: Range = EVERYTHING;
  /**
   * Outside this range the app's memory is zero: known after a whole restore (a snapshot
   * lists its non-zero pages), widened by every write since. A new buffer, zero itself,
   * then needs only this range copied.
   */
  #nonZero: Range = EVERYTHING;

  /**
   * @param control the worker's control buffer as Int32 words (CONTROL_RELIED is read from it)
   * @param track false when the instance keeps no copies (nothing to resume, no rollback)
   * @param shared false without shared memory (see the module comment)
   */
  constructor(control: Int32Array, track: boolean, shared = true) {
    this.#control = control;
    this.#track = track;
    this.#shared = shared;
    this.#chooseWorking();
  }

  /** The state after the last successful call (or at start): a failed call rolls back to it. */
  get lastGood(): StateCopy | null {
    return this.#lastGood;
  }

  /** The turn the next copy goes to. */
  get working(): number {
    return this.#working;
  }

  /** Copy the state of the app (and its providers) into the working turn; it becomes {@link lastGood}. */
  copy(l: Unit): void {
    if (!this.#track) return;
    const state = this.#copyUnit(l, '');
    // Providers' state travels with the app's: after a timeout the successor, and after a
    // failed call the rollback, put every linked instance back to the same moment.
    if (l.providers.size > 0) {
      state.copy.providers = {};
      state.ref.providers = {};
      for (const [name, p] of l.providers) {
        const unit = this.#copyUnit(p, name);
        state.copy.providers[name] = unit.copy;
        state.ref.providers[name] = unit.ref;
      }
    }
    this.#lastGood = state.copy;
    this.#unsent = state;
  }

  /**
   * Undo a failed call: a tracked unit gets back only the span it wrote, the others their
   * whole memory; pages it grew are zeroed (memory cannot shrink).
   */
  rollback(l: Unit): void {
    const s = this.#lastGood;
    if (!s) return;
    const units: [Unit, StateCopy][] = [[l, s]];
    for (const [name, p] of Object.entries(s.providers ?? {})) {
      const unit = l.providers.get(name);
      if (unit) units.push([unit, p]);
    }
    for (const [unit, copy] of units) {
      if (!unit.span) {
        writeState(unit, new Uint8Array(copy.memory, 0, copy.memoryBytes), copy.memoryBytes / PAGE, copy.globals);
        continue;
      }
      const span = takeSpan(unit);
      if (unit.memory) {
        const memory = new Uint8Array(unit.memory.buffer);
        if (memory.byteLength > copy.memoryBytes) memory.fill(0, copy.memoryBytes);
        const lo = Math.max(0, span.lo);
        const hi = Math.min(copy.memoryBytes, span.hi);
        if (lo < hi) memory.set(new Uint8Array(copy.memory, lo, hi - lo), lo);
      }
      writeGlobals(unit, copy.globals);
    }
  }

  /**
   * The range the app wrote since the last call of this method (everything when this
   * worker keeps no copies, before the first call, or after a restore); it starts over.
   * A migration's second snapshot ships only those pages.
   */
  /** {@link takeSinceSnapshot} without starting over. */
  sinceSnapshot(): Range {
    return this.#track ? this.#sinceSnapshot : EVERYTHING;
  }

  takeSinceSnapshot(): Range {
    const since = this.#track ? this.#sinceSnapshot : EVERYTHING;
    this.#sinceSnapshot = NOTHING;
    return since;
  }

  /**
   * The host replaced the app's state (restore, resume). A delta restore (`whole` false)
   * wrote only `written` and left the providers alone: every buffer may differ from
   * memory there. Otherwise every buffer may differ anywhere, and memory is zero outside
   * `written` (everything, unless a whole snapshot said which pages it holds).
   */
  replaced(l: Unit, written: Range = EVERYTHING, whole = true): void {
    this.#sinceSnapshot = EVERYTHING;
    if (!whole) {
      const app = this.#pending.get('');
      const span = l.span ? union(written, takeSpan(l)) : EVERYTHING;
      if (app) for (let t = 0; t < STATE_TURNS; t++) app[t] = union(app[t]!, span);
      if (!this.#shared) this.#toHost.set('', union(this.#toHost.get('') ?? EVERYTHING, span));
      this.#nonZero = union(this.#nonZero, span);
      return;
    }
    this.#nonZero = l.span ? written : EVERYTHING;
    for (const pending of this.#pending.values()) pending.fill(EVERYTHING);
    for (const key of this.#toHost.keys()) this.#toHost.set(key, EVERYTHING);
    for (const unit of [l, ...l.providers.values()]) if (unit.span) takeSpan(unit);
  }

  /**
   * Bring the app's turns up to date now where they would otherwise need a whole copy
   * (no buffer yet, or one smaller than memory): the next copies then move only what was
   * written since. Only turns neither handed to the host nor relied on are written — safe
   * at any time. Right after a restore the host still relies on the turn before it; a
   * second prime, once the host has taken the restored state, readies that one too, so
   * that no copy after the restore (while a migration holds calls, or the first call
   * after it) copies the whole memory. With `sync` (the host's `prime` message), turns
   * that have a buffer are brought up to date too, in the range they may differ in: a
   * base restored in parts copies each part into one turn only, and the others would
   * otherwise catch up in the restore of the delta, while calls are held. `buffers`: zero
   * shared buffers to take instead of allocating (see {@link faultedZeroes}); the caller
   * must hold no other view it writes through.
   */
  prime(l: Unit, sync = false, buffers: SharedArrayBuffer[] = []): void {
    if (!this.#track || !l.memory) return;
    const bytes = l.memory.buffer.byteLength;
    const turns = this.#buffers.get('');
    const pending = this.#pending.get('');
    if (!turns || !pending) return;
    const relied = Atomics.load(this.#control, CONTROL_RELIED);
    for (let t = 0; t < STATE_TURNS; t++) {
      if (t === this.#handed || t === relied) continue;
      const buffer = turns[t];
      if (buffer && buffer.byteLength >= bytes) {
        // With `sync`, also what the turn may differ in: after a base restored in parts
        // (each part copied into one turn only), the delta's restore then copies the delta.
        const lo = Math.max(0, pending[t]!.lo);
        const hi = Math.min(bytes, pending[t]!.hi);
        if (sync && lo < hi) {
          new Uint8Array(buffer, lo, hi - lo).set(new Uint8Array(l.memory.buffer, lo, hi - lo));
          pending[t] = NOTHING;
        }
        continue;
      }
      // A buffer readied by another worker (zero, its pages faulted in) where one of this
      // size was given, else a new one: zero either way.
      const given = this.#shared ? buffers.findIndex((b) => b.byteLength === bytes) : -1;
      const fresh = given >= 0 ? buffers.splice(given, 1)[0]! : this.#shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      const lo = Math.max(0, this.#nonZero.lo);
      const hi = Math.min(bytes, this.#nonZero.hi);
      if (lo < hi) new Uint8Array(fresh, lo, hi - lo).set(new Uint8Array(l.memory.buffer, lo, hi - lo));
      turns[t] = fresh;
      pending[t] = NOTHING;
    }
  }

  /**
   * The reference to the newest copy for a message to the host (each buffer travels the
   * first time only), or undefined when there is none; the next copies go to another turn.
   */
  handOver(): StateRef | undefined {
    if (!this.#unsent) return undefined;
    const attach = (copy: StateCopy, ref: StateRef, key: string): void => {
      if (!this.#shared) {
        const range = this.#toHost.get(key) ?? EVERYTHING;
        const lo = Math.max(0, range.lo);
        const hi = Math.min(copy.memoryBytes, range.hi);
        ref.delta = { lo: Math.min(lo, hi), bytes: lo < hi ? new Uint8Array(copy.memory, lo, hi - lo).slice() : new Uint8Array(0) };
        this.#toHost.set(key, NOTHING);
      } else if (!this.#handedOver.has(copy.memory)) {
        this.#handedOver.add(copy.memory);
        ref.memory = copy.memory as SharedArrayBuffer;
      }
      for (const [name, p] of Object.entries(copy.providers ?? {})) attach(p, ref.providers![name]!, name);
    };
    attach(this.#unsent.copy, this.#unsent.ref, '');
    const ref = this.#unsent.ref;
    this.#unsent = null;
    this.#handed = ref.turn;
    this.#chooseWorking();
    return ref;
  }

  #chooseWorking(): void {
    const relied = Atomics.load(this.#control, CONTROL_RELIED);
    for (let t = 0; t < STATE_TURNS; t++) {
      if (t !== this.#handed && t !== relied) {
        this.#working = t;
        return;
      }
    }
  }

  /**
   * Copy one unit's state into the working turn's buffer: the memory that buffer may
   * differ in (everything for an untracked module, or a new buffer), and its globals.
   */
  #copyUnit(l: Unit, key: string): { copy: StateCopy; ref: StateRef } {
    const working = this.#working;
    const bytes = l.memory ? l.memory.buffer.byteLength : 0;
    let turns = this.#buffers.get(key);
    if (!turns) this.#buffers.set(key, (turns = new Array<SharedArrayBuffer | ArrayBuffer | null>(STATE_TURNS).fill(null)));
    let pending = this.#pending.get(key);
    if (!pending) this.#pending.set(key, (pending = new Array<Range>(STATE_TURNS).fill(EVERYTHING)));
    let buffer = turns[working];
    if (!buffer || buffer.byteLength < bytes) {
      turns[working] = buffer = this.#shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      // A new buffer is zero: it differs from memory only where memory is not.
      pending[working] = key === '' ? this.#nonZero : EVERYTHING;
    }
    const written = takeSpan(l);
    if (written.lo < written.hi) for (let t = 0; t < STATE_TURNS; t++) pending[t] = union(pending[t]!, written);
    if (!this.#shared) this.#toHost.set(key, union(this.#toHost.get(key) ?? EVERYTHING, written));
    if (key === '') {
      this.#sinceSnapshot = union(this.#sinceSnapshot, written);
      this.#nonZero = union(this.#nonZero, written);
    }
    const range = pending[working]!;
    const lo = Math.max(0, range.lo);
    const hi = Math.min(bytes, range.hi);
    if (l.memory && lo < hi) new Uint8Array(buffer, lo, hi - lo).set(new Uint8Array(l.memory.buffer, lo, hi - lo));
    pending[working] = NOTHING;
    const values: WasmValue[] = [];
    const globals: Record<string, WasmValue> = {};
    for (const name of l.globals) {
      const g = l.instance.exports[name];
      const value = g instanceof WebAssembly.Global ? (g.value as WasmValue) : 0;
      values.push(value);
      globals[name] = value;
    }
    return { copy: { memory: buffer, memoryBytes: bytes, globals }, ref: { turn: working, memoryBytes: bytes, globals: values } };
  }
}

/** The largest 32-bit linear memory, bytes (65 536 pages). */
const MAX_MEMORY_BYTES = 65536 * PAGE;
/** Bytes between the writes that fault in a buffer's pages (the smallest page size systems use). */
const FAULT_STEP = 4096;

/**
 * `count` new shared buffers of `bytes`, zero, each with every 4 KiB page of `[lo, hi)`
 * written once (with zero): the system gives a buffer memory only at its first touch of each
 * page, and that fault, not the copy, is most of what filling a new buffer costs. Done by a
 * worker that is otherwise idle (an instance's spare) while another one restores, the turns
 * readied after a restore ({@link StateCopies.prime}) then cost a copy, not a first touch.
 * Only `[lo, hi)` is touched: a sparse memory's zero pages stay untouched, as in a new
 * buffer. None without shared memory, or for nonsense sizes.
 */
export function faultedZeroes(bytes: number, count: number, lo: number, hi: number): SharedArrayBuffer[] {
  if (typeof SharedArrayBuffer === 'undefined') return [];
  if (!Number.isInteger(bytes) || bytes <= 0 || bytes % PAGE !== 0 || bytes > MAX_MEMORY_BYTES || !Number.isInteger(count) || count < 1 || count > STATE_TURNS) return [];
  const from = Math.max(0, Math.floor(lo / FAULT_STEP) * FAULT_STEP);
  const to = Math.min(bytes, Number.isFinite(hi) ? hi : bytes);
  const out: SharedArrayBuffer[] = [];
  for (let k = 0; k < count; k++) {
    const buffer = new SharedArrayBuffer(bytes);
    if (from < to) {
      const words = new Int32Array(buffer, from, Math.floor((to - from) / 4));
      for (let i = 0; i < words.length; i += FAULT_STEP / 4) words[i] = 0;
    }
    out.push(buffer);
  }
  return out;
}

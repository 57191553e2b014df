/**
 * One module instance on the host: a worker plus a warm spare, and the calls on their
 * way. Calls to one instance run one at a time, in order.
 *
 * Crossing threads costs most when the other thread sleeps (waking it is a system call,
 * and on a virtual machine an interrupt to another CPU), so calls travel in batches:
 * the calls made in one turn of the event loop go in one message (`defer` says when the
 * turn ends), and the worker answers the calls of a message together, except that the
 * answer of a call that reached the host (camera, rpc, pub/sub) leaves at once.
 *
 * A call's time limit runs from when it starts: the worker's control buffer says which
 * call runs since when, and one timer watches it. A call past its limit terminates the
 * worker; the spare takes over from the state the worker named last, and the calls not
 * answered are posted to it again: those not started, and those it ran but had not
 * answered yet — none of which reached the host, so running them again from the state
 * before them is as if they ran once. A new spare starts. Snapshot and restore wait for
 * the calls before them and hold back the calls after them. One worker's requests and
 * host operations: worker-slot.ts.
 * @module
 */
import type { AnswerChannel } from './async-bridge.ts';
import { fromErrorInfo, MeshError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type { CallRequest, CallResult, HostServices, InstanceSnapshot, SandboxInstance, SandboxLimits } from '../ports/sandbox.ts';
import type { ModuleInfo } from '../wasm/binary.ts';
import { CallTimeoutError, InstanceClosedError, ModuleLoadError, SnapshotMismatchError } from './errors.ts';
import { type WorkerAnswer, type InitMessage, STATE_TURNS, type WorkerToHost } from './protocol.ts';
import { NnHost } from './wasi-nn-host.ts';
import { Slot, type WorkerHandle } from './worker-slot.ts';

/**
 * The least memory a whole restore leaves non-zero for which the spare faults in the
 * turns' buffers: below it a first touch costs less than asking (4 MiB: about 2 ms of
 * faults a buffer on a small machine).
 */
const READY_TURNS_MIN_BYTES = 4 * 1024 * 1024;
/** Bytes per wasm page. */
const PAGE = 65536;

/** A call posted (or about to be posted) to an instance's worker. */
interface InFlight {
  request: CallRequest;
  resolve: (result: CallResult) => void;
  reject: (error: Error) => void;
  /** The worker it was last posted to, and its sequence number there. */
  slot: Slot | null;
  seq: number;
}

/** What an instance is made of. */
export interface InstanceOptions {
  moduleId: string;
  info: ModuleInfo;
  init: Omit<InitMessage, 'control'>;
  spawn: () => WorkerHandle;
  services: HostServices;
  limits: SandboxLimits;
  clock: Clock;
  logger: Logger;
  defer: (task: () => void) => void;
  onClose: (instance: WorkerInstance) => void;
  /** Without shared memory: where host answers go (async-bridge.ts), when a service worker serves them. */
  answers?: AnswerChannel;
}

/** One module instance: an active worker, a warm spare, the last good state. */
export class WorkerInstance implements SandboxInstance {
  readonly moduleId: string;
  readonly info: ModuleInfo;
  readonly #o: InstanceOptions;
  #active: Slot | null = null;
  #spare: Promise<Slot> | null = null;
  /** The spare's worker while it boots too, so closing need not wait for its boot. */
  #spareSlot: Slot | null = null;
  /** The WASI files a successor starts with (those of the last load or restore). */
  #files: Record<string, Uint8Array>;
  /** Snapshot and restore, in order; calls wait for the ones before them. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Snapshots and restores queued or running. */
  #serials = 0;
  /** Calls not answered yet, oldest first; the newest `#unposted` wait to be posted. */
  readonly #inflight: InFlight[] = [];
  #unposted = 0;
  #flushQueued = false;
  /** The time-limit watch while calls are posted (see `#watch`). */
  #watchTimer: TimerHandle | undefined;
  /** A call found past its limit, confirmed one timer tick later. */
  #suspect: number | null = null;
  /** Set while a stopped or dead worker is being replaced. */
  #replacing: Promise<void> | null = null;
  readonly #retired = new WeakSet<Slot>();
  #drainWaiters: (() => void)[] = [];
  #closed = false;
  /** Graphs loaded through wasi-nn: shared by this instance's workers, freed at close. */
  readonly #nn: NnHost;

  constructor(options: InstanceOptions) {
    this.#o = options;
    this.moduleId = options.moduleId;
    this.info = options.info;
    this.#files = options.init.files;
    this.#nn = new NnHost(options.services.nn);
  }

  async start(): Promise<void> {
    this.#active = await this.#spawnSlot();
    this.#spare = this.#spawnSpare();
  }

  call(request: CallRequest): Promise<CallResult> {
    // Behind a snapshot or restore, calls wait for it; otherwise they go straight in.
    return this.#serials === 0 ? this.#enqueue(request) : this.#queue.then(() => this.#enqueue(request));
  }

  snapshot(options: { sinceLast?: boolean } = {}): Promise<InstanceSnapshot> {
    return this.#serial(async () => {
      const reply = await this.#slot().request(options.sinceLast ? { t: 'snapshot', id: 0, sinceLast: true } : { t: 'snapshot', id: 0 });
      if (reply.t !== 'snapshot') throw new ModuleLoadError('unexpected reply to snapshot');
      return { moduleId: this.moduleId, ...reply.snapshot };
    });
  }

  writtenSinceSnapshot(): Promise<number> {
    return this.#serial(async () => {
      const reply = await this.#slot().request({ t: 'written', id: 0 });
      if (reply.t !== 'written') throw new ModuleLoadError('unexpected reply to written');
      return reply.bytes;
    });
  }

  restore(snapshot: InstanceSnapshot, options: { handOver?: boolean } = {}): Promise<void> {
    if (snapshot.part) return this.#restorePart(snapshot, options);
    return this.#serial(async () => {
      if (snapshot.moduleId !== this.moduleId) {
        throw new SnapshotMismatchError(`snapshot of module ${snapshot.moduleId} cannot be restored into ${this.moduleId}`);
      }
      // While the worker restores, the spare faults in the buffers of the turns readied
      // after it (on another core, where the machine has one): the prime below copies
      // into them instead of touching new memory for the first time.
      const readied: SharedArrayBuffer[] = [];
      const asked = this.#readyTurns(snapshot, (buffers) => readied.push(...buffers));
      // Pages handed over move to the worker with the message instead of being copied
      // into it: one copy of the state and one allocation fewer on this thread.
      const transfer = options.handOver ? pageBuffers(snapshot) : undefined;
      const reply = await this.#slot().request(asked ? { t: 'restore', id: 0, snapshot, turnsLater: true } : { t: 'restore', id: 0, snapshot }, transfer);
      if (reply.t !== 'done') throw new ModuleLoadError('unexpected reply to restore');
      if (reply.error) throw fromErrorInfo(reply.error);
      // The worker named its restored state as the new baseline for a successor (a
      // part leaves the files as they are).
      if (!snapshot.part) this.#files = snapshot.files;
      // The host now holds the restored state and has let go of the one before: the
      // worker readies that buffer too (and with `turnsLater` the other one), before any
      // migration holds calls. (The parts after a first one write only their pages, into
      // buffers readied already.) The spare's buffers that came before the restore's
      // answer go with it; for the others the worker allocates, rather than wait on the spare.
      if (!snapshot.delta && !snapshot.part) await this.#slot().request(readied.length > 0 ? { t: 'prime', id: 0, buffers: readied.splice(0) } : { t: 'prime', id: 0 });
    });
  }

  /**
   * Ask the spare (booted, or as soon as it is) for zeroed buffers, faulted in over the
   * memory a whole restore of `snapshot` leaves non-zero, for the turns the prime after it
   * readies (STATE_TURNS - 1: all but the one the restore's own copy takes), one request
   * each so that the first comes as soon as it is done; `take` gets each as it comes (none
   * if the spare fails). False — the worker readies the turns itself — without shared
   * memory, without a spare, for a module that keeps no state copies, or for a small memory.
   */
  #readyTurns(snapshot: InstanceSnapshot, take: (buffers: SharedArrayBuffer[]) => void): boolean {
    const spare = this.#spare;
    if (!spare || !this.#o.init.bridge || !this.#o.init.trackState) return false;
    const span = spareFaultSpan(snapshot, this.#o.limits.maxMemoryPages, Boolean(this.#o.init.dirty));
    if (!span) return false;
    const ask = { t: 'zeroes', id: 0, ...span, count: 1 } as const;
    for (let k = 0; k < STATE_TURNS - 1; k++) {
      spare
        .then((slot) => slot.request(ask))
        .then((reply) => take(reply.t === 'zeroes' ? reply.buffers : []))
        .catch(() => undefined);
    }
    return true;
  }

  prime(): Promise<void> {
    return this.#serial(async () => {
      const reply = await this.#slot().request({ t: 'prime', id: 0 });
      if (reply.t !== 'done') throw new ModuleLoadError('unexpected reply to prime');
    });
  }

  /**
   * A later part of a base shipped in parts: posted in its turn like any restore, but what
   * comes after it does not wait for its answer — the worker takes its messages in order,
   * so a part restored right behind another (or a call, or a snapshot) still finds it
   * done. Parts that arrive one after another then reach the worker without a round trip
   * each; the promise settles with this part's answer.
   */
  #restorePart(snapshot: InstanceSnapshot, options: { handOver?: boolean }): Promise<void> {
    let answered: Promise<WorkerToHost> | undefined;
    const posted = this.#serial(async () => {
      if (snapshot.moduleId !== this.moduleId) {
        throw new SnapshotMismatchError(`snapshot of module ${snapshot.moduleId} cannot be restored into ${this.moduleId}`);
      }
      const transfer = options.handOver ? pageBuffers(snapshot) : undefined;
      answered = this.#slot().request({ t: 'restore', id: 0, snapshot }, transfer);
      // Its failure is this restore's, awaited below.
      answered.catch(() => undefined);
    });
    return posted.then(async () => {
      const reply = await answered!;
      if (reply.t !== 'done') throw new ModuleLoadError('unexpected reply to restore');
      if (reply.error) throw fromErrorInfo(reply.error);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unposted = 0;
    for (const call of this.#inflight.splice(0)) call.reject(new InstanceClosedError('instance closed'));
    this.#stopWatch();
    this.#drained();
    this.#active?.kill(new InstanceClosedError('instance closed'));
    this.#active = null;
    // A spare still booting is terminated as it is: closing never waits for a worker's boot.
    this.#spareSlot?.kill(new InstanceClosedError('instance closed'));
    this.#spareSlot = null;
    this.#spare = null;
    await this.#nn.close();
    this.#o.onClose(this);
  }

  #slot(): Slot {
    if (this.#closed || !this.#active) throw new InstanceClosedError('instance closed');
    return this.#active;
  }

  /** Run `work` once the calls before it have answered, holding back the calls after it. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const after = (): Promise<T> => this.#idle().then(work);
    const run = this.#queue.then(after, after);
    this.#serials++;
    this.#queue = run.catch(() => undefined).finally(() => this.#serials--);
    return run;
  }

  /** Resolves when no call is in flight and no worker is being replaced. */
  #idle(): Promise<void> {
    if (this.#inflight.length === 0 && !this.#replacing) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #drained(): void {
    if (this.#inflight.length > 0 || this.#replacing) return;
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  #enqueue(request: CallRequest): Promise<CallResult> {
    return new Promise<CallResult>((resolve, reject) => {
      if (this.#closed || !this.#active) return reject(new InstanceClosedError('instance closed'));
      this.#inflight.push({ request, resolve, reject, slot: null, seq: -1 });
      this.#unposted++;
      // Calls made in the same turn of the event loop travel in one message.
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        this.#o.defer(() => {
          this.#flushQueued = false;
          this.#flush();
        });
      }
    });
  }

  /** Post the calls not posted yet, in one message (while a worker is replaced, the replacement does). */
  #flush(): void {
    if (this.#unposted === 0 || this.#replacing || this.#closed || !this.#active) return;
    const calls = this.#inflight.slice(this.#inflight.length - this.#unposted);
    this.#unposted = 0;
    const slot = this.#active;
    const first = slot.requestCalls(calls.map((c) => c.request), {
      answered: (i, answer) => this.#answered(calls[i]!, slot, answer),
      failed: (error) => this.#slotFailed(slot, error),
    });
    for (let i = 0; i < calls.length; i++) {
      calls[i]!.slot = slot;
      calls[i]!.seq = first + i;
    }
    if (this.#watchTimer === undefined) this.#watchIn(this.#o.limits.callTimeoutMs);
  }

  #answered(call: InFlight, slot: Slot, answer: WorkerAnswer): void {
    // Answers from a replaced worker are stale: the calls were posted again.
    if (this.#retired.has(slot) || this.#inflight[0] !== call) return;
    this.#inflight.shift();
    if (!answer.ok) call.reject(fromErrorInfo(answer.error));
    else {
      const result: CallResult = { files: answer.files ?? {}, stdout: answer.stdout ?? '', stderr: answer.stderr ?? '' };
      if (answer.value !== undefined) result.value = answer.value;
      if (answer.bytes) result.bytes = answer.bytes;
      call.resolve(result);
    }
    if (this.#inflight.length === this.#unposted) this.#stopWatch();
    this.#drained();
  }

  /**
   * The time limit. While calls are posted, a timer looks at the call the worker runs
   * and since when (its control buffer), and comes back when that call's limit is due —
   * one timer for any number of calls. A call found past its limit is stopped one timer
   * tick later if it still runs: answers the worker sent before are taken in first.
   */
  #watch(): void {
    this.#watchTimer = undefined;
    const slot = this.#active;
    if (!slot || this.#replacing || this.#inflight.length === this.#unposted) return;
    const limit = this.#o.limits.callTimeoutMs;
    const running = slot.running();
    if (!running) {
      this.#suspect = null;
      this.#watchIn(limit);
      return;
    }
    const age = performance.timeOrigin + performance.now() - running.startedAt;
    if (age < limit) {
      this.#suspect = null;
      this.#watchIn(limit - age);
      return;
    }
    if (this.#suspect !== running.seq) {
      this.#suspect = running.seq;
      this.#watchIn(0);
      return;
    }
    this.#suspect = null;
    const index = this.#inflight.findIndex((c) => c.slot === slot && c.seq === running.seq);
    if (index < 0) {
      this.#watchIn(limit);
      return;
    }
    const [late] = this.#inflight.splice(index, 1);
    late!.reject(new CallTimeoutError(`${late!.request.fn} ran longer than ${limit} ms and was stopped`));
    this.#recover(slot, new CallTimeoutError('call time limit'));
  }

  #watchIn(ms: number): void {
    if (this.#watchTimer !== undefined) this.#o.clock.clearTimeout(this.#watchTimer);
    this.#watchTimer = this.#o.clock.setTimeout(() => this.#watch(), Math.max(0, ms));
  }

  #stopWatch(): void {
    if (this.#watchTimer !== undefined) this.#o.clock.clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
    this.#suspect = null;
  }

  /** The worker died: the call it ran fails, the others run on the spare. */
  #slotFailed(slot: Slot, error: Error): void {
    if (this.#retired.has(slot) || this.#closed) return;
    const running = slot.running();
    const index = running ? this.#inflight.findIndex((c) => c.slot === slot && c.seq === running.seq) : -1;
    const [failed] = this.#inflight.splice(Math.max(0, index), 1);
    failed?.reject(error);
    this.#recover(slot, error instanceof MeshError ? error : new ModuleLoadError(error.message));
  }

  /**
   * Replace `failed` by the spare, resumed from the state `failed` named last, then post
   * every call not answered: those the worker had not started, and any it ran without
   * answering yet (it sends their answers together; none of them reached the host, so
   * running them again from the state before them is as if they ran once).
   */
  #recover(failed: Slot, reason: MeshError): void {
    if (this.#retired.has(failed)) return;
    this.#retired.add(failed);
    this.#stopWatch();
    this.#replacing = this.#replace(failed, reason)
      .catch((e: unknown) => this.#o.logger.warn(`could not replace a stopped worker: ${(e as Error).message}`))
      .finally(() => {
        this.#replacing = null;
        if (this.#closed || !this.#active || this.#retired.has(this.#active)) {
          this.#unposted = 0;
          for (const call of this.#inflight.splice(0)) call.reject(new InstanceClosedError('instance closed'));
        } else {
          this.#unposted = this.#inflight.length;
          this.#flush();
        }
        this.#drained();
      });
  }

  /** Put the spare in place of a stopped or dead worker, resumed from its last good state. */
  async #replace(failed: Slot, reason: MeshError): Promise<void> {
    failed.kill(reason);
    if (this.#closed) return;
    const state = failed.lastState();
    const next = await (this.#spare ?? this.#spawnSlot());
    if (this.#closed) {
      next.kill(new InstanceClosedError('instance closed'));
      return;
    }
    this.#spare = this.#spawnSpare();
    if (state) {
      const reply = await next.request({ t: 'resume', id: 0, state, files: this.#files });
      if (reply.t === 'done' && reply.error) this.#o.logger.warn(`could not resume state after ${reason.code}: ${reply.error.message}`);
    }
    this.#active = next;
    this.#o.logger.debug(`instance of ${this.moduleId.slice(0, 12)} replaced after ${reason.code}`);
  }

  #spawnSpare(): Promise<Slot> {
    const slot = new Slot(this.#o.spawn(), this.#o.init.bridge, this.#o.services, this.#nn, this.#o.logger, this.#o.answers);
    this.#spareSlot = slot;
    const spare = slot.start(this.#o.init).then(() => slot);
    // A spare that fails to start is retried when it is needed (one killed by close is not news).
    spare.catch((e: unknown) => {
      if (!this.#closed) this.#o.logger.warn(`spare worker failed to start: ${(e as Error).message}`);
    });
    return spare;
  }

  async #spawnSlot(): Promise<Slot> {
    const slot = new Slot(this.#o.spawn(), this.#o.init.bridge, this.#o.services, this.#nn, this.#o.logger, this.#o.answers);
    await slot.start(this.#o.init);
    return slot;
  }
}

/**
 * The distinct ArrayBuffers under a snapshot's pages, but none a file also lies in (the
 * instance keeps the files for a successor) and never shared memory.
 */
function pageBuffers(snapshot: InstanceSnapshot): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const page of Object.values(snapshot.pages)) if (page.buffer instanceof ArrayBuffer && page.buffer.byteLength > 0) buffers.add(page.buffer);
  for (const file of Object.values(snapshot.files)) if (file.buffer instanceof ArrayBuffer) buffers.delete(file.buffer);
  return [...buffers];
}

/**
 * What the spare faults in for a whole restore of `snapshot` (see `WorkerInstance.restore`):
 * buffers of the memory's size, touched over the pages the restore leaves non-zero (all of
 * memory for a module whose writes are not tracked), in bytes; null for a delta or a later
 * part of a base (they write into turns readied already, and no prime follows them), when
 * that span is under READY_TURNS_MIN_BYTES, or when the snapshot claims more memory than the
 * instance may have (`maxMemoryPages`): its restore fails, and a few pages far apart must
 * not make the spare touch gigabytes first.
 */
export function spareFaultSpan(snapshot: InstanceSnapshot, maxMemoryPages: number, tracked: boolean): { bytes: number; lo: number; hi: number } | null {
  if (snapshot.delta || snapshot.part || !(snapshot.memoryPages <= maxMemoryPages)) return null;
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (const key of Object.keys(snapshot.pages)) {
    lo = Math.min(lo, Number(key));
    hi = Math.max(hi, Number(key) + 1);
  }
  if (!tracked) [lo, hi] = [0, snapshot.memoryPages];
  hi = Math.min(hi, snapshot.memoryPages);
  if (hi <= lo || (hi - lo) * PAGE < READY_TURNS_MIN_BYTES) return null;
  return { bytes: snapshot.memoryPages * PAGE, lo: lo * PAGE, hi: hi * PAGE };
}


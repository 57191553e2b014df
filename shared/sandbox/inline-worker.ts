/**
 * A sandbox "worker" on the host's own thread (ADR 0040): the worker's message loop
 * (runtime.ts) run in place, each message handed over synchronously instead of posted.
 * A call then costs no thread wake and no structured clone, and its answer reaches the
 * host before `post` returns. Everything else — rollback of a failed call, state copies,
 * snapshots and restores — is the same code as in a worker.
 *
 * Nothing is cloned, so what crosses is copied where either side could change it later:
 * the WASI files going in (the module may write into a file's bytes in place, and the
 * host keeps its own for a successor). What comes out is already fresh (answers' bytes
 * and files, snapshots' pages and files are copies).
 *
 * Only a module that needs nothing from the host thread and carries stop checks runs
 * here (worker-sandbox.ts): its calls are bounded by the budget in its init message, and
 * one past it is stopped and rolled back and the instance moves to a real worker
 * (worker-instance.ts).
 * @module
 */
import type { CallRequest, CallResult } from '../ports/sandbox.ts';
import { InstanceClosedError } from './errors.ts';
import type { HostToWorker, WorkerToHost } from './protocol.ts';
import { runSandboxWorker, type SandboxLoop } from './runtime.ts';
import type { WorkerHandle } from './worker-slot.ts';

/** Copies of `files`' bytes. */
function copyFiles(files: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, bytes] of Object.entries(files)) out[name] = bytes.slice();
  return out;
}

/** What the message loop may keep or write into: the files of a message, copied. */
function incoming(message: HostToWorker): HostToWorker {
  switch (message.t) {
    case 'init':
      return { ...message, files: copyFiles(message.files), providers: message.providers.map((p) => ({ ...p, files: copyFiles(p.files) })) };
    case 'restore':
      return { ...message, snapshot: { ...message.snapshot, files: copyFiles(message.snapshot.files) } };
    case 'resume':
      return { ...message, files: copyFiles(message.files) };
    case 'calls':
      if ('requests' in message && message.requests.some((r) => r.files)) {
        return { ...message, requests: message.requests.map((r): CallRequest => (r.files ? { ...r, files: copyFiles(r.files) } : r)) };
      }
      return message;
    default:
      return message;
  }
}

/** The message loop of runtime.ts on this thread, behind the interface of a worker. */
export class InlineWorker implements WorkerHandle {
  /** The loop's handler of the host's messages, and the host's of the loop's. */
  readonly #deliver: { toLoop: ((m: HostToWorker) => void) | null; toHost: ((m: WorkerToHost) => void) | null } = { toLoop: null, toHost: null };
  #terminated = false;
  /** While {@link exchange} runs: where the loop's answer goes instead of the host's handler. */
  #caught: WorkerToHost[] | null = null;

  readonly #loop: SandboxLoop;
  readonly #defer: (task: () => void) => void;
  /** Messages waiting for the end of the turn, in the order posted. */
  readonly #later: HostToWorker[] = [];

  /**
   * @param defer runs a task once the current turn of the event loop is done: every message
   *   but calls is answered then, as a worker would answer it (see {@link post})
   */
  constructor(defer: (task: () => void) => void) {
    this.#defer = defer;
    this.#loop = runSandboxWorker({
      post: (message) => {
        if (this.#terminated) return;
        if (this.#caught) this.#caught.push(message);
        else this.#deliver.toHost?.(message);
      },
      onMessage: (handler) => {
        this.#deliver.toLoop = handler;
      },
    });
  }

  /** Whether messages wait for the end of the turn (a call must not overtake them). */
  get waiting(): boolean {
    return this.#later.length > 0;
  }

  /** Always true: tells a slot its answers arrive before `post` returns. */
  get inline(): true {
    return true;
  }

  /**
   * Calls are run now, their answers delivered before this returns. Any other message
   * (init, snapshot, restore, …) is handled at the end of the turn, as a worker's answer
   * would arrive: code that awaits a snapshot after every call and calls again (a hot
   * standby's primary) then leaves timers and sockets their turn instead of running in
   * microtasks alone. A call posted while such a message waits goes after it.
   */
  post(message: HostToWorker): void {
    if (this.#terminated) return;
    if (message.t === 'calls' && this.#later.length === 0) {
      this.#deliver.toLoop?.(incoming(message));
      return;
    }
    this.#later.push(message);
    if (this.#later.length === 1) {
      this.#defer(() => {
        for (const m of this.#later.splice(0)) if (!this.#terminated) this.#deliver.toLoop?.(incoming(m));
      });
    }
  }

  onMessage(handler: (message: WorkerToHost) => void): void {
    this.#deliver.toHost = handler;
  }

  onError(): void {
    // Nothing dies on its own here: a module's failures are its calls' answers.
  }

  terminate(): void {
    this.#terminated = true;
  }

  /**
   * Run one call now and return its result, without a message either way (the instance
   * must be started); throws its named error. Its files are copied in as a message's are.
   */
  run(request: CallRequest): CallResult {
    if (this.#terminated) throw new InstanceClosedError('instance closed');
    return this.#loop.runNow(request.files ? { ...request, files: copyFiles(request.files) } : request);
  }

  /**
   * Send `message` and return the loop's answer to it, without the host's handler seeing
   * it (a snapshot taken while the instance moves to a worker, its calls' waiters aside).
   */
  exchange(message: HostToWorker): WorkerToHost | undefined {
    if (this.#terminated) return undefined;
    this.#caught = [];
    try {
      this.#deliver.toLoop?.(incoming(message));
      return this.#caught[0];
    } finally {
      this.#caught = null;
    }
  }
}

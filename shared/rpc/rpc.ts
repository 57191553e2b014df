/**
 * Request/response over any message channel: request ids, a typed method table, a time
 * limit and an AbortSignal per call, named errors revived on the caller's side, pending
 * calls rejected with ERR_PEER_LEFT when the remote peer leaves, duplicate requests
 * executed once, and calls in flight sent again when the path to their callee changes
 * (the callee answers a request it already answered from its recent answers). Large
 * payloads are fragmented below this layer (`peer-links.ts`); the
 * caller sees their progress through `onProgress`.
 * @module
 */
import { Emitter, type Unsubscribe } from '../events.ts';
import {
  AbortedError,
  fromErrorInfo,
  MethodNotFoundError,
  NotConnectedError,
  PeerLeftError,
  RpcTimeoutError,
  toErrorInfo,
} from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type { PeerId } from '../ports/transport.ts';
import type { RpcFrame } from '../protocol/wire.ts';
import type { MeshMethods, MethodName, ParamsOf, ResultOf } from './methods.ts';

/** Context a handler gets with each request. */
export interface HandlerContext {
  /** Authenticated id of the calling peer (our own id for local calls). */
  from: PeerId;
  /** Aborted when the caller cancels, times out or leaves. */
  signal: AbortSignal;
}

/** A method implementation. */
export type Handler<P, R> = (params: P, context: HandlerContext) => R | Promise<R>;

/** Options of one call. */
export interface CallOptions {
  /** Time limit in ms (default: the endpoint's `defaultTimeoutMs`). */
  timeoutMs?: number;
  /** Abort the call. */
  signal?: AbortSignal;
  /** Progress of a fragmented response: fragments received of total, bytes so far. */
  onProgress?: (progress: { received: number; total: number; bytes: number }) => void;
}

/** How the endpoint sends a frame; `key` names fragments of a large frame for progress. */
export type FrameSender = (to: PeerId, frame: RpcFrame, key: string) => Promise<void>;

/** Endpoint options. */
export interface RpcOptions {
  self: PeerId;
  send: FrameSender;
  clock: Clock;
  logger: Logger;
  defaultTimeoutMs?: number;
  /**
   * Asked before a remote request reaches its handler (never for local calls): throws a
   * named error (e.g. ERR_ROLE_REQUIRED) to refuse it, which the caller receives.
   */
  authorize?: (method: string, from: PeerId, params: unknown) => void;
}

interface Pending {
  to: PeerId;
  /** The request, kept to send it again over a new path ({@link Rpc.resend}). */
  frame: RpcFrame;
  /** Times it was sent: only the latest send's failure fails the call. */
  sends: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
  cleanup: (() => void) | null;
  onProgress?: CallOptions['onProgress'];
}

/** Events of an endpoint. */
export interface RpcEvents {
  /** A request was served (for telemetry): method and whether it succeeded. */
  served: { method: string; from: PeerId; ok: boolean };
}

const DEDUPE_WINDOW = 4096;
/** Answers kept to send again when their request comes again (its answer may have been lost with a link). */
const REPLAY_ANSWERS = 256;
/** How long an answer is kept for that. */
const REPLAY_MS = 30_000;
/** An answer carrying more bytes than this is not kept: its caller's time limit stands instead. */
const REPLAY_MAX_BYTES = 64 * 1024;

/**
 * A request being served. Its AbortController is made only when the handler asks for the
 * signal: most handlers never do, and one per request was a tenth of a short call's cost.
 */
class Serving {
  readonly from: PeerId;
  aborted = false;
  #controller: AbortController | null = null;

  constructor(from: PeerId) {
    this.from = from;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.#controller?.abort();
  }
}

/** One peer's RPC endpoint. */
export class Rpc<M extends object = MeshMethods> {
  readonly #self: PeerId;
  readonly #send: FrameSender;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #defaultTimeoutMs: number;
  readonly #authorize: RpcOptions['authorize'];
  readonly #handlers = new Map<string, Handler<unknown, unknown>>();
  readonly #pending = new Map<string, Pending>();
  /** Requests being served, by `${from} ${id}`, so a cancel or a departure can abort them. */
  readonly #serving = new Map<string, Serving>();
  /** Recently finished requests: a duplicate delivery is not executed again. */
  readonly #done = new Set<string>();
  /** Recent answers by request key, with when they were sent, for requests that come again. */
  readonly #answers = new Map<string, { frame: RpcFrame; at: number }>();
  readonly #events: Emitter<RpcEvents>;
  // Random per endpoint so a restarted peer's ids never collide with its previous life's.
  readonly #session = Math.floor(Math.random() * 0xffffffff).toString(36);
  #nextId = 0;
  #closed = false;

  constructor(options: RpcOptions) {
    this.#self = options.self;
    this.#send = options.send;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 10_000;
    this.#authorize = options.authorize;
    this.#events = new Emitter((e) => this.#log.error('rpc listener failed', e));
  }

  /** Serve `method`. Replaces an earlier handler; returns the function that removes it. */
  handle<K extends MethodName<M>>(method: K, handler: Handler<ParamsOf<M, K>, ResultOf<M, K>>): Unsubscribe {
    this.#handlers.set(method, handler as Handler<unknown, unknown>);
    return () => {
      if (this.#handlers.get(method) === (handler as Handler<unknown, unknown>)) this.#handlers.delete(method);
    };
  }

  /** Subscribe to endpoint events. */
  on<K extends keyof RpcEvents>(event: K, listener: (payload: RpcEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /**
   * Call `method` on peer `to` (our own id calls the local handler without a network hop).
   * Rejects with the remote's named error, ERR_RPC_TIMEOUT, ERR_ABORTED, ERR_PEER_LEFT,
   * ERR_PEER_UNREACHABLE or ERR_NOT_CONNECTED.
   */
  call<K extends MethodName<M>>(to: PeerId, method: K, params: ParamsOf<M, K>, options: CallOptions = {}): Promise<ResultOf<M, K>> {
    if (this.#closed) return Promise.reject(new NotConnectedError('rpc endpoint is closed'));
    if (options.signal?.aborted) return Promise.reject(new AbortedError(`call ${method} aborted`));
    if (to === this.#self) return this.#callLocal(method, params, options) as Promise<ResultOf<M, K>>;
    const id = `${this.#session}.${(this.#nextId++).toString(36)}`;
    return new Promise<ResultOf<M, K>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
      const frame: RpcFrame = { t: 'req', id, m: method, p: params };
      const pending: Pending = {
        to,
        frame,
        sends: 0,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: this.#clock.setTimeout(
          () => this.#fail(id, new RpcTimeoutError(`call ${method} to ${to} got no answer within ${timeoutMs} ms`), true),
          timeoutMs,
        ),
        cleanup: null,
      };
      // Most calls carry no signal: no listener, and no functions made for one.
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => this.#fail(id, new AbortedError(`call ${method} aborted`), true);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      if (options.onProgress) pending.onProgress = options.onProgress;
      this.#pending.set(id, pending);
      this.#sendRequest(id, pending);
    });
  }

  /**
   * The path to `peer` changed (a link to it closed while another still reaches it): send
   * every call to it that waits for an answer again, since the request or its answer may
   * have been lost with the link. The callee runs each request once and answers a repeat
   * from the answers it keeps for a while.
   */
  resend(peer: PeerId): void {
    for (const [id, pending] of this.#pending) if (pending.to === peer) this.#sendRequest(id, pending);
  }

  #sendRequest(id: string, pending: Pending): void {
    const attempt = ++pending.sends;
    // A repeat goes under a key of its own: its fragments never mix with a lost attempt's.
    const key = attempt === 1 ? `rpc:req:${id}` : `rpc:req:${id}/${attempt}`;
    this.#send(pending.to, pending.frame, key).catch((error: unknown) => {
      if (this.#pending.get(id) === pending && pending.sends === attempt) this.#fail(id, asError(error), false);
    });
  }

  /** Feed a frame received from authenticated peer `from`. */
  receive(from: PeerId, frame: RpcFrame): void {
    if (this.#closed) return;
    switch (frame.t) {
      case 'req':
        this.#serve(from, frame.id, frame.m, frame.p);
        return;
      case 'res':
      case 'err': {
        const pending = this.#pending.get(frame.id);
        // An answer from anyone but the callee is ignored: ids are not secrets.
        if (!pending || pending.to !== from) return;
        this.#settle(frame.id);
        if (frame.t === 'res') pending.resolve(frame.r);
        else pending.reject(fromErrorInfo(frame.e));
        return;
      }
      case 'cancel':
        this.#serving.get(`${from} ${frame.id}`)?.abort();
        return;
    }
  }

  /** Progress of a fragmented frame from `from` (called by the peer's link layer). */
  progress(from: PeerId, key: string, progress: { received: number; total: number; bytes: number }): void {
    if (!key.startsWith('rpc:res:')) return;
    const pending = this.#pending.get(key.slice('rpc:res:'.length));
    if (pending && pending.to === from) pending.onProgress?.(progress);
  }

  /** The peer left: fail every call to it and abort everything served for it. */
  peerLeft(peer: PeerId): void {
    for (const [id, pending] of [...this.#pending]) {
      if (pending.to === peer) this.#fail(id, new PeerLeftError(`peer ${peer} left with the call pending`), false);
    }
    for (const serving of this.#serving.values()) if (serving.from === peer) serving.abort();
  }

  /** Number of calls waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Fail every pending call with ERR_NOT_CONNECTED and stop serving. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#fail(id, new NotConnectedError('peer stopped'), false);
    for (const serving of this.#serving.values()) serving.abort();
    this.#serving.clear();
    this.#answers.clear();
    this.#events.clear();
  }

  async #callLocal(method: string, params: unknown, options: CallOptions): Promise<unknown> {
    const handler = this.#handlers.get(method);
    if (!handler) throw new MethodNotFoundError(`no method ${method}`);
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await handler(params, { from: this.#self, signal: controller.signal });
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  #serve(from: PeerId, id: string, method: string, params: unknown): void {
    const key = `${from} ${id}`;
    if (this.#serving.has(key)) return;
    if (this.#done.has(key)) {
      this.#replay(from, key);
      return;
    }
    const handler = this.#handlers.get(method);
    const serving = new Serving(from);
    this.#serving.set(key, serving);
    const context: HandlerContext = {
      from,
      get signal() {
        return serving.signal;
      },
    };
    // The handler's answer, or its error (thrown or rejected), as one promise.
    let result: Promise<unknown>;
    try {
      if (!handler) throw new MethodNotFoundError(`no method ${method}`);
      this.#authorize?.(method, from, params);
      result = Promise.resolve(handler(params, context));
    } catch (error) {
      result = Promise.reject(error as Error);
    }
    result.then(
      (result) => this.#answer(from, key, { t: 'res', id, r: result }, method, true),
      (error: unknown) => this.#answer(from, key, { t: 'err', id, e: toErrorInfo(error) }, method, false),
    );
  }

  #answer(to: PeerId, key: string, frame: RpcFrame, method: string, ok: boolean): void {
    const serving = this.#serving.get(key);
    this.#serving.delete(key);
    this.#done.add(key);
    if (this.#done.size > DEDUPE_WINDOW) this.#done.delete(this.#done.values().next().value as string);
    this.#events.emit('served', { method, from: to, ok });
    // Nobody is listening for the answer of a cancelled request or a departed caller.
    if (this.#closed || !serving || serving.aborted) return;
    if (replayable(frame)) {
      this.#answers.set(key, { frame, at: this.#clock.now() });
      if (this.#answers.size > REPLAY_ANSWERS) this.#answers.delete(this.#answers.keys().next().value as string);
    }
    this.#send(to, frame, `rpc:res:${frame.id}`).catch((error: unknown) =>
      this.#log.debug(`answer to ${to} for ${method} not sent: ${asError(error).message}`),
    );
  }

  /** A request answered already came again: its caller lost the answer, send it again if it is still kept. */
  #replay(from: PeerId, key: string): void {
    const kept = this.#answers.get(key);
    if (!kept || this.#clock.now() - kept.at > REPLAY_MS) return;
    this.#send(from, kept.frame, `rpc:res:${kept.frame.id}`).catch((error: unknown) =>
      this.#log.debug(`answer to ${from} not sent again: ${asError(error).message}`),
    );
  }

  #settle(id: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    this.#clock.clearTimeout(pending.timer);
    pending.cleanup?.();
    return pending;
  }

  #fail(id: string, error: Error, tellCallee: boolean): void {
    const pending = this.#settle(id);
    if (!pending) return;
    pending.reject(error);
    if (tellCallee) {
      this.#send(pending.to, { t: 'cancel', id }, `rpc:cancel:${id}`).catch(() => {
        // The callee is unreachable: nothing to cancel there.
      });
    }
  }
}

/** Small enough to keep for a repeat: no binary over {@link REPLAY_MAX_BYTES} in the result or its own fields. */
function replayable(frame: RpcFrame): boolean {
  if (frame.t !== 'res') return true;
  const result = frame.r;
  if (result instanceof Uint8Array) return result.byteLength <= REPLAY_MAX_BYTES;
  if (typeof result !== 'object' || result === null) return true;
  for (const key in result) {
    const value = (result as Record<string, unknown>)[key];
    if (value instanceof Uint8Array && value.byteLength > REPLAY_MAX_BYTES) return false;
  }
  return true;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

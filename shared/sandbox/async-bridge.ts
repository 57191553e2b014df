/**
 * The bridge without shared memory (ADR 0039): a sandbox worker that cannot block on a
 * SharedArrayBuffer blocks on a synchronous XMLHttpRequest instead. The worker posts its
 * host operation with a fresh id, then asks `{url}/{id}` synchronously; a service worker
 * answers that request once the page has handed it the operation's answer (the page's
 * side is an {@link AnswerChannel}). No server ever sees these requests: a worker that no
 * service worker controls gets the server's own answer, and its host call fails with
 * ERR_NO_SHARED_MEMORY instead of waiting.
 *
 * Answer wire format: the body is the answer's bytes; the status travels in the
 * {@link BRIDGE_STATUS_HEADER} header (`ok`, `error`, `named-error`, or `again` when
 * the service worker has waited {@link BRIDGE_HOLD_MS} without an answer and the worker
 * should ask once more — no fetch event is held long enough for an engine to end it).
 * @module
 */
import type { BridgeCall } from './bridge-call.ts';
import { bridgeAnswer } from './bridge-call.ts';
import { SharedMemoryRequiredError } from './errors.ts';
import { BRIDGE_ERROR, BRIDGE_NAMED_ERROR, BRIDGE_OK, type HostOp } from './protocol.ts';

/** The path segment, under the service worker's scope, of the requests the bridge makes. */
export const ASYNC_BRIDGE_PATH = '__liquidmesh/bridge';
/** Response header carrying the answer's status. */
export const BRIDGE_STATUS_HEADER = 'x-liquidmesh-bridge';
/** How long the service worker holds a request without an answer before it says `again`. */
export const BRIDGE_HOLD_MS = 20_000;
/** The id a page asks to learn that a service worker answers the bridge. */
export const BRIDGE_PROBE_ID = 'probe';

/** Status words on the wire, by the bridge's status numbers (protocol.ts). */
export const BRIDGE_STATUS_WORDS: Record<number, string> = { [BRIDGE_OK]: 'ok', [BRIDGE_ERROR]: 'error', [BRIDGE_NAMED_ERROR]: 'named-error' };

/** What the page posts to the service worker for one answer. */
export interface BridgeAnswerMessage {
  t: 'liquidmesh-bridge-answer';
  id: string;
  status: number;
  data: Uint8Array;
}

/**
 * The page's side of the bridge without shared memory: where the workers read their
 * answers, and how the page hands one over.
 */
export interface AnswerChannel {
  /** Absolute URL of the bridge (`…/__liquidmesh/bridge`); a worker reads `{url}/{id}`. */
  readonly url: string;
  /** True when a service worker answers the bridge for this page's workers now. */
  available(): Promise<boolean>;
  /** Without waiting: false when no service worker can answer yet (what `grantable` offers follows it). */
  likely(): boolean;
  /** Hand the answer of request `id` to the service worker. */
  answer(id: string, status: number, data: Uint8Array): void;
}

/** A well-formed {@link BridgeAnswerMessage}, or null for anything else a message may carry. */
export function parseAnswerMessage(data: unknown): BridgeAnswerMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Partial<BridgeAnswerMessage>;
  if (m.t !== 'liquidmesh-bridge-answer' || typeof m.id !== 'string' || !/^[0-9a-f-]{8,64}$/.test(m.id)) return null;
  if (typeof m.status !== 'number' || !(m.status in BRIDGE_STATUS_WORDS) || !(m.data instanceof Uint8Array)) return null;
  return m as BridgeAnswerMessage;
}

/**
 * A bridge call that posts its request with `post` and blocks on a synchronous request
 * to `url` until the service worker hands over the page's answer.
 * @throws SharedMemoryRequiredError (`ERR_NO_SHARED_MEMORY`) when no service worker
 *   answers (the worker is not controlled by one); otherwise as {@link bridgeAnswer}.
 */
export function xhrBridgeCaller(url: string, post: (op: HostOp, args: unknown[], id: string, transfer?: Transferable[]) => void): BridgeCall {
  const statusOf = new Map(Object.entries(BRIDGE_STATUS_WORDS).map(([n, w]) => [w, Number(n)]));
  return (op, args, transfer) => {
    const id = crypto.randomUUID();
    post(op, args, id, transfer);
    for (;;) {
      const xhr = new XMLHttpRequest();
      xhr.open('GET', `${url}/${id}`, false);
      xhr.responseType = 'arraybuffer';
      xhr.send();
      const word = xhr.getResponseHeader(BRIDGE_STATUS_HEADER);
      if (word === 'again') continue;
      const status = word === null ? undefined : statusOf.get(word);
      if (xhr.status !== 200 || status === undefined) {
        throw new SharedMemoryRequiredError(`host ${op} needs a service worker to answer it without SharedArrayBuffer, and none answered (HTTP ${xhr.status})`);
      }
      return bridgeAnswer(op, status, new Uint8Array(xhr.response as ArrayBuffer));
    }
  };
}

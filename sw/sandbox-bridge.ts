/**
 * The service worker's part of the sandbox bridge without shared memory
 * (shared/sandbox/async-bridge.ts, ADR 0039): a sandbox worker blocked in a synchronous
 * request for `…/__liquidmesh/bridge/{id}` gets the answer the page posted for `id`.
 * Whichever comes first waits for the other: a request for at most BRIDGE_HOLD_MS (then
 * it is told `again`), an answer for at most ANSWER_KEPT_MS (the worker that asked may
 * have been stopped meanwhile, and nothing else will read it).
 */
import {
  ASYNC_BRIDGE_PATH,
  BRIDGE_HOLD_MS,
  BRIDGE_PROBE_ID,
  BRIDGE_STATUS_HEADER,
  BRIDGE_STATUS_WORDS,
  type BridgeAnswerMessage,
  parseAnswerMessage,
} from '../shared/sandbox/async-bridge.ts';

/** The part of a fetch event the bridge uses. */
export interface BridgeFetchEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}

/** How long an answer nobody has asked for yet is kept. */
const ANSWER_KEPT_MS = 60_000;

const PATH_MARK = `/${ASYNC_BRIDGE_PATH}/`;
/** Requests waiting for their answer, by id. */
const waiting = new Map<string, (answer: BridgeAnswerMessage | null) => void>();
/** Answers that came before their request, by id. */
const early = new Map<string, BridgeAnswerMessage>();

function respond(answer: BridgeAnswerMessage | null): Response {
  if (!answer) return new Response(null, { status: 200, headers: { [BRIDGE_STATUS_HEADER]: 'again' } });
  // A copy that owns its buffer: the body must not carry bytes around the answer's view.
  return new Response(answer.data.slice(), {
    status: 200,
    headers: { [BRIDGE_STATUS_HEADER]: BRIDGE_STATUS_WORDS[answer.status]!, 'content-type': 'application/octet-stream', 'cache-control': 'no-store' },
  });
}

/** Answer `event` when it is a bridge request (true), else leave it alone (false). */
export function serveBridgeRequest(event: BridgeFetchEvent): boolean {
  const url = new URL(event.request.url);
  const at = url.pathname.lastIndexOf(PATH_MARK);
  if (at < 0 || event.request.method !== 'GET') return false;
  const id = url.pathname.slice(at + PATH_MARK.length);
  if (id === BRIDGE_PROBE_ID) {
    event.respondWith(new Response(null, { status: 200, headers: { [BRIDGE_STATUS_HEADER]: 'probe' } }));
    return true;
  }
  const answer = early.get(id);
  if (answer) {
    early.delete(id);
    event.respondWith(respond(answer));
    return true;
  }
  event.respondWith(
    new Promise<Response>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(respond(null));
      }, BRIDGE_HOLD_MS);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(respond(a));
      });
    }),
  );
  return true;
}

/**
 * Take the page's answer when `data` is one (true): it goes to the request waiting for
 * it, or is kept for the request to come. Anything else is left to other listeners.
 */
export function acceptBridgeAnswer(data: unknown): boolean {
  const answer = parseAnswerMessage(data);
  if (!answer) return false;
  const reader = waiting.get(answer.id);
  if (reader) reader(answer);
  else {
    early.set(answer.id, answer);
    setTimeout(() => early.delete(answer.id), ANSWER_KEPT_MS);
  }
  return true;
}

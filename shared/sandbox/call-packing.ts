/**
 * A compact wire form for the commonest batches between the host and a sandbox worker:
 * calls that pass only scalars, and answers that carry only a value. Structured clone
 * (postMessage) writes and reads every object of a message one by one, and a batch of
 * `{fn, convention: {kind, args}}` requests costs the worker more to read than the calls
 * cost to run; names, arities and values in flat arrays cost a fraction of it. A batch
 * with any other call or answer travels as objects, so order and meaning never depend on
 * the form.
 * @module
 */
import type { CallRequest, WasmValue } from '../ports/sandbox.ts';
import type { HostToWorker, PackedCalls, StateRef, WorkerAnswer, WorkerToHost } from './protocol.ts';

type CallsMessage = Extract<HostToWorker, { t: 'calls' }>;
type AnswersMessage = Extract<WorkerToHost, { t: 'answers' }>;

/** The message that posts `requests` (sequence numbers from `first`), packed when they allow it. */
export function callsMessage(first: number, requests: CallRequest[], stamped: boolean): CallsMessage {
  const packed = packCalls(requests);
  const message: CallsMessage = packed ? { t: 'calls', first, packed } : { t: 'calls', first, requests };
  if (stamped) message.stamped = true;
  return message;
}

/** The requests a calls message carries, in order. */
export function requestsOf(message: CallsMessage): CallRequest[] {
  return 'packed' in message ? unpackCalls(message.packed) : message.requests;
}

/** The message that sends `answers` (with the state after them), packed when they allow it. */
export function answersMessage(answers: WorkerAnswer[], state: StateRef | null | undefined): AnswersMessage {
  const values = packAnswers(answers);
  const message: AnswersMessage = values ? { t: 'answers', values } : { t: 'answers', answers };
  if (state) message.state = state;
  return message;
}

/** The answers an answers message carries, in order. */
export function answersOf(message: AnswersMessage): WorkerAnswer[] {
  return 'values' in message ? unpackAnswers(message.values) : message.answers;
}

/** The requests packed, or null when one of them is more than a function and its scalars. */
export function packCalls(requests: readonly CallRequest[]): PackedCalls | null {
  const fns: string[] = [];
  const arity: number[] = [];
  const args: WasmValue[] = [];
  for (const r of requests) {
    const c = r.convention;
    // Anything beyond a name and scalars (files, outputs, fresh, or a field added later) goes as objects.
    if (c.kind !== 'scalar' || !onlyKeys(r, 'fn', 'convention') || !onlyKeys(c, 'kind', 'args')) return null;
    fns.push(r.fn);
    arity.push(c.args.length);
    for (const a of c.args) args.push(a);
  }
  return { fns, arity, args };
}

/** The requests of a packed batch. */
export function unpackCalls(packed: PackedCalls): CallRequest[] {
  const out: CallRequest[] = [];
  let at = 0;
  for (let i = 0; i < packed.fns.length; i++) {
    const n = packed.arity[i]!;
    out.push({ fn: packed.fns[i]!, convention: { kind: 'scalar', args: packed.args.slice(at, at + n) } });
    at += n;
  }
  return out;
}

/**
 * The answers' values, or null when one answer says more than its value (an error,
 * bytes, files, output). A call that returned nothing is `null` here: `undefined` is
 * not a value a wasm function returns.
 */
export function packAnswers(answers: readonly WorkerAnswer[]): (WasmValue | null)[] | null {
  const values: (WasmValue | null)[] = [];
  for (const a of answers) {
    if (!a.ok || !onlyKeys(a, 'ok', 'value')) return null;
    values.push(a.value ?? null);
  }
  return values;
}

/** The answers of a packed batch. */
export function unpackAnswers(values: readonly (WasmValue | null)[]): WorkerAnswer[] {
  return values.map((value) => (value === null ? { ok: true } : { ok: true, value }));
}

/** Whether `o` has no own enumerable key but `a` and `b` (which it may lack). */
function onlyKeys(o: object, a: string, b: string): boolean {
  for (const key in o) if (key !== a && key !== b && Object.hasOwn(o, key)) return false;
  return true;
}

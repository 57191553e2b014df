/**
 * The packed wire form of calls and answers between host and sandbox worker: what goes
 * in comes out, in order, and anything beyond scalars travels as objects.
 */
import { answersMessage, answersOf, callsMessage, requestsOf } from '../../shared/sandbox/call-packing.ts';
import type { CallRequest } from '../../shared/ports/sandbox.ts';
import type { WorkerAnswer } from '../../shared/sandbox/protocol.ts';

/** What crossing a thread does to a message. */
const cross = <T>(message: T): T => structuredClone(message);

describe('packed calls and answers', () => {
  it('packs scalar calls, and gives back each with its own arguments in order', () => {
    const requests: CallRequest[] = [
      { fn: 'fibo', convention: { kind: 'scalar', args: [12n] } },
      { fn: 'none', convention: { kind: 'scalar', args: [] } },
      { fn: 'mix', convention: { kind: 'scalar', args: [1, -2.5, 2n ** 63n - 1n, Number.NaN] } },
      { fn: 'fibo', convention: { kind: 'scalar', args: [7n] } },
    ];
    const message = cross(callsMessage(3, requests, true));
    expect(message).toMatchObject({ t: 'calls', first: 3, stamped: true });
    expect('packed' in message).toBe(true);
    expect(requestsOf(message)).toEqual(requests);
  });

  it('sends a batch as objects when one call carries more than scalars', () => {
    const requests: CallRequest[] = [
      { fn: 'fibo', convention: { kind: 'scalar', args: [12n] } },
      { fn: 'grayscale', convention: { kind: 'scalar', args: [] }, files: { 'in.png': new Uint8Array([1, 2]) }, outputs: ['out.png'] },
      { fn: 'fresh', convention: { kind: 'scalar', args: [] }, fresh: true },
      { fn: 'echo', convention: { kind: 'bytes', alloc: 'alloc', input: new Uint8Array([3]) } },
      // A field the packed form does not know of is never dropped: the batch goes as objects.
      { fn: 'later', convention: { kind: 'scalar', args: [1] }, deadline: 5 } as CallRequest,
      { fn: 'later', convention: { kind: 'scalar', args: [1], hint: 'x' } as CallRequest['convention'] },
    ];
    for (const odd of requests.slice(1)) {
      const message = cross(callsMessage(0, [requests[0]!, odd], false));
      expect('requests' in message && !('stamped' in message)).toBe(true);
      expect(requestsOf(message)).toEqual([requests[0], odd]);
    }
  });

  it('packs answers that are values alone, and keeps errors, files and output apart from the others', () => {
    const values: WorkerAnswer[] = [{ ok: true, value: 233n }, { ok: true }, { ok: true, value: -1.5 }];
    const packed = cross(answersMessage(values, undefined));
    expect('values' in packed && !('state' in packed)).toBe(true);
    expect(answersOf(packed)).toEqual(values);
    const others: WorkerAnswer[] = [
      { ok: false, error: { code: 'ERR_WASM_TRAP', message: 'unreachable' } },
      { ok: true, value: 1, stdout: 'hi\n' },
      { ok: true, stderr: 'warn' },
      { ok: true, files: { 'out.txt': new Uint8Array([1]) } },
      { ok: true, bytes: new Uint8Array([9]) },
      { ok: true, value: 2, took: 3 } as WorkerAnswer,
    ];
    for (const odd of others) {
      const message = cross(answersMessage([values[0]!, odd, values[2]!], { turn: 1, memoryBytes: 0, globals: [] }));
      expect('answers' in message).toBe(true);
      expect(message.state).toEqual({ turn: 1, memoryBytes: 0, globals: [] });
      expect(answersOf(message)).toEqual([values[0], odd, values[2]]);
    }
  });
});

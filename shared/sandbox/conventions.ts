/**
 * The calling conventions a call can use (ports/sandbox.ts `CallConvention`), one handler
 * each: how its inputs get into the module's memory, how the function is called and what
 * comes back. {@link runCall} also feeds the call's files in and collects its outputs.
 * @module
 */
import { File } from '@bjorn3/browser_wasi_shim';
import { utf8 } from '../bytes.ts';
import type { CallConvention, CallRequest, CallResult, WasmValue } from '../ports/sandbox.ts';
import { FunctionNotFoundError, MemoryLimitExceededError } from './errors.ts';
import { exportedFunction, type Unit, wrote } from './unit.ts';

/** What a convention's handler returns: the function's value and/or bytes read back. */
export interface ConventionResult {
  value?: WasmValue;
  bytes?: Uint8Array;
}

/** A handler for the convention of kind `K`. */
export type ConventionHandler<K extends CallConvention['kind']> = (l: Unit, fn: string, c: Extract<CallConvention, { kind: K }>) => ConventionResult;

function valueOf(value: unknown): ConventionResult {
  return typeof value === 'number' || typeof value === 'bigint' ? { value } : {};
}

function memoryOf(l: Unit): WebAssembly.Memory {
  if (!l.memory) throw new FunctionNotFoundError('module exports no memory to pass the inputs in');
  return l.memory;
}

/** Each convention's handler, by kind. */
export const CONVENTIONS: { readonly [K in CallConvention['kind']]: ConventionHandler<K> } = {
  // Numbers in, a number out.
  scalar: (l, fn, c) => valueOf(exportedFunction(l, fn)(...c.args)),

  // WasmIoT's `fn(inPtr, inLen, outLenPtr) -> outPtr`, the input in memory from `alloc`.
  bytes: (l, fn, c) => {
    const alloc = exportedFunction(l, c.alloc);
    const target = exportedFunction(l, fn);
    const inPtr = Number(alloc(c.input.byteLength));
    const lenPtr = Number(alloc(4));
    if (inPtr === 0 || lenPtr === 0) throw new MemoryLimitExceededError('alloc returned a null pointer');
    new Uint8Array(memoryOf(l).buffer, inPtr, c.input.byteLength).set(c.input);
    wrote(l, inPtr, c.input.byteLength);
    const outPtr = Number(target(inPtr, c.input.byteLength, lenPtr));
    const outLen = new DataView(memoryOf(l).buffer).getUint32(lenPtr, true);
    return { bytes: new Uint8Array(memoryOf(l).buffer, outPtr, outLen).slice() };
  },

  // A pub/sub delivery: `fn(topicPtr, topicLen, dataPtr, dataLen)`.
  message: (l, fn, c) => {
    const alloc = exportedFunction(l, c.alloc);
    const target = exportedFunction(l, fn);
    const topic = utf8(c.topic);
    const topicPtr = Number(alloc(topic.byteLength));
    const dataPtr = Number(alloc(c.data.byteLength));
    if (topicPtr === 0 || (dataPtr === 0 && c.data.byteLength > 0)) throw new MemoryLimitExceededError('alloc returned a null pointer');
    // Written after both allocations: either may have grown (and so replaced) the buffer.
    new Uint8Array(memoryOf(l).buffer, topicPtr, topic.byteLength).set(topic);
    new Uint8Array(memoryOf(l).buffer, dataPtr, c.data.byteLength).set(c.data);
    wrote(l, topicPtr, topic.byteLength);
    wrote(l, dataPtr, c.data.byteLength);
    return valueOf(target(topicPtr, topic.byteLength, dataPtr, c.data.byteLength));
  },

  // Several byte inputs, each as a pointer and a length.
  buffers: (l, fn, c) => {
    const alloc = exportedFunction(l, c.alloc);
    const target = exportedFunction(l, fn);
    const ptrs = c.inputs.map((input) => Number(alloc(input.byteLength)));
    if (ptrs.some((p, i) => p === 0 && c.inputs[i]!.byteLength > 0)) throw new MemoryLimitExceededError('alloc returned a null pointer');
    // Written after every allocation: any of them may have grown (and so replaced) the buffer.
    c.inputs.forEach((input, i) => {
      new Uint8Array(memoryOf(l).buffer, ptrs[i], input.byteLength).set(input);
      wrote(l, ptrs[i]!, input.byteLength);
    });
    return valueOf(target(...c.inputs.flatMap((input, i) => [ptrs[i]!, input.byteLength])));
  },

  // A buffer the module owns (its address from `pointer()`), changed in place.
  buffer: (l, fn, c) => {
    const ptr = Number(exportedFunction(l, c.pointer)());
    new Uint8Array(memoryOf(l).buffer, ptr, c.input.byteLength).set(c.input);
    wrote(l, ptr, c.input.byteLength);
    const result = valueOf(exportedFunction(l, fn)());
    return { ...result, bytes: new Uint8Array(memoryOf(l).buffer, ptr, c.input.byteLength).slice() };
  },
};

/** Run one call on a unit in its convention, with its files in and its outputs collected. */
export function runCall(l: Unit, request: CallRequest): CallResult {
  for (const [name, bytes] of Object.entries(request.files ?? {})) l.dir.dir.contents.set(name, new File(bytes));
  for (const name of request.outputs ?? []) l.dir.dir.contents.delete(name);
  l.stdout.length = 0;
  l.stderr.length = 0;
  const c = request.convention;
  const handler = Object.hasOwn(CONVENTIONS, c.kind) ? (CONVENTIONS[c.kind] as ConventionHandler<typeof c.kind>) : undefined;
  // The kind comes off the wire: one no handler knows is refused by name.
  if (!handler) throw new FunctionNotFoundError(`no calling convention ${String(c.kind)}`);
  const outcome = handler(l, request.fn, c);
  const result: CallResult = { files: {}, stdout: '', stderr: '' };
  if (outcome.value !== undefined) result.value = outcome.value;
  if (outcome.bytes) result.bytes = outcome.bytes;
  for (const name of request.outputs ?? []) {
    const inode = l.dir.dir.contents.get(name);
    if (inode instanceof File) result.files[name] = inode.data.slice();
  }
  result.stdout = l.stdout.join('');
  result.stderr = l.stderr.join('');
  return result;
}

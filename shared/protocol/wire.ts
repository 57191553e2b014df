/**
 * The peer-to-peer wire protocol as pure functions: every message a peer sends on a
 * link, its encoding (lib0's compact binary `any` encoding, which carries byte arrays
 * and bigints natively) and validation. Decoding never throws: a bad message comes back
 * as an error value for the caller to log and drop.
 * @module
 */
import * as encoding from 'lib0/encoding';
import type { ErrorInfo } from '../errors.ts';
import { decodeAny, encodeAny, encodeAnyInto, sizeOfAny } from './any-codec.ts';
import { any, bytes, type Check, type Checked, isPlainObject, num, obj, opt, str } from './check.ts';

/** Protocol version carried in `hello`; peers with another version are refused. */
export const PROTOCOL_VERSION = 1;

/** First message on a link: who I claim to be, and a challenge for you to sign. */
export interface HelloMessage { t: 'hello'; v: number; id: string; pk: Uint8Array; nonce: Uint8Array }
/**
 * Answer to a hello: my public key and my signature over your challenge and both ids.
 * It carries the key itself so that it can be checked even if my own hello was lost.
 */
export interface AuthMessage { t: 'auth'; pk: Uint8Array; sig: Uint8Array }
/** One piece of a message larger than the transport's maximum. */
export interface FragmentMessage { t: 'frag'; k: string; i: number; n: number; d: Uint8Array }
/** Registry sync step 1: my state vector. */
export interface SyncStep1Message { t: 'sync1'; sv: Uint8Array }
/** Registry sync step 2: what you miss, given your state vector. */
export interface SyncStep2Message { t: 'sync2'; u: Uint8Array }
/** A registry update made or relayed by the sender. */
export interface UpdateMessage { t: 'update'; u: Uint8Array }
/** A presence (Yjs awareness) update. */
export interface AwarenessMessage { t: 'aware'; u: Uint8Array }
/** An RPC frame. */
export interface RpcMessage { t: 'rpc'; f: RpcFrame }
/**
 * A message for a peer we hold no link to, handed from link to link: source and
 * destination ids, hops left, the source's wall-clock time, the encoded inner message
 * and the source's signature over all of it (see `shared/routing/router.ts`).
 */
export interface RouteMessage { t: 'route'; s: string; d: string; h: number; ts: number; b: Uint8Array; sig: Uint8Array }

/** Every message on a link. */
export type WireMessage =
  | HelloMessage
  | AuthMessage
  | FragmentMessage
  | SyncStep1Message
  | SyncStep2Message
  | UpdateMessage
  | AwarenessMessage
  | RpcMessage
  | RouteMessage;

/** RPC request. */
export interface RpcRequest { t: 'req'; id: string; m: string; p: unknown }
/** RPC success. */
export interface RpcResponse { t: 'res'; id: string; r: unknown }
/** RPC failure, as a named error's wire form. */
export interface RpcErrorFrame { t: 'err'; id: string; e: ErrorInfo }
/** The caller gave up (timeout or abort): the callee may stop working. */
export interface RpcCancel { t: 'cancel'; id: string }
/** Every RPC frame. */
export type RpcFrame = RpcRequest | RpcResponse | RpcErrorFrame | RpcCancel;

const id = str({ min: 1, max: 64 });
const rpcFrameChecks: Record<RpcFrame['t'], Check<unknown>> = {
  req: obj({ id, m: str({ min: 1, max: 200 }), p: opt(any) }),
  res: obj({ id, r: opt(any) }),
  err: obj({ id, e: obj({ code: str({ min: 1, max: 100 }), message: str({ max: 10_000 }), data: opt(any) }) }),
  cancel: obj({ id }),
};

const MAX_MESSAGE = 1 << 30;
const messageChecks: Record<WireMessage['t'], Check<unknown>> = {
  hello: obj({ v: num({ int: true }), id: str({ pattern: /^[0-9a-f]{32}$/ }), pk: bytes(32), nonce: bytes(64) }),
  auth: obj({ pk: bytes(32), sig: bytes(64) }),
  frag: obj({ k: str({ min: 1, max: 200 }), i: num({ int: true, min: 0 }), n: num({ int: true, min: 1, max: 1 << 20 }), d: bytes(MAX_MESSAGE) }),
  sync1: obj({ sv: bytes(MAX_MESSAGE) }),
  sync2: obj({ u: bytes(MAX_MESSAGE) }),
  update: obj({ u: bytes(MAX_MESSAGE) }),
  aware: obj({ u: bytes(MAX_MESSAGE) }),
  rpc: obj({ f: validateRpcFrameCheck }),
  route: obj({
    s: str({ pattern: /^[0-9a-f]{32}$/ }),
    d: str({ pattern: /^[0-9a-f]{32}$/ }),
    h: num({ int: true, min: 0, max: 64 }),
    ts: num({ int: true, min: 0 }),
    b: bytes(MAX_MESSAGE),
    sig: bytes(64),
  }),
};

function validateRpcFrameCheck(v: unknown, p = ''): Checked<unknown> {
  if (!isPlainObject(v) || typeof v.t !== 'string' || !(v.t in rpcFrameChecks)) {
    return { ok: false, error: `${p}.t: unknown rpc frame type` };
  }
  return rpcFrameChecks[v.t as RpcFrame['t']](v, p);
}

/** Encode a message for a transport. */
export function encodeMessage(message: WireMessage): Uint8Array {
  return encodeAny(message);
}

/** Decode and validate a message; never throws. */
export function decodeMessage(data: Uint8Array): Checked<WireMessage> {
  let value: unknown;
  try {
    const decoded = decodeAny(data);
    value = decoded.value;
    if (decoded.length !== data.byteLength) return { ok: false, error: 'trailing bytes after message' };
  } catch (error) {
    return { ok: false, error: `undecodable message: ${(error as Error).message}` };
  }
  if (!isPlainObject(value) || typeof value.t !== 'string' || !(value.t in messageChecks)) {
    return { ok: false, error: 'unknown message type' };
  }
  const r = messageChecks[value.t as WireMessage['t']](value, value.t);
  return r.ok ? { ok: true, value: value as unknown as WireMessage } : r;
}

/**
 * Encode `message` for a transport that carries at most `maxMessageSize` bytes per
 * message: its encoding when that fits, else the encodings of `frag` messages that carry
 * it in order, named `key` (a function is called only when the message needs fragments).
 * Fragments are cut from the one encoded buffer, one exactly sized buffer each; they are
 * produced as the caller iterates, so only one is held at a time.
 */
export function* encodeForTransport(message: WireMessage, maxMessageSize: number, key: string | (() => string)): Generator<Uint8Array> {
  const encoded = encodeAny(message);
  if (encoded.byteLength <= maxMessageSize) yield encoded;
  else yield* fragmentsOf(encoded, maxMessageSize, typeof key === 'string' ? key : key());
}

/** The `frag` messages, named `key`, that carry the encoded message `encoded` in pieces a transport carrying `maxMessageSize` bytes takes. */
export function* fragmentsOf(encoded: Uint8Array, maxMessageSize: number, key: string): Generator<Uint8Array> {
  const length = encoded.byteLength;
  // Room for the fragment's own header: type tag, key, two varints, byte length.
  const room = maxMessageSize - 64 - key.length * 3;
  if (room <= 0) throw new RangeError('maxMessageSize too small to fragment');
  const n = Math.ceil(length / room);
  for (let i = 0; i < n; i++) {
    const size = Math.min(room, length - i * room);
    const head = fragmentHeader(key, i, n, size);
    const out = new Uint8Array(head.byteLength + size);
    out.set(head);
    out.set(encoded.subarray(i * room, i * room + size), head.byteLength);
    yield out;
  }
}

/**
 * `message` as the frames a transport with `headroom` bytes of header and messages of at
 * most `maxMessageSize` bytes sends: its encoding, or the `frag` messages that carry it
 * (named `key()`), each after `headroom` free bytes. Every frame is a view of one buffer
 * the size of them all: the message is encoded into its tail and each piece is moved
 * forward to sit behind its fragment's header, so a large message is allocated and
 * copied once here, not once whole and again per fragment and per transport frame.
 */
export function framesOf(message: WireMessage, maxMessageSize: number, headroom: number, key: () => string): Uint8Array[] {
  const length = sizeOfAny(message);
  if (length <= maxMessageSize) {
    const frame = new Uint8Array(headroom + length);
    encodeAnyInto(message, frame, headroom);
    return [frame];
  }
  const name = key();
  const room = maxMessageSize - 64 - name.length * 3;
  if (room <= 0) throw new RangeError('maxMessageSize too small to fragment');
  const n = Math.ceil(length / room);
  const heads: Uint8Array[] = [];
  let total = length;
  for (let i = 0; i < n; i++) {
    const head = fragmentHeader(name, i, n, Math.min(room, length - i * room));
    heads.push(head);
    total += headroom + head.byteLength;
  }
  const buffer = new Uint8Array(total);
  const start = total - length;
  encodeAnyInto(message, buffer, start);
  // Piece i moves from start + i·room to behind its header, never past where it was: the
  // headers in front of it take no more room than all of them, which is `start`.
  const frames: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const head = heads[i]!;
    const size = Math.min(room, length - i * room);
    const data = at + headroom + head.byteLength;
    buffer.copyWithin(data, start + i * room, start + i * room + size);
    buffer.set(head, at + headroom);
    frames.push(buffer.subarray(at, data + size));
    at = data + size;
  }
  return frames;
}

/**
 * The encoding of `{ t: 'frag', k, i, n, d }` up to the first byte of `d`, in exactly the
 * layout `encoding.writeAny` gives that object, so `decodeMessage` reads the whole.
 */
function fragmentHeader(key: string, i: number, n: number, dataBytes: number): Uint8Array {
  const e = encoding.createEncoder();
  encoding.write(e, ANY_OBJECT);
  encoding.writeVarUint(e, 5);
  encoding.writeVarString(e, 't');
  encoding.write(e, ANY_STRING);
  encoding.writeVarString(e, 'frag');
  encoding.writeVarString(e, 'k');
  encoding.write(e, ANY_STRING);
  encoding.writeVarString(e, key);
  encoding.writeVarString(e, 'i');
  encoding.write(e, ANY_INTEGER);
  encoding.writeVarInt(e, i);
  encoding.writeVarString(e, 'n');
  encoding.write(e, ANY_INTEGER);
  encoding.writeVarInt(e, n);
  encoding.writeVarString(e, 'd');
  encoding.write(e, ANY_BYTES);
  encoding.writeVarUint(e, dataBytes);
  return encoding.toUint8Array(e);
}

/**
 * First byte of a bulk piece: a run of a blob's bytes that travels beside the RPC answer
 * that asked for it (`blob.read` with a `stream`), written by the receiver straight to
 * where it belongs instead of being reassembled and decoded (ADR 0031). lib0's `any`
 * encoding starts every message with a type tag from 116 up, so a 1 never starts a
 * message of the other kinds: a peer of an earlier build drops a piece as malformed, and
 * is never sent one (it never asks for a stream).
 */
export const BULK_TAG = 1;

/** A bulk piece: `data` are the bytes at `offset` of the stream `stream` the receiver opened. */
export interface BulkPiece {
  stream: number;
  offset: number;
  data: Uint8Array;
}

/** Most bytes of a bulk piece's header: the tag and two varuints of at most 53 bits. */
const BULK_HEADER_MAX = 1 + 8 + 8;

/**
 * The frames that carry `bytes` (the run at `offset` of stream `stream`) on a transport
 * with `headroom` bytes of header and messages of at most `maxMessageSize` bytes: each
 * frame its own buffer, made as the caller iterates (one at a time held here), the header
 * and a piece of `bytes` copied in behind the headroom.
 */
export function* bulkFramesOf(stream: number, offset: number, bytes: Uint8Array, maxMessageSize: number, headroom: number): Generator<Uint8Array> {
  const room = maxMessageSize - BULK_HEADER_MAX;
  if (room <= 0) throw new RangeError('maxMessageSize too small for bulk pieces');
  for (let at = 0; at < bytes.byteLength; at += room) {
    const size = Math.min(room, bytes.byteLength - at);
    const headerBytes = 1 + varUintBytes(stream) + varUintBytes(offset + at);
    const frame = new Uint8Array(headroom + headerBytes + size);
    let pos = headroom;
    frame[pos++] = BULK_TAG;
    pos = writeVarUint(frame, pos, stream);
    pos = writeVarUint(frame, pos, offset + at);
    frame.set(bytes.subarray(at, at + size), pos);
    yield frame;
  }
}

/**
 * A bulk piece read from a transport message that starts with {@link BULK_TAG}: its
 * stream, offset and a view of its bytes; an error string when the header is cut short
 * or its numbers are not safe integers. Never throws.
 */
export function decodeBulk(data: Uint8Array): { ok: true; value: BulkPiece } | { ok: false; error: string } {
  if (data[0] !== BULK_TAG) return { ok: false, error: 'not a bulk piece' };
  const stream = readVarUint(data, 1);
  if (!stream) return { ok: false, error: 'bulk piece without a stream' };
  const offset = readVarUint(data, stream.end);
  if (!offset) return { ok: false, error: 'bulk piece without an offset' };
  return { ok: true, value: { stream: stream.value, offset: offset.value, data: data.subarray(offset.end) } };
}

function varUintBytes(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarUint(out: Uint8Array, pos: number, n: number): number {
  while (n > 0x7f) {
    out[pos++] = 0x80 | (n % 128);
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** A varuint at `pos` (lib0's layout) and where it ends; undefined when cut short or above 2^53. */
function readVarUint(data: Uint8Array, pos: number): { value: number; end: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= data.byteLength) return undefined;
    const byte = data[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return Number.isSafeInteger(value) ? { value, end: pos } : undefined;
    scale *= 128;
  }
  return undefined;
}

/** Type tags of lib0's `writeAny` encoding. */
const ANY_BYTES = 116;
const ANY_OBJECT = 118;
const ANY_STRING = 119;
const ANY_INTEGER = 125;

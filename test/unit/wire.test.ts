/**
 * Messages on their way to a transport: one that fits leaves as its own encoding; a
 * larger one leaves as `frag` messages that each fit, decode as ordinary fragments and
 * reassemble into exactly the original message.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../shared/bytes.ts';
import { Reassembler } from '../../shared/protocol/reassembler.ts';
import { decodeMessage, encodeForTransport, encodeMessage, type FragmentMessage, framesOf, type WireMessage } from '../../shared/protocol/wire.ts';

/** An RPC result carrying `size` patterned bytes, like a `blob.read` answer. */
function bigMessage(size: number): WireMessage {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
  return { t: 'rpc', f: { t: 'res', id: 'r42', r: { bytes: data, size, note: 'één range' } } };
}

function fragmentsOf(message: WireMessage, max: number, key = 'blob-ränge'): Uint8Array[] {
  return [...encodeForTransport(message, max, () => key)];
}

describe('encoding a message for a transport', () => {
  it('sends a message that fits as its own encoding, without naming fragments', () => {
    const message: WireMessage = { t: 'update', u: new Uint8Array([1, 2, 3]) };
    let named = 0;
    const out = [...encodeForTransport(message, 1024, () => `k${named++}`)];
    expect(out).toHaveLength(1);
    expect(out[0]).toEqual(encodeMessage(message));
    expect(named).toBe(0);
  });

  it('splits a larger message into fragments that each fit and decode as fragments', () => {
    const max = 16 * 1024;
    const out = fragmentsOf(bigMessage(100_000), max);
    expect(out.length).toBeGreaterThan(6);
    out.forEach((bytes, i) => {
      expect(bytes.byteLength).toBeLessThanOrEqual(max);
      const decoded = decodeMessage(bytes);
      expect(decoded.ok).toBe(true);
      const frag = (decoded as { value: FragmentMessage }).value;
      expect([frag.t, frag.k, frag.i, frag.n]).toEqual(['frag', 'blob-ränge', i, out.length]);
      // Byte for byte what encoding the fragment object gives.
      expect(bytes).toEqual(encodeMessage({ t: 'frag', k: frag.k, i: frag.i, n: frag.n, d: frag.d }));
    });
  });

  it('reassembles into exactly the original message, whatever its length', () => {
    const max = 4096;
    // Lengths around the encoder's internal buffer boundaries and the fragment size.
    for (const size of [4_100, 5_000, 8_000, 12_345, 65_536, 65_537, 200_003]) {
      const message = bigMessage(size);
      const out = fragmentsOf(message, max);
      const parts = out.map((bytes) => (decodeMessage(bytes) as { value: FragmentMessage }).value);
      expect(concatBytes(parts.map((p) => p.d))).toEqual(encodeMessage(message));
      const reassembler = new Reassembler(1 << 24);
      const outcomes = [...parts].reverse().map((p) => reassembler.add('peer', p));
      const last = outcomes.at(-1)!;
      expect(last.kind).toBe('complete');
      const whole = decodeMessage((last as { data: Uint8Array }).data);
      expect(whole.ok && whole.value).toEqual(message);
    }
  });

  it('refuses a transport too small to carry any fragment', () => {
    expect(() => fragmentsOf(bigMessage(1000), 40)).toThrow(RangeError);
  });
});

describe('frames for a transport that writes its own header in front of each message', () => {
  it('leaves room in front of a message that fits, and names no fragments', () => {
    const message: WireMessage = { t: 'update', u: new Uint8Array([1, 2, 3]) };
    let named = 0;
    const frames = framesOf(message, 1024, 1, () => `k${named++}`);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.byteLength).toBe(encodeMessage(message).byteLength + 1);
    expect(frames[0]!.subarray(1)).toEqual(encodeMessage(message));
    expect(named).toBe(0);
  });

  it('carries a larger message in the same fragments as without the room, each behind its own', () => {
    for (const headroom of [0, 1, 5]) {
      for (const size of [4_100, 12_345, 65_537, 200_003]) {
        const message = bigMessage(size);
        const frames = framesOf(message, 4096, headroom, () => 'blob-ränge');
        const expected = fragmentsOf(message, 4096);
        expect(frames).toHaveLength(expected.length);
        // The transport writes its header into the room: no other frame may change.
        for (const frame of frames) frame.fill(0xee, 0, headroom);
        frames.forEach((frame, i) => {
          expect(frame.byteLength).toBeLessThanOrEqual(4096 + headroom);
          expect(frame.subarray(headroom)).toEqual(expected[i]);
        });
        const reassembler = new Reassembler(1 << 24);
        const outcomes = frames.map((frame) => reassembler.add('peer', (decodeMessage(frame.slice(headroom)) as { value: FragmentMessage }).value));
        const whole = decodeMessage((outcomes.at(-1) as { data: Uint8Array }).data);
        expect(whole.ok && whole.value).toEqual(message);
      }
    }
  });

  it('refuses a transport too small to carry any fragment', () => {
    expect(() => framesOf(bigMessage(1000), 40, 1, () => 'k')).toThrow(RangeError);
  });
});

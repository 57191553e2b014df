/**
 * The WebRTC transport's backpressure queue: messages leave in call order even when the
 * buffer drains between two sends, and waiting sends fail when the channel ends.
 */
import { describe, expect, it } from 'vitest';
import { type BufferedChannel, SendQueue } from '../../shared/adapters/send-queue.ts';

/** A channel whose buffer the test fills and drains by hand. */
function fakeChannel(): BufferedChannel & { bufferedAmount: number; readyState: string; fire(type: 'bufferedamountlow' | 'close'): void; listeners: number } {
  const listeners = new Map<string, Set<() => void>>();
  return {
    bufferedAmount: 0,
    readyState: 'open',
    addEventListener(type, listener) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type)!.add(listener);
    },
    removeEventListener(type, listener) {
      listeners.get(type)?.delete(listener);
    },
    fire(type) {
      for (const l of [...(listeners.get(type) ?? [])]) l();
    },
    get listeners() {
      return [...listeners.values()].reduce((n, s) => n + s.size, 0);
    },
  };
}

describe('SendQueue', () => {
  it('sends at once while the buffer is low, and in call order once a send has to wait', async () => {
    const channel = fakeChannel();
    const sent: number[] = [];
    const queue = new SendQueue(channel, 100, (d) => {
      sent.push(d[0]!);
      channel.bufferedAmount += d.byteLength;
    });
    await queue.send(new Uint8Array(150).fill(1));
    const second = queue.send(new Uint8Array(10).fill(2));
    // The buffer drains below the high-water mark without an event yet: a newer send must not overtake.
    channel.bufferedAmount = 50;
    const third = queue.send(new Uint8Array(10).fill(3));
    expect(sent).toEqual([1]);
    expect(queue.waiting).toBe(2);
    channel.fire('bufferedamountlow');
    await Promise.all([second, third]);
    expect(sent).toEqual([1, 2, 3]);
    expect(channel.listeners).toBe(0);
  });

  it('keeps one listener however many sends wait, and fails them all when the channel ends', async () => {
    const channel = fakeChannel();
    const queue = new SendQueue(channel, 100, () => undefined);
    channel.bufferedAmount = 500;
    const waiting = Array.from({ length: 20 }, (_, i) => queue.send(new Uint8Array([i])));
    expect(channel.listeners).toBe(2);
    channel.readyState = 'closed';
    channel.fire('close');
    for (const w of waiting) await expect(w).rejects.toThrow();
    await expect(queue.send(new Uint8Array(1))).rejects.toThrow();
    expect(channel.listeners).toBe(0);
  });
});

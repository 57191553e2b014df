/**
 * Backpressure for one data channel: a message goes out at once while the channel's
 * buffer is at most a high-water mark; above it, sends wait until the buffer drains to
 * its low-water threshold (`bufferedamountlow`). Once one send waits, later ones queue
 * behind it, so messages always leave in call order — a send that found the buffer low
 * can never overtake one that is waiting. One listener per channel however many wait.
 * @module
 */
import { PeerUnreachableError } from '../errors.ts';

/** The part of an RTCDataChannel the queue uses. */
export interface BufferedChannel {
  readonly bufferedAmount: number;
  readonly readyState: string;
  addEventListener(type: 'bufferedamountlow' | 'close', listener: () => void): void;
  removeEventListener(type: 'bufferedamountlow' | 'close', listener: () => void): void;
}

interface Waiting {
  data: Uint8Array;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Ordered sends over one channel, holding back while its buffer is above `highWater`. */
export class SendQueue {
  readonly #channel: BufferedChannel;
  readonly #highWater: number;
  readonly #write: (data: Uint8Array) => void;
  readonly #waiting: Waiting[] = [];
  #listening = false;
  #closed: Error | null = null;

  /** @param write puts one message on the channel (called in order, never while the buffer is above `highWater`). */
  constructor(channel: BufferedChannel, highWater: number, write: (data: Uint8Array) => void) {
    this.#channel = channel;
    this.#highWater = highWater;
    this.#write = write;
  }

  /** Messages waiting for the buffer to drain. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Send `data` now or, if the buffer is full or others wait, after them. */
  send(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#waiting.length === 0 && this.#channel.bufferedAmount <= this.#highWater) {
      this.#write(data);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ data, resolve, reject });
      if (!this.#listening) this.#flush();
    });
  }

  /** The channel ended: every waiting send, and any later one, fails with `error`. */
  close(error: Error): void {
    this.#closed ??= error;
    this.#stopListening();
    for (const w of this.#waiting.splice(0)) w.reject(error);
  }

  readonly #resume = (): void => {
    this.#stopListening();
    this.#flush();
  };

  #flush(): void {
    while (this.#waiting.length > 0) {
      if (this.#channel.readyState !== 'open') {
        this.close(this.#closed ?? new PeerUnreachableError('the channel closed while the send waited'));
        return;
      }
      if (this.#channel.bufferedAmount > this.#highWater) {
        this.#listening = true;
        this.#channel.addEventListener('bufferedamountlow', this.#resume);
        this.#channel.addEventListener('close', this.#resume);
        return;
      }
      const next = this.#waiting.shift()!;
      try {
        this.#write(next.data);
        next.resolve();
      } catch (error) {
        next.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#channel.removeEventListener('bufferedamountlow', this.#resume);
    this.#channel.removeEventListener('close', this.#resume);
  }
}

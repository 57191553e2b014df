/**
 * Streams of bulk pieces this peer asked for: a blob range answered as raw pieces on the
 * link (`blob.read` with a `stream`, ADR 0031) is written by its receiver straight to
 * where the bytes belong, never reassembled or decoded as a message. Each stream is
 * opened for one peer; a piece from anyone else, or for a stream not open (closed,
 * never opened, a late piece of an aborted fetch), is dropped.
 * @module
 */
import type { PeerId } from '../ports/transport.ts';
import type { BulkPiece } from '../protocol/wire.ts';

/** Takes the pieces of one stream: `offset` is where `data` starts in the stream. */
export type BulkSink = (offset: number, data: Uint8Array) => void;

/** An open stream: its number (what the sender puts on each piece), and how to close it. */
export interface OpenStream {
  readonly stream: number;
  close(): void;
}

/** The streams a peer has open, by number. */
export class BulkStreams {
  readonly #open = new Map<number, { from: PeerId; sink: BulkSink }>();
  #next = 0;

  /** Open a stream for pieces from `from`; each goes to `sink` until the stream is closed. */
  open(from: PeerId, sink: BulkSink): OpenStream {
    // Numbers are never reused while this peer lives, so a late piece of a closed stream
    // can never land in a new one.
    const stream = this.#next++;
    this.#open.set(stream, { from, sink });
    return { stream, close: () => void this.#open.delete(stream) };
  }

  /** A piece that arrived from authenticated peer `from`: to its stream's sink, or dropped (false). */
  deliver(from: PeerId, piece: BulkPiece): boolean {
    const entry = this.#open.get(piece.stream);
    if (!entry || entry.from !== from) return false;
    entry.sink(piece.offset, piece.data);
    return true;
  }

  /** Streams open now. */
  get size(): number {
    return this.#open.size;
  }
}

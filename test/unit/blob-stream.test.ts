/**
 * Blob ranges streamed as bulk pieces (`blob.read` with a stream): the wire form of a
 * piece, a fetch that receives its ranges so (with and without an incremental hash), and
 * sources that stream too little, too much, out of place or the wrong bytes — each fails
 * by name and stores nothing; pieces from a peer the stream is not open for are dropped.
 */
import { expect as chaiExpect } from 'chai';
import { describe, expect, it, afterEach } from 'vitest';
import { sha256Hex } from '../../shared/bytes.ts';
import type { Peer } from '../../shared/mesh/peer.ts';
import type { MemoryTransport } from '../../shared/memory/memory-network.ts';
import { BULK_TAG, bulkFramesOf, decodeBulk } from '../../shared/protocol/wire.ts';
import { nodeSha256 } from '../../node-host/node-sha256.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { patternedBytes } from '../helpers/patterned-bytes.ts';
import { createMesh, type Mesh, type MeshOptions } from '../helpers/mesh.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

const blob = patternedBytes;

async function linkedMesh(names: string[], options: MeshOptions = {}): Promise<Mesh> {
  const mesh = await createMesh(names, options);
  await waitFor(() => mesh.peers.every((p) => p.linked().length === names.length - 1), 'every pair to be linked');
  return mesh;
}

/** Put `bytes` at `offset` of `stream` on the wire from `transport` to `to`, as bulk pieces of `max`-byte messages. */
async function sendPieces(transport: MemoryTransport, to: string, stream: number, offset: number, bytes: Uint8Array): Promise<void> {
  for (const frame of bulkFramesOf(stream, offset, bytes, 64 * KiB, 0)) await transport.send(to, frame);
}

describe('bulk pieces on the wire', () => {
  it('carries a run in pieces that each fit, decode to their stream and offset, and join into exactly the run', () => {
    const bytes = blob(200 * KiB + 17, 2);
    const frames = [...bulkFramesOf(7, 3 * MiB, bytes, 64 * KiB, 1)];
    expect(frames.length).toBe(4);
    const joined = new Uint8Array(bytes.byteLength);
    let expected = 3 * MiB;
    for (const frame of frames) {
      expect(frame.byteLength - 1).toBeLessThanOrEqual(64 * KiB);
      expect(frame[1]).toBe(BULK_TAG);
      const piece = decodeBulk(frame.subarray(1));
      if (!piece.ok) throw new Error(piece.error);
      expect(piece.value.stream).toBe(7);
      expect(piece.value.offset).toBe(expected);
      joined.set(piece.value.data, piece.value.offset - 3 * MiB);
      expected += piece.value.data.byteLength;
    }
    chaiExpect(joined).to.deep.equal(bytes);
  });

  it('refuses a cut-short header or an offset beyond 2^53 by name, never throwing', () => {
    expect(decodeBulk(new Uint8Array([BULK_TAG])).ok).toBe(false);
    expect(decodeBulk(new Uint8Array([BULK_TAG, 5, 0x80])).ok).toBe(false);
    expect(decodeBulk(new Uint8Array([BULK_TAG, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1])).ok).toBe(false);
    expect(decodeBulk(new Uint8Array([118, 0])).ok).toBe(false);
  });
});

describe('Peer.fetchBlob over bulk streams', () => {
  let mesh: Mesh | undefined;
  afterEach(async () => {
    await mesh?.stopAll();
    mesh = undefined;
  });

  for (const hashing of ['an incremental hash', 'WebCrypto']) {
    const options: MeshOptions = hashing === 'WebCrypto' ? {} : { sha256: nodeSha256 };

    it(`streams every range from a linked peer and stores the verified blob (${hashing})`, async () => {
      mesh = await linkedMesh(['source', 'fetcher'], options);
      const [source, fetcher] = mesh.peers as [Peer, Peer];
      const bytes = blob(3 * MiB + 5, 4);
      const hash = await source.store.blobs.put(bytes);
      const fetched = await fetcher.fetchBlob(hash, { chunkBytes: 512 * KiB, inFlight: 3 });
      // chai compares large byte arrays quickly; vitest's toEqual walks them element by element.
      chaiExpect(fetched).to.deep.equal(bytes);
      chaiExpect(await fetcher.store.blobs.get(hash)).to.deep.equal(bytes);
      expect(await sha256Hex(await fetcher.store.blobs.get(hash))).toBe(hash);
    });

    it(`rejects streamed bytes that do not match the hash with ERR_HASH_MISMATCH and stores nothing (${hashing})`, async () => {
      mesh = await linkedMesh(['liar', 'fetcher'], options);
      const [liar, fetcher] = mesh.peers as [Peer, Peer];
      const bytes = blob(2 * MiB, 5);
      // Offered bytes are served as they are: changed after the offer, they no longer match.
      const hash = await liar.offerBlob(bytes);
      bytes[MiB + 3] = bytes[MiB + 3]! ^ 0x40;
      for (const keep of [true, false]) {
        const error = await rejectionOf(fetcher.fetchBlob(hash, { keep }));
        expect(error.code).toBe('ERR_HASH_MISMATCH');
        expect(await fetcher.store.blobs.list()).toEqual([]);
      }
    });
  }

  for (const [what, lie] of [
    ['too few bytes', (bytes: Uint8Array) => [{ at: 0, data: bytes.subarray(0, bytes.byteLength - 100) }]],
    ['too many bytes', (bytes: Uint8Array) => [{ at: 0, data: bytes }, { at: bytes.byteLength, data: new Uint8Array(10) }]],
    ['a piece out of place', (bytes: Uint8Array) => [{ at: 100, data: bytes.subarray(100) }, { at: 0, data: bytes.subarray(0, 100) }]],
  ] as const) {
    it(`gives up a source that streams ${what} (ERR_MALFORMED_MESSAGE), storing nothing`, async () => {
      mesh = await linkedMesh(['liar', 'fetcher'], { sha256: nodeSha256 });
      const [liar, fetcher] = mesh.peers as [Peer, Peer];
      const liarTransport = mesh.transports[0]!;
      const bytes = blob(300 * KiB, 6);
      const hash = await liar.store.blobs.put(bytes);
      liar.rpc.handle('blob.read', async ({ offset, length, stream }) => {
        if (stream === undefined) throw new Error('expected a stream');
        for (const piece of lie(bytes.subarray(offset, offset + length))) await sendPieces(liarTransport, fetcher.id, stream, offset + piece.at, piece.data);
        return { size: bytes.byteLength, streamed: length };
      });
      const error = await rejectionOf(fetcher.fetchBlob(hash));
      expect(error.code).toBe('ERR_BLOB_NOT_FOUND');
      expect(((error as unknown as { data: { failures: { code: string }[] } }).data).failures.map((f) => f.code)).toEqual(['ERR_MALFORMED_MESSAGE']);
      expect(await fetcher.store.blobs.list()).toEqual([]);
    });
  }

  it('drops pieces for its stream from a peer it did not open the stream for', async () => {
    mesh = await linkedMesh(['source', 'fetcher', 'meddler'], { sha256: nodeSha256 });
    const [source, fetcher] = mesh.peers as [Peer, Peer, Peer];
    const meddlerTransport = mesh.transports[2]!;
    const bytes = blob(256 * KiB, 7);
    const hash = await source.store.blobs.put(bytes);
    const sourceTransport = mesh.transports[0]!;
    // Before the source streams each range, the meddler streams garbage into the same stream:
    // taken, it would fill the range and the source's own pieces would then spoil it.
    const original = await source.store.blobs.get(hash);
    source.rpc.handle('blob.read', async ({ offset, length, stream }) => {
      if (stream === undefined) throw new Error('expected a stream');
      await sendPieces(meddlerTransport, fetcher.id, stream, offset, new Uint8Array(length).fill(0xee));
      await sendPieces(sourceTransport, fetcher.id, stream, offset, original.subarray(offset, offset + length));
      return { size: original.byteLength, streamed: length };
    });
    chaiExpect(await fetcher.fetchBlob(hash, { chunkBytes: 64 * KiB })).to.deep.equal(bytes);
  });
});

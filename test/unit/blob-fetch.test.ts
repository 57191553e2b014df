import { expect } from 'chai';
import type { BlobFetchProgress } from '../../shared/mesh/blob-fetch.ts';
import { sha256Hex } from '../../shared/bytes.ts';
import type { Peer } from '../../shared/mesh/peer.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { patternedBytes } from '../helpers/patterned-bytes.ts';
import { createMesh, type Mesh } from '../helpers/mesh.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

const blob = patternedBytes;

/** Everyone linked to everyone. */
async function linkedMesh(names: string[]): Promise<Mesh> {
  const mesh = await createMesh(names);
  await waitFor(() => mesh.peers.every((p) => p.linked().length === names.length - 1), 'every pair to be linked');
  return mesh;
}

/**
 * Serve `blob.read` on `peer` from its store as the core does, recording each offset asked
 * for; `hold(offset)` true leaves that request unanswered.
 */
function recordReads(peer: Peer, offsets: number[], hold: (offset: number) => boolean = () => false): void {
  peer.rpc.handle('blob.read', async ({ hash, offset, length }) => {
    offsets.push(offset);
    if (hold(offset)) return new Promise<never>(() => undefined);
    const bytes = await peer.store.blobs.get(hash);
    return { bytes: bytes.subarray(offset, offset + length), size: bytes.byteLength };
  });
}

describe('Peer.fetchBlob', () => {
  let mesh: Mesh | undefined;
  afterEach(async () => {
    await mesh?.stopAll();
    mesh = undefined;
  });

  it('fetches a 5 MiB blob from a peer that has it, reports growing progress, verifies and stores it', async () => {
    mesh = await linkedMesh(['source', 'fetcher']);
    const [source, fetcher] = mesh.peers as [Peer, Peer];
    const bytes = blob(5 * MiB);
    const hash = await source.store.blobs.put(bytes);

    const progress: BlobFetchProgress[] = [];
    const fetched = await fetcher.fetchBlob(hash, { onProgress: (p) => progress.push(p) });

    expect(fetched).to.deep.equal(bytes);
    expect(await fetcher.store.blobs.get(hash)).to.deep.equal(bytes);
    expect(progress.length).to.be.greaterThan(1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.received).to.be.greaterThan(progress[i - 1]!.received);
    expect(progress.at(-1)!.received).to.equal(bytes.byteLength);
    expect(progress.every((p) => p.total === bytes.byteLength && p.from === source.id)).to.equal(true);

    // Stored now: a second fetch needs no peer.
    const again: BlobFetchProgress[] = [];
    await source.stop();
    expect(await fetcher.fetchBlob(hash, { onProgress: (p) => again.push(p) })).to.deep.equal(bytes);
    expect(again).to.deep.equal([]);
  });

  it('resumes from where it was with another peer when the source leaves mid-transfer', async () => {
    mesh = await linkedMesh(['fetcher', 'a', 'b']);
    const [fetcher, a, b] = mesh.peers as [Peer, Peer, Peer];
    const chunkBytes = 64 * KiB;
    const chunks = 16;
    const bytes = blob(chunks * chunkBytes - 1000, 7);
    const hash = await a.store.blobs.put(bytes);
    await b.store.blobs.put(bytes);

    // Whichever peer is read from first answers the first `cut` ranges, then goes quiet and leaves.
    const cut = 5;
    let first: Peer | undefined;
    const served = new Map<Peer, number[]>([[a, []], [b, []]]);
    for (const peer of [a, b]) {
      recordReads(peer, served.get(peer)!, (offset) => {
        first ??= peer;
        return peer === first && offset >= cut * chunkBytes;
      });
    }
    const progress: BlobFetchProgress[] = [];
    const fetched = await fetcher.fetchBlob(hash, {
      chunkBytes,
      onProgress: (p) => {
        progress.push(p);
        if (progress.filter((q) => q.from === first!.id).length === cut) void first!.stop();
      },
    });

    expect(fetched).to.deep.equal(bytes);
    expect(await fetcher.store.blobs.has(hash)).to.equal(true);
    const second = first === a ? b : a;
    const expectedRest = Array.from({ length: chunks - cut }, (_, i) => (cut + i) * chunkBytes);
    expect([...served.get(second!)!].sort((x, y) => x - y)).to.deep.equal(expectedRest);
    expect(progress.filter((p) => p.from === first!.id).length).to.equal(cut);
    expect(progress.filter((p) => p.from === second.id).length).to.equal(chunks - cut);
    expect(progress.map((p) => p.received)).to.deep.equal([...progress.map((p) => p.received)].sort((x, y) => x - y));
    expect(progress.at(-1)!.received).to.equal(bytes.byteLength);
  });

  it('rejects bytes that do not match the hash with ERR_HASH_MISMATCH and stores nothing', async () => {
    mesh = await linkedMesh(['liar', 'fetcher']);
    const [liar, fetcher] = mesh.peers as [Peer, Peer];
    const bytes = blob(700 * KiB, 3);
    const hash = await liar.store.blobs.put(bytes);
    liar.rpc.handle('blob.read', async ({ offset, length }) => {
      const range = bytes.slice(offset, offset + length);
      range[0] = range[0]! ^ 0xff;
      return { bytes: range, size: bytes.byteLength };
    });

    const error = await rejectionOf(fetcher.fetchBlob(hash));
    expect(error.code).to.equal('ERR_HASH_MISMATCH');
    expect(await fetcher.store.blobs.has(hash)).to.equal(false);
    expect(await fetcher.store.blobs.list()).to.deep.equal([]);
  });

  it('serves an offered blob from memory and, with keep: false, hands it over verified without storing it', async () => {
    mesh = await linkedMesh(['source', 'fetcher']);
    const [source, fetcher] = mesh.peers as [Peer, Peer];
    const bytes = blob(3 * MiB, 5);
    const hash = await source.offerBlob(bytes);
    expect(hash).to.equal(await sha256Hex(bytes));
    // Offered twice, as two migrations of the same state would.
    expect(await source.offerBlob(bytes)).to.equal(hash);

    expect(await fetcher.fetchBlob(hash, { keep: false, chunkBytes: MiB })).to.deep.equal(bytes);
    expect(await fetcher.store.blobs.has(hash)).to.equal(false);
    expect(await source.store.blobs.has(hash)).to.equal(false);

    // One withdrawal of two: still served. Both: gone from the mesh.
    expect(source.withdrawBlob(hash)).to.equal(true);
    expect(await fetcher.fetchBlob(hash, { keep: false })).to.deep.equal(bytes);
    expect(source.withdrawBlob(hash)).to.equal(true);
    expect(source.withdrawBlob(hash)).to.equal(false);
    expect((await rejectionOf(fetcher.fetchBlob(hash, { keep: false }))).code).to.equal('ERR_BLOB_NOT_FOUND');
  });

  it('with keep: false still rejects bytes that do not match the hash with ERR_HASH_MISMATCH', async () => {
    mesh = await linkedMesh(['liar', 'fetcher']);
    const [liar, fetcher] = mesh.peers as [Peer, Peer];
    const bytes = blob(300 * KiB, 6);
    const hash = await liar.offerBlob(bytes);
    liar.rpc.handle('blob.read', async ({ offset, length }) => {
      const range = bytes.slice(offset, offset + length);
      range[range.length - 1] = range[range.length - 1]! ^ 1;
      return { bytes: range, size: bytes.byteLength };
    });
    const error = await rejectionOf(fetcher.fetchBlob(hash, { keep: false }));
    expect(error.code).to.equal('ERR_HASH_MISMATCH');
    expect(await fetcher.store.blobs.list()).to.deep.equal([]);
  });

  it('rejects with ERR_BLOB_NOT_FOUND when no peer has the blob', async () => {
    mesh = await linkedMesh(['fetcher', 'x', 'y']);
    const [fetcher] = mesh.peers as [Peer];
    const hash = await sha256Hex(blob(1000, 9));
    const error = await rejectionOf(fetcher.fetchBlob(hash));
    expect(error.code).to.equal('ERR_BLOB_NOT_FOUND');
    expect(await fetcher.store.blobs.has(hash)).to.equal(false);
  });

  it('rejects with ERR_BLOB_NOT_FOUND when the only peer that has it leaves mid-transfer', async () => {
    mesh = await linkedMesh(['fetcher', 'only']);
    const [fetcher, only] = mesh.peers as [Peer, Peer];
    const hash = await only.store.blobs.put(blob(512 * KiB, 4));
    recordReads(only, [], (offset) => offset >= 128 * KiB);
    const error = await rejectionOf(
      fetcher.fetchBlob(hash, {
        chunkBytes: 64 * KiB,
        onProgress: (p) => {
          if (p.received === 128 * KiB) void only.stop();
        },
      }),
    );
    expect(error.code).to.equal('ERR_BLOB_NOT_FOUND');
    expect(await fetcher.store.blobs.has(hash)).to.equal(false);
  });

  it('stops with ERR_ABORTED when the signal aborts, storing nothing', async () => {
    mesh = await linkedMesh(['source', 'fetcher']);
    const [source, fetcher] = mesh.peers as [Peer, Peer];
    const hash = await source.store.blobs.put(blob(1 * MiB, 5));
    recordReads(source, [], (offset) => offset >= 256 * KiB);
    const controller = new AbortController();
    const error = await rejectionOf(fetcher.fetchBlob(hash, { signal: controller.signal, chunkBytes: 256 * KiB, onProgress: () => controller.abort() }));
    expect(error.code).to.equal('ERR_ABORTED');
    expect(await fetcher.store.blobs.has(hash)).to.equal(false);
    expect((await fetcher.call(source.id, 'peer.ping', { sentAt: 1 })).peer).to.equal(source.id);
  });

  it('rejects a malformed hash with ERR_INVALID_HASH', async () => {
    mesh = await linkedMesh(['source', 'fetcher']);
    const [, fetcher] = mesh.peers as [Peer, Peer];
    const error = await rejectionOf(fetcher.fetchBlob('not-a-hash'));
    expect(error.code).to.equal('ERR_INVALID_HASH');
  });
});

// The memo that lets the peers of one process (a bench running hundreds) open each mesh-bus
// message once: it reuses a decryption only for the very same sealed bytes under the very
// same mesh keys, and a signature check only for the very plaintext it handed out.
import { expect } from 'chai';
import { deriveMeshKeys } from '../../shared/adapters/mesh-secret.ts';
import { BusMemo } from '../../shared/bus-memo.ts';
import { utf8 } from '../../shared/bytes.ts';

describe('BusMemo', () => {
  it('decrypts the same sealed bytes once for every peer that received them, and hands each the same plaintext', async () => {
    const keys = await deriveMeshKeys('memo', 's');
    const memo = new BusMemo();
    const sealed = await keys.encrypt(utf8('digest'));
    let decryptions = 0;
    const decrypt = (bytes: Uint8Array): Promise<Uint8Array | null> => {
      decryptions++;
      return keys.decrypt(bytes);
    };
    // Each peer's connection delivers its own copy of the bytes.
    const plains = await Promise.all([0, 1, 2].map(() => memo.open(keys, sealed.slice(), decrypt)));
    expect(decryptions).to.equal(1);
    expect(new TextDecoder().decode(plains[0]!)).to.equal('digest');
    expect(plains[1]).to.equal(plains[0]);
    let checks = 0;
    const verdicts = plains.map((p) => memo.verified(p!, () => (checks++, true)));
    expect(verdicts).to.deep.equal([true, true, true]);
    expect(checks).to.equal(1);
  });

  it('opens afresh bytes that differ anywhere, even behind the same IV, and keeps meshes apart', async () => {
    const keys = await deriveMeshKeys('memo', 's');
    const other = await deriveMeshKeys('memo', 'another secret');
    const memo = new BusMemo();
    const sealed = await keys.encrypt(utf8('genuine'));
    expect(new TextDecoder().decode((await memo.open(keys, sealed, (b) => keys.decrypt(b)))!)).to.equal('genuine');
    // The same IV and length, one byte of the ciphertext changed: not the same message.
    const tampered = sealed.slice();
    tampered[20] = tampered[20]! ^ 1;
    expect(await memo.open(keys, tampered, (b) => keys.decrypt(b))).to.equal(null);
    // The very same bytes under another mesh's keys are that mesh's business: opened with its own key (and refused).
    expect(await memo.open(other, sealed, (b) => other.decrypt(b))).to.equal(null);
    // A plaintext that failed its check fails for every peer.
    const plain = (await memo.open(keys, sealed, (b) => keys.decrypt(b)))!;
    const fresh = utf8('genuine');
    expect(memo.verified(fresh, () => false)).to.equal(false);
    expect(memo.verified(plain, () => true)).to.equal(true);
    expect(memo.verified(fresh, () => true), 'a checked plaintext keeps its verdict').to.equal(false);
  });

  it('remembers only the most recent messages', async () => {
    const keys = await deriveMeshKeys('memo', 's');
    const memo = new BusMemo(2);
    const sealed = await Promise.all(['a', 'b', 'c'].map((t) => keys.encrypt(utf8(t))));
    let decryptions = 0;
    const decrypt = (bytes: Uint8Array): Promise<Uint8Array | null> => {
      decryptions++;
      return keys.decrypt(bytes);
    };
    for (const s of sealed) await memo.open(keys, s, decrypt);
    await memo.open(keys, sealed[2]!, decrypt);
    expect(decryptions).to.equal(3);
    await memo.open(keys, sealed[0]!, decrypt);
    expect(decryptions, 'the oldest was forgotten').to.equal(4);
  });
});

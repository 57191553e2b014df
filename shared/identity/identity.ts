/**
 * Peer identity: an Ed25519 key pair from WebCrypto. The peer id is the first 16 bytes
 * of sha256(raw public key) in hex, so anyone holding the public key can check an id,
 * and only the holder of the private key can prove it (see `shared/mesh/peer-links.ts`).
 * @module
 */
import { fromHex, fromUtf8, plainBytes, sha256Hex, toHex, utf8 } from '../bytes.ts';
import { MalformedMessageError } from '../errors.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';
import type { PeerId } from '../ports/transport.ts';
import { seedFromPkcs8, signSync } from './ed25519-sync.ts';

const ALGORITHM = 'Ed25519';
/** Attempts at generating a key pair before giving up (see {@link Identity.generate}). */
const GENERATE_ATTEMPTS = 5;
/** Key under which {@link Identity.loadOrCreate} persists the key pair. */
export const IDENTITY_KEY = 'identity/v1';

/** Derive the peer id from a raw 32-byte Ed25519 public key. */
export async function peerIdFromPublicKey(publicKey: Uint8Array): Promise<PeerId> {
  return (await sha256Hex(publicKey)).slice(0, 32);
}

/** Verify an Ed25519 signature by a raw public key; false (never a throw) on bad input. */
export async function verifySignature(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false;
  try {
    const key = await crypto.subtle.importKey('raw', plainBytes(publicKey), { name: ALGORITHM }, false, ['verify']);
    return await crypto.subtle.verify(ALGORITHM, key, plainBytes(signature), plainBytes(data));
  } catch {
    // importKey rejects points that are not on the curve: that is a failed verification.
    return false;
  }
}

/** A peer's key pair and the id derived from it. */
export class Identity {
  /** The peer id (32 hex digits). */
  readonly id: PeerId;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly #privateKey: CryptoKey;
  /** The private key's seed, for synchronous signing of registry entries. */
  readonly #seed: Uint8Array;

  private constructor(id: PeerId, publicKey: Uint8Array, privateKey: CryptoKey, seed: Uint8Array) {
    this.id = id;
    this.publicKey = publicKey;
    this.#privateKey = privateKey;
    this.#seed = seed;
  }

  /** A fresh key pair. */
  static async generate(): Promise<Identity> {
    // WebKitGTK 2.50 fails about one Ed25519 generateKey in fifty with an OperationError
    // (measured: 6 of 300); each attempt draws a fresh key, so a few attempts make that
    // vanishingly rare. Any other error, or the last attempt's, is thrown.
    for (let attempt = 1; ; attempt++) {
      try {
        const pair = (await crypto.subtle.generateKey({ name: ALGORITHM }, true, ['sign', 'verify'])) as CryptoKeyPair;
        return await Identity.#fromPair(pair);
      } catch (error) {
        if (attempt >= GENERATE_ATTEMPTS || !(error instanceof Error) || error.name !== 'OperationError') throw error;
      }
    }
  }

  /**
   * The identity stored in `kv`, or a new one that is stored there first — so a
   * restarted peer keeps its id.
   */
  static async loadOrCreate(kv: KeyValueStore): Promise<Identity> {
    const stored = await kv.get(IDENTITY_KEY);
    if (stored) return Identity.#fromStored(stored);
    const identity = await Identity.generate();
    await kv.set(IDENTITY_KEY, await identity.#serialize());
    return identity;
  }

  /**
   * Sign `data` synchronously (see `ed25519-sync.ts`): the same signature {@link sign}
   * makes, for writers that cannot await.
   */
  signSync(data: Uint8Array): Uint8Array {
    return signSync(this.#seed, data);
  }

  /** Sign `data` with the private key (64-byte signature). */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign(ALGORITHM, this.#privateKey, plainBytes(data)));
  }

  static async #fromPair(pair: CryptoKeyPair): Promise<Identity> {
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const seed = seedFromPkcs8(new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey)));
    return new Identity(await peerIdFromPublicKey(publicKey), publicKey, pair.privateKey, seed);
  }

  async #serialize(): Promise<Uint8Array> {
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', this.#privateKey));
    return utf8(JSON.stringify({ v: 1, publicKey: toHex(this.publicKey), privateKey: toHex(pkcs8) }));
  }

  static async #fromStored(bytes: Uint8Array): Promise<Identity> {
    let record: { v?: unknown; publicKey?: unknown; privateKey?: unknown };
    try {
      record = JSON.parse(fromUtf8(bytes));
    } catch {
      throw new MalformedMessageError('stored identity is not JSON');
    }
    if (record.v !== 1 || typeof record.publicKey !== 'string' || typeof record.privateKey !== 'string') {
      throw new MalformedMessageError('stored identity has the wrong shape');
    }
    const publicKey = fromHex(record.publicKey);
    const pkcs8 = fromHex(record.privateKey);
    const privateKey = await crypto.subtle.importKey('pkcs8', plainBytes(pkcs8), { name: ALGORITHM }, false, ['sign']);
    return new Identity(await peerIdFromPublicKey(publicKey), publicKey, privateKey, seedFromPkcs8(pkcs8));
  }
}

/**
 * Keys as the trust code handles them: raw Ed25519 public keys written as 64 hex digits,
 * the peer id each derives to (computed synchronously, cached), and the signer shape an
 * {@link Identity} already has.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2';
import { fromHex, toHex } from '../bytes.ts';
import { verifySync } from '../identity/ed25519-sync.ts';
import type { PeerId } from '../ports/transport.ts';

/** 64 lowercase hex digits: a raw Ed25519 public key as grants and entries carry it. */
export const PUBLIC_KEY_HEX = /^[0-9a-f]{64}$/;
/** 128 lowercase hex digits: an Ed25519 signature. */
export const SIGNATURE_HEX = /^[0-9a-f]{128}$/;

/** Whatever can sign synchronously: an Identity, a user key's identity. */
export interface Signer {
  readonly publicKey: Uint8Array;
  signSync(data: Uint8Array): Uint8Array;
}

const ids = new Map<string, PeerId>();
const MAX_CACHED_IDS = 100_000;

/** The peer id a public key (hex) derives to, as `peerIdFromPublicKey` computes it. */
export function peerIdOfKey(publicKeyHex: string): PeerId {
  let id = ids.get(publicKeyHex);
  if (id === undefined) {
    id = toHex(sha256(fromHex(publicKeyHex))).slice(0, 32);
    if (ids.size >= MAX_CACHED_IDS) ids.clear();
    ids.set(publicKeyHex, id);
  }
  return id;
}

/** Verify a hex signature by a hex key over `data`; false on any malformed input. */
export function verifyHex(publicKeyHex: string, signatureHex: string, data: Uint8Array): boolean {
  if (!PUBLIC_KEY_HEX.test(publicKeyHex) || !SIGNATURE_HEX.test(signatureHex)) return false;
  return verifySync(fromHex(publicKeyHex), fromHex(signatureHex), data);
}

/** Sign `data`, as hex. */
export function signHex(signer: Signer, data: Uint8Array): string {
  return toHex(signer.signSync(data));
}

/** A signer's public key as hex. */
export function keyHex(signer: Signer): string {
  return toHex(signer.publicKey);
}

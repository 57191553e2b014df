/**
 * What a mesh name and secret derive into: the discovery topic (unguessable without the
 * secret), an AES-GCM key that encrypts announcements on the signaling server, and an
 * HMAC key with which both ends of a new connection prove they know the secret before
 * anything else is exchanged. A peer with the wrong secret cannot find the mesh, read
 * its announcements, or complete a connection to one of its peers.
 * @module
 */
import { fromUtf8, plainBytes, randomBytes, toHex, utf8 } from '../bytes.ts';

/** Keys and names derived from a mesh name and secret. */
export interface MeshKeys {
  /** Topic on the signaling server. */
  topic: string;
  /** Prefix of this mesh's PeerJS ids. */
  tag: string;
  encrypt(plain: Uint8Array): Promise<Uint8Array>;
  /** Null when the bytes were not encrypted with this mesh's key. */
  decrypt(sealed: Uint8Array): Promise<Uint8Array | null>;
  /** Proof, bound to both connection ends, that the sender knows the secret. */
  prove(from: string, to: string): Promise<Uint8Array>;
  verify(from: string, to: string, proof: Uint8Array): Promise<boolean>;
}

const ITERATIONS = 100_000;

/** Derive the mesh's keys (PBKDF2-SHA-256 over the secret, salted with the mesh name). */
export async function deriveMeshKeys(mesh: string, secret = ''): Promise<MeshKeys> {
  const material = await crypto.subtle.importKey('raw', plainBytes(utf8(secret)), 'PBKDF2', false, ['deriveBits']);
  const bits = new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'PBKDF2', salt: plainBytes(utf8(`liquidmesh:${mesh}`)), iterations: ITERATIONS, hash: 'SHA-256' }, material, 768),
  );
  const topicBytes = bits.slice(0, 32);
  const aes = await crypto.subtle.importKey('raw', bits.slice(32, 64), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const hmac = await crypto.subtle.importKey('raw', bits.slice(64, 96), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const hex = toHex(topicBytes);
  const bound = (from: string, to: string): Uint8Array<ArrayBuffer> => plainBytes(utf8(`liquidmesh-join\u0000${from}\u0000${to}`));
  return {
    topic: `liquidmesh-${hex.slice(0, 32)}`,
    tag: hex.slice(32, 44),
    async encrypt(plain) {
      const iv = randomBytes(12);
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: plainBytes(iv) }, aes, plainBytes(plain)));
      const out = new Uint8Array(12 + sealed.byteLength);
      out.set(iv);
      out.set(sealed, 12);
      return out;
    },
    async decrypt(sealed) {
      if (sealed.byteLength < 28) return null;
      try {
        return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: plainBytes(sealed.slice(0, 12)) }, aes, plainBytes(sealed.slice(12))));
      } catch {
        // Authentication failed: sealed with another key (another mesh or secret).
        return null;
      }
    },
    async prove(from, to) {
      return new Uint8Array(await crypto.subtle.sign('HMAC', hmac, bound(from, to)));
    },
    async verify(from, to, proof) {
      return crypto.subtle.verify('HMAC', hmac, plainBytes(proof), bound(from, to));
    },
  };
}

/** Base64 of bytes (announcements travel inside JSON). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Bytes of base64; null when it is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  try {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    // Not base64: the caller treats it as a foreign message.
    return null;
  }
}

/** Decode a UTF-8 JSON object; null when it is not one. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(fromUtf8(bytes));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    // Not JSON: the caller drops it.
    return null;
  }
}

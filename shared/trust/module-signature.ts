/**
 * Signed modules: a publisher signs what a module *is* — the sha256 of its wasm, its name
 * and its version — with an Ed25519 key, and a device or a mesh that requires
 * signatures hosts only modules signed by a publisher it trusts. The signature travels
 * with the module record, so any peer can check it without the publisher online, and a
 * renamed or re-versioned copy of signed bytes does not carry the signature over.
 * @module
 */
import { fromHex, toHex, utf8 } from '../bytes.ts';
import { defineError } from '../errors.ts';
import { verifySignature } from '../identity/identity.ts';

/** A publisher's signature over a module (hex throughout). */
export interface ModuleSignature {
  /** Raw 32-byte Ed25519 public key of the publisher, hex. */
  publisher: string;
  /** 64-byte Ed25519 signature over {@link signedModuleBytes}, hex. */
  signature: string;
}

/** The module to sign or check. */
export interface SignedModuleFields {
  /** sha256 of the wasm (the module id), hex. */
  id: string;
  name: string;
  version: string;
}

/** Anything that signs bytes with Ed25519 (an `Identity`, the CLI's user key). */
export interface Signer {
  publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Signatures are required here and the module has none. */
export const ModuleUnsignedError = defineError('ERR_MODULE_UNSIGNED', 'ModuleUnsignedError');
/** The module's signature does not verify, or its publisher is not trusted here. */
export const ModuleSignatureInvalidError = defineError('ERR_MODULE_SIGNATURE_INVALID', 'ModuleSignatureInvalidError');

/** Domain tag, so a module signature can never be replayed as any other signed message. */
const DOMAIN = 'liquidmesh module signature v1';

/** The exact bytes a publisher signs: the domain tag, content hash, name and version, one per line. */
export function signedModuleBytes(m: SignedModuleFields): Uint8Array {
  return utf8(`${DOMAIN}\n${m.id.toLowerCase()}\n${m.name}\n${m.version}`);
}

/** Sign a module as `signer`. */
export async function signModule(m: SignedModuleFields, signer: Signer): Promise<ModuleSignature> {
  return { publisher: toHex(signer.publicKey), signature: toHex(await signer.sign(signedModuleBytes(m))) };
}

/** True when `sig` is a valid signature of `m` by `sig.publisher` (false, never a throw, on malformed input). */
export async function verifyModuleSignature(m: SignedModuleFields, sig: ModuleSignature): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/i.test(sig.publisher) || !/^[0-9a-f]{128}$/i.test(sig.signature)) return false;
  return verifySignature(fromHex(sig.publisher), fromHex(sig.signature), signedModuleBytes(m));
}

/**
 * The verified publisher of `m`, or undefined when it is unsigned or its signature fails.
 * What a capability offer "to modules signed by publisher Y" is checked against.
 */
export async function verifiedPublisher(m: SignedModuleFields & { signature?: ModuleSignature }): Promise<string | undefined> {
  if (!m.signature) return undefined;
  return (await verifyModuleSignature(m, m.signature)) ? m.signature.publisher.toLowerCase() : undefined;
}

/**
 * Refuse `m` unless it is signed by one of `trusted` (hex publisher keys).
 * @throws ModuleUnsignedError (ERR_MODULE_UNSIGNED) when it carries no signature.
 * @throws ModuleSignatureInvalidError (ERR_MODULE_SIGNATURE_INVALID) when the signature
 *   does not verify or its publisher is not trusted.
 */
export async function requireSigned(m: SignedModuleFields & { signature?: ModuleSignature }, trusted: readonly string[]): Promise<string> {
  const what = `${m.name}@${m.version}`;
  if (!m.signature) throw new ModuleUnsignedError(`module ${what} is not signed, and signatures from trusted publishers are required here`, { module: m.id });
  if (!(await verifyModuleSignature(m, m.signature))) {
    throw new ModuleSignatureInvalidError(`module ${what}: its signature does not verify against the content hash, name and version`, { module: m.id, publisher: m.signature.publisher });
  }
  const publisher = m.signature.publisher.toLowerCase();
  if (!trusted.some((k) => k.toLowerCase() === publisher)) {
    throw new ModuleSignatureInvalidError(`module ${what} is signed by ${publisher.slice(0, 12)}…, which is not a trusted publisher here`, { module: m.id, publisher });
  }
  return publisher;
}

/**
 * A publisher's module signature arriving with an upload, in either of two places:
 * the `X-LiquidMesh-Signature` header (`<publisher key hex>:<signature hex>`) or a
 * `signature` form field (the same text, or JSON `{"publisher": …, "signature": …}`).
 * The package manager verifies it against the module's sha256, name and version.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { InvalidParamsError } from '../../shared/errors.ts';
import type { ModuleSignature } from '../../shared/trust/module-signature.ts';

/** The header that carries a module signature. */
export const SIGNATURE_HEADER = 'x-liquidmesh-signature';

/** Read `publisher:signature` or its JSON form; ERR_INVALID_PARAMS when it is neither. */
export function parseModuleSignature(text: string): ModuleSignature {
  const trimmed = text.trim();
  let publisher: unknown;
  let signature: unknown;
  if (trimmed.startsWith('{')) {
    try {
      ({ publisher, signature } = JSON.parse(trimmed) as Record<string, unknown>);
    } catch {
      throw new InvalidParamsError('the module signature is not JSON');
    }
  } else {
    [publisher, signature] = trimmed.split(':');
  }
  if (typeof publisher !== 'string' || !/^[0-9a-f]{64}$/i.test(publisher) || typeof signature !== 'string' || !/^[0-9a-f]{128}$/i.test(signature)) {
    throw new InvalidParamsError('a module signature is <publisher key, 64 hex digits>:<Ed25519 signature, 128 hex digits>');
  }
  return { publisher: publisher.toLowerCase(), signature: signature.toLowerCase() };
}

/** The signature sent with this upload (header first, then the form field), if any. */
export function uploadSignature(req: IncomingMessage, fields: readonly [string, string][]): ModuleSignature | undefined {
  const header = req.headers[SIGNATURE_HEADER];
  const text = (Array.isArray(header) ? header[0] : header) ?? fields.find(([k]) => k === 'signature')?.[1];
  return text === undefined || text.trim() === '' ? undefined : parseModuleSignature(text);
}

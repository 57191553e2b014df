// Identity key generation where the engine's Ed25519 fails now and then (WebKitGTK 2.50
// fails about one generateKey in fifty with an OperationError): an identity still comes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Identity, verifySignature } from '../../shared/identity/identity.ts';

function failingTimes(times: number, name = 'OperationError'): void {
  const real = crypto.subtle.generateKey.bind(crypto.subtle);
  let left = times;
  vi.spyOn(crypto.subtle, 'generateKey').mockImplementation(((...args: Parameters<typeof real>) => {
    if (left-- > 0) return Promise.reject(new DOMException('The operation failed for an operation-specific reason', name));
    return real(...args);
  }) as typeof crypto.subtle.generateKey);
}

describe('Identity.generate', () => {
  afterEach(() => vi.restoreAllMocks());

  it('makes a working identity when key generation fails a few times with OperationError', async () => {
    failingTimes(2);
    const identity = await Identity.generate();
    const data = new Uint8Array([1, 2, 3]);
    expect(await verifySignature(identity.publicKey, await identity.sign(data), data)).toBe(true);
  });

  it('gives up with the engine’s error when every attempt fails, and never retries other errors', async () => {
    failingTimes(100);
    await expect(Identity.generate()).rejects.toMatchObject({ name: 'OperationError' });
    vi.restoreAllMocks();
    failingTimes(1, 'NotSupportedError');
    await expect(Identity.generate()).rejects.toMatchObject({ name: 'NotSupportedError' });
  });
});

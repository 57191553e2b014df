/**
 * Waiting helpers for tests that run on real time (real networks, real browsers).
 * A wait that times out fails with what it waited for; no test asserts how long it took.
 */

/** Resolve once `predicate()` is true; reject after `timeoutMs` naming `what`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The rejection of `promise`, or a failure if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Let queued microtasks and one macrotask run. */
export function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

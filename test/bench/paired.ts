// Timing two things against each other on a busy machine: batches alternate so that both
// see the same load. Web-standard only: the browser benches import it too.

/** Milliseconds per call of `a` and of `b`, one figure per batch of `size` calls, batches alternating. */
export async function paired(count: number, size: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number[], number[]]> {
  for (let i = 0; i < size; i++) {
    await a();
    await b();
  }
  const [as, bs]: [number[], number[]] = [[], []];
  for (let n = 0; n < count; n++) {
    for (const [fn, out] of [[a, as], [b, bs]] as const) {
      const t = performance.now();
      for (let i = 0; i < size; i++) await fn();
      out.push((performance.now() - t) / size);
    }
  }
  return [as, bs];
}

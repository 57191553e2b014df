/**
 * Guard for tests that open WebRTC connections or listen on ports: they run only inside
 * the loopback-only network namespace `npm test` creates (test/run.mjs).
 */

/** Throws, with what to do, unless running inside the test network namespace. */
export function requireLoopbackNamespace(): void {
  if (process.env.LIQUIDMESH_NETNS !== '1') {
    throw new Error('this suite opens WebRTC connections: run it through `npm test`, which puts it in a loopback-only network namespace');
  }
}

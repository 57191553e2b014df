#!/usr/bin/env node
// Runs a command inside a new network namespace that has only loopback, so WebRTC and
// the servers tests and benchmarks start can reach nothing but 127.0.0.1. Root uses
// `unshare -n`; other users `unshare -rn` where user namespaces are enabled. Sets
// LIQUIDMESH_NETNS=1 inside; where no namespace can be made, runs the command anyway with
// LIQUIDMESH_NETNS=0 so that the WebRTC suites fail saying why.
//
//   node test/netns.mjs <command> [args…]
import { spawnSync } from 'node:child_process';

/** Exit code of `command` run inside a loopback-only namespace (or outside, flagged). */
export function runInLoopbackNamespace(command, args) {
  if (process.env.LIQUIDMESH_NETNS === undefined && process.platform === 'linux') {
    for (const flags of [['-n'], ['-rn']]) {
      if (spawnSync('unshare', [...flags, 'true']).status !== 0) continue;
      const child = spawnSync('unshare', [...flags, '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', command, ...args], {
        stdio: 'inherit',
        env: { ...process.env, LIQUIDMESH_NETNS: '1' },
      });
      return child.status ?? 1;
    }
    console.warn('cannot create a loopback-only network namespace (run as root, or enable user namespaces); WebRTC suites will fail');
  }
  const child = spawnSync(command, args, { stdio: 'inherit', env: { LIQUIDMESH_NETNS: '0', ...process.env } });
  return child.status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error('usage: node test/netns.mjs <command> [args…]');
    process.exit(2);
  }
  process.exit(runInLoopbackNamespace(command, args));
}

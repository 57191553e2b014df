#!/usr/bin/env node
// Runs a command inside a new network namespace that has only loopback, so WebRTC and
// the servers tests and benchmarks start can reach nothing but 127.0.0.1. Root uses
// `unshare -n`; other users `unshare -rn` where user namespaces are enabled. Sets
// LIQUIDMESH_NETNS=1 inside; where no namespace can be made, runs the command anyway with
// LIQUIDMESH_NETNS=0 so that the WebRTC suites fail saying why.
// With LIQUIDMESH_NETNS_LINK=1 the namespace also gets a network link as a laptop has one:
// a veth pair whose two ends both live inside it, an address on one and a default route
// through it, so it still reaches nothing outside. Firefox gathers ICE candidates only on
// the interface of the default route (never on loopback): its suites need this.
//
//   node test/netns.mjs <command> [args…]
import { spawnSync } from 'node:child_process';

/** The address Firefox's peers use inside a namespace made with LIQUIDMESH_NETNS_LINK=1. */
export const LINK_ADDRESS = '10.213.7.1';

function namespaceSetup() {
  const lo = 'ip link set lo up';
  if (process.env.LIQUIDMESH_NETNS_LINK !== '1') return lo;
  return `${lo} && ip link add lm0 type veth peer name lm1 && ip addr add ${LINK_ADDRESS}/24 dev lm0 && ip link set lm0 up && ip link set lm1 up && ip route add default via 10.213.7.2 dev lm0`;
}

/** Exit code of `command` run inside a loopback-only namespace (or outside, flagged). */
export function runInLoopbackNamespace(command, args) {
  if (process.env.LIQUIDMESH_NETNS === undefined && process.platform === 'linux') {
    for (const flags of [['-n'], ['-rn']]) {
      if (spawnSync('unshare', [...flags, 'true']).status !== 0) continue;
      const child = spawnSync('unshare', [...flags, '--', 'sh', '-c', `${namespaceSetup()} && exec "$0" "$@"`, command, ...args], {
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

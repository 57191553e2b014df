/** The address Firefox's peers use inside a namespace made with LIQUIDMESH_NETNS_LINK=1. */
export const LINK_ADDRESS: string;
/** Exit code of `command` run inside a loopback-only network namespace (or outside, flagged). */
export function runInLoopbackNamespace(command: string, args: string[]): number;

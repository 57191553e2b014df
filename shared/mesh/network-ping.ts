/**
 * `network.ping(a, b, c, d) -> f32` for modules, the Rust WasmIoT supervisor's host
 * function, inside the mesh: an IPv4 address names the mesh peers whose device
 * description advertises it (`addresses`; loopback names this peer), and the answer is
 * the round trip in milliseconds of an RPC ping to the first of them that answers, or −1
 * when no peer advertises the address or none answers within {@link PING_LIMIT_MS}. A
 * host outside the mesh is never contacted: modules get no raw network access.
 * @module
 */
import type { Unsubscribe } from '../events.ts';
import type { Peer } from './peer.ts';
import type { MeshMethods } from '../rpc/methods.ts';
import type { Rpc } from '../rpc/rpc.ts';

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Answer at once: the round trip of `network.ping`. */
    'network.ping': { params: Record<string, never>; result: { ok: true } };
  }
}

/** The reference's limit of one ping. */
export const PING_LIMIT_MS = 2000;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True for a dotted IPv4 address. */
export function isIpv4(address: string): boolean {
  const m = IPV4.exec(address);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

/** Serve `network.ping` on `rpc`. */
export function serveNetworkPing(rpc: Rpc<MeshMethods>): Unsubscribe {
  return rpc.handle('network.ping', () => ({ ok: true }));
}

/** The peers that advertise `address` (this one for a loopback address). */
export function peersAt(peer: Peer, address: string): string[] {
  if (address.startsWith('127.')) return [peer.id];
  return peer.registry.devices.values().filter((d) => d.addresses?.includes(address)).map((d) => d.id);
}

/** The `ping` host service of `peer()`: never rejects, −1 for no answer. */
export function meshPing(peer: () => Peer, now: () => number = () => performance.now()): (address: string) => Promise<number> {
  return async (address) => {
    if (!isIpv4(address)) return -1;
    const p = peer();
    const targets = peersAt(p, address);
    if (targets.includes(p.id)) return 0;
    const alive = new Set(p.alive());
    const reachable = targets.filter((t) => alive.has(t));
    if (reachable.length === 0) return -1;
    const started = now();
    try {
      await Promise.any(reachable.map((t) => p.call(t, 'network.ping', {}, { timeoutMs: PING_LIMIT_MS })));
      return now() - started;
    } catch {
      return -1;
    }
  };
}

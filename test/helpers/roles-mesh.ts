/**
 * Meshes with roles for unit tests and the simulator: an owner key, peers that join with
 * owner-made grants or invitations, on the in-memory network.
 */
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Peer, type PeerTiming } from '../../shared/mesh/peer.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { PeerRoles } from '../../shared/registry/join-roles.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { type InvitationToken, makeGrant, makeInvitation } from '../../shared/trust/statements.ts';
import { collectLogs, type CollectedLog, memoryStore } from './mesh.ts';

/** Fast timing for meshes in one process. */
export const FAST_TIMING: Partial<PeerTiming> = { heartbeatMs: 100, livenessTimeoutMs: 1500, antiEntropyMs: 300, handshakeRetryMs: 100 };

/** A mesh with an owner. */
export interface RolesMesh {
  mesh: string;
  owner: Identity;
  network: MemoryNetwork;
  log: CollectedLog;
  peers: Peer[];
  /** Start a peer holding an owner-made grant of `role`. */
  granted(name: string, role: Role): Promise<Peer>;
  /** An invitation token for `role`. */
  invite(role: Role, o?: { once?: boolean; expires?: number }): InvitationToken;
  /** Start a peer that redeems `token`. */
  invited(name: string, token: InvitationToken): Promise<Peer>;
  /** Start a peer with these roles options as they are. */
  start(name: string, roles: PeerRoles | undefined, identity?: Identity): Promise<Peer>;
  stopAll(): Promise<void>;
}

/** A new mesh with a fresh owner key. */
export async function createRolesMesh(o: { mesh?: string; clock?: Clock; timing?: Partial<PeerTiming>; network?: MemoryNetwork } = {}): Promise<RolesMesh> {
  const owner = await Identity.generate();
  const mesh = o.mesh ?? 'roles-test';
  const network = o.network ?? new MemoryNetwork();
  const clock = o.clock ?? new SystemClock();
  const log = collectLogs();
  const owners = [toHex(owner.publicKey)];
  const result: RolesMesh = {
    mesh, owner, network, log, peers: [],
    async granted(name, role) {
      const identity = await Identity.generate();
      const grant = makeGrant(owner, { mesh, subject: toHex(identity.publicKey), role, issued: Date.now() });
      return result.start(name, { mesh, owners, grant }, identity);
    },
    invite(role, options = {}) {
      return makeInvitation(owner, { mesh, role, expires: options.expires ?? Date.now() + 3_600_000, once: options.once ?? true });
    },
    invited(name, token) {
      return result.start(name, { mesh, owners, invitation: token });
    },
    async start(name, roles, identity) {
      const peer = new Peer({
        transports: [network.createTransport()],
        store: memoryStore(),
        clock,
        device: { name, engine: 'node', capabilities: ['sys.millis'] },
        logger: createLogger(`peer:${name}`, log.sink),
        timing: o.timing ?? FAST_TIMING,
        ...(identity ? { identity } : {}),
        ...(roles ? { roles } : {}),
      });
      await peer.start();
      result.peers.push(peer);
      return peer;
    },
    async stopAll() {
      await Promise.all(result.peers.map((p) => p.stop()));
    },
  };
  return result;
}

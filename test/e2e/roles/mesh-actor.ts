/**
 * A peer built straight from the product's shared/ code, for the end-to-end roles suite:
 * an attacker with the source and the mesh secret who writes into its registry document
 * and calls RPC methods directly, skipping every local check (`--as member`), or the
 * mesh's owner, who makes invitations and revocations (`--as owner`).
 *
 *   node --import tsx test/e2e/roles/mesh-actor.ts --name N --signal URL --mesh M --secret S
 *        --as owner | --as member [--invitation TOKEN]
 *
 * Like `liquidmesh peer --json --control stdio`: prints `{"event":"ready",…}`, then takes
 * one JSON command per line on stdin and answers `{"id":…,"ok":…}`.
 */
import '../../../node-host/webrtc/globals.ts';
import { createInterface } from 'node:readline';
import { WebRtcTransport } from '../../../shared/adapters/webrtc-transport.ts';
import { fromUtf8, toHex } from '../../../shared/bytes.ts';
import { toErrorInfo } from '../../../shared/errors.ts';
import { Identity } from '../../../shared/identity/identity.ts';
import { createLogger } from '../../../shared/log.ts';
import { MemoryBlobStore } from '../../../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../../../shared/memory/memory-key-value-store.ts';
import { Peer, Y } from '../../../shared/mesh/peer.ts';
import type { PeerRoles } from '../../../shared/registry/join-roles.ts';
import { AUTH_BYTES, isSelfProving, sealEntry } from '../../../shared/trust/entry-auth.ts';
import { revokedKey } from '../../../shared/trust/mesh-trust.ts';
import { isRole } from '../../../shared/trust/roles.ts';
import { encodeInvitationToken, makeInvitation, makeRevocation } from '../../../shared/trust/statements.ts';
import { rolesFromInvitation } from '../../../node-host/keys/invite.ts';
import { useNodeEd25519 } from '../../../node-host/trust/node-ed25519.ts';

useNodeEd25519();

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const name = option('name') ?? 'actor';
const mesh = option('mesh') ?? 'liquidmesh';
const as = option('as') ?? 'member';
const identity = await Identity.generate();
const self = toHex(identity.publicKey);
const invitation = option('invitation');
const roles: PeerRoles | undefined = as === 'owner' ? { mesh, owners: [self] } : invitation ? rolesFromInvitation(invitation, []) : undefined;
const print = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const peer = new Peer({
  transports: [new WebRtcTransport({ signalUrl: option('signal') ?? 'http://127.0.0.1:4444', mesh, secret: option('secret') ?? '', rtcConfig: { bindAddress: '127.0.0.1' } })],
  store: { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() },
  identity,
  device: { name, engine: 'node' },
  persistRegistry: false,
  logger: createLogger(`actor:${name}`),
  ...(roles ? { roles } : {}),
});
await peer.start();

/** Calls the hijacked methods received: a rogue answering for a step it placed on itself. */
let hijacked = 0;
for (const method of ['chain.run', 'supervisor.call'] as const) {
  // Whatever a caller asks, the rogue answers 666.
  (peer.rpc.handle as (m: string, h: () => unknown) => void)(method, () => {
    hijacked++;
    return { value: 666, files: [], steps: [] };
  });
}

const map = (m: string): Y.Map<unknown> => peer.registry.doc.getMap(m);

const commands: Record<string, (a: Record<string, unknown>) => unknown> = {
  status: () => ({
    id: peer.id, key: self,
    devices: peer.registry.devices.values().map((d) => ({ id: d.id, name: d.name })),
    alive: peer.alive(), linked: peer.linked(), hijacked,
  }),
  /** Owner: an invitation token for `role`. */
  invite: (a) => {
    if (!isRole(a.role)) throw new RangeError('role?');
    return encodeInvitationToken(makeInvitation(identity, { mesh, role: a.role, expires: Date.now() + 3_600_000, once: true }));
  },
  /** Owner: revoke the key `subject`. */
  revoke: (a) => {
    const subject = String(a.subject);
    peer.registry.trust.set({ id: revokedKey(subject), revocation: makeRevocation(identity, { mesh, subject, at: Date.now() }) });
    return {};
  },
  /** Any RPC method of any peer, as a modified client calls it. */
  rpc: (a) => peer.call(String(a.to), a.method as never, a.params as never, { timeoutMs: Number(a.timeoutMs ?? 15_000) }),
  /** Write `value` signed by this peer straight into the document (`nested`: a deployment's record). */
  forge: (a) => {
    const key = String(a.key);
    const value = a.sign === false ? a.value : sealEntry(String(a.map), key, a.value as object, identity);
    peer.registry.doc.transact(() => {
      if (a.map !== 'deployments') return map(String(a.map)).set(key, value);
      let entry = map('deployments').get(key);
      if (!(entry instanceof Y.Map)) {
        entry = new Y.Map<unknown>();
        map('deployments').set(key, entry);
        (entry as Y.Map<unknown>).set('phases', new Y.Map<unknown>());
      }
      (entry as Y.Map<unknown>).set('record', value);
    });
    return {};
  },
  /** Remove an entry from the document without any tombstone. */
  erase: (a) => {
    map(String(a.map)).delete(String(a.key));
    return {};
  },
  /** An entry as this peer's document holds it (a deployment: its record). */
  raw: (a) => {
    const value = map(String(a.map)).get(String(a.key));
    const stored = value instanceof Y.Map ? value.get('record') : value;
    // The JSON text of a signed entry as stored, unchecked (what this peer holds, not what it accepts).
    if (stored instanceof Uint8Array) return JSON.parse(fromUtf8(isSelfProving(String(a.map), String(a.key)) ? stored : stored.subarray(AUTH_BYTES)));
    return stored ?? null;
  },
  /** Bytes of this peer's whole registry document. */
  docSize: () => Y.encodeStateAsUpdate(peer.registry.doc).byteLength,
  /** The registry as the typed, checked accessors read it. */
  registry: () => ({
    devices: peer.registry.devices.values().map((d) => ({ id: d.id, name: d.name })),
    modules: peer.registry.modules.values().map((m) => ({ id: m.id, name: m.name })),
    deployments: peer.registry.deployments.values().map((d) => d.record),
  }),
};

createInterface({ input: process.stdin }).on('line', (text) => {
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return;
  }
  const run = commands[String(request.cmd)];
  Promise.resolve()
    .then(() => {
      if (!run) throw new RangeError(`no command ${String(request.cmd)}`);
      return run(request);
    })
    .then(
      (result) => print({ id: request.id, ok: true, result }),
      (error: unknown) => print({ id: request.id, ok: false, error: toErrorInfo(error) }),
    );
});

const stop = async (): Promise<void> => {
  await peer.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
print({ event: 'ready', id: peer.id, key: self, pid: process.pid });

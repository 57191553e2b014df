/**
 * `liquidmesh keys revoke <member>`: the owner's revocation is signed here, with the owner
 * key of this machine's key store, and handed to the running mesh through its HTTP
 * gateway (`POST /trust/revocations`, node-host/gateway/trust-api.ts), which only relays
 * it: a revocation proves itself, and no gateway can make one. The member is named by
 * device name, peer id or public key and looked up in the gateway's member list.
 */
import { makeRevocation } from '../../shared/trust/statements.ts';
import type { Member } from '../../shared/registry/members.ts';
import { CliError } from '../cli/cli-error.ts';
import { DEFAULT_GATEWAY, GatewayClient } from '../cli/gateway-client.ts';
import { clientToken } from '../gateway/token.ts';
import type { UserKey } from './key-store.ts';

/** What `GET /trust/members` answers. */
interface MemberList {
  mesh: string;
  owners: string[];
  members: Member[];
}

/** Revoke `ref` in the mesh the gateway serves; resolves with the revoked member. */
export async function revokeThroughGateway(owner: UserKey, ref: string, o: { dataDir: string; gateway?: string; env?: NodeJS.ProcessEnv; now?: number }): Promise<Member> {
  const env = o.env ?? process.env;
  const gateway = o.gateway ?? env.LIQUIDMESH_GATEWAY ?? DEFAULT_GATEWAY;
  if (gateway.startsWith('https:')) await (await import('../tls/node-trust.ts')).trustLocalCa(env, o.dataDir);
  const client = new GatewayClient(gateway, await clientToken(env, o.dataDir));
  const list = await client.json<MemberList>('GET', '/trust/members');
  if (!list.owners.includes(owner.publicKeyHex)) {
    throw new CliError('ERR_NOT_AN_OWNER', `the key "${owner.name}" (${owner.publicKeyHex.slice(0, 16)}…) is not an owner of mesh ${list.mesh}`);
  }
  const member = list.members.find((m) => m.key === ref) ?? list.members.find((m) => m.id === ref) ?? list.members.find((m) => m.name === ref);
  if (!member) throw new CliError('ERR_UNKNOWN_MEMBER', `no member of mesh ${list.mesh} is named "${ref}" (liquidmesh keys revoke takes a device name, peer id or public key)`);
  const revocation = makeRevocation(owner.identity, { mesh: list.mesh, subject: member.key, at: o.now ?? Date.now() });
  return client.json<Member>('POST', '/trust/revocations', { json: { revocation } });
}

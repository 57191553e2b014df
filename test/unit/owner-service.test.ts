// The owner's tools: a peer holding the owner key makes invitations and revocations for
// members with the owner role (an owner's browser tab), and refuses everyone else; the
// member list names each key with its device name and role.
import { expect } from 'chai';
import { toHex } from '../../shared/bytes.ts';
import { serveOwnerRequests } from '../../shared/mesh/owner-service.ts';
import type { Peer } from '../../shared/mesh/peer.ts';
import { listMembers, resolveMember, writeRevocation } from '../../shared/registry/members.ts';
import { decodeInvitationToken, makeRevocation } from '../../shared/trust/statements.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { createRolesMesh, type RolesMesh } from '../helpers/roles-mesh.ts';

async function converged(peers: Peer[]): Promise<void> {
  // Linked both ways too: presence can call a peer alive (relayed by a third) while the
  // direct link's handshake is still finishing on one side, and a call then has no way.
  await waitFor(() => peers.every((p) => p.registry.devices.size === peers.length && p.alive().length === peers.length - 1 && p.linked().length === peers.length - 1), `${peers.length} peers to see each other`, 20_000);
}

describe('Owner requests and the member list', () => {
  let m: RolesMesh;
  afterEach(async () => m?.stopAll());

  async function ownerMesh(): Promise<{ node1: Peer; tab: Peer; phone: Peer }> {
    m = await createRolesMesh();
    const owners = [toHex(m.owner.publicKey)];
    // node-1 runs with the owner key itself, as `liquidmesh start` runs it.
    const node1 = await m.start('node-1', { mesh: m.mesh, owners }, m.owner);
    serveOwnerRequests(node1);
    const tab = await m.invited('owner-tab', m.invite('owner'));
    const phone = await m.invited('phone-1', m.invite('device'));
    await converged([node1, tab, phone]);
    return { node1, tab, phone };
  }

  it('an owner tab gets a single-use invitation for the role it picks; a device is refused', async () => {
    const { node1, tab, phone } = await ownerMesh();
    const reply = await tab.call(node1.id, 'trust.invite', { role: 'operator' });
    expect(reply.role).to.equal('operator');
    expect(reply.once).to.equal(true);
    const token = decodeInvitationToken(reply.token);
    expect(token.invitation.by).to.equal(toHex(m.owner.publicKey));
    expect(token.invitation.role).to.equal('operator');
    // Redeemed once: a peer joins as operator with it.
    const joined = await m.invited('laptop-1', token);
    await waitFor(() => node1.registry.gate!.trust.roleOf(toHex(joined.identity.publicKey), (id) => node1.registry.trust.get(id)) === 'operator', 'the laptop to be an operator');

    expect((await rejectionOf(phone.call(node1.id, 'trust.invite', { role: 'device' }))).code).to.equal('ERR_ROLE_REQUIRED');
    expect((await rejectionOf(tab.call(node1.id, 'trust.invite', { role: 'king' }))).code).to.equal('ERR_INVALID_PARAMS');
  });

  it('lists members by name and role, and an owner tab revokes one by name: it is cut off', async () => {
    const { node1, tab, phone } = await ownerMesh();
    const members = listMembers(node1.registry, node1.registry.gate!.trust);
    const byName = Object.fromEntries(members.map((x) => [x.name, x.role]));
    expect(byName).to.deep.equal({ 'node-1': 'owner', 'owner-tab': 'owner', 'phone-1': 'device' });
    expect((await rejectionOf(phone.call(node1.id, 'trust.revoke', { member: 'owner-tab' }))).code).to.equal('ERR_ROLE_REQUIRED');

    const revoked = await tab.call(node1.id, 'trust.revoke', { member: 'phone-1' });
    expect(revoked).to.include({ name: 'phone-1', id: phone.id, revoked: true });
    await waitFor(() => !node1.linked().includes(phone.id) && !tab.linked().includes(phone.id), 'the phone to be cut off');
    // Its name claim no longer counts (its author is no member): it is found by its id.
    await waitFor(() => resolveMember(tab.registry, tab.registry.gate!.trust, phone.id).revoked, 'the owner tab to see the revocation');
    expect(resolveMember(tab.registry, tab.registry.gate!.trust, phone.id)).to.include({ revoked: true, role: undefined });
    expect((await rejectionOf(tab.call(node1.id, 'trust.revoke', { member: 'nobody' }))).code).to.equal('ERR_UNKNOWN_MEMBER');
  });

  it('relays only an owner\'s revocation, and never of an owner key', async () => {
    const { node1, phone } = await ownerMesh();
    const trust = node1.registry.gate!.trust;
    const phoneKey = toHex(phone.identity.publicKey);
    const forged = makeRevocation(phone.identity, { mesh: m.mesh, subject: phoneKey, at: Date.now() });
    expect(() => writeRevocation(node1.registry, trust, forged)).to.throw().with.property('code', 'ERR_INVALID_GRANT');
    expect(() => writeRevocation(node1.registry, trust, 'junk' as never)).to.throw().with.property('code', 'ERR_INVALID_GRANT');
    const ofOwner = makeRevocation(m.owner, { mesh: m.mesh, subject: toHex(m.owner.publicKey), at: Date.now() });
    expect(() => writeRevocation(node1.registry, trust, ofOwner)).to.throw().with.property('code', 'ERR_INVALID_GRANT');
    expect(listMembers(node1.registry, trust).every((x) => !x.revoked)).to.equal(true);
  });
});

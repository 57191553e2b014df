// The PWA in a mesh with roles, in real Chromium: an owner's page picks the role of the
// invitation its join QR code carries (made by the peer holding the owner key); a page that
// joined as `device` says so and offers no invitation; a second page redeeming the same
// single-use invitation is told it is not a member (ERR_INVITATION_USED); the owner revokes
// a device from the mesh view, every peer cuts it off, and the views keep listing it by
// name, marked revoked.
import { expect } from 'chai';
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { serveOwnerRequests } from '../../shared/mesh/owner-service.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { MemoryBlobStore } from '../../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import type { PeerRoles } from '../../shared/registry/join-roles.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { decodeInvitationToken, makeInvitation } from '../../shared/trust/statements.ts';
import { type BrowserPeer, startBrowserPeer } from '../../web/browser-peer.ts';
import type { JoinView } from '../../web/ui/join-view.ts';
import '../../web/ui/join-view.ts';
import type { MeshView } from '../../web/ui/mesh-view.ts';
import '../../web/ui/mesh-view.ts';
import { waitFor } from '../acceptance/wait.ts';
import { choose, find, findAll, Fixture, textOf } from './ui-helpers.ts';

const MESH = 'ui-roles';

describe('Roles in the PWA', function () {
  let f: Fixture;
  let keyPeer: Peer | undefined;
  let owner: Identity;
  let owners: string[];
  beforeEach(async () => {
    f = new Fixture();
    owner = await Identity.generate();
    owners = [toHex(owner.publicKey)];
    // The peer holding the owner key, as start's node-1.
    keyPeer = new Peer({
      transports: [f.network.createTransport()],
      store: { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() },
      device: { name: 'node-1', engine: 'node', capabilities: [] },
      identity: owner,
      roles: { mesh: MESH, owners },
      logger: createLogger('node-1', () => undefined),
    });
    await keyPeer.start();
    serveOwnerRequests(keyPeer);
  });
  afterEach(async () => {
    await keyPeer?.stop();
    await f.dispose();
  });

  const invite = (role: Role) => makeInvitation(owner, { mesh: MESH, role, expires: Date.now() + 3_600_000, once: true });
  async function page(name: string, roles: PeerRoles): Promise<BrowserPeer> {
    const dbName = `lm-ui-roles-${Math.random().toString(36).slice(2, 8)}-${name}`;
    f.extraDbs(dbName);
    const peer = await startBrowserPeer({ name, transports: [f.network.createTransport()], dbName, camera: false, roles });
    f.peers.push(peer);
    return peer;
  }

  it('an owner page invites with the role it picks; a device page only says it is a device', async () => {
    const tab = await page('owner-tab', { mesh: MESH, owners, invitation: invite('owner') });
    const phone = await page('phone-1', { mesh: MESH, owners, invitation: invite('device') });
    await waitFor(() => tab.peer.alive().length === 2 && phone.peer.alive().length === 2, 'the pages to see the mesh');

    const ownerView = await f.mount<JoinView>('lm-join-view', { node: tab, joinUrl: `https://mesh.example/?mesh=${MESH}` });
    await waitFor(() => textOf(ownerView).includes('member of the mesh as owner'), 'the owner page to know its role');
    choose(find<HTMLSelectElement>(ownerView, 'select[name=invite-role]'), 'operator');
    await waitFor(() => !find<HTMLButtonElement>(ownerView, 'button.new-invitation').disabled, 'the owner-key peer to be reachable');
    find<HTMLButtonElement>(ownerView, 'button.new-invitation').click();
    await waitFor(() => find(ownerView, 'a.url').textContent!.includes('invite='), 'the QR code to carry an invitation');
    const link = new URL(find(ownerView, 'a.url').textContent!.trim());
    const token = decodeInvitationToken(link.searchParams.get('invite')!);
    expect(token.invitation).to.include({ role: 'operator', once: true, by: owners[0] });
    expect(textOf(ownerView)).to.contain('Single use: makes one operator');

    const phoneView = await f.mount<JoinView>('lm-join-view', { node: phone, joinUrl: `https://mesh.example/?mesh=${MESH}` });
    await waitFor(() => textOf(phoneView).includes('member of the mesh as device'), 'the phone to know its role');
    expect(findAll(phoneView, 'select[name=invite-role]')).to.have.length(0);
    expect(find(phoneView, 'a.url').textContent).to.not.contain('invite=');
    expect(textOf(phoneView)).to.contain('needs an invitation from an owner');
  });

  it('a second page redeeming a used single-use invitation is told why it is not a member', async () => {
    const once = invite('device');
    const first = await page('phone-1', { mesh: MESH, owners, invitation: once });
    await waitFor(() => keyPeer!.registry.devices.get(first.peer.id) !== undefined, 'the first phone to be a member');
    const second = await page('phone-2', { mesh: MESH, owners, invitation: once });
    const view = await f.mount<JoinView>('lm-join-view', { node: second, joinUrl: `https://mesh.example/?mesh=${MESH}` });
    await waitFor(() => {
      view.requestUpdate();
      return textOf(view).includes('ERR_INVITATION_USED');
    }, 'the second page to show ERR_INVITATION_USED', 20_000);
    expect(find(view, '.membership').classList.contains('error')).to.equal(true);
    expect(keyPeer!.registry.devices.get(second.peer.id)).to.equal(undefined);
  });

  it('the owner revokes a device from the mesh view: every peer cuts it off', async () => {
    const tab = await page('owner-tab', { mesh: MESH, owners, invitation: invite('owner') });
    const phone = await page('phone-1', { mesh: MESH, owners, invitation: invite('device') });
    await waitFor(() => tab.peer.alive().length === 2 && tab.peer.registry.devices.size === 3, 'the owner page to see the mesh');
    const view = await f.mount<MeshView>('lm-mesh-view', { node: tab });
    await waitFor(() => findAll(view, `article[data-peer="${phone.peer.id}"] button.revoke`).length === 1, 'a revoke button on the phone');
    expect(textOf(find(view, `article[data-peer="${phone.peer.id}"]`))).to.contain('device');
    // No revoke button for the owners.
    expect(findAll(view, `article[data-peer="${keyPeer!.id}"] button.revoke`)).to.have.length(0);
    find<HTMLButtonElement>(view, `article[data-peer="${phone.peer.id}"] button.revoke`).click();
    await waitFor(() => textOf(view).includes('Revoked phone-1'), 'the revocation to be confirmed');
    await waitFor(() => !tab.peer.linked().includes(phone.peer.id) && !keyPeer!.linked().includes(phone.peer.id), 'the phone to be cut off');
    // The phone stays listed by its name, marked revoked, with nothing to revoke any more.
    await waitFor(() => {
      view.requestUpdate();
      return findAll(view, `article[data-peer="${phone.peer.id}"] .badge.revoked`).length === 1;
    }, 'the phone marked revoked');
    expect(find(view, `article[data-peer="${phone.peer.id}"] .name`).textContent).to.equal('phone-1');
    expect(findAll(view, `article[data-peer="${phone.peer.id}"] button.revoke`)).to.have.length(0);

    // A page that joins afterwards never accepted the phone's description, and lists it all the same.
    const later = await page('owner-tab-2', { mesh: MESH, owners, invitation: invite('owner') });
    await waitFor(() => later.peer.alive().includes(keyPeer!.id) && later.peer.registry.trust.get(`revoked/${toHex(phone.peer.identity.publicKey)}`) !== undefined, 'the later page to have the revocation');
    expect(later.peer.registry.devices.get(phone.peer.id)).to.equal(undefined);
    const laterView = await f.mount<MeshView>('lm-mesh-view', { node: later });
    await waitFor(() => {
      laterView.requestUpdate();
      return findAll(laterView, `article[data-peer="${phone.peer.id}"] .badge.revoked`).length === 1;
    }, 'the later page to list the phone as revoked');
    expect(textOf(find(laterView, `article[data-peer="${phone.peer.id}"]`))).to.contain('phone-1');
  });
});

// Roles in one process: members join with owner grants or invitations, every registry
// entry is signed and checked on read, and a rogue member holding the mesh secret (a
// `device` by invitation, writing what a modified client would) fails with named errors.
import { expect } from 'chai';
import { toHex } from '../../shared/bytes.ts';
import type { Peer } from '../../shared/mesh/peer.ts';
import type { DeploymentRecord, ModuleRecord } from '../../shared/registry/schema.ts';
import { sealEntry } from '../../shared/trust/entry-auth.ts';
import { nameKey, revokedKey } from '../../shared/trust/mesh-trust.ts';
import { makeRevocation } from '../../shared/trust/statements.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { createRolesMesh, type RolesMesh } from '../helpers/roles-mesh.ts';

declare module '../../shared/rpc/methods.ts' {
  interface MeshMethods {
    'test.history': { params: Record<string, never>; result: string[] };
  }
}

const moduleRecord = (id: string, name: string, by: string): ModuleRecord => ({
  id, name, version: '1.0.0', size: 10, exports: [], imports: [], functions: {}, dataFiles: {}, publishedBy: by, publishedAt: 1,
});
const deploymentRecord = (id: string, coordinator: string): DeploymentRecord => ({
  id, name: id, manifest: {}, solution: {}, revision: 1, coordinator, status: 'pending', createdAt: 1, updatedAt: 1,
});
const FIBO = 'f'.repeat(64);
const COUNTER = 'c'.repeat(64);

async function converged(peers: Peer[]): Promise<void> {
  await waitFor(() => peers.every((p) => p.registry.devices.size === peers.length && p.alive().length === peers.length - 1 && p.linked().length === peers.length - 1), `${peers.length} peers to see each other`, 20_000);
}

describe('Roles: signed registry entries and authorised requests', () => {
  let m: RolesMesh;
  afterEach(async () => m?.stopAll());

  it('an operator deploys and publishes; a device invited as device cannot, locally or with a forged write', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const device = await m.invited('phone-1', m.invite('device'));
    await converged([operator, device]);

    operator.registry.modules.set(moduleRecord(FIBO, 'fibo', operator.id));
    operator.registry.deployments.put(deploymentRecord('fibo-dep', operator.id));
    await waitFor(() => device.registry.modules.get(FIBO) !== undefined && device.registry.deployments.get('fibo-dep') !== undefined, 'the operator\'s writes to reach the device');
    expect(device.registry.modules.authorOf(FIBO)).to.equal(toHex(operator.identity.publicKey));
    expect(device.registry.deployments.authorOf('fibo-dep')).to.equal(toHex(operator.identity.publicKey));

    let refused: unknown;
    try {
      device.registry.deployments.put(deploymentRecord('camera-dep', device.id));
    } catch (error) {
      refused = error;
    }
    expect((refused as { code?: string }).code).to.equal('ERR_WRITE_FORBIDDEN');

    // A modified client signs and writes it anyway: every peer skips it and removes it.
    const forged = new (device.registry.doc.getMap('deployments').constructor as new () => import('yjs').Map<unknown>)();
    device.registry.doc.transact(() => {
      device.registry.doc.getMap('deployments').set('camera-dep', forged);
      forged.set('record', sealEntry('deployments', 'camera-dep', deploymentRecord('camera-dep', device.id), device.identity));
    });
    await waitFor(() => operator.registry.doc.getMap('deployments').get('camera-dep') === undefined && device.registry.doc.getMap('deployments').get('camera-dep') === undefined, 'the forged deployment to be removed everywhere');
    expect(operator.registry.deployments.get('camera-dep')).to.equal(undefined);
    expect(m.log.lines.some((l) => l.text.includes('camera-dep') && l.text.includes('ERR_WRITE_FORBIDDEN'))).to.equal(true);
  });

  it('a rogue member cannot rename a device, hijack or delete module records, take a device name, or make every peer keep 900 KB of junk', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const node1 = await m.invited('node-1', m.invite('device'));
    const chromium1 = await m.invited('chromium-1', m.invite('device'));
    const rogue = await m.invited('rogue', m.invite('device'));
    const honest = [operator, node1, chromium1];
    await converged([...honest, rogue]);
    operator.registry.transact(() => {
      operator.registry.modules.set(moduleRecord(FIBO, 'fibo', operator.id));
      operator.registry.modules.set(moduleRecord(COUNTER, 'counter', operator.id));
    });
    await waitFor(() => rogue.registry.modules.size === 2, 'the modules to reach the rogue');

    const raw = (map: string) => rogue.registry.doc.getMap(map);
    const node1Record = rogue.registry.devices.get(node1.id)!;
    rogue.registry.doc.transact(() => {
      // Rename node-1 to "pwned" (signed by the rogue, and unsigned).
      raw('devices').set(node1.id, sealEntry('devices', node1.id, { ...node1Record, name: 'pwned' }, rogue.identity));
      // Hijack fibo: the same module id, the rogue's record.
      raw('modules').set(FIBO, sealEntry('modules', FIBO, { ...moduleRecord(FIBO, 'fibo', rogue.id), version: '6.6.6' }, rogue.identity));
      // Delete counter's record.
      raw('modules').delete(COUNTER);
      // Take chromium-1's name and describe itself under it.
      raw('trust').set(nameKey('chromium-1'), sealEntry('trust', nameKey('chromium-1'), { id: nameKey('chromium-1'), name: 'chromium-1', key: toHex(rogue.identity.publicKey), at: 0 }, rogue.identity));
      raw('devices').set(rogue.id, sealEntry('devices', rogue.id, { ...rogue.registry.devices.get(rogue.id)!, name: 'chromium-1' }, rogue.identity));
      // 900 KB of junk under a module id.
      raw('modules').set('e'.repeat(64), { id: 'e'.repeat(64), junk: 'x'.repeat(900 * 1024) });
    });

    const intact = (p: Peer): boolean => {
      const doc = p.registry.doc;
      return p.registry.devices.get(node1.id)?.name === 'node-1'
        && p.registry.modules.get(FIBO)?.version === '1.0.0' && p.registry.modules.authorOf(FIBO) === toHex(operator.identity.publicKey)
        && p.registry.modules.get(COUNTER)?.name === 'counter' && doc.getMap('modules').get(COUNTER) !== undefined
        && doc.getMap('modules').get('e'.repeat(64)) === undefined
        && p.registry.devices.values().filter((d) => d.name === 'chromium-1').map((d) => d.id).join() === chromium1.id;
    };
    await waitFor(() => [...honest, rogue].every(intact), 'every peer, the rogue too, to hold the honest entries again and no junk', 20_000);
    // Pins by name resolve to the name's first claimant.
    for (const p of honest) expect(p.registry.trust.get(nameKey('chromium-1'))?.key).to.equal(toHex(chromium1.identity.publicKey));
    const codes = m.log.lines.map((l) => l.text);
    for (const code of ['ERR_WRITE_FORBIDDEN', 'ERR_NAME_TAKEN', 'ERR_UNSIGNED_ENTRY']) expect(codes.some((t) => t.includes(code)), code).to.equal(true);
  });

  it('request history is for operators: a device gets ERR_ROLE_REQUIRED, a non-member ERR_INVITATION_USED', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const victim = await m.invited('node-1', m.invite('device'));
    const token = m.invite('device');
    const rogue = await m.invited('rogue', token);
    await converged([operator, victim, rogue]);
    // supervisor.history's rule, on a stand-in handler.
    victim.rpc.handle('test.history', () => ['fibo(12) = 144']);
    const rules = await import('../../shared/trust/rpc-policy.ts');
    (rules.METHOD_RULES as Record<string, { role: string }>)['test.history'] = rules.METHOD_RULES['supervisor.history']!;

    expect(await operator.call(victim.id, 'test.history', {})).to.deep.equal(['fibo(12) = 144']);
    const denied = await rejectionOf(rogue.call(victim.id, 'test.history', {}));
    expect(denied.code).to.equal('ERR_ROLE_REQUIRED');
    expect(denied.message).to.contain('operator');

    // A second phone scanning the same single-use QR is not a member.
    const second = await m.invited('phone-2', token);
    await waitFor(() => second.linked().includes(victim.id), 'the second phone to link');
    await waitFor(() => victim.registry.trust.get(`grant/${toHex(second.identity.publicKey)}`) !== undefined, 'the second phone\'s grant to arrive');
    await waitFor(() => victim.registry.trust.get(`redeemed/${token.invitation.key}`)?.subject === toHex(rogue.identity.publicKey), 'the first redemption to stand');
    const outsider = await rejectionOf(second.call(victim.id, 'peer.ping', { sentAt: 1 }));
    expect(outsider.code).to.equal('ERR_INVITATION_USED');
  });

  it('revocation cuts a member off within the liveness timeout, and it cannot link again', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const node1 = await m.invited('node-1', m.invite('device'));
    const rogue = await m.invited('rogue', m.invite('device'));
    await converged([operator, node1, rogue]);
    const left: string[] = [];
    node1.on('device-left', (id) => left.push(id));

    const key = toHex(rogue.identity.publicKey);
    operator.registry.trust.set({ id: revokedKey(key), revocation: makeRevocation(m.owner, { mesh: m.mesh, subject: key, at: Date.now() }) });
    await waitFor(() => !operator.linked().includes(rogue.id) && !node1.linked().includes(rogue.id) && left.includes(rogue.id), 'the rogue to be cut off', 10_000);
    // Cut off by the revocation itself, not by heartbeats timing out.
    expect(m.log.lines.filter((l) => l.text.includes(`disconnecting ${rogue.id}: an owner revoked its key`)).length).to.be.at.least(2);
    // A new connection of the revoked key is refused at the handshake.
    const refusals: string[] = [];
    operator.on('link-rejected', ({ peer, error }) => refusals.push(`${peer} ${error.code}`));
    await rogue.stop();
    const again = await m.start('rogue-again', { mesh: m.mesh, owners: [toHex(m.owner.publicKey)] }, rogue.identity);
    await waitFor(() => refusals.includes(`${again.id} ERR_NOT_A_MEMBER`), 'the operator to refuse the revoked key');
    expect(operator.linked()).to.not.include(again.id);
  });
});

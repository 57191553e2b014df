// The operator a deployment acts for — the audience of device owners' capability offers —
// is the key that signed its record in a mesh with roles, not the record's `coordinator`
// field, which its writer fills in as it likes.
import { expect } from 'chai';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';
import { deploymentOperator } from '../../shared/orchestrator/requester.ts';
import { waitFor } from '../acceptance/wait.ts';
import { createRolesMesh, type RolesMesh } from '../helpers/roles-mesh.ts';

const record = (id: string, coordinator: string): DeploymentRecord => ({
  id, name: id, manifest: {}, solution: {}, revision: 1, coordinator, status: 'pending', createdAt: 1, updatedAt: 1,
});

describe('deploymentOperator', () => {
  let m: RolesMesh | undefined;
  afterEach(async () => m?.stopAll());

  it('names the signing operator even when the coordinator field names another peer', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const device = await m.invited('phone-1', m.invite('device'));
    // The writer claims that the device coordinates it: a device owner offering its camera
    // to that device's deployments only must not be fooled.
    operator.registry.deployments.put(record('cam', device.id));
    await waitFor(() => device.registry.deployments.get('cam') !== undefined, 'the deployment to reach the device');
    const seen = device.registry.deployments.get('cam')!.record;
    expect(seen.coordinator).to.equal(device.id);
    expect(deploymentOperator(seen, device.registry.deployments)).to.equal(operator.id);
  });

  it('falls back to the coordinator in a mesh without roles (nothing is signed)', () => {
    const unsigned = { authorOf: () => undefined };
    expect(deploymentOperator(record('d', 'peer-a'), unsigned)).to.equal('peer-a');
    expect(deploymentOperator(record('d', 'peer-b'))).to.equal('peer-b');
  });
});

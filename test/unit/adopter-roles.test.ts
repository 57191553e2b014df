// Who adopts an orphaned deployment in a mesh with roles: only an operator (or owner) may
// write a deployment record, so a device is never chosen — were it chosen, every peer
// would agree on an adopter that cannot write, and the orphan would never be adopted.
import { expect } from 'chai';
import { adopterOf } from '../../shared/orchestrator/coordinator.ts';
import { waitFor } from '../acceptance/wait.ts';
import { createRolesMesh, type RolesMesh } from '../helpers/roles-mesh.ts';

describe('Adopting orphans in a mesh with roles', () => {
  let m: RolesMesh;
  afterEach(async () => m?.stopAll());

  it('chooses an operator for every deployment, never a device, and nobody without roles to check', async () => {
    m = await createRolesMesh();
    const operator = await m.granted('operator-1', 'operator');
    const devices = [await m.granted('node-1', 'device'), await m.invited('node-2', m.invite('device'))];
    const peers = [operator, ...devices];
    await waitFor(() => peers.every((p) => p.registry.devices.size === 3), 'every description everywhere');
    const alive = new Set(peers.map((p) => p.id));
    for (const viewer of peers) {
      for (let i = 0; i < 20; i++) expect(adopterOf(`dep-${i}`, alive, viewer.registry)).to.equal(operator.id);
    }
    // Without an operator alive, nobody adopts.
    expect(adopterOf('dep-0', new Set(devices.map((d) => d.id)), devices[0]!.registry)).to.equal(undefined);
  });
});

import { expect } from 'chai';
import { collectLogs } from '../helpers/mesh.ts';
import { createLogger } from '../../shared/log.ts';
import { Y } from '../../shared/mesh/peer.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';

function deployment(id: string): DeploymentRecord {
  return { id, name: `dep-${id}`, manifest: {}, solution: {}, revision: 1, coordinator: 'a'.repeat(32), status: 'pending', createdAt: 1, updatedAt: 1 };
}

describe('Registry deployments that do not read as valid', () => {
  it('tells an entry whose record is missing for now apart from no entry and from a deletion', () => {
    const log = collectLogs();
    const registry = new Registry({ logger: createLogger('registry', log.sink) });
    expect(registry.deployments.unreadable('dep-1')).to.equal(false);
    registry.deployments.put(deployment('dep-1'));
    expect(registry.deployments.get('dep-1')?.record.revision).to.equal(1);
    expect(registry.deployments.unreadable('dep-1')).to.equal(false);
    // The entry stays; its record is gone (as a merge still under way can show it).
    const entry = registry.doc.getMap('deployments').get('dep-1') as Y.Map<unknown>;
    entry.delete('record');
    expect(registry.deployments.get('dep-1')).to.equal(undefined);
    expect(registry.deployments.unreadable('dep-1')).to.equal(true);
    registry.deployments.delete('dep-1');
    expect(registry.deployments.unreadable('dep-1')).to.equal(false);
  });
});

// The gate keeps each author's role while the trust map stays the same. A revocation or a
// demotion must still take effect for the very next entry it reads: in the same update as
// the revocation, inside the transaction that applies it, and in any later update.
import { expect } from 'chai';
import * as Y from 'yjs';
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';
import { grantKey, MeshTrust, revokedKey } from '../../shared/trust/mesh-trust.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { makeGrant, makeRevocation } from '../../shared/trust/statements.ts';
import { useNodeEd25519 } from '../../node-host/trust/node-ed25519.ts';
import { collectLogs } from '../helpers/mesh.ts';

useNodeEd25519();

const MESH = 'role-cache-test';

function deployment(id: string, coordinator: string): DeploymentRecord {
  return { id, name: id, manifest: {}, solution: {}, revision: 1, coordinator, status: 'ready', createdAt: 1, updatedAt: 1 };
}

interface World {
  owner: Identity;
  /** The owner's registry. */
  root: Registry;
  operator: Identity;
  /** The operator's registry: it keeps writing deployments, unaware of what the owner does. */
  op: Registry;
  /** A device reading the registry (the gate under test). */
  reader: Registry;
}

function registryOf(signer: Identity, owners: string[]): Registry {
  const registry = new Registry({ logger: createLogger('registry', collectLogs().sink) });
  registry.enableRoles({ trust: new MeshTrust({ mesh: MESH, owners }), signer });
  return registry;
}

function grant(registry: Registry, owner: Identity, subject: Identity, role: Role, issued = 1): void {
  const key = toHex(subject.publicKey);
  registry.trust.set({ id: grantKey(key), grant: makeGrant(owner, { mesh: MESH, subject: key, role, issued }) });
}

/** What `to` lacks of `from`, as one update. */
function diff(from: Registry, to: Registry): Uint8Array {
  return Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(to.doc));
}

async function world(): Promise<World> {
  const owner = await Identity.generate();
  const operator = await Identity.generate();
  const device = await Identity.generate();
  const owners = [toHex(owner.publicKey)];
  const root = registryOf(owner, owners);
  const op = registryOf(operator, owners);
  const reader = registryOf(device, owners);
  grant(root, owner, operator, 'operator');
  grant(root, owner, device, 'device');
  Y.applyUpdate(op.doc, diff(root, op), 'remote');
  op.deployments.put(deployment('dep-1', operator.id));
  Y.applyUpdate(reader.doc, diff(root, reader), 'remote');
  Y.applyUpdate(reader.doc, diff(op, reader), 'remote');
  // The reader has opened an entry by the operator: its role is now known to the gate.
  expect(reader.deployments.get('dep-1')?.record.coordinator).to.equal(operator.id);
  return { owner, root, operator, op, reader };
}

function revoke(w: World): void {
  const key = toHex(w.operator.publicKey);
  w.root.trust.set({ id: revokedKey(key), revocation: makeRevocation(w.owner, { mesh: MESH, subject: key, at: 2 }) });
}

describe('the gate with roles known per author', () => {
  it('refuses a revoked key’s new entry that arrives in the same update as the revocation', async () => {
    const w = await world();
    revoke(w);
    w.op.deployments.put(deployment('dep-2', w.operator.id));
    Y.applyUpdate(w.reader.doc, Y.mergeUpdates([diff(w.root, w.reader), diff(w.op, w.reader)]), 'remote');
    expect(w.reader.deployments.get('dep-2')).to.equal(undefined);
  });

  it('refuses it when read inside the transaction that applies the revocation', async () => {
    const w = await world();
    w.op.deployments.put(deployment('dep-2', w.operator.id));
    const before = diff(w.op, w.reader);
    revoke(w);
    const revocation = diff(w.root, w.reader);
    w.op.deployments.put(deployment('dep-3', w.operator.id));
    const after = Y.encodeStateAsUpdate(w.op.doc, Y.encodeStateVectorFromUpdate(Y.mergeUpdates([Y.encodeStateAsUpdate(w.reader.doc), before])));
    let inside: unknown = 'not read';
    w.reader.doc.transact(() => {
      Y.applyUpdate(w.reader.doc, before);
      // Read before the revocation arrives: the operator still holds its role.
      expect(w.reader.deployments.get('dep-2')?.record.id).to.equal('dep-2');
      Y.applyUpdate(w.reader.doc, revocation);
      Y.applyUpdate(w.reader.doc, after);
      inside = w.reader.deployments.get('dep-3');
    }, 'remote');
    expect(inside).to.equal(undefined);
    expect(w.reader.deployments.get('dep-3')).to.equal(undefined);
  });

  it('stops reading an entry it accepted before its author was revoked', async () => {
    const w = await world();
    revoke(w);
    Y.applyUpdate(w.reader.doc, diff(w.root, w.reader), 'remote');
    expect(w.reader.deployments.get('dep-1')).to.equal(undefined);
    expect(w.reader.deployments.keys()).to.not.include('dep-1');
  });

  it('stops reading it when the revocation arrives inside the transaction that read it', async () => {
    const w = await world();
    revoke(w);
    let inside: unknown = 'not read';
    w.reader.doc.transact(() => {
      Y.applyUpdate(w.reader.doc, diff(w.root, w.reader));
      inside = w.reader.deployments.get('dep-1');
    }, 'remote');
    expect(inside).to.equal(undefined);
    expect(w.reader.deployments.get('dep-1')).to.equal(undefined);
  });

  it('stops reading an operator’s deployment accepted before the owner demoted it to a device', async () => {
    const w = await world();
    grant(w.root, w.owner, w.operator, 'device', 2);
    Y.applyUpdate(w.reader.doc, diff(w.root, w.reader), 'remote');
    expect(w.reader.deployments.get('dep-1')).to.equal(undefined);
  });

  it('refuses a revoked key’s entry in a later update', async () => {
    const w = await world();
    revoke(w);
    Y.applyUpdate(w.reader.doc, diff(w.root, w.reader), 'remote');
    w.op.deployments.put(deployment('dep-3', w.operator.id));
    Y.applyUpdate(w.reader.doc, diff(w.op, w.reader), 'remote');
    expect(w.reader.deployments.get('dep-3')).to.equal(undefined);
  });

  it('refuses an operator’s deployment once an owner demotes it to a device, in the same and a later update', async () => {
    const w = await world();
    grant(w.root, w.owner, w.operator, 'device', 2);
    w.op.deployments.put(deployment('dep-2', w.operator.id));
    Y.applyUpdate(w.reader.doc, Y.mergeUpdates([diff(w.root, w.reader), diff(w.op, w.reader)]), 'remote');
    expect(w.reader.deployments.get('dep-2')).to.equal(undefined);
    w.op.deployments.put(deployment('dep-3', w.operator.id));
    Y.applyUpdate(w.reader.doc, diff(w.op, w.reader), 'remote');
    expect(w.reader.deployments.get('dep-3')).to.equal(undefined);
    // Its device entries stay readable: the demoted key is still a member.
    expect(w.reader.trust.get(grantKey(toHex(w.operator.publicKey)))).to.not.equal(undefined);
  });

  it('still reads entries of keys whose standing did not change', async () => {
    const w = await world();
    revoke(w);
    const other = await Identity.generate();
    grant(w.root, w.owner, other, 'operator');
    const writer = registryOf(other, [toHex(w.owner.publicKey)]);
    Y.applyUpdate(writer.doc, diff(w.root, writer), 'remote');
    writer.deployments.put(deployment('dep-4', other.id));
    Y.applyUpdate(w.reader.doc, Y.mergeUpdates([diff(w.root, w.reader), diff(writer, w.reader)]), 'remote');
    expect(w.reader.deployments.get('dep-4')?.record.coordinator).to.equal(other.id);
  });
});

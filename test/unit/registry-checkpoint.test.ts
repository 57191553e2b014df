// Owner-signed registry checkpoints: a joiner that receives one checks one signature and
// the entries' digests instead of every entry's signature, ends with exactly the registry
// a joiner without it ends with, and is not fooled by checkpoints from keys that are not
// the mesh's owners, by entries altered after the checkpoint, or into keeping a revoked
// member's entries.
import { expect } from 'chai';
import * as Y from 'yjs';
import { toHex } from '../../shared/bytes.ts';
import { type Ed25519Backend, ed25519Backend, setEd25519Backend } from '../../shared/identity/ed25519-sync.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { acceptedDigests, Checkpointer, writeCheckpoint } from '../../shared/registry/checkpointer.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeploymentRecord, DeviceDescription } from '../../shared/registry/schema.ts';
import { checkpointKey } from '../../shared/trust/checkpoint.ts';
import { entryDigest, sealEntry } from '../../shared/trust/entry-auth.ts';
import { packDigests, unpackDigests } from '../../shared/trust/entry-digest.ts';
import { grantKey, MeshTrust, nameKey, revokedKey } from '../../shared/trust/mesh-trust.ts';
import type { Role } from '../../shared/trust/roles.ts';
import { makeGrant, makeRevocation } from '../../shared/trust/statements.ts';
import { useNodeEd25519 } from '../../node-host/trust/node-ed25519.ts';
import { collectLogs, type CollectedLog } from '../helpers/mesh.ts';
import { storedValue, withText } from '../helpers/entry-bytes.ts';

// A Node peer's backends (native Ed25519 and SHA-256), as a Node host runs them.
useNodeEd25519();

const MESH = 'checkpoint-test';
const DEVICES = 40;

interface Mesh {
  owner: Identity;
  owners: string[];
  devices: Identity[];
  operator: Identity;
  /** The owner's registry: every member's entries, as the owner holds them. */
  seed: Registry;
}

function device(identity: Identity, i: number): DeviceDescription {
  return {
    id: identity.id, name: `device-${i}`, engine: 'node', publicKey: toHex(identity.publicKey),
    platform: { cpu: { humanReadableName: 'Cortex-A72', cores: 4, clockSpeedHz: 1.5e9 }, memory: { bytes: 4e9 } },
    capabilities: ['sys.millis'], version: '0.1.0', startedAt: 1,
  };
}

function deployment(i: number, coordinator: string): DeploymentRecord {
  return { id: `dep-${i}`, name: `dep-${i}`, manifest: {}, solution: {}, revision: 1, coordinator, status: 'ready', createdAt: 1, updatedAt: 1 };
}

/** What a member writes when it joins: its grant, its name claim, its description. */
function join(doc: Y.Doc, owner: Identity, identity: Identity, i: number, role: Role = 'device'): void {
  const key = toHex(identity.publicKey);
  const grant = makeGrant(owner, { mesh: MESH, subject: key, role, issued: 1 });
  doc.transact(() => {
    doc.getMap('trust').set(grantKey(key), sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, identity));
    doc.getMap('trust').set(nameKey(`device-${i}`), sealEntry('trust', nameKey(`device-${i}`), { id: nameKey(`device-${i}`), name: `device-${i}`, key, at: 1 }, identity));
    doc.getMap('devices').set(identity.id, sealEntry('devices', identity.id, device(identity, i), identity));
  });
}

function registryOf(signer: Identity, owners: string[], log?: CollectedLog): Registry {
  const registry = new Registry({ logger: createLogger('registry', (log ?? collectLogs()).sink) });
  registry.enableRoles({ trust: new MeshTrust({ mesh: MESH, owners }), signer });
  return registry;
}

async function createMesh(): Promise<Mesh> {
  const owner = await Identity.generate();
  const owners = [toHex(owner.publicKey)];
  const devices = await Promise.all(Array.from({ length: DEVICES }, () => Identity.generate()));
  const operator = await Identity.generate();
  const seed = registryOf(owner, owners);
  devices.forEach((d, i) => join(seed.doc, owner, d, i));
  join(seed.doc, owner, operator, DEVICES, 'operator');
  // The operator's deployments, as they reach the owner.
  const op = registryOf(operator, owners);
  Y.applyUpdate(op.doc, Y.encodeStateAsUpdate(seed.doc), 'remote');
  op.transact(() => {
    for (let i = 0; i < 10; i++) op.deployments.put(deployment(i, operator.id));
  });
  Y.applyUpdate(seed.doc, Y.encodeStateAsUpdate(op.doc, Y.encodeStateVector(seed.doc)), 'remote');
  return { owner, owners, devices, operator, seed };
}

/** Count Ed25519 verifications while `fn` runs. */
function countVerifications<T>(fn: () => T): { result: T; verifications: number } {
  const base: Ed25519Backend = ed25519Backend();
  let verifications = 0;
  setEd25519Backend({ name: 'counting', sign: base.sign, verify: (k, s, d) => (verifications++, base.verify(k, s, d)) });
  try {
    return { result: fn(), verifications };
  } finally {
    setEd25519Backend(base);
  }
}

/** What a reader sees: every valid entry of every map (checkpoint pages left out). */
function visible(r: Registry): unknown {
  return {
    devices: r.devices.values().sort((a, b) => a.id.localeCompare(b.id)),
    deployments: r.deployments.values().map((d) => d.record).sort((a, b) => a.id.localeCompare(b.id)),
    trust: r.trust.values().filter((t) => !t.id.startsWith('checkpoint/')).sort((a, b) => a.id.localeCompare(b.id)),
    authors: r.devices.keys().sort().map((id) => r.devices.authorOf(id)),
  };
}

/** A new peer's registry that receives `state` and reads all of it. */
async function joiner(m: Mesh, state: Uint8Array, log?: CollectedLog): Promise<{ registry: Registry; verifications: number }> {
  const registry = registryOf(await Identity.generate(), m.owners, log);
  const { verifications } = countVerifications(() => {
    Y.applyUpdate(registry.doc, state, 'remote');
    visible(registry);
  });
  return { registry, verifications };
}

/**
 * A joiner of `rogue`'s state: its checkpoint page is refused with `pageCode` and vouches
 * for nothing, every entry's signature is checked instead, and the forged record of
 * `victimId` is refused.
 */
async function joinRefusingCheckpoint(m: Awaited<ReturnType<typeof createMesh>>, rogue: Y.Doc, victimId: string, pageCode: string): Promise<Awaited<ReturnType<typeof joiner>>> {
  const log = collectLogs();
  const joined = await joiner(m, Y.encodeStateAsUpdate(rogue), log);
  const { registry, verifications } = joined;
  expect(registry.devices.get(victimId)).to.equal(undefined);
  expect(registry.trust.get(checkpointKey(0))).to.equal(undefined);
  expect(registry.gate!.vouched).to.equal(0);
  expect(verifications).to.be.at.least(3 * DEVICES);
  expect(log.lines.some((l) => l.text.includes(checkpointKey(0)) && l.text.includes(pageCode))).to.equal(true);
  expect(log.lines.some((l) => l.text.includes(victimId) && l.text.includes('ERR_BAD_SIGNATURE'))).to.equal(true);
  return joined;
}

describe('Registry checkpoints: one owner signature instead of one per entry', () => {
  it('a joiner with a checkpoint verifies one signature and ends with exactly the registry a joiner without it reads', async () => {
    const m = await createMesh();
    const without = await joiner(m, Y.encodeStateAsUpdate(m.seed.doc));
    const covered = writeCheckpoint(m.seed, MESH, 1);
    expect(covered).to.equal(3 * (DEVICES + 1) + 10);
    const withCheckpoint = await joiner(m, Y.encodeStateAsUpdate(m.seed.doc));

    expect(visible(withCheckpoint.registry)).to.deep.equal(visible(without.registry));
    expect(withCheckpoint.registry.devices.size).to.equal(DEVICES + 1);
    expect(withCheckpoint.registry.deployments.keys()).to.have.length(10);
    // Without: a grant, a name claim and a description per member, and each deployment.
    expect(without.verifications).to.be.at.least(3 * (DEVICES + 1) + 10);
    // With: the checkpoint page alone.
    expect(withCheckpoint.verifications).to.equal(1);
    expect(withCheckpoint.registry.gate!.vouched).to.equal(covered);
  });

  it('entries newer than the checkpoint are verified; an entry altered after it is refused, as without a checkpoint', async () => {
    const m = await createMesh();
    writeCheckpoint(m.seed, MESH, 1);
    // A rogue relay holds the registry and changes a description it has, keeping its signature.
    const rogue = new Y.Doc();
    Y.applyUpdate(rogue, Y.encodeStateAsUpdate(m.seed.doc));
    const victim = m.devices[3]!;
    const stored = rogue.getMap('devices').get(victim.id) as Uint8Array;
    rogue.getMap('devices').set(victim.id, withText(stored, { ...storedValue(stored), name: 'pwned' }));
    // And a member joins after the checkpoint, honestly.
    const late = await Identity.generate();
    join(rogue, m.owner, late, DEVICES + 1);

    const log = collectLogs();
    const state = Y.encodeStateAsUpdate(rogue);
    const withCheckpoint = await joiner(m, state, log);
    const reference = new Y.Doc();
    Y.applyUpdate(reference, state);
    reference.getMap('trust').delete(checkpointKey(0));
    const without = await joiner(m, Y.encodeStateAsUpdate(reference));

    expect(withCheckpoint.registry.devices.get(victim.id)).to.equal(undefined);
    expect(withCheckpoint.registry.devices.get(late.id)?.name).to.equal(`device-${DEVICES + 1}`);
    expect(visible(withCheckpoint.registry)).to.deep.equal(visible(without.registry));
    expect(log.lines.some((l) => l.text.includes(victim.id) && l.text.includes('ERR_BAD_SIGNATURE'))).to.equal(true);
    // The page, the altered entry and the late member's three entries.
    expect(withCheckpoint.verifications).to.equal(1 + 1 + 3);
  });

  for (const forger of ['a key outside the mesh', 'a device key', 'a revoked owner grant'] as const) {
    it(`a checkpoint signed by ${forger} is ignored: what it vouches for is verified, and a forgery refused`, async () => {
      const m = await createMesh();
      const rogue = new Y.Doc();
      Y.applyUpdate(rogue, Y.encodeStateAsUpdate(m.seed.doc));
      let signer: Identity;
      if (forger === 'a device key') signer = m.devices[0]!;
      else signer = await Identity.generate();
      if (forger === 'a revoked owner grant') {
        join(rogue, m.owner, signer, DEVICES + 2, 'owner');
        const subject = toHex(signer.publicKey);
        const revocation = makeRevocation(m.owner, { mesh: MESH, subject, at: 2 });
        rogue.getMap('trust').set(revokedKey(subject), sealEntry('trust', revokedKey(subject), { id: revokedKey(subject), revocation }, m.owner));
      }
      // A description of device 5 it did not sign, and a checkpoint vouching for it and everything else.
      const victim = m.devices[5]!;
      const stored = rogue.getMap('devices').get(victim.id) as Uint8Array;
      const forged = withText(stored, { ...storedValue(stored), name: 'pwned', capabilities: ['camera.takeImageStaticSize'] });
      rogue.getMap('devices').set(victim.id, forged);
      const all = [entryDigest('devices', victim.id, forged), ...acceptedDigests(m.seed)];
      rogue.getMap('trust').set(checkpointKey(0), sealEntry('trust', checkpointKey(0), { id: checkpointKey(0), mesh: MESH, at: 3, page: 0, pages: 1, digests: packDigests(all) }, signer));

      const { registry } = await joinRefusingCheckpoint(m, rogue, victim.id, 'ERR_WRITE_FORBIDDEN');
      // Junk that nobody wrote validly is removed, so it is not copied on.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(registry.doc.getMap('trust').get(checkpointKey(0))).to.equal(undefined);
    });
  }

  it("an owner's page with a forged digest spliced in is refused whole: nothing is vouched for and the forgery is refused", async () => {
    const m = await createMesh();
    writeCheckpoint(m.seed, MESH, 1);
    const rogue = new Y.Doc();
    Y.applyUpdate(rogue, Y.encodeStateAsUpdate(m.seed.doc));
    const victim = m.devices[4]!;
    const stored = rogue.getMap('devices').get(victim.id) as Uint8Array;
    const forged = withText(stored, { ...storedValue(stored), name: 'pwned' });
    rogue.getMap('devices').set(victim.id, forged);
    // The owner's page, its digests text extended by the forgery's digest, the owner's signature kept.
    const page = rogue.getMap('trust').get(checkpointKey(0)) as Uint8Array;
    const value = storedValue(page) as { digests: string };
    rogue.getMap('trust').set(checkpointKey(0), withText(page, { ...value, digests: packDigests([entryDigest('devices', victim.id, forged), ...unpackDigests(value.digests)]) }));

    await joinRefusingCheckpoint(m, rogue, victim.id, 'ERR_BAD_SIGNATURE');
  });

  it('covered bytes copied under another key are not vouched for there: the signature is checked and fails', async () => {
    const m = await createMesh();
    writeCheckpoint(m.seed, MESH, 1);
    const rogue = new Y.Doc();
    Y.applyUpdate(rogue, Y.encodeStateAsUpdate(m.seed.doc));
    // A deployment record the checkpoint covers, written again under a new id, and device 6's description under device 7's id.
    const record = (rogue.getMap('deployments').get('dep-0') as Y.Map<unknown>).get('record') as Uint8Array;
    const copy = new Y.Map<unknown>();
    rogue.getMap('deployments').set('dep-copy', copy);
    copy.set('phases', new Y.Map<unknown>());
    copy.set('record', record);
    rogue.getMap('devices').set(m.devices[7]!.id, rogue.getMap('devices').get(m.devices[6]!.id));

    const log = collectLogs();
    const { registry, verifications } = await joiner(m, Y.encodeStateAsUpdate(rogue), log);
    expect(registry.deployments.get('dep-copy')).to.equal(undefined);
    expect(registry.devices.get(m.devices[7]!.id)).to.equal(undefined);
    expect(registry.devices.get(m.devices[6]!.id)?.name).to.equal('device-6');
    // The page and the two copies, nothing else.
    expect(verifications).to.equal(1 + 2);
    expect(log.lines.filter((l) => l.text.includes('ERR_BAD_SIGNATURE')).length).to.be.at.least(2);
  });

  it('an entry JSON cannot write (a BigInt) is refused and removed, with a checkpoint present, and no reader throws', async () => {
    const m = await createMesh();
    writeCheckpoint(m.seed, MESH, 1);
    const rogue = new Y.Doc();
    Y.applyUpdate(rogue, Y.encodeStateAsUpdate(m.seed.doc));
    const victim = m.devices[2]!;
    const stored = rogue.getMap('devices').get(victim.id) as Uint8Array;
    rogue.getMap('devices').set(victim.id, { ...storedValue(stored), startedAt: 10n });
    const log = collectLogs();
    const { registry } = await joiner(m, Y.encodeStateAsUpdate(rogue), log);
    expect(registry.devices.get(victim.id)).to.equal(undefined);
    expect(registry.devices.size).to.equal(DEVICES);
    expect(log.lines.some((l) => l.text.includes(victim.id) && l.text.includes('ERR_UNSIGNED_ENTRY'))).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(registry.doc.getMap('devices').get(victim.id)).to.equal(undefined);
  });

  it('a revoked member\'s entries are dropped even though the checkpoint covers them', async () => {
    const m = await createMesh();
    writeCheckpoint(m.seed, MESH, 1);
    const revoked = m.devices[7]!;
    const subject = toHex(revoked.publicKey);
    const revocation = makeRevocation(m.owner, { mesh: MESH, subject, at: 2 });
    m.seed.trust.set({ id: revokedKey(subject), revocation });
    const { registry } = await joiner(m, Y.encodeStateAsUpdate(m.seed.doc));
    expect(registry.devices.get(revoked.id)).to.equal(undefined);
    expect(registry.devices.get(m.devices[8]!.id)?.name).to.equal('device-8');
    expect(registry.gate!.vouched).to.be.greaterThan(0);
  });

  it('an owner peer signs a checkpoint after the registry is quiet, and again only when enough is new', async () => {
    const m = await createMesh();
    const clock = new ManualClock(0);
    const checkpointer = new Checkpointer({ registry: m.seed, mesh: MESH, clock, now: () => clock.now(), logger: createLogger('checkpoint', collectLogs().sink), quietMs: 1000, maxWaitMs: 5000, minUncovered: 3 });
    checkpointer.start();
    try {
      expect(m.seed.trust.get(checkpointKey(0))).to.equal(undefined);
      clock.advance(1000);
      const first = m.seed.trust.get(checkpointKey(0));
      expect(first).to.not.equal(undefined);
      expect((await joiner(m, Y.encodeStateAsUpdate(m.seed.doc))).verifications).to.equal(1);

      // One new member (three entries) is enough here; the checkpoint waits for quiet.
      const late = await Identity.generate();
      join(m.seed.doc, m.owner, late, DEVICES + 1);
      clock.advance(500);
      expect(m.seed.trust.get(checkpointKey(0))).to.equal(first);
      clock.advance(1000);
      expect(m.seed.trust.get(checkpointKey(0))).to.not.equal(first);
      expect((await joiner(m, Y.encodeStateAsUpdate(m.seed.doc))).verifications).to.equal(1);

      // Nothing new: nothing re-signed.
      const second = m.seed.trust.get(checkpointKey(0));
      clock.advance(10_000);
      expect(m.seed.trust.get(checkpointKey(0))).to.equal(second);
    } finally {
      checkpointer.stop();
    }
  });

  it('a checkpoint of a registry larger than a page spans pages, each checked once', async () => {
    const m = await createMesh();
    const { DIGESTS_PER_PAGE } = await import('../../shared/trust/checkpoint.ts');
    // Phases are entries too: enough of them to need a second page.
    const op = registryOf(m.operator, m.owners);
    Y.applyUpdate(op.doc, Y.encodeStateAsUpdate(m.seed.doc), 'remote');
    op.transact(() => {
      for (let i = 0; i < DIGESTS_PER_PAGE; i++) op.deployments.setPhase('dep-0', String(i), m.operator.id, { phase: 'ready', at: 1, revision: 1 });
    });
    Y.applyUpdate(m.seed.doc, Y.encodeStateAsUpdate(op.doc, Y.encodeStateVector(m.seed.doc)), 'remote');
    writeCheckpoint(m.seed, MESH, 1);
    expect(m.seed.trust.get(checkpointKey(1))).to.not.equal(undefined);
    const { registry, verifications } = await joiner(m, Y.encodeStateAsUpdate(m.seed.doc));
    expect(verifications).to.equal(2);
    expect(Object.keys(registry.deployments.get('dep-0')!.phases)).to.have.length(DIGESTS_PER_PAGE);
  });
});

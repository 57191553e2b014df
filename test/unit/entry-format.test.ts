// The stored form of signed registry entries: author key and signature as 96 bytes in the
// Yjs document, none around statements that prove themselves. What a modified client can
// put there instead (hex where bytes belong, bytes of the wrong length, another key's
// bytes, an altered value, the older hex form) is refused with the same named errors as
// before, on read and by every peer after a round trip through Yjs.
import { expect } from 'chai';
import * as Y from 'yjs';
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import { AUTH_BYTES, AUTH_FIELD, entryDigest, openEntry, sealEntry } from '../../shared/trust/entry-auth.ts';
import { grantKey, MeshTrust, nameKey } from '../../shared/trust/mesh-trust.ts';
import { makeGrant } from '../../shared/trust/statements.ts';
import { collectLogs } from '../helpers/mesh.ts';

const MESH = 'entry-format';

function device(identity: Identity, name: string): DeviceDescription {
  return {
    id: identity.id, name, engine: 'node', publicKey: toHex(identity.publicKey),
    platform: { cpu: { humanReadableName: 'x', cores: 1 }, memory: { bytes: 1e9 } }, capabilities: [], version: '0.1.0', startedAt: 1,
  };
}

/** The same entry with `_a` replaced. */
function withAuth(sealed: object, auth: unknown): Record<string, unknown> {
  return { ...(sealed as Record<string, unknown>), [AUTH_FIELD]: auth };
}

describe('Signed entry format: binary author and signature', () => {
  it('stores 96 bytes of key and signature, opens to the value and the author as hex, and survives a Yjs round trip', async () => {
    const author = await Identity.generate();
    const sealed = sealEntry('devices', author.id, device(author, 'd1'), author) as unknown as Record<string, unknown>;
    const auth = sealed[AUTH_FIELD] as Uint8Array;
    expect(auth).to.be.instanceOf(Uint8Array);
    expect(auth.byteLength).to.equal(AUTH_BYTES);
    expect(toHex(auth.subarray(0, 32))).to.equal(toHex(author.publicKey));
    expect(Object.keys(sealed)).to.not.include('_auth');

    const doc = new Y.Doc();
    doc.getMap('devices').set(author.id, sealed);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
    const received = copy.getMap('devices').get(author.id);
    const opened = openEntry('devices', author.id, received);
    expect(opened.ok && opened.author).to.equal(toHex(author.publicKey));
    expect(opened.ok && opened.value).to.deep.equal(device(author, 'd1'));
    // A checkpoint made where the entry was written lists the digest the receiver computes.
    expect(entryDigest('devices', author.id, received)).to.equal(entryDigest('devices', author.id, sealed)).and.to.have.length(32);
  });

  it('stores grants without a member signature around them: the statement inside proves itself', async () => {
    const owner = await Identity.generate();
    const member = await Identity.generate();
    const key = toHex(member.publicKey);
    const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'device', issued: 1 });
    const sealed = sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, member) as unknown as Record<string, unknown>;
    expect(sealed).to.not.have.property(AUTH_FIELD);
    // The statement's keys and signature travel as bytes, and open to the statement the owner signed.
    const stored = sealed.grant as Record<string, unknown>;
    expect([stored.subject, stored.by, stored.sig].map((b) => (b as Uint8Array).byteLength)).to.deep.equal([32, 32, 64]);
    const opened = openEntry('trust', grantKey(key), sealed);
    expect(opened.ok && opened.author).to.equal(key);
    expect(opened.ok && opened.value).to.deep.equal({ id: grantKey(key), grant });
    // A name claim is the claimer's word, so it is signed.
    expect(sealEntry('trust', nameKey('d1'), { id: nameKey('d1'), name: 'd1', key, at: 1 }, member)).to.have.property(AUTH_FIELD);
  });

  it('refuses hex where bytes belong, bytes of the wrong length, another key, an altered value and the older hex form', async () => {
    const author = await Identity.generate();
    const other = await Identity.generate();
    const id = author.id;
    const sealed = sealEntry('devices', id, device(author, 'd1'), author);
    const auth = (sealed as unknown as Record<string, Uint8Array>)[AUTH_FIELD]!;
    const code = (raw: unknown): string => {
      const opened = openEntry('devices', id, raw);
      return opened.ok ? 'ok' : opened.code;
    };
    expect(code(sealed)).to.equal('ok');
    expect(code(withAuth(sealed, toHex(auth)))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(withAuth(sealed, Array.from(auth)))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(withAuth(sealed, { by: toHex(auth.subarray(0, 32)), sig: toHex(auth.subarray(32)) }))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(withAuth(sealed, auth.subarray(0, 95)))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(withAuth(sealed, new Uint8Array([...auth, 0])))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(withAuth(sealed, new Uint8Array(0)))).to.equal('ERR_UNSIGNED_ENTRY');
    const { [AUTH_FIELD]: _a, ...unsigned } = sealed as unknown as Record<string, unknown>;
    expect(code(unsigned)).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code({ ...unsigned, _auth: { by: toHex(author.publicKey), sig: '0'.repeat(128) } })).to.equal('ERR_UNSIGNED_ENTRY');
    // Another key in front of the author's signature, a flipped signature bit, an altered value.
    const swapped = new Uint8Array(auth);
    swapped.set(other.publicKey, 0);
    expect(code(withAuth(sealed, swapped))).to.equal('ERR_BAD_SIGNATURE');
    const flipped = new Uint8Array(auth);
    flipped[40]! ^= 1;
    expect(code(withAuth(sealed, flipped))).to.equal('ERR_BAD_SIGNATURE');
    expect(code({ ...(sealed as object), name: 'pwned' })).to.equal('ERR_BAD_SIGNATURE');
    // The right bytes under another id: the signature binds the key.
    expect(openEntry('devices', other.id, sealed).ok).to.equal(false);
    // No digest for what has no well-formed signature: a checkpoint cannot vouch for it.
    expect(entryDigest('devices', id, withAuth(sealed, toHex(auth)))).to.equal('');
    expect(entryDigest('devices', id, withAuth(sealed, auth.subarray(0, 64)))).to.equal('');
  });

  it('a grant whose keys or signature are hex, arrays or the wrong length grants nothing', async () => {
    const owner = await Identity.generate();
    const member = await Identity.generate();
    const key = toHex(member.publicKey);
    const registry = new Registry({ logger: createLogger('registry', collectLogs().sink) });
    const trust = new MeshTrust({ mesh: MESH, owners: [toHex(owner.publicKey)] });
    registry.enableRoles({ trust, signer: owner });
    const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'operator', issued: 1 });
    const stored = sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, member) as unknown as { grant: Record<string, Uint8Array> };
    const lookup = (id: string): unknown => registry.trust.get(id);
    const bad: [string, unknown][] = [
      ['sig', toHex(stored.grant.sig!)], ['sig', stored.grant.sig!.subarray(0, 63)], ['subject', Array.from(stored.grant.subject!)],
      ['by', toHex(stored.grant.by!)], ['subject', new Uint8Array(33)],
    ];
    for (const [field, replacement] of bad) {
      registry.doc.getMap('trust').set(grantKey(key), { ...stored, grant: { ...stored.grant, [field]: replacement } });
      expect(registry.trust.get(grantKey(key)), field).to.equal(undefined);
      expect(trust.standing(key, lookup).role, field).to.equal(undefined);
      const verdict = registry.trust.verdict(grantKey(key));
      expect(verdict?.ok === false && verdict.error.code, field).to.equal('ERR_WRITE_FORBIDDEN');
    }
    registry.doc.getMap('trust').set(grantKey(key), stored);
    expect(trust.standing(key, lookup).role).to.equal('operator');
  });

  it('a peer skips and removes an entry whose signature field is not 96 bytes, and keeps the honest one it replaced', async () => {
    const owner = await Identity.generate();
    const member = await Identity.generate();
    const key = toHex(member.publicKey);
    const log = collectLogs();
    const registry = new Registry({ logger: createLogger('registry', log.sink) });
    registry.enableRoles({ trust: new MeshTrust({ mesh: MESH, owners: [toHex(owner.publicKey)] }), signer: member });
    const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'device', issued: 1 });
    registry.trust.set({ id: grantKey(key), grant });
    registry.trust.set({ id: nameKey('d1'), name: 'd1', key, at: 1 });
    registry.devices.set(device(member, 'd1'));
    expect(registry.devices.get(member.id)?.name).to.equal('d1');

    // A modified client overwrites the record with one renamed, its signature field cut short or spelled in hex.
    const honest = registry.doc.getMap('devices').get(member.id) as Record<string, unknown>;
    for (const auth of [(honest[AUTH_FIELD] as Uint8Array).subarray(0, 48), toHex(honest[AUTH_FIELD] as Uint8Array)]) {
      const remote = new Y.Doc();
      Y.applyUpdate(remote, Y.encodeStateAsUpdate(registry.doc));
      remote.getMap('devices').set(member.id, { ...honest, name: 'pwned', [AUTH_FIELD]: auth });
      Y.applyUpdate(registry.doc, Y.encodeStateAsUpdate(remote, Y.encodeStateVector(registry.doc)), 'remote');
      expect(registry.devices.get(member.id)?.name).to.equal('d1');
      await Promise.resolve();
      // The registry wrote the honest record back.
      expect((registry.doc.getMap('devices').get(member.id) as Record<string, unknown>).name).to.equal('d1');
    }
    expect(log.lines.some((l) => l.text.includes('ERR_UNSIGNED_ENTRY'))).to.equal(true);
  });
});

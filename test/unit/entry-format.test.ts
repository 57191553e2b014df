// The stored form of signed registry entries: one byte string per entry in the Yjs
// document (author key, signature, the JSON text the author signed), the JSON text alone
// for statements that prove themselves. What a modified client can put there instead (an
// object where bytes belong, bytes too short, another key's bytes, an altered text,
// text that is no JSON object) is refused with the named errors forged entries always got,
// on read and by every peer after a round trip through Yjs.
import { expect } from 'chai';
import * as Y from 'yjs';
import { fromUtf8, toHex, utf8 } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { createLogger } from '../../shared/log.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import { AUTH_BYTES, entryDigest, MAX_ENTRY_BYTES, openEntry, sealEntry } from '../../shared/trust/entry-auth.ts';
import { grantKey, MeshTrust, nameKey } from '../../shared/trust/mesh-trust.ts';
import { makeGrant } from '../../shared/trust/statements.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { storedText, withText } from '../helpers/entry-bytes.ts';

const MESH = 'entry-format';

function device(identity: Identity, name: string): DeviceDescription {
  return {
    id: identity.id, name, engine: 'node', publicKey: toHex(identity.publicKey),
    platform: { cpu: { humanReadableName: 'x', cores: 1 }, memory: { bytes: 1e9 } }, capabilities: [], version: '0.1.0', startedAt: 1,
  };
}

describe('Signed entry format: author, signature and signed JSON text as one byte string', () => {
  it('stores key, signature and text as bytes, opens to the value and the author as hex, and survives a Yjs round trip', async () => {
    const author = await Identity.generate();
    const sealed = sealEntry('devices', author.id, device(author, 'd1'), author);
    expect(sealed).to.be.instanceOf(Uint8Array);
    expect(toHex(sealed.subarray(0, 32))).to.equal(toHex(author.publicKey));
    expect(JSON.parse(fromUtf8(sealed.subarray(AUTH_BYTES)))).to.deep.equal(device(author, 'd1'));

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
    // The digest binds map and key: the same bytes elsewhere have another one.
    expect(entryDigest('devices', 'a'.repeat(32), received)).to.not.equal(entryDigest('devices', author.id, received));
  });

  it('stores grants without a member signature around them: the statement inside proves itself', async () => {
    const owner = await Identity.generate();
    const member = await Identity.generate();
    const key = toHex(member.publicKey);
    const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'device', issued: 1 });
    const sealed = sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, member);
    // The JSON text of the statement and nothing else (the id is the map key).
    expect(JSON.parse(fromUtf8(sealed))).to.deep.equal({ grant });
    const opened = openEntry('trust', grantKey(key), sealed);
    expect(opened.ok && opened.author).to.equal(key);
    expect(opened.ok && opened.value).to.deep.equal({ id: grantKey(key), grant });
    // A name claim is the claimer's word, so it is signed.
    const claim = sealEntry('trust', nameKey('d1'), { id: nameKey('d1'), name: 'd1', key, at: 1 }, member);
    expect(toHex(claim.subarray(0, 32))).to.equal(key);
    expect(openEntry('trust', nameKey('d1'), claim).ok).to.equal(true);
  });

  it('refuses objects where bytes belong, short bytes, another key, a flipped bit, an altered text and text that is no JSON object', async () => {
    const author = await Identity.generate();
    const other = await Identity.generate();
    const id = author.id;
    const sealed = sealEntry('devices', id, device(author, 'd1'), author);
    const code = (raw: unknown): string => {
      const opened = openEntry('devices', id, raw);
      return opened.ok ? 'ok' : opened.code;
    };
    expect(code(sealed)).to.equal('ok');
    // The value as an object (the form of a mesh without roles), with or without a signature field.
    expect(code(device(author, 'd1'))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code({ ...device(author, 'd1'), _a: sealed.subarray(0, AUTH_BYTES) })).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(Array.from(sealed))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(toHex(sealed))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(sealed.subarray(0, 95))).to.equal('ERR_UNSIGNED_ENTRY');
    expect(code(new Uint8Array(0))).to.equal('ERR_UNSIGNED_ENTRY');
    // Text that is no JSON object, under a signature that holds for it: nobody signs such an entry.
    for (const text of ['[1,2]', 'null', '{"id":', '"d1"']) expect(code(sealEntryText(author, id, text)), text).to.equal('ERR_UNSIGNED_ENTRY');
    // Another key in front of the author's signature, a flipped signature bit, an altered value.
    const swapped = new Uint8Array(sealed);
    swapped.set(other.publicKey, 0);
    expect(code(swapped)).to.equal('ERR_BAD_SIGNATURE');
    const flipped = new Uint8Array(sealed);
    flipped[40]! ^= 1;
    expect(code(flipped)).to.equal('ERR_BAD_SIGNATURE');
    expect(code(withText(sealed, { ...device(author, 'd1'), name: 'pwned' }))).to.equal('ERR_BAD_SIGNATURE');
    // The same value written with other whitespace: the signature covers the text as stored.
    expect(code(withText(sealed, JSON.stringify(device(author, 'd1'), null, 1)))).to.equal('ERR_BAD_SIGNATURE');
    // The right bytes under another id: the signature binds the key.
    expect(openEntry('devices', other.id, sealed).ok).to.equal(false);
    // Too large, signed or not.
    const big = new Uint8Array(MAX_ENTRY_BYTES + 1);
    big.set(sealed);
    expect(code(big)).to.equal('ERR_ENTRY_TOO_LARGE');
    // No digest for what is not bytes or too short to be signed: a checkpoint cannot vouch for it.
    expect(entryDigest('devices', id, device(author, 'd1'))).to.equal('');
    expect(entryDigest('devices', id, sealed.subarray(0, 64))).to.equal('');
    expect(storedText(sealed)).to.equal(JSON.stringify(device(author, 'd1')));
  });

  it('a grant whose text is altered, no JSON or an object instead of bytes grants nothing', async () => {
    const owner = await Identity.generate();
    const member = await Identity.generate();
    const key = toHex(member.publicKey);
    const registry = new Registry({ logger: createLogger('registry', collectLogs().sink) });
    const trust = new MeshTrust({ mesh: MESH, owners: [toHex(owner.publicKey)] });
    registry.enableRoles({ trust, signer: owner });
    const grant = makeGrant(owner, { mesh: MESH, subject: key, role: 'operator', issued: 1 });
    const stored = sealEntry('trust', grantKey(key), { id: grantKey(key), grant }, member);
    const lookup = (id: string): unknown => registry.trust.get(id);
    const bad: [string, unknown, string][] = [
      ['role raised', utf8(JSON.stringify({ grant: { ...grant, role: 'owner' } })), 'ERR_WRITE_FORBIDDEN'],
      ['signature cut', utf8(JSON.stringify({ grant: { ...grant, sig: grant.sig.slice(0, 126) } })), 'ERR_WRITE_FORBIDDEN'],
      ['another subject', utf8(JSON.stringify({ grant: { ...grant, subject: toHex(owner.publicKey) } })), 'ERR_WRITE_FORBIDDEN'],
      ['no JSON', utf8('{"grant":'), 'ERR_UNSIGNED_ENTRY'],
      ['an object', { grant }, 'ERR_UNSIGNED_ENTRY'],
    ];
    for (const [what, replacement, code] of bad) {
      registry.doc.getMap('trust').set(grantKey(key), replacement);
      expect(registry.trust.get(grantKey(key)), what).to.equal(undefined);
      expect(trust.standing(key, lookup).role, what).to.equal(undefined);
      const verdict = registry.trust.verdict(grantKey(key));
      expect(verdict?.ok === false && verdict.error.code, what).to.equal(code);
    }
    registry.doc.getMap('trust').set(grantKey(key), stored);
    expect(trust.standing(key, lookup).role).to.equal('operator');
  });

  it('a peer skips and removes an entry that is not a signed byte string, and keeps the honest one it replaced', async () => {
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

    // A modified client overwrites the record with one renamed: as an object, or as bytes cut short.
    const honest = registry.doc.getMap('devices').get(member.id) as Uint8Array;
    for (const forged of [{ ...device(member, 'pwned'), _a: honest.subarray(0, AUTH_BYTES) }, honest.subarray(0, 48)]) {
      const remote = new Y.Doc();
      Y.applyUpdate(remote, Y.encodeStateAsUpdate(registry.doc));
      remote.getMap('devices').set(member.id, forged);
      Y.applyUpdate(registry.doc, Y.encodeStateAsUpdate(remote, Y.encodeStateVector(registry.doc)), 'remote');
      expect(registry.devices.get(member.id)?.name).to.equal('d1');
      await Promise.resolve();
      // The registry wrote the honest record back.
      expect(registry.devices.get(member.id)?.name).to.equal('d1');
      expect(toHex(registry.doc.getMap('devices').get(member.id) as Uint8Array)).to.equal(toHex(honest));
    }
    expect(log.lines.some((l) => l.text.includes('ERR_UNSIGNED_ENTRY'))).to.equal(true);
  });
});

/** An entry at devices/`id` whose stored text is `text`, signed by `author` as a modified client could. */
function sealEntryText(author: Identity, id: string, text: string): Uint8Array {
  // Sign a placeholder object, then put the text in its place and re-sign the same way sealEntry does.
  const body = utf8(text);
  const data = new Uint8Array([...utf8(`liquidmesh-entry-v2\n${'devices'.length}:devices${id.length}:${id}\n`), ...body]);
  const out = new Uint8Array(AUTH_BYTES + body.byteLength);
  out.set(author.publicKey, 0);
  out.set(author.signSync(data), 32);
  out.set(body, AUTH_BYTES);
  return out;
}

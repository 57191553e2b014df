// The user key store and `liquidmesh keys`: named Ed25519 keys kept 0600, stable across
// loads, signing bytes that verify only under their own public key.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { utf8 } from '../../shared/bytes.ts';
import { nobleEd25519, publicKeyOfSeed } from '../../shared/identity/ed25519-sync.ts';
import { nodeEd25519 } from '../../node-host/trust/node-ed25519.ts';
import { parsePeerArgs } from '../../node-host/peer-command.ts';
import { checkGrant, redeemInvitation } from '../../shared/trust/statements.ts';
import { keysDir, listUserKeys, loadOrCreateUserKey, loadUserKey, signBytes, verifyBytes } from '../../node-host/keys/key-store.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));

describe('user key store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a key once, keeps it 0600, and loads the same key again', async () => {
    const made = await loadOrCreateUserKey('alice', dir);
    const again = await loadOrCreateUserKey('alice', dir);
    expect(again.publicKeyHex).to.equal(made.publicKeyHex);
    expect(made.publicKeyHex).to.match(/^[0-9a-f]{64}$/);
    expect((await stat(join(keysDir(dir), 'alice.key'))).mode & 0o777).to.equal(0o600);
    expect((await stat(keysDir(dir))).mode & 0o777).to.equal(0o700);
    expect((await listUserKeys(dir)).map((k) => k.name)).to.deep.equal(['alice']);
  });

  it('signs bytes that verify under its own key only, and refuses a missing key or an unsafe name by code', async () => {
    const alice = await loadOrCreateUserKey('alice', dir);
    const bob = await loadOrCreateUserKey('bob', dir);
    const data = utf8('fibo 1.0.0 5f2a…');
    const signature = await signBytes(alice, data);
    expect(await verifyBytes(alice.publicKeyHex, signature, data)).to.equal(true);
    expect(await verifyBytes(alice.publicKey, signature, utf8('fibo 1.0.1 5f2a…'))).to.equal(false);
    expect(await verifyBytes(bob.publicKeyHex, signature, data)).to.equal(false);
    expect(await verifyBytes('not hex', signature, data)).to.equal(false);
    const missing = await loadUserKey('carol', dir).catch((e: unknown) => e);
    expect((missing as { code: string }).code).to.equal('ERR_KEY_NOT_FOUND');
    const unsafe = await loadOrCreateUserKey('../evil', dir).catch((e: unknown) => e);
    expect((unsafe as { code: string }).code).to.equal('ERR_INVALID_KEY_NAME');
    expect(await readdir(dir)).to.deep.equal(['keys']);
  });

  it('signs synchronously exactly as WebCrypto does, with the pure-JS backend as with the native one', async () => {
    const key = await loadOrCreateUserKey('alice', dir);
    const reloaded = await loadUserKey('alice', dir);
    const data = utf8('deployments/fibo');
    const expected = await key.sign(data);
    expect(key.identity.signSync(data)).to.deep.equal(expected);
    expect(reloaded.identity.signSync(data)).to.deep.equal(expected);
    expect(await verifyBytes(key.publicKey, reloaded.identity.signSync(data), data)).to.equal(true);
    const seed = new Uint8Array(32).fill(7);
    const publicKey = publicKeyOfSeed(seed);
    const byNoble = nobleEd25519.sign(seed, data);
    expect(nodeEd25519.sign(seed, data)).to.deep.equal(byNoble);
    for (const backend of [nobleEd25519, nodeEd25519]) {
      expect(backend.verify(publicKey, byNoble, data), backend.name).to.equal(true);
      expect(backend.verify(publicKey, byNoble, utf8('deployments/fibp')), backend.name).to.equal(false);
      expect(backend.verify(new Uint8Array(32).fill(0xff), byNoble, data), backend.name).to.equal(false);
      expect(backend.verify(publicKey, byNoble.subarray(1), data), backend.name).to.equal(false);
    }
  });

  it('liquidmesh keys invite makes a single-use token an owner signed, which liquidmesh peer --invitation redeems', async () => {
    const owner = await loadOrCreateUserKey('owner', dir);
    const { stdout } = await run(process.execPath, [CLI, 'keys', 'invite', '--role', 'operator', '--mesh', 'home', '--data-dir', dir, '--json']);
    const answer = JSON.parse(stdout);
    expect(answer.owner).to.equal(owner.publicKeyHex);
    const args = parsePeerArgs(['--name', 'pi-1', '--invitation', answer.token]);
    expect(args.roles?.mesh).to.equal('home');
    expect(args.roles?.owners).to.deep.equal([owner.publicKeyHex]);
    expect(args.roles?.invitation?.invitation.once).to.equal(true);
    const me = await loadOrCreateUserKey('pi-1', dir);
    const grant = redeemInvitation(args.roles!.invitation!, me.publicKeyHex, Date.now());
    const checked = checkGrant(grant, { mesh: 'home', owners: new Set([owner.publicKeyHex]) });
    expect(checked.ok && checked.grant.role).to.equal('operator');
    expect(checkGrant(grant, { mesh: 'home', owners: new Set([me.publicKeyHex]) }).ok).to.equal(false);
    let refused: unknown;
    try {
      parsePeerArgs(['--name', 'pi-1', '--invitation', 'not-a-token']);
    } catch (error) {
      refused = error;
    }
    expect((refused as { code?: string }).code).to.equal('ERR_INVALID_GRANT');
  });

  it('liquidmesh keys creates, lists and shows keys, and refuses a second key of one name', async () => {
    const created = JSON.parse((await run(process.execPath, [CLI, 'keys', 'create', 'publisher', '--data-dir', dir, '--json'])).stdout);
    expect(created.name).to.equal('publisher');
    expect(created.publicKey).to.match(/^[0-9a-f]{64}$/);
    const listed = JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--data-dir', dir, '--json'])).stdout);
    expect(listed).to.deep.equal([created]);
    const shown = JSON.parse((await run(process.execPath, [CLI, 'keys', 'show', 'publisher', '--data-dir', dir, '--json'])).stdout);
    expect(shown).to.deep.equal(created);
    expect((await loadUserKey('publisher', dir)).publicKeyHex).to.equal(created.publicKey);
    const twice = await run(process.execPath, [CLI, 'keys', 'create', 'publisher', '--data-dir', dir, '--json']).catch((e: { code: number; stdout: string }) => e);
    expect((twice as { code: number }).code).to.equal(1);
    expect(JSON.parse((twice as { stdout: string }).stdout).error.code).to.equal('ERR_KEY_EXISTS');
  });
});

/**
 * The user key store: named Ed25519 keys of the people who run a mesh — owners, operators
 * and publishers are keys, not accounts. Each key is one file `<data-dir>/keys/<name>.key`
 * (mode 0600, in a 0700 directory), holding the same record a peer identity is stored as,
 * so a key is an {@link Identity}: its id derives from its public key and only the file's
 * holder can sign with it. The mesh's first owner key is the key named `owner`, made on
 * the first `liquidmesh start`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex } from '../../shared/bytes.ts';
import { defineError } from '../../shared/errors.ts';
import { IDENTITY_KEY, Identity, verifySignature } from '../../shared/identity/identity.ts';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';
import { defaultDataDir, ensurePrivateDir, writePrivateFile } from '../data-dir.ts';

/** No key of that name in the key store. */
export const KeyNotFoundError = defineError('ERR_KEY_NOT_FOUND', 'KeyNotFoundError');
/** A key name that cannot name a file safely. */
export const InvalidKeyNameError = defineError('ERR_INVALID_KEY_NAME', 'InvalidKeyNameError');

/** The name of the key used when none is given. */
export const DEFAULT_KEY_NAME = 'default';
/** The name of the mesh owner's key, made on the first `start`. */
export const OWNER_KEY_NAME = 'owner';

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SUFFIX = '.key';

/** A named user key: an {@link Identity} that signs for a person. */
export interface UserKey {
  /** The key's name in the store. */
  readonly name: string;
  /** Key id (32 hex digits, as a peer id is derived). */
  readonly id: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The public key as 64 hex digits: how a key is written in grants and mesh.json. */
  readonly publicKeyHex: string;
  /** Sign bytes (64-byte Ed25519 signature). */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** The underlying identity (for code that signs with an Identity). */
  readonly identity: Identity;
}

/** Where the key store of a data directory is. */
export function keysDir(dataDir: string = defaultDataDir()): string {
  return join(dataDir, 'keys');
}

function keyFile(dataDir: string, name: string): string {
  if (!KEY_NAME.test(name)) {
    throw new InvalidKeyNameError(`a key name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got "${name}"`, { name });
  }
  return join(keysDir(dataDir), `${name}${SUFFIX}`);
}

/** One key file seen as the one-record store {@link Identity.loadOrCreate} reads and writes. */
function singleFileStore(path: string): KeyValueStore {
  return {
    async get(key) {
      if (key !== IDENTITY_KEY) return undefined;
      try {
        return new Uint8Array(await readFile(path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async set(key, value) {
      if (key === IDENTITY_KEY) await writePrivateFile(path, value);
    },
    async delete() {
      return false;
    },
    async keys() {
      return [];
    },
  };
}

function userKey(name: string, identity: Identity): UserKey {
  return {
    name,
    id: identity.id,
    publicKey: identity.publicKey,
    publicKeyHex: toHex(identity.publicKey),
    sign: (data) => identity.sign(data),
    identity,
  };
}

/** The key `name` from the store of `dataDir`, made (0600) if it does not exist yet. */
export async function loadOrCreateUserKey(name: string = DEFAULT_KEY_NAME, dataDir: string = defaultDataDir()): Promise<UserKey> {
  const path = keyFile(dataDir, name);
  await ensurePrivateDir(keysDir(dataDir));
  return userKey(name, await Identity.loadOrCreate(singleFileStore(path)));
}

/** The existing key `name`; throws ERR_KEY_NOT_FOUND when there is none. */
export async function loadUserKey(name: string = DEFAULT_KEY_NAME, dataDir: string = defaultDataDir()): Promise<UserKey> {
  const path = keyFile(dataDir, name);
  const store = singleFileStore(path);
  if (!(await store.get(IDENTITY_KEY))) throw new KeyNotFoundError(`no key named "${name}" in ${keysDir(dataDir)}`, { name });
  return userKey(name, await Identity.loadOrCreate(store));
}

/** Every key in the store of `dataDir`, by name. */
export async function listUserKeys(dataDir: string = defaultDataDir()): Promise<UserKey[]> {
  let names: string[];
  try {
    names = await readdir(keysDir(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const keys: UserKey[] = [];
  for (const file of names.sort()) {
    const name = file.slice(0, -SUFFIX.length);
    if (!file.endsWith(SUFFIX) || !KEY_NAME.test(name)) continue;
    keys.push(await loadUserKey(name, dataDir));
  }
  return keys;
}

/** Sign `data` with a user key. */
export function signBytes(key: UserKey, data: Uint8Array): Promise<Uint8Array> {
  return key.sign(data);
}

/** Verify a signature by a public key (raw bytes or 64 hex digits); false on any bad input. */
export async function verifyBytes(publicKey: Uint8Array | string, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  let raw: Uint8Array;
  try {
    raw = typeof publicKey === 'string' ? fromHex(publicKey) : publicKey;
  } catch {
    return false;
  }
  return verifySignature(raw, signature, data);
}

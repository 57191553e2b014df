/**
 * The name, and so the identity, a page joins under. A page opened with `?name=` uses
 * that name. Otherwise the browser keeps a list of names it generated (localStorage) and
 * a page takes the first one no other tab of this browser holds, through a Web Lock per
 * name; only when every known name is held does it generate a new one. So a phone that
 * reopens the join URL is the same device again (its IndexedDB database, named after the
 * device, keeps the Ed25519 identity), while two tabs open at once are two devices.
 *
 * A page holds its lock only while it is in the mesh: it lets go when it leaves (hidden
 * on a phone, frozen, closed) so a new tab of the join URL can be that device, and asks
 * for it again when it comes back (waiting while another tab is that device).
 */

/** localStorage key of the generated names, most recently used first. */
export const NAMES_KEY = 'liquidmesh-device-names';
/** sessionStorage key of the name this tab used last (a reload keeps it). */
export const TAB_NAME_KEY = 'liquidmesh-name';
const LOCK_PREFIX = 'liquidmesh-device:';
const MAX_NAMES = 8;

/** A name held by this page; `release` lets another tab take it. */
export interface HeldName {
  name: string;
  /** Let go of the lock (idempotent). */
  release(): void;
}

/** Where {@link claimDeviceName} keeps its lists, and the lock manager (defaults: this page's). */
export interface NameStores {
  local: Pick<Storage, 'getItem' | 'setItem'>;
  session: Pick<Storage, 'getItem' | 'setItem'>;
  /** null: the browser has no Web Locks (then the tab's own name is used, unlocked). */
  locks: LockManager | null;
}

function pageStores(): NameStores {
  return { local: localStorage, session: sessionStorage, locks: typeof navigator !== 'undefined' && navigator.locks ? navigator.locks : null };
}

function knownNames(local: NameStores['local']): string[] {
  try {
    const list = JSON.parse(local.getItem(NAMES_KEY) ?? '[]') as unknown;
    return Array.isArray(list) ? list.filter((n): n is string => typeof n === 'string' && n.length > 0 && n.length <= 200) : [];
  } catch {
    return [];
  }
}

function remember(stores: NameStores, name: string): void {
  const names = [name, ...knownNames(stores.local).filter((n) => n !== name)].slice(0, MAX_NAMES);
  stores.local.setItem(NAMES_KEY, JSON.stringify(names));
  stores.session.setItem(TAB_NAME_KEY, name);
}

/**
 * Hold the lock of `name`: resolves with the held name, or null when another tab holds it
 * and `wait` is false. With `wait`, resolves once it is free (or null when `signal` aborts).
 */
export function holdName(name: string, locks: LockManager | null, options: { wait?: boolean; signal?: AbortSignal } = {}): Promise<HeldName | null> {
  if (!locks) return Promise.resolve({ name, release: () => undefined });
  return new Promise((resolve) => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const lockOptions: LockOptions = options.wait ? (options.signal ? { signal: options.signal } : {}) : { ifAvailable: true };
    locks
      .request(`${LOCK_PREFIX}${name}`, lockOptions, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        resolve({ name, release });
        // The lock lasts until this promise settles.
        return held;
      })
      .catch(() => resolve(null));
  });
}

/** A new name: what the device is, and four random letters or digits. */
export function generateName(kind: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `${kind}-${Array.from(bytes, (b) => 'abcdefghijkmnpqrstuvwxyz23456789'[b % 32]).join('')}`;
}

/**
 * The name this page joins under (see the file header). `param` is the page's `name`
 * query parameter; `kind` prefixes a generated name (`phone`, `tablet`, `tab`).
 */
export async function claimDeviceName(param: string | null, kind: string, stores: NameStores = pageStores()): Promise<HeldName> {
  if (param) {
    stores.session.setItem(TAB_NAME_KEY, param);
    return (await holdName(param, stores.locks, { wait: false })) ?? { name: param, release: () => undefined };
  }
  const own = stores.session.getItem(TAB_NAME_KEY);
  const candidates = [...new Set([...(own ? [own] : []), ...knownNames(stores.local)])];
  for (const name of candidates) {
    const held = await holdName(name, stores.locks);
    if (held) {
      remember(stores, name);
      return held;
    }
  }
  // A reload: the page before it may not have let go of its lock yet.
  if (own && stores.locks) {
    const held = await holdName(own, stores.locks, { wait: true, signal: AbortSignal.timeout(1500) });
    if (held) {
      remember(stores, own);
      return held;
    }
  }
  const name = generateName(kind);
  remember(stores, name);
  return (await holdName(name, stores.locks)) ?? { name, release: () => undefined };
}

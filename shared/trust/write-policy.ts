/**
 * Who may write which registry entry. Pure: given the entry, its (verified) author, the
 * author's role and the entry as it was before, say why the write is refused, or
 * nothing. Every peer applies the same rules on read, so a refused write is skipped
 * everywhere, whoever relayed it.
 *
 *   devices/<id>          that device itself (its key derives to <id>) under a name it
 *                         claimed, or an owner
 *   phases/<dep>/<step>/<peer>  that peer itself
 *   modules/<sha256>      operators; once published, only its publisher or an owner
 *   deployments/<id>      operators
 *   blacklist, cards      operators
 *   trust/grant/<key>     anyone, if the grant inside is for <key> (it proves itself)
 *   trust/revoked/<key>   anyone, if an owner's revocation of <key> is inside
 *   trust/redeemed/<inv>  anyone, if a grant redeeming <inv> is inside; the first stays
 *   trust/name/<name>     the claiming key, while nobody else holds the name; an owner
 *   trust/checkpoint/<n>  a root owner key (`checkpoint.ts`)
 * @module
 */
import { type MeshError } from '../errors.ts';
import { refuseCheckpoint } from './checkpoint.ts';
import { peerIdOfKey } from './keys.ts';
import { type MeshTrust, nameKey, type TrustLookup } from './mesh-trust.ts';
import { NameTakenError, type Role, roleAtLeast, WriteForbiddenError } from './roles.ts';
import { checkGrant, checkRevocation } from './statements.ts';

/** A write as a reader sees it. */
export interface WriteAttempt {
  map: string;
  key: string;
  value: Record<string, unknown>;
  /** Verified author key (hex). */
  author: string;
  /** The author's role now (undefined: not a member). */
  role: Role | undefined;
  /** The last valid value of this entry and its author, if there was one. */
  previous?: { value: Record<string, unknown>; author: string; seenAt: number };
  trust: MeshTrust;
  lookup: TrustLookup;
  /** The reader's wall clock (ms). */
  now: number;
  /** The reader's own key (hex), when it is a member reading its own standing. */
  reader?: string;
}

const forbid = (why: string): MeshError => new WriteForbiddenError(why);
/** A key as a refusal names it; made only for a refusal, since most writes are allowed. */
const short = (key: string): string => `${key.slice(0, 16)}…`;

/** Why `attempt` is refused, or undefined when it is allowed. */
export function refuseWrite(a: WriteAttempt): MeshError | undefined {
  const owner = a.role === 'owner';
  switch (a.map) {
    case 'devices':
      if (owner) return undefined;
      if (!roleAtLeast(a.role, 'device')) return forbid(`${short(a.author)} is not a member`);
      if (peerIdOfKey(a.author) !== a.key) return forbid(`${short(a.author)} may not write the description of device ${a.key}`);
      if (a.value.deleted === true) return undefined;
      if ((a.lookup(nameKey(String(a.value.name))) as { key?: unknown } | undefined)?.key !== a.author) return new NameTakenError(`the name "${String(a.value.name)}" is not claimed by ${short(a.author)}`, { name: a.value.name });
      return undefined;
    case 'phases': {
      const peer = a.key.slice(a.key.lastIndexOf('/') + 1);
      if (!roleAtLeast(a.role, 'device')) return forbid(`${short(a.author)} is not a member`);
      if (peerIdOfKey(a.author) !== peer && !owner) return forbid(`${short(a.author)} may not write the phase of peer ${peer}`);
      return undefined;
    }
    case 'modules':
      if (!roleAtLeast(a.role, 'operator')) return forbid(`${short(a.author)} is not an operator and may not publish or change modules`);
      if (a.previous && a.previous.author !== a.author && !owner) return forbid(`module ${a.key.slice(0, 12)}… was published by another key`);
      return undefined;
    case 'deployments':
    case 'blacklist':
    case 'cards':
      return roleAtLeast(a.role, 'operator') ? undefined : forbid(`${short(a.author)} is not an operator and may not write ${a.map}`);
    case 'trust':
      return refuseTrustWrite(a);
    default:
      return forbid(`unknown map ${a.map}`);
  }
}

/**
 * A claim of a name (or a redemption of an invitation) that arrives within this long of
 * the first one this peer saw is concurrent with it: the one stamped earlier wins, ties to
 * the smaller key, so that peers which saw them in different orders agree. After that the
 * first is settled and nothing but an owner displaces it, and a claim stamped more than
 * this long before it arrives never displaces one — so a backdated stamp cannot take an
 * established name.
 */
export const CONCURRENT_CLAIM_MS = 2_000;

/**
 * How long after redeeming an invitation a peer still gives way to an earlier redemption
 * it had not heard of: a joining page hears the mesh's registry within seconds.
 */
export const JOIN_SYNC_MS = 30_000;

function concurrentAndEarlier(a: WriteAttempt, at: number, key: string, previousAt: number, previousKey: string): boolean {
  if (!a.previous || a.now - a.previous.seenAt > CONCURRENT_CLAIM_MS) return false;
  if (!Number.isFinite(at) || !Number.isFinite(previousAt)) return false;
  // A stamp older than the window is stale (or backdated): it never displaces a claim.
  if (a.now - at > CONCURRENT_CLAIM_MS) return false;
  return at < previousAt || (at === previousAt && key < previousKey);
}

function refuseTrustWrite(a: WriteAttempt): MeshError | undefined {
  const slash = a.key.indexOf('/');
  const kind = a.key.slice(0, slash);
  const subject = a.key.slice(slash + 1);
  switch (kind) {
    case 'grant': {
      const checked = checkGrant(a.value.grant, a.trust);
      return checked.ok && checked.grant.subject === subject ? undefined : forbid(`grant/${subject.slice(0, 16)}… does not hold a valid grant for that key`);
    }
    case 'revoked':
      return checkRevocation(a.value.revocation, subject, a.trust) ? undefined : forbid(`revoked/${subject.slice(0, 16)}… is not an owner's revocation`);
    case 'redeemed': {
      const checked = checkGrant(a.value.grant, a.trust);
      if (!checked.ok || checked.grant.invitation?.key !== subject || a.value.subject !== checked.grant.subject) return forbid('not a redemption of that invitation');
      if (a.previous && a.previous.value.subject !== a.value.subject) {
        const prev = a.previous.value.grant as { issued?: unknown } | undefined;
        // A reader that redeemed the invitation itself just before it heard of an earlier
        // redemption (a page that joined before its registry synced) gives way to it: the
        // rest of the mesh keeps the first, so the reader must see itself refused rather
        // than believe in a role nobody else grants it. It concedes only its own, fresh
        // redemption, so a backdated stamp takes nothing from anybody else, nor from a
        // reader that has held the invitation for longer than a join takes to sync.
        const concedes = a.reader !== undefined && a.previous.value.subject === a.reader && a.now - a.previous.seenAt <= JOIN_SYNC_MS && checked.grant.issued < Number(prev?.issued);
        if (!concedes && !concurrentAndEarlier(a, checked.grant.issued, String(a.value.subject), Number(prev?.issued), String(a.previous.value.subject))) return forbid(`the invitation ${subject.slice(0, 16)}… was already redeemed`);
      }
      return undefined;
    }
    case 'name': {
      if (a.role === 'owner') return undefined;
      if (!roleAtLeast(a.role, 'device')) return forbid(`${short(a.author)} is not a member`);
      if (a.value.key !== a.author || a.value.name !== subject) return forbid(`${short(a.author)} may claim a name only for itself`);
      const holder = a.previous?.value.key;
      if (holder !== undefined && holder !== a.author && !concurrentAndEarlier(a, Number(a.value.at), a.author, Number(a.previous?.value.at), String(holder))) {
        return forbid(`the name "${subject}" belongs to another key`);
      }
      return undefined;
    }
    case 'checkpoint':
      return refuseCheckpoint(a.key, a.value, a.author, a.trust);
    default:
      return forbid(`unknown trust entry ${a.key}`);
  }
}

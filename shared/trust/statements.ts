/**
 * Signed statements of authority, after UCAN's delegations: an issuer key signs who may
 * act (`subject`), with which capability (a {@link Role}), until when, and — for a
 * delegated grant — the proof it holds the authority it hands on.
 *
 *   invitation  owner → an ephemeral invitation key: "whoever holds this key may make
 *               one member of role R (once, or until the expiry)". Its private half is
 *               what a join QR or link carries; never the owner's own key.
 *   grant       owner (directly) or an invitation key (with the invitation as proof) →
 *               a peer key: "this key is a member of role R until E".
 *   revocation  owner → a key: "this key is no longer a member".
 *
 * Every statement is checked with synchronous Ed25519 (the registry reads it inside Yjs
 * observers) and the verdict is cached per object.
 * @module
 */
import { fromHex, randomBytes, toHex } from '../bytes.ts';
import { publicKeyOfSeed, signSync } from '../identity/ed25519-sync.ts';
import { signedBytes } from './canonical.ts';
import { keyHex, PUBLIC_KEY_HEX, signHex, type Signer, verifyHex } from './keys.ts';
import { InvalidGrantError, isRole, type Role, roleAtLeast } from './roles.ts';

const CONTEXT = 'liquidmesh-authority-v1';

/** An owner's delegation to an ephemeral invitation key. */
export interface Invitation {
  t: 'invitation';
  mesh: string;
  /** Public key of the invitation (hex); its private half travels in the QR. */
  key: string;
  /** The role the invited peer gets. */
  role: Role;
  /** Redeem by (ms since epoch). */
  expires: number;
  /** Expiry of the grants it makes (ms since epoch; 0: none). */
  grantExpires: number;
  /** Single use: the first key to redeem it is the only one. */
  once: boolean;
  /** Owner key (hex). */
  by: string;
  sig: string;
}

/** Membership: a role for a peer key. */
export interface Grant {
  t: 'grant';
  mesh: string;
  /** The member's public key (hex). */
  subject: string;
  role: Role;
  /** ms since epoch; 0: none. */
  expires: number;
  issued: number;
  /** An owner key, or the invitation key of `invitation`. */
  by: string;
  sig: string;
  /** Proof of authority when `by` is an invitation key. */
  invitation?: Invitation;
}

/** An owner withdrawing a key's membership. */
export interface Revocation {
  t: 'revocation';
  mesh: string;
  subject: string;
  at: number;
  by: string;
  sig: string;
}

/** Who the statements of a mesh are checked against. */
export interface TrustRoots {
  mesh: string;
  /** Owner public keys (hex). */
  owners: ReadonlySet<string>;
}

/** What a join QR or link carries: the invitation and its private seed. */
export interface InvitationToken {
  invitation: Invitation;
  /** The invitation key's 32-byte seed, hex. */
  seed: string;
}

function unsigned<T extends { sig: string }>(statement: T): Omit<T, 'sig'> {
  const { sig: _sig, ...rest } = statement;
  return rest;
}

/** Sign a statement by `signer`: sets `by` and `sig`. */
function sign<T extends { by: string; sig: string }>(body: Omit<T, 'by' | 'sig'>, by: string, signWith: (data: Uint8Array) => string): T {
  const withBy = { ...body, by } as unknown as T;
  return { ...withBy, sig: signWith(signedBytes(CONTEXT, unsigned(withBy))) };
}

/** Revocations whose signatures an owner-signed checkpoint vouches for, with the roots that accepted it. */
const vouched = new WeakMap<object, TrustRoots>();

/**
 * Take the signatures of the grant (with its invitation) or revocation inside a trust
 * entry as checked, for `roots`: the entry's digest is in a checkpoint of theirs. The
 * chain, roles, mesh and expiry are still checked.
 */
export function vouchStatements(value: Record<string, unknown>, roots: TrustRoots): void {
  const grant = value.grant;
  // A grant's verdict is cached anyway (`checkGrant`): reached here once with its
  // signatures taken as checked, instead of marking each signed statement in a map of its
  // own first (a join vouches for a grant per member).
  if (isObject(grant) && grantVerdicts.get(grant)?.roots !== roots) grantVerdicts.set(grant, { roots, verdict: checkGrantUncached(grant, roots, true) });
  if (isObject(value.revocation)) vouched.set(value.revocation, roots);
}

function signatureHolds(statement: { by: string; sig: string }, roots?: TrustRoots, vouchedFor = false): boolean {
  if (vouchedFor || (roots !== undefined && vouched.get(statement) === roots)) return true;
  return typeof statement.sig === 'string' && verifyHex(statement.by, statement.sig, signedBytes(CONTEXT, unsigned(statement)));
}

/** A new invitation by an owner; returns it with the seed of its key (keep that secret). */
export function makeInvitation(owner: Signer, o: { mesh: string; role: Role; expires: number; grantExpires?: number; once?: boolean }): InvitationToken {
  const seed = randomBytes(32);
  const invitation = sign<Invitation>(
    { t: 'invitation', mesh: o.mesh, key: toHex(publicKeyOfSeed(seed)), role: o.role, expires: o.expires, grantExpires: o.grantExpires ?? 0, once: o.once ?? true },
    keyHex(owner),
    (data) => signHex(owner, data),
  );
  return { invitation, seed: toHex(seed) };
}

/** A grant made by an owner directly. */
export function makeGrant(owner: Signer, o: { mesh: string; subject: string; role: Role; expires?: number; issued: number }): Grant {
  return sign<Grant>({ t: 'grant', mesh: o.mesh, subject: o.subject, role: o.role, expires: o.expires ?? 0, issued: o.issued }, keyHex(owner), (data) => signHex(owner, data));
}

/** The grant an invited peer makes for itself with the invitation's key. */
export function redeemInvitation(token: InvitationToken, subject: string, now: number): Grant {
  const seed = fromHex(token.seed);
  const { invitation } = token;
  if (toHex(publicKeyOfSeed(seed)) !== invitation.key) throw new InvalidGrantError('the invitation seed does not match its key');
  return sign<Grant>(
    { t: 'grant', mesh: invitation.mesh, subject, role: invitation.role, expires: invitation.grantExpires, issued: now, invitation },
    invitation.key,
    (data) => toHex(signSync(seed, data)),
  );
}

/** A revocation by an owner. */
export function makeRevocation(owner: Signer, o: { mesh: string; subject: string; at: number }): Revocation {
  return sign<Revocation>({ t: 'revocation', mesh: o.mesh, subject: o.subject, at: o.at }, keyHex(owner), (data) => signHex(owner, data));
}

/** Outcome of checking a grant. */
export type GrantCheck = { ok: true; grant: Grant } | { ok: false; code: string; error: string };

const grantVerdicts = new WeakMap<object, { roots: TrustRoots; verdict: GrantCheck }>();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInvitationShape(v: unknown): v is Invitation {
  return isObject(v) && v.t === 'invitation' && typeof v.mesh === 'string' && typeof v.key === 'string' && PUBLIC_KEY_HEX.test(v.key) && isRole(v.role)
    && typeof v.expires === 'number' && typeof v.grantExpires === 'number' && typeof v.once === 'boolean' && typeof v.by === 'string' && typeof v.sig === 'string';
}

/**
 * Check a grant's signatures and chain (not its expiry, redemption or revocation, which
 * depend on the time and the registry: see `mesh-trust.ts`). Cached per object and roots.
 */
export function checkGrant(raw: unknown, roots: TrustRoots): GrantCheck {
  if (isObject(raw)) {
    const cached = grantVerdicts.get(raw);
    if (cached && cached.roots === roots) return cached.verdict;
  }
  const verdict = checkGrantUncached(raw, roots);
  if (isObject(raw)) grantVerdicts.set(raw, { roots, verdict });
  return verdict;
}

const bad = (error: string): GrantCheck => ({ ok: false, code: 'ERR_INVALID_GRANT', error });

/** With `signaturesVouched`, the grant's and its invitation's signatures count as checked (an owner's checkpoint lists the entry). */
function checkGrantUncached(g: unknown, roots: TrustRoots, signaturesVouched = false): GrantCheck {
  if (!isObject(g) || g.t !== 'grant' || typeof g.subject !== 'string' || !PUBLIC_KEY_HEX.test(g.subject) || !isRole(g.role)
    || typeof g.expires !== 'number' || typeof g.issued !== 'number' || typeof g.by !== 'string' || typeof g.sig !== 'string') {
    return bad('not a grant');
  }
  const grant = g as unknown as Grant;
  if (grant.mesh !== roots.mesh) return bad(`a grant of mesh ${String(grant.mesh)}`);
  if (!signatureHolds(grant, roots, signaturesVouched)) return bad('the grant signature does not hold');
  if (roots.owners.has(grant.by)) return grant.invitation === undefined ? { ok: true, grant } : bad('an owner grant carries an invitation');
  const inv = grant.invitation;
  if (!checkInvitationShape(inv)) return bad('a grant not signed by an owner and without an invitation');
  if (inv.key !== grant.by) return bad('the grant is not signed by its invitation key');
  if (inv.mesh !== roots.mesh || !roots.owners.has(inv.by)) return bad('the invitation is not from an owner of this mesh');
  if (!signatureHolds(inv, roots, signaturesVouched)) return bad('the invitation signature does not hold');
  if (!roleAtLeast(inv.role, grant.role)) return bad(`the invitation is for ${inv.role}, the grant says ${grant.role}`);
  if (grant.issued > inv.expires) return { ok: false, code: 'ERR_GRANT_EXPIRED', error: 'redeemed after the invitation expired' };
  if (inv.grantExpires !== 0 && (grant.expires === 0 || grant.expires > inv.grantExpires)) return bad('the grant outlives its invitation');
  return { ok: true, grant };
}

/** True when `raw` is a revocation of `subject` by an owner of `roots`. */
export function checkRevocation(raw: unknown, subject: string, roots: TrustRoots): boolean {
  if (!isObject(raw) || raw.t !== 'revocation' || raw.subject !== subject || raw.mesh !== roots.mesh || typeof raw.by !== 'string' || !roots.owners.has(raw.by)) return false;
  return signatureHolds(raw as unknown as Revocation, roots);
}

/** The text form of an invitation token (base64url of its JSON): what a QR or link carries. */
export function encodeInvitationToken(token: InvitationToken): string {
  const json = JSON.stringify(token);
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Read an invitation token; throws ERR_INVALID_GRANT when it is not one. */
export function decodeInvitationToken(text: string): InvitationToken {
  try {
    const b64 = text.trim().replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const token = JSON.parse(new TextDecoder().decode(bytes)) as InvitationToken;
    if (!checkInvitationShape(token.invitation) || typeof token.seed !== 'string' || !/^[0-9a-f]{64}$/.test(token.seed)) throw new Error('wrong shape');
    return token;
  } catch (error) {
    throw new InvalidGrantError(`not an invitation: ${(error as Error).message}`);
  }
}

/**
 * Capabilities come from the device's owner, never from a module's imports. A device's
 * {@link CapabilityPolicy} says which host imports it offers and to whom: to any operator,
 * to listed operator keys, or to modules signed by listed publishers. A deployment only
 * *requests* capabilities (what its manifest states, or the module's imports when the
 * manifest is silent); what a step is *granted* on a device is the part of its request
 * that device's policy offers to the deployment's operator and the module's publisher.
 * Placement reads the policies devices publish; the device itself applies its own,
 * local one before the sandbox checks imports (which refuses with ERR_IMPORT_DENIED).
 *
 * Patterns are host import names (`module.field`), a whole import module (`module.*`) or
 * everything (`*`), as the sandbox's grant table uses them.
 * @module
 */
import { defineError } from '../errors.ts';
import { arr, type Checked, obj, opt, str } from '../protocol/check.ts';

/** Who an offer is for; no list at all means any operator. */
export interface Audience {
  /** Operator keys (peer ids) whose deployments get the capability. */
  operators?: string[];
  /** Publisher keys (hex Ed25519) whose signed modules get the capability. */
  publishers?: string[];
}

/** One capability a device offers, and to whom. */
export interface CapabilityOffer {
  /** Host import pattern: `camera.takeImageStaticSize`, `camera.*` or `*`. */
  capability: string;
  /** Absent: offered to any operator. */
  to?: Audience;
}

/** What a device offers to the mesh, set by its owner. */
export interface CapabilityPolicy {
  offers: CapabilityOffer[];
  /**
   * Trusted publisher keys (hex Ed25519). When present the device hosts only modules
   * signed by one of them (ERR_MODULE_UNSIGNED / ERR_MODULE_SIGNATURE_INVALID otherwise).
   */
  requireSigned?: string[];
}

/** Who asks for a capability: the deployment's operator and the module's verified publisher. */
export interface Requester {
  /** The operator (peer id) who wrote the deployment, when known. */
  operator?: string;
  /** The key that signed the module, when its signature was verified. */
  publisher?: string;
}

/** No device offers a step's capability to this deployment. */
export const CapabilityNotOfferedError = defineError('ERR_CAPABILITY_NOT_OFFERED', 'CapabilityNotOfferedError');
/** A capability policy (flag, config file or registry entry) that cannot be read. */
export const InvalidPolicyError = defineError('ERR_INVALID_POLICY', 'InvalidPolicyError');

/**
 * Import patterns every device offers unless its owner says otherwise: what the sample
 * modules need and nothing that reads the world around the device — WASI, the clock and
 * printing, pub/sub (topics are granted separately), calls to other deployments and
 * wasi-nn inference.
 */
export const HARMLESS_CAPABILITIES: readonly string[] = ['wasi_snapshot_preview1.*', 'sys.*', 'pubsub.*', 'communication.*', 'wasi_ephemeral_nn.*'];

/**
 * Privacy-sensitive capability groups an owner turns on by name (`--offer camera`): each
 * name stands for the import patterns listed. Offered only when the owner says so.
 */
export const SENSITIVE_CAPABILITIES: Readonly<Record<string, readonly string[]>> = {
  camera: ['camera.*'],
  sensors: ['sensors.*', 'dht.*'],
  location: ['sensors.location'],
  motion: ['sensors.acceleration', 'sensors.orientation'],
  climate: ['dht.*'],
  network: ['network.*'],
};

/** The policy of a device whose owner said nothing: the harmless imports, to anyone. */
export function defaultCapabilityPolicy(): CapabilityPolicy {
  return { offers: HARMLESS_CAPABILITIES.map((capability) => ({ capability })) };
}

/** True when `pattern` covers the import name or pattern `name` entirely. */
export function covers(pattern: string, name: string): boolean {
  if (pattern === '*' || pattern === name) return true;
  if (!pattern.endsWith('.*')) return false;
  const module = pattern.slice(0, -1);
  return name.startsWith(module) && name !== pattern;
}

/** True when `offer` is for `who`. */
export function isFor(offer: CapabilityOffer, who: Requester): boolean {
  const to = offer.to;
  if (!to || (to.operators === undefined && to.publishers === undefined)) return true;
  if (who.operator !== undefined && to.operators?.includes(who.operator)) return true;
  if (who.publisher !== undefined && to.publishers?.includes(who.publisher)) return true;
  return false;
}

/**
 * The part of `requested` (import names or patterns) that `policy` grants to `who`:
 * each requested entry an offer covers whole, and for a requested pattern only partly
 * offered (`camera.*` asked, `camera.takeImageStaticSize` offered) the offered names.
 */
export function grantedCapabilities(policy: CapabilityPolicy, requested: readonly string[], who: Requester): string[] {
  const offered = policy.offers.filter((o) => isFor(o, who)).map((o) => o.capability);
  const out = new Set<string>();
  for (const r of requested) {
    if (offered.some((o) => covers(o, r))) {
      out.add(r);
      continue;
    }
    for (const o of offered) if (covers(r, o)) out.add(o);
  }
  return [...out];
}

/**
 * Why `policy` does not grant the import `name` to `who`, or null when it does: names
 * the audience the device keeps it for, so a placement explanation says who could.
 */
export function refusal(policy: CapabilityPolicy, name: string, who: Requester): string | null {
  const matching = policy.offers.filter((o) => covers(o.capability, name));
  if (matching.length === 0) return `does not offer ${name}`;
  if (matching.some((o) => isFor(o, who))) return null;
  const keys = (xs: string[] | undefined): string => (xs ?? []).map(short).join(', ');
  const to = matching.map((o) => [o.to?.operators?.length ? `operators ${keys(o.to.operators)}` : '', o.to?.publishers?.length ? `modules signed by ${keys(o.to.publishers)}` : ''].filter(Boolean).join(' or '));
  return `offers ${name} only to ${to.join('; ')}`;
}

function short(key: string): string {
  return key.length > 12 ? `${key.slice(0, 12)}…` : key;
}

const key = str({ min: 1, max: 200 });
const checkOffer = obj({ capability: str({ min: 1, max: 200, pattern: /^(\*|[A-Za-z0-9_-]+\.(\*|[A-Za-z0-9_-]+))$/ }), to: opt(obj({ operators: opt(arr(key, 100)), publishers: opt(arr(key, 100)) })) });
const checkPolicyShape = obj({ offers: arr(checkOffer, 200), requireSigned: opt(arr(key, 100)) });

/** Validate a policy read from a config file or from another peer's device description. */
export function checkPolicy(value: unknown): Checked<CapabilityPolicy> {
  return checkPolicyShape(value, 'policy') as Checked<CapabilityPolicy>;
}

/**
 * One `--offer` value: `NAME[=AUDIENCE]`, where NAME is a group of
 * {@link SENSITIVE_CAPABILITIES} (`camera`), an import pattern (`camera.*`,
 * `sensors.location`) or `*`, and AUDIENCE is `any` (the default), `operator:KEY` or
 * `publisher:KEY`, several joined by `,`.
 * @throws InvalidPolicyError (ERR_INVALID_POLICY) naming what it cannot read.
 */
export function parseOffer(text: string): CapabilityOffer[] {
  const eq = text.indexOf('=');
  const name = (eq < 0 ? text : text.slice(0, eq)).trim();
  const audience = eq < 0 ? 'any' : text.slice(eq + 1).trim();
  const patterns = SENSITIVE_CAPABILITIES[name] ?? (/^(\*|[A-Za-z0-9_-]+\.(\*|[A-Za-z0-9_-]+))$/.test(name) ? [name] : null);
  if (!patterns) {
    throw new InvalidPolicyError(`--offer ${text}: ${name || '(empty)'} is neither a capability group (${Object.keys(SENSITIVE_CAPABILITIES).join(', ')}) nor an import pattern like camera.*`, { offer: text });
  }
  let to: Audience | undefined;
  if (audience !== 'any') {
    to = {};
    for (const part of audience.split(',')) {
      const [kind, value] = [part.slice(0, part.indexOf(':')), part.slice(part.indexOf(':') + 1)];
      if (!value || (kind !== 'operator' && kind !== 'publisher')) {
        throw new InvalidPolicyError(`--offer ${text}: ${part} is not any, operator:KEY or publisher:KEY`, { offer: text });
      }
      const list = kind === 'operator' ? (to.operators ??= []) : (to.publishers ??= []);
      list.push(value);
    }
  }
  return patterns.map((capability) => (to ? { capability, to } : { capability }));
}

/** `base` with `more` offers added (after its own) and `requireSigned` merged. */
export function withOffers(base: CapabilityPolicy, more: readonly CapabilityOffer[], requireSigned?: readonly string[]): CapabilityPolicy {
  const out: CapabilityPolicy = { offers: [...base.offers, ...more] };
  const trusted = [...(base.requireSigned ?? []), ...(requireSigned ?? [])];
  if (base.requireSigned !== undefined || requireSigned !== undefined) out.requireSigned = [...new Set(trusted)];
  return out;
}

/** `policy` without any offer covered by one of `patterns` (the owner switching a capability off). */
export function withoutCapabilities(policy: CapabilityPolicy, patterns: readonly string[]): CapabilityPolicy {
  const offers = policy.offers.filter((o) => !patterns.some((p) => covers(p, o.capability)));
  return policy.requireSigned ? { offers, requireSigned: [...policy.requireSigned] } : { offers };
}

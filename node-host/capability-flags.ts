/**
 * The device owner's capability policy from the command line of `peer` and `start`:
 * `--offer NAME[=AUDIENCE]` (repeatable; `camera`, `sensors`, `network`, … or an import
 * pattern; AUDIENCE `any`, `operator:KEY`, `publisher:KEY`), `--require-signed KEY`
 * (repeatable: host only modules signed by these publishers), and `--policy FILE` (the
 * same as JSON: `{"offers":[{"capability":"camera.*","to":{"operators":["…"]}}],
 * "requireSigned":["…"]}`), to which the flags add.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type CapabilityPolicy, checkPolicy, defaultCapabilityPolicy, InvalidPolicyError, parseOffer, withOffers } from '../shared/trust/capability-policy.ts';

/** Every value of a repeatable `--name VALUE` option, in order. */
function values(args: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === `--${name}` && args[i + 1] !== undefined) out.push(args[i + 1]!);
  return out;
}

/**
 * The policy the flags in `args` describe, on top of `base` (default: the harmless imports
 * to anyone). `extra` offers are added first (what `start`'s demo peers need).
 * @throws InvalidPolicyError (ERR_INVALID_POLICY) naming the flag or file it cannot read.
 */
export async function policyFromArgs(args: readonly string[], extra: readonly string[] = []): Promise<CapabilityPolicy> {
  let base = defaultCapabilityPolicy();
  const file = values(args, 'policy').at(-1);
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new InvalidPolicyError(`--policy ${file}: ${(error as Error).message}`, { file });
    }
    const checked = checkPolicy(parsed);
    if (!checked.ok) throw new InvalidPolicyError(`--policy ${file}: ${checked.error}`, { file });
    base = checked.value;
  }
  const offers = [...extra, ...values(args, 'offer')].flatMap((text) => parseOffer(text));
  const trusted = values(args, 'require-signed');
  for (const key of trusted) {
    if (!/^[0-9a-f]{64}$/i.test(key)) throw new InvalidPolicyError(`--require-signed ${key}: not a publisher key (64 hex digits, from liquidmesh keys)`, { key });
  }
  return withOffers(base, offers, trusted.length > 0 ? trusted.map((k) => k.toLowerCase()) : undefined);
}

/** True when `args` state a policy (`--offer`, `--policy` or `--require-signed`). */
export function ownsPolicy(args: readonly string[]): boolean {
  return args.some((a) => a === '--offer' || a === '--policy' || a === '--require-signed');
}

/** What `liquidmesh start`'s own Node peer offers besides the defaults: the samples' camera and simulated sensors. */
export const DEMO_OFFERS: readonly string[] = ['camera', 'sensors'];

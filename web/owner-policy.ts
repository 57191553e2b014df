/**
 * The phone owner's capability choices, kept per device (peer id) in this browser's
 * localStorage: which of its capabilities it offers to the mesh. The camera and the
 * sensors are off until the owner switches them on in the Join view; nothing in a URL
 * can switch them on (a join link is written by whoever shares it, not by the owner).
 * @module
 */
import { type CapabilityPolicy, checkPolicy, covers, defaultCapabilityPolicy, parseOffer, SENSITIVE_CAPABILITIES, withOffers, withoutCapabilities } from '../shared/trust/capability-policy.ts';

/** The groups the Join view has a switch for. */
export const SWITCHES = ['camera', 'sensors'] as const;
/** One switch of {@link SWITCHES}. */
export type Switch = (typeof SWITCHES)[number];

const key = (peerId: string): string => `liquidmesh-policy:${peerId}`;

/** The policy this browser's owner chose for `peerId`, or the default when none (or an unreadable one) is kept. */
export function loadOwnerPolicy(peerId: string, storage: Pick<Storage, 'getItem'> = localStorage): CapabilityPolicy {
  try {
    const text = storage.getItem(key(peerId));
    if (text === null) return defaultCapabilityPolicy();
    const checked = checkPolicy(JSON.parse(text));
    return checked.ok ? checked.value : defaultCapabilityPolicy();
  } catch {
    // Storage disabled or corrupt: nothing beyond the default is offered.
    return defaultCapabilityPolicy();
  }
}

/**
 * The policy the command that launched this browser gave it (`liquidmesh peer --engine
 * chromium --offer …`, set before the page's scripts by node-host/headless/chromium.ts), or
 * null. Whoever runs that command owns the device; a URL cannot set it.
 */
export function launcherPolicy(scope: { __liquidmeshOwnerPolicy?: unknown } = globalThis as { __liquidmeshOwnerPolicy?: unknown }): CapabilityPolicy | null {
  const text = scope.__liquidmeshOwnerPolicy;
  if (typeof text !== 'string') return null;
  try {
    const checked = checkPolicy(JSON.parse(text));
    return checked.ok ? checked.value : null;
  } catch {
    return null;
  }
}

/** Keep `policy` as the owner's choice for `peerId`. */
export function saveOwnerPolicy(peerId: string, policy: CapabilityPolicy, storage: Pick<Storage, 'setItem'> = localStorage): void {
  try {
    storage.setItem(key(peerId), JSON.stringify(policy));
  } catch (error) {
    console.warn('could not keep the capability choice:', error);
  }
}

/** True when `policy` offers the whole group `name` to anyone. */
export function isOn(policy: CapabilityPolicy, name: Switch): boolean {
  return SENSITIVE_CAPABILITIES[name]!.every((pattern) => policy.offers.some((o) => !o.to && covers(o.capability, pattern)));
}

/** `policy` with the group `name` switched on (offered to anyone) or off (offered to no one). */
export function switched(policy: CapabilityPolicy, name: Switch, on: boolean): CapabilityPolicy {
  const off = withoutCapabilities(policy, SENSITIVE_CAPABILITIES[name]!);
  return on ? withOffers(off, parseOffer(name)) : off;
}

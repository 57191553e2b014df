/**
 * Capability policies for tests whose subject is not the policy: a device whose owner
 * turned every capability on, so camera, sensor and ping samples run as before.
 */
import type { CapabilityPolicy } from '../../shared/trust/capability-policy.ts';

/** A policy that offers every capability the device can serve, to anyone. */
export const OFFER_EVERYTHING: CapabilityPolicy = { offers: [{ capability: '*' }] };

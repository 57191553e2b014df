/**
 * `sensors`: a phone's motion and position readings, one axis per call.
 * @module
 */
import { f64At, type HostCapability, type HostFunction } from './host-import.ts';

const KINDS = { acceleration: 'readAcceleration', orientation: 'readOrientation', location: 'readLocation' } as const;

/** `sensors.acceleration/orientation/location(axis) -> f64`; an axis outside 0..2 traps. */
export const sensors: HostCapability = {
  module: 'sensors',
  functions: KINDS,
  writesMemory: false,
  create(ctx) {
    const out: Record<string, HostFunction> = {};
    for (const [kind, op] of Object.entries(KINDS)) {
      out[kind] = (axis) => {
        if (axis < 0 || axis > 2) throw new RangeError(`sensors.${kind}: axis ${axis} is not 0, 1 or 2`);
        return f64At(ctx.bridge(op, []), axis * 8);
      };
    }
    return out;
  },
};

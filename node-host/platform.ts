/**
 * What this Node machine is, for its device description.
 */
import { cpus, totalmem } from 'node:os';
import type { DeviceDescription } from '../shared/registry/schema.ts';

/** CPU, cores and memory of this machine. */
export function nodePlatform(): DeviceDescription['platform'] {
  const cpu = cpus();
  return {
    cpu: { humanReadableName: cpu[0]?.model.trim() || 'unknown', cores: cpu.length, clockSpeedHz: (cpu[0]?.speed ?? 0) * 1e6 },
    memory: { bytes: totalmem() },
  };
}

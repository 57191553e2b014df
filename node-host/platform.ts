/**
 * What this Node machine is, for its device description.
 */
import { cpus, networkInterfaces, totalmem } from 'node:os';
import type { DeviceDescription } from '../shared/registry/schema.ts';

/** CPU, cores and memory of this machine. */
export function nodePlatform(): DeviceDescription['platform'] {
  const cpu = cpus();
  return {
    cpu: { humanReadableName: cpu[0]?.model.trim() || 'unknown', cores: cpu.length, clockSpeedHz: (cpu[0]?.speed ?? 0) * 1e6 },
    memory: { bytes: totalmem() },
  };
}

/** This machine's IPv4 addresses, loopback left out (what `network.ping` finds peers by). */
export function nodeAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

/**
 * What this Node host measures of itself for WasmIoT 2026's health report beyond the
 * mesh's presence telemetry: storage in use (of the file system holding the working
 * directory), uptime, and bytes received and sent per network interface (Linux's
 * /proc/net/dev; empty elsewhere).
 */
import { readFileSync, statfsSync } from 'node:fs';
import { uptime } from 'node:os';
import type { HostReport } from './views.ts';

/** Bytes down and up per interface, from the text of /proc/net/dev. */
export function parseNetDev(text: string): HostReport['networkUsage'] {
  const out: HostReport['networkUsage'] = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    const name = line.slice(0, colon).trim();
    // Receive bytes is the first column, transmit bytes the ninth.
    if (name && Number.isFinite(fields[0]) && Number.isFinite(fields[8])) out[name] = { downBytes: fields[0]!, upBytes: fields[8]! };
  }
  return out;
}

/** This host's report now; a figure the platform cannot give is 0 (or {}). */
export function hostReport(dir = process.cwd()): HostReport {
  let storageUsage = 0;
  try {
    const s = statfsSync(dir);
    storageUsage = s.blocks > 0 ? 1 - s.bavail / s.blocks : 0;
  } catch {
    storageUsage = 0;
  }
  let networkUsage: HostReport['networkUsage'] = {};
  try {
    networkUsage = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
  } catch {
    networkUsage = {};
  }
  return { storageUsage, uptime: Math.round(uptime()), networkUsage };
}

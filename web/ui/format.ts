/**
 * Pure helpers of the PWA's views: labels, sizes, a first description of a function from
 * its wasm signature, what a result looks like (number, JSON, image), and which modules
 * the registry places on a device. No DOM, so they are easy to test.
 */
import type { DeploymentView } from '../../shared/registry/registry.ts';
import type { BrowserInfo, DeviceDescription, Engine, FunctionDescription, ModuleRecord } from '../../shared/registry/schema.ts';
import type { FuncType, ValueType } from '../../shared/wasm/binary.ts';
import { defaultCapabilityPolicy } from '../../shared/trust/capability-policy.ts';

/**
 * What a device runs on, for people: `Node`, `Headless Chromium 156`, `Chrome 131 on
 * Android phone`, `Firefox 153 on Linux`, `Safari 18 on iOS tablet`. Records of older
 * peers carry no browser details and keep the coarse label of their engine.
 */
export function engineLabel(engine: Engine, browser?: BrowserInfo): string {
  if (engine === 'node') return 'Node';
  if (!browser) return engine === 'chromium' ? 'Headless Chromium' : 'Browser';
  const named = `${browser.headless ? 'Headless ' : ''}${browser.name}${browser.version ? ` ${browser.version}` : ''}`;
  const where = [browser.os, browser.formFactor === 'desktop' ? '' : browser.formFactor].filter(Boolean).join(' ');
  return where ? `${named} on ${where}` : named;
}

/** A duration in ms, short. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** The first characters of an id or hash. */
export function shortId(id: string, length = 8): string {
  return id.length > length ? id.slice(0, length) : id;
}

/** Host imports grouped by their module (`camera`, `dht`, `wasi`…), with whether all are simulated. */
export function capabilityGroups(device: DeviceDescription): { name: string; count: number; simulated: boolean }[] {
  const groups = new Map<string, { count: number; simulated: number }>();
  const simulated = new Set(device.simulated ?? []);
  for (const cap of device.capabilities) {
    const module = cap.slice(0, Math.max(0, cap.indexOf('.'))) || cap;
    const name = module === 'wasi_snapshot_preview1' ? 'wasi' : module;
    const g = groups.get(name) ?? { count: 0, simulated: 0 };
    g.count++;
    if (simulated.has(cap)) g.simulated++;
    groups.set(name, g);
  }
  return [...groups].map(([name, g]) => ({ name, count: g.count, simulated: g.simulated === g.count })).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * What a device offers of its privacy-sensitive capabilities, and to whom, one line each
 * (`camera: anyone`, `sensors.location: operators 1a2b3c4d`); the harmless imports every
 * device offers are left out. Absent policy: the default, which offers none of them.
 */
export function offerSummary(device: DeviceDescription): string[] {
  const policy = device.policy ?? defaultCapabilityPolicy();
  const harmless = defaultCapabilityPolicy().offers.map((o) => o.capability);
  const out: string[] = [];
  for (const o of policy.offers) {
    if (harmless.includes(o.capability)) continue;
    const name = o.capability.endsWith('.*') ? o.capability.slice(0, -2) : o.capability;
    const who = [
      o.to?.operators ? `operators ${o.to.operators.map((k) => shortId(k)).join(', ')}` : '',
      o.to?.publishers ? `modules signed by ${o.to.publishers.map((k) => shortId(k)).join(', ')}` : '',
    ].filter(Boolean);
    out.push(`${name}: ${who.length === 0 ? (o.to ? 'no one' : 'anyone') : who.join(' or ')}`);
  }
  if (policy.requireSigned) out.push(`only modules signed by ${policy.requireSigned.map((k) => shortId(k)).join(', ') || 'no one'}`);
  return out;
}

/** A module step placed on a device by the registry. */
export interface PlacedModule {
  deploymentId: string;
  deploymentName: string;
  step: number;
  /** The module's name within the deployment. */
  module: string;
  func: string;
  status: string;
  /** A copy made by a live migration in `clone` mode (the step's main instance runs elsewhere). */
  replica: boolean;
}

/** A live migration as the deployment record tells it (`record.migration`). */
export interface MigrationView {
  module: string;
  from: string;
  to: string;
  mode: string;
  phase: string;
  reason?: string;
}

/** The record's live migration, if it has one (records of hosts without migration have none). */
export function migrationOf(record: DeploymentView['record']): MigrationView | undefined {
  const m = (record as { migration?: Partial<MigrationView> }).migration;
  return m && typeof m.module === 'string' && typeof m.phase === 'string' ? (m as MigrationView) : undefined;
}

/** Every step the registry places on `peerId`, main instances and clones, one chip per module. */
export function modulesOn(peerId: string, deployments: readonly DeploymentView[]): PlacedModule[] {
  const out: PlacedModule[] = [];
  for (const { record } of deployments) {
    const replicas = (record as { replicas?: Record<string, string[]> }).replicas ?? {};
    (record.steps ?? []).forEach((step, index) => {
      const main = record.solution[String(index)] === peerId;
      const replica = !main && (replicas[String(index)] ?? []).includes(peerId);
      if (!main && !replica) return;
      // Steps of one module name on one peer share its instance: one chip for them.
      if (out.some((m) => m.deploymentId === record.id && m.module === step.name && m.replica === replica)) return;
      out.push({ deploymentId: record.id, deploymentName: record.name, step: index, module: step.name, func: step.func, status: record.status, replica });
    });
  }
  return out.sort((a, b) => a.deploymentName.localeCompare(b.deploymentName) || a.step - b.step);
}

const PARAM_TYPE: Partial<Record<ValueType, FunctionDescription['params'][number]['type']>> = { i32: 'integer', i64: 'integer', f32: 'number', f64: 'number' };

/** A first description of a function from its signature: scalars by position, GET. */
export function describeFromSignature(type: FuncType | undefined): FunctionDescription {
  const params = (type?.params ?? []).map((p, i) => ({ name: `param${i}`, type: PARAM_TYPE[p] ?? 'integer' }));
  const result = type?.results[0];
  return { method: 'GET', params, result: { type: result ? (PARAM_TYPE[result] ?? 'integer') : 'none' }, mounts: [] };
}

/** Exported functions a user may describe (allocators and pointer getters are helpers). */
export function describableExports(module: Pick<ModuleRecord, 'exports'>): string[] {
  return module.exports.filter((e) => e.kind === 'function' && !e.name.startsWith('_') && e.name !== 'alloc' && e.name !== 'dealloc').map((e) => e.name);
}

/** How a result should be shown. */
export type ResultShape =
  | { kind: 'number'; value: number | string }
  | { kind: 'json'; text: string }
  | { kind: 'image'; mediaType: string; bytes: Uint8Array; name: string }
  | { kind: 'bytes'; size: number; head: string }
  | { kind: 'none' };

/** Decide how to show a step's outcome: an image file or bytes first, then the value. */
export function resultShape(outcome: { value: number | string | null; bytes?: Uint8Array; files?: { name: string; mediaType: string; bytes: Uint8Array }[] }, mediaType?: string): ResultShape {
  const image = outcome.files?.find((f) => f.mediaType.startsWith('image/'));
  if (image) return { kind: 'image', mediaType: image.mediaType, bytes: image.bytes, name: image.name };
  if (outcome.bytes && outcome.bytes.byteLength > 0) {
    if (mediaType?.startsWith('image/')) return { kind: 'image', mediaType, bytes: outcome.bytes, name: 'result' };
    const head = Array.from(outcome.bytes.slice(0, 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return { kind: 'bytes', size: outcome.bytes.byteLength, head };
  }
  const value = outcome.value;
  if (value === null || value === undefined) return { kind: 'none' };
  if (typeof value === 'number' || /^-?\d+(\.\d+)?$/.test(value)) return { kind: 'number', value };
  try {
    return { kind: 'json', text: JSON.stringify(JSON.parse(value), null, 2) };
  } catch {
    return { kind: 'json', text: JSON.stringify(value) };
  }
}

/** A time of day, hh:mm:ss. */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** What a classification result file says: the top label and score (`classification.json`). */
export interface ClassificationSummary {
  class: number;
  label: string | null;
  /** Probability of the top class, when the file lists one. */
  score: number | null;
  /** The best classes, best first. */
  top: { index: number; label: string | null; score: number }[];
}

/**
 * Read a JSON output file of the shape the classify module writes (`{"class", "label",
 * "top": [{index, label, score}], …}`); null when the bytes are not such a result.
 */
export function classificationOf(bytes: Uint8Array): ClassificationSummary | null {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null) return null;
  const o = json as Record<string, unknown>;
  if (typeof o.class !== 'number' || !Array.isArray(o.top)) return null;
  const top = (o.top as unknown[])
    .filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null && typeof (t as Record<string, unknown>).index === 'number' && typeof (t as Record<string, unknown>).score === 'number')
    .map((t) => ({ index: t.index as number, label: typeof t.label === 'string' ? t.label : null, score: t.score as number }));
  const first = top.find((t) => t.index === o.class);
  return { class: o.class, label: typeof o.label === 'string' ? o.label : null, score: first ? first.score : null, top };
}

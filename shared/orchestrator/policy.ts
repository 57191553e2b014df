/**
 * Zones and risk levels (WasmIoT 2026): ODRL cards read into a few fields, and the
 * validation of a deployment's steps against them — the algorithm the reference
 * orchestrators share (see REFERENCE.md), with two corrections: device ids are compared
 * as strings (the Rust port never finds a node card), and the risk `none` (nothing has
 * flowed yet, e.g. into a first step that reads the previous step's output) is allowed
 * everywhere. Pure functions; the cards live in the registry's `cards` map.
 * @module
 */
import { isPlainObject } from '../protocol/check.ts';
import type { CardRecord, DeployedStep } from '../registry/schema.ts';

/** A node card: which zone a device is in. */
export interface NodeCard {
  deviceId: string;
  name: string;
  zone: string;
}

/** A data-source card: the risk level of a kind of data on a device. */
export interface DataSourceCard {
  deviceId: string;
  type: string;
  riskLevel: string;
}

/** A module card: the risk level of a module, what it reads and what it outputs. */
export interface ModuleCard {
  moduleId: string;
  action: string;
  riskLevel: string;
  /** A data-source type, or `temp` for the previous step's output. */
  inputType: string;
  /** A risk level, or `inherit`. */
  outputRisk: string;
}

/** Zone → the risk levels allowed there. */
export type ZoneLevels = Record<string, string[]>;

/** Every card the validation reads. */
export interface PolicyCards {
  nodes: NodeCard[];
  dataSources: DataSourceCard[];
  modules: ModuleCard[];
  zones: ZoneLevels;
}

/** The validation of one step. */
export interface StepValidation {
  step: number;
  device: string;
  module: string;
  node_zone: string | null;
  module_risk: string | null;
  input_risk: string | null;
  output_risk: string;
  valid: boolean;
  reasons: string[];
}

/** The reference's deployment certificate. */
export interface DeploymentCertificate {
  date: string;
  deploymentId: string;
  valid: boolean;
  validationLogs: StepValidation[];
}

type Obj = Record<string, unknown>;
const NONE = 'none';

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const first = (v: unknown): Obj | undefined => {
  const f = list(v)[0];
  return isPlainObject(f) ? f : undefined;
};

/** A card's relations as type → value: `[{type, value}]` lists and plain objects alike. */
function relations(v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of list(v)) {
    if (!isPlainObject(r)) continue;
    const type = text(r.type);
    const value = text(r.value) ?? text(r.uid) ?? text(r.target);
    if (type !== undefined && value !== undefined) {
      if (!out.has(type)) out.set(type, value);
      continue;
    }
    for (const [k, x] of Object.entries(r)) if (!out.has(k) && text(x) !== undefined) out.set(k, text(x)!);
  }
  return out;
}

/** The fields of a node card, or why it has none. */
export function parseNodeCard(card: unknown): NodeCard | string {
  const asset = isPlainObject(card) ? first(card.asset) : undefined;
  const deviceId = text(asset?.uid);
  if (!asset || deviceId === undefined) return 'a node card needs asset[0].uid (the device id)';
  const member = [...list(asset.relation), ...list((card as Obj).relation)].find((r) => isPlainObject(r) && r.type === 'memberOf') as Obj | undefined;
  const zone = text(member?.value) ?? text(member?.uid);
  if (zone === undefined) return 'a node card needs a relation of type memberOf naming its zone';
  return { deviceId, name: text(asset.title) ?? deviceId, zone };
}

/** The fields of a data-source card, or why it has none. */
export function parseDataSourceCard(card: unknown): DataSourceCard | string {
  const asset = isPlainObject(card) ? first(card.asset) : undefined;
  const r = relations(asset?.relation);
  const type = r.get('type');
  const riskLevel = r.get('risk-level');
  const deviceId = r.get('nodeid');
  if (type === undefined || riskLevel === undefined || deviceId === undefined) return 'a data-source card needs type, risk-level and nodeid in asset[0].relation';
  return { deviceId, type, riskLevel };
}

/** The fields of a module card, or why it has none. */
export function parseModuleCard(card: unknown): ModuleCard | string {
  const permission = isPlainObject(card) ? first(card.permission) : undefined;
  const moduleId = text(permission?.target);
  if (!permission || moduleId === undefined) return 'a module card needs permission[0].target (the module id)';
  const operand = (left: string): string | undefined => {
    const c = list(permission.constraint).find((x) => isPlainObject(x) && x.leftOperand === left) as Obj | undefined;
    return text(c?.rightOperand);
  };
  const riskLevel = operand('risk-level');
  const inputType = operand('input-type');
  const outputRisk = operand('output-risk');
  if (riskLevel === undefined || inputType === undefined || outputRisk === undefined) return 'a module card needs risk-level, input-type and output-risk constraints';
  return { moduleId, action: text(permission.action) ?? '', riskLevel, inputType, outputRisk };
}

/** Zone → allowed levels from a zone card, or why it has none. */
export function parseZoneCard(card: unknown): ZoneLevels | string {
  const permissions = isPlainObject(card) ? list(card.permission) : [];
  const out: ZoneLevels = {};
  for (const p of permissions) {
    if (!isPlainObject(p)) continue;
    const level = text(p.target);
    if (level === undefined) continue;
    for (const c of list(p.constraint)) {
      if (!isPlainObject(c) || c.leftOperand !== 'zone') continue;
      for (const zone of list(c.rightOperand)) {
        const z = text(zone);
        if (z === undefined) continue;
        const levels = (out[z] ??= []);
        if (!levels.includes(level)) levels.push(level);
      }
    }
  }
  return Object.keys(out).length > 0 ? out : 'a zone card needs permissions whose target is a risk level, with zone constraints';
}

/** The cards of the registry, read; cards that no longer parse are left out. */
export function policyCards(records: readonly CardRecord[]): PolicyCards {
  const cards: PolicyCards = { nodes: [], dataSources: [], modules: [], zones: {} };
  for (const r of records) {
    let raw: unknown;
    try {
      raw = JSON.parse(r.json);
    } catch {
      continue;
    }
    if (r.kind === 'node') {
      const c = parseNodeCard(raw);
      if (typeof c !== 'string') cards.nodes.push(c);
    } else if (r.kind === 'datasource') {
      const c = parseDataSourceCard(raw);
      if (typeof c !== 'string') cards.dataSources.push(c);
    } else if (r.kind === 'module') {
      const c = parseModuleCard(raw);
      if (typeof c !== 'string') cards.modules.push(c);
    } else if (r.kind === 'zones') {
      const z = parseZoneCard(raw);
      if (typeof z !== 'string') for (const [zone, levels] of Object.entries(z)) cards.zones[zone] = [...new Set([...(cards.zones[zone] ?? []), ...levels])];
    }
  }
  return cards;
}

/** The registry key of a card. */
export function cardKey(kind: CardRecord['kind'], card: NodeCard | DataSourceCard | ModuleCard | null): string {
  if (kind === 'zones' || card === null) return 'zones';
  if (kind === 'node') return `node:${(card as NodeCard).deviceId}`;
  if (kind === 'datasource') return `datasource:${(card as DataSourceCard).deviceId}:${(card as DataSourceCard).type}`;
  return `module:${(card as ModuleCard).moduleId}`;
}

/**
 * Validate steps placed by `solution` (step index → device id). A step's input is the
 * output of the step that feeds it (`next`), `none` for the first.
 */
export function validateSteps(steps: readonly Pick<DeployedStep, 'module' | 'next'>[], solution: Readonly<Record<string, string>>, cards: PolicyCards): StepValidation[] {
  const carryInto = new Map<number, string>();
  const logs: StepValidation[] = [];
  steps.forEach((s, i) => {
    const device = solution[String(i)] ?? '';
    const carry = carryInto.get(i) ?? NONE;
    const log: StepValidation = { step: i, device, module: s.module, node_zone: null, module_risk: null, input_risk: null, output_risk: NONE, valid: true, reasons: [] };
    logs.push(log);
    const invalid = (reason: string): void => {
      log.valid = false;
      log.reasons.push(reason);
    };
    const node = cards.nodes.find((n) => n.deviceId === device);
    const card = cards.modules.find((m) => m.moduleId === s.module);
    if (!node) invalid('Node card not found');
    if (!card) invalid('Module card not found');
    if (!node || !card) {
      for (const n of s.next) carryInto.set(n, carry);
      return;
    }
    log.node_zone = node.zone;
    log.module_risk = card.riskLevel;
    const allowed = cards.zones[node.zone] ?? [];
    const ok = (level: string): boolean => level === NONE || allowed.includes(level);
    if (!ok(card.riskLevel)) invalid(`module risk ${card.riskLevel} is not allowed in zone ${node.zone}`);
    let source: DataSourceCard | undefined;
    let input = carry;
    if (card.inputType !== 'temp') {
      source = cards.dataSources.find((d) => d.type === card.inputType && d.deviceId === device);
      if (!source) invalid(`no data-source card for ${card.inputType} on this device`);
      input = source?.riskLevel ?? NONE;
    }
    log.input_risk = input;
    if (!ok(input)) invalid(`input risk ${input} is not allowed in zone ${node.zone}`);
    const output = card.outputRisk === 'inherit' ? (source ? source.riskLevel : carry) : card.outputRisk;
    log.output_risk = output;
    if (!ok(output)) invalid(`output risk ${output} is not allowed in zone ${node.zone}`);
    for (const n of s.next) carryInto.set(n, output);
  });
  return logs;
}

/** The certificate of a deployment placed as `solution`. */
export function certificate(deploymentId: string, steps: readonly Pick<DeployedStep, 'module' | 'next'>[], solution: Readonly<Record<string, string>>, cards: PolicyCards, date: Date): DeploymentCertificate {
  const validationLogs = validateSteps(steps, solution, cards);
  return { date: date.toISOString(), deploymentId, valid: validationLogs.every((l) => l.valid), validationLogs };
}

/**
 * The placement policy of `steps` (PlacementOptions.admit): a peer may host a step when the
 * step validates there, given where the steps before it went.
 */
export function policyAdmission(steps: readonly Pick<DeployedStep, 'module' | 'next'>[], cards: PolicyCards): (step: { index: number }, peer: string, placed: Readonly<Record<string, string>>) => string | null {
  return (step, peer, placed) => {
    const prefix = steps.slice(0, step.index + 1);
    const log = validateSteps(prefix, { ...placed, [String(step.index)]: peer }, cards)[step.index];
    return !log || log.valid ? null : log.reasons.join('; ');
  };
}

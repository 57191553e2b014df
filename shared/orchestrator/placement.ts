/**
 * Placement: which peer hosts each step of a deployment. A pure function of the steps,
 * the candidate peers and a few options — no clock, no randomness — so every peer that
 * computes it from the same registry state gets the same answer. Each candidate gets a
 * verdict per step: rejected with human-readable reasons (the filters), or accepted
 * with a score and the figures behind it. The best score wins; ties go to the lowest
 * peer id.
 * @module
 */
import { formatBytes } from '../bytes.ts';
import type { Telemetry } from '../registry/presence.ts';
import type { DeviceDescription } from '../registry/schema.ts';
import { defaultMemoryBudget } from '../sandbox/budget.ts';
import { isGranted } from '../sandbox/capabilities.ts';
import { CapabilityNotOfferedError, defaultCapabilityPolicy, refusal } from '../trust/capability-policy.ts';
import { NoPlacementError, UnknownDeviceError } from './errors.ts';

/** One step to place, with what its module needs from a host. */
export interface PlacementStep {
  /** Step index in the manifest. */
  index: number;
  moduleId: string;
  moduleName: string;
  /** Host imports the step's module (and its providers) need, as `module.field`; linked provider imports are already removed. */
  imports: string[];
  /**
   * Bytes the step's instance holds as a peer's memory budget counts them (declared
   * memory, table elements, data segments; its providers' included), 0 when unknown.
   */
  memoryBytes: number;
  /** Pinned device: peer id or device name, or null. */
  pin: string | null;
  /** Blobs (sha256) the step needs on the device. */
  blobs: string[];
  /** The deployment's operator (peer id), whom device policies may offer capabilities to. */
  operator?: string;
  /**
   * The publisher key the module's record claims to be signed by. Placement takes the
   * claim at its word; the hosting device verifies the signature before it loads.
   */
  publisher?: string;
}

/** A peer that might host steps. */
export interface PlacementCandidate {
  device: DeviceDescription;
  alive: boolean;
  /** Latest reported load; cpu and memory are 0..1. Unknown counts as half loaded. */
  telemetry?: Telemetry;
  /** Blobs this peer is known to hold already. */
  holds: ReadonlySet<string>;
  /** Bytes of its memory budget that the modules of other deployments placed there hold. */
  committedBytes?: number;
}

/** Knobs of {@link place}. */
export interface PlacementOptions {
  /** Spread the deployment's steps over different peers when possible. */
  antiAffinity?: boolean;
  /** Engines allowed to host steps; empty or absent means any. */
  engines?: readonly ('browser' | 'chromium' | 'node')[];
  /** Peers that must not be chosen (e.g. just failed); listed as rejected with the given reason. */
  exclude?: Readonly<Record<string, string>>;
  /** Current placement to prefer (keeps steps where they are when still valid), step index → peer id. */
  current?: Readonly<Record<string, string>>;
  /** The deployment this placement is for, when it exists: its own modules are not counted as committed. */
  replacing?: string;
  /** The deployment's operator (peer id) for steps that do not name one: device policies may offer capabilities to it. */
  operator?: string;
  /**
   * A policy (zones and risk levels): why `peer` may not host `step` given where the steps
   * before it went (`placed`, step index → peer id), or null when it may.
   */
  admit?: (step: PlacementStep, peer: string, placed: Readonly<Record<string, string>>) => string | null;
  /**
   * Hops from the placing peer to `peer` over the mesh's links (0 itself, 1 linked), or
   * undefined when no path is known: in a partial mesh, nearer peers are preferred.
   */
  hops?: (peer: string) => number | undefined;
}

/** What placement thought of one candidate for one step. */
export interface CandidateVerdict {
  peer: string;
  name: string;
  accepted: boolean;
  /** Present on accepted candidates; higher is better. */
  score?: number;
  /** Why it was rejected, or the figures behind its score. */
  reasons: string[];
}

/** The chosen peer of one step and every verdict that led to it. */
export interface StepPlacement {
  peer: string;
  verdicts: CandidateVerdict[];
}

/** A placement: step index (as string) → peer id, and why. */
export interface Placement {
  solution: Record<string, string>;
  explanation: Record<string, StepPlacement>;
}

/**
 * Score weights, in points; an accepted candidate's score is the sum of:
 * - `cpu` × (1 − cpu load): idle peers first;
 * - `memory` × free fraction (1 − memory in use) × its total memory ÷ the largest total
 *   memory among the step's accepted candidates: most free bytes first;
 * - `blobs` × the fraction of the step's blobs it already holds (nothing to fetch);
 * - `current` when the step is placed there now (stability: no needless migration);
 * - minus `antiAffinity` for each step of this deployment already placed on it, when
 *   anti-affinity is asked for;
 * - minus `distance` for each hop beyond the first between the placing peer and it, when
 *   hops are known (a partial mesh; a peer with no known path counts as `FAR_HOPS`): every
 *   call to a step two hops away is relayed by a third peer.
 * A candidate without telemetry counts as half loaded (cpu and memory 0.5).
 */
export const PLACEMENT_WEIGHTS = { cpu: 30, memory: 20, blobs: 25, current: 20, antiAffinity: 40, distance: 8 } as const;
/** Hops assumed for a peer with no known path. */
const FAR_HOPS = 4;

/**
 * Choose a peer for every step, in index order.
 * @throws UnknownDeviceError (ERR_UNKNOWN_DEVICE) when a pin names no candidate's id or name.
 * @throws NoPlacementError (ERR_NO_PLACEMENT) when a step has no acceptable candidate;
 *   `data` is `{step, module, rejected}` with every verdict.
 */
export function place(steps: readonly PlacementStep[], candidates: readonly PlacementCandidate[], options: PlacementOptions = {}): Placement {
  const peers = byPeerId(candidates);
  const ordered = [...steps].sort((a, b) => a.index - b.index);
  for (const step of ordered) {
    const pin = step.pin;
    if (pin !== null && !peers.some((c) => isPinned(c.device, pin))) {
      throw new UnknownDeviceError(`step ${step.index} (${step.moduleName}) is pinned to "${pin}", which is no known device`, {
        step: step.index,
        module: step.moduleName,
        device: pin,
      });
    }
  }
  const solution: Record<string, string> = {};
  const explanation: Record<string, StepPlacement> = {};
  /** Steps of this deployment placed so far, per peer. */
  const placedOn = new Map<string, number>();
  /** Budget bytes this deployment's steps placed so far hold, per peer (one instance per module name). */
  const budgetOn = new Map<string, { bytes: number; modules: Set<string> }>();
  for (const step of ordered) {
    const verdicts = judge(step, peers, options, placedOn, budgetOn, solution);
    let best: CandidateVerdict | undefined;
    // Peers are sorted by id, so a strict comparison leaves ties to the lowest id.
    for (const v of verdicts) if (v.accepted && (best === undefined || v.score! > best.score!)) best = v;
    if (best === undefined) {
      // Nowhere offers what the step asks for: say that, rather than "no placement".
      const judged = verdicts.filter((v) => !v.reasons.includes('not the pinned device'));
      const capability = (r: string): boolean => r.startsWith(POLICY) || r.startsWith('cannot grant ');
      if (judged.some((v) => v.reasons.some((r) => r.startsWith(POLICY))) && judged.every((v) => v.reasons.some(capability))) {
        const why = judged.map((v) => `${v.name}: ${v.reasons.filter((r) => r.startsWith(POLICY)).join(', ')}`).join('; ');
        throw new CapabilityNotOfferedError(`no device offers what step ${step.index} (${step.moduleName}) needs to this deployment: ${why}`, {
          step: step.index,
          module: step.moduleName,
          rejected: verdicts,
        });
      }
      const why = verdicts.length === 0 ? 'no devices known' : verdicts.map((v) => `${v.name}: ${v.reasons.join(', ')}`).join('; ');
      throw new NoPlacementError(`no device can host step ${step.index} (${step.moduleName}): ${why}`, {
        step: step.index,
        module: step.moduleName,
        rejected: verdicts,
      });
    }
    const key = String(step.index);
    solution[key] = best.peer;
    explanation[key] = { peer: best.peer, verdicts };
    placedOn.set(best.peer, (placedOn.get(best.peer) ?? 0) + 1);
    const held = budgetOn.get(best.peer) ?? { bytes: 0, modules: new Set<string>() };
    if (!held.modules.has(step.moduleName)) {
      held.modules.add(step.moduleName);
      held.bytes += step.memoryBytes;
    }
    budgetOn.set(best.peer, held);
  }
  return { solution, explanation };
}

/** Candidates sorted by peer id, the first of any duplicate id kept. */
function byPeerId(candidates: readonly PlacementCandidate[]): PlacementCandidate[] {
  const seen = new Set<string>();
  const out: PlacementCandidate[] = [];
  for (const c of candidates) {
    if (seen.has(c.device.id)) continue;
    seen.add(c.device.id);
    out.push(c);
  }
  return out.sort((a, b) => (a.device.id < b.device.id ? -1 : a.device.id > b.device.id ? 1 : 0));
}

function isPinned(device: DeviceDescription, pin: string): boolean {
  return device.id === pin || device.name === pin;
}

/** A candidate's memory budget for all instances, bytes; 0 when it has none. */
export function budgetOf(device: DeviceDescription): number {
  return device.platform.memory.budgetBytes ?? defaultMemoryBudget(device.platform.memory.bytes);
}

/** Prefix of the reasons that come from a device owner's capability policy. */
const POLICY = 'owner policy: ';

/** Why `c` cannot host `step`; empty when it can. */
function rejections(step: PlacementStep, c: PlacementCandidate, options: PlacementOptions, budgetOn: ReadonlyMap<string, { bytes: number; modules: Set<string> }>, placed: Readonly<Record<string, string>>): string[] {
  const { device } = c;
  if (step.pin !== null && !isPinned(device, step.pin)) return ['not the pinned device'];
  const reasons: string[] = [];
  if (options.exclude && Object.hasOwn(options.exclude, device.id)) reasons.push(`excluded: ${options.exclude[device.id]}`);
  if (!c.alive) reasons.push('not alive');
  if (options.engines && options.engines.length > 0 && !options.engines.includes(device.engine)) reasons.push(`engine ${device.engine} not allowed`);
  const policy = device.policy ?? defaultCapabilityPolicy();
  const operator = step.operator ?? options.operator;
  const who = { ...(operator !== undefined ? { operator } : {}), ...(step.publisher !== undefined ? { publisher: step.publisher } : {}) };
  for (const name of step.imports) {
    if (!isGranted(name, device.capabilities)) {
      reasons.push(`cannot grant ${name}`);
      continue;
    }
    const refused = refusal(policy, name, who);
    if (refused) reasons.push(`${POLICY}${refused}`);
  }
  if (policy.requireSigned && !(step.publisher !== undefined && policy.requireSigned.includes(step.publisher))) {
    reasons.push(`${POLICY}${step.publisher === undefined ? 'hosts only signed modules' : 'hosts only modules signed by publishers it trusts'}`);
  }
  const refused = options.admit?.(step, device.id, placed);
  if (refused) reasons.push(`policy: ${refused}`);
  const has = device.platform.memory.bytes;
  const tooBig = step.memoryBytes > 0 && step.memoryBytes > has;
  if (tooBig) {
    let [need, got] = [formatBytes(step.memoryBytes), formatBytes(has)];
    if (need === got) [need, got] = [`${step.memoryBytes} bytes`, `${has} bytes`];
    reasons.push(`needs ${need} of memory, has ${got}`);
  }
  const budget = budgetOf(device);
  const here = budgetOn.get(device.id);
  // A step larger than the whole device says so above; the budget is for what fits.
  if (budget > 0 && step.memoryBytes > 0 && !tooBig && !here?.modules.has(step.moduleName)) {
    const used = (c.committedBytes ?? 0) + (here?.bytes ?? 0);
    if (used + step.memoryBytes > budget) {
      reasons.push(`memory budget: needs ${formatBytes(step.memoryBytes)}, ${formatBytes(used)} of ${formatBytes(budget)} in use`);
    }
  }
  return reasons;
}

function judge(step: PlacementStep, peers: PlacementCandidate[], options: PlacementOptions, placedOn: ReadonlyMap<string, number>, budgetOn: ReadonlyMap<string, { bytes: number; modules: Set<string> }>, placed: Readonly<Record<string, string>>): CandidateVerdict[] {
  const rejected = peers.map((c) => rejections(step, c, options, budgetOn, placed));
  let maxTotal = 0;
  peers.forEach((c, i) => {
    if (rejected[i]!.length === 0) maxTotal = Math.max(maxTotal, c.device.platform.memory.bytes);
  });
  const blobs = [...new Set(step.blobs)];
  const current = options.current && Object.hasOwn(options.current, String(step.index)) ? options.current[String(step.index)] : undefined;
  return peers.map((c, i): CandidateVerdict => {
    const { device } = c;
    if (rejected[i]!.length > 0) return { peer: device.id, name: device.name, accepted: false, reasons: rejected[i]! };
    const reasons: string[] = [];
    if (step.pin !== null) reasons.push('pinned');
    const cpu = fraction(c.telemetry?.cpu);
    const used = fraction(c.telemetry?.memory);
    if (c.telemetry === undefined) reasons.push('telemetry unknown');
    let score = PLACEMENT_WEIGHTS.cpu * (1 - cpu);
    reasons.push(`cpu ${percent(cpu)}`);
    const total = device.platform.memory.bytes;
    if (maxTotal > 0) score += (PLACEMENT_WEIGHTS.memory * (1 - used) * total) / maxTotal;
    reasons.push(`memory ${percent(used)} used of ${formatBytes(total)}`);
    if (blobs.length > 0) {
      const held = blobs.filter((b) => c.holds.has(b)).length;
      score += (PLACEMENT_WEIGHTS.blobs * held) / blobs.length;
      reasons.push(`holds ${held}/${blobs.length} blobs`);
    }
    if (current === device.id) {
      score += PLACEMENT_WEIGHTS.current;
      reasons.push('current placement');
    }
    const here = placedOn.get(device.id) ?? 0;
    if (options.antiAffinity && here > 0) {
      score -= PLACEMENT_WEIGHTS.antiAffinity * here;
      reasons.push(`anti-affinity: ${here} step${here === 1 ? '' : 's'} of this deployment already here`);
    }
    if (options.hops) {
      const hops = options.hops(device.id);
      const beyond = Math.max(0, (hops ?? FAR_HOPS) - 1);
      if (beyond > 0) {
        score -= PLACEMENT_WEIGHTS.distance * beyond;
        reasons.push(hops === undefined ? 'no known path' : `${hops} hops away`);
      }
    }
    // Rounded so that float noise never decides between equal candidates.
    return { peer: device.id, name: device.name, accepted: true, score: Math.round(score * 1000) / 1000, reasons };
  });
}

/** A load figure clamped to 0..1; unknown or garbage counts as 0.5. */
function fraction(value: number | undefined): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 0.5;
  return Math.min(1, Math.max(0, value));
}

function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}


/**
 * From a manifest to a deployment plan: resolve every step's module and function
 * against the package manager (ERR_UNKNOWN_MODULE, ERR_UNKNOWN_FUNCTION, provider
 * errors), decide what each module requests (its host imports; devices grant from their
 * owners' policies, never from this request), and describe the steps and candidates
 * to the placement solver. Pure apart from reading the registry.
 * @module
 */
import type { PresenceState } from '../registry/presence.ts';
import type { Registry } from '../registry/registry.ts';
import type { DeployedStep } from '../registry/schema.ts';
import { InvalidManifestError, UnknownFunctionError } from './errors.ts';
import type { Manifest } from './manifest-types.ts';
import type { PackageManager } from './packages.ts';
import { type Placement, type PlacementCandidate, type PlacementOptions, type PlacementStep, place } from './placement.ts';

/** Bytes in one WebAssembly page. */
const PAGE = 65536;

/** Resolve the manifest's steps into deployable steps (newest module versions). */
export function resolveSteps(manifest: Manifest, packages: PackageManager): DeployedStep[] {
  const idByName = new Map<string, string>();
  return manifest.steps.map((spec, index) => {
    const closure = packages.closure(spec.module);
    const m = closure.module;
    if (!m.functions[spec.func]) {
      const known = Object.keys(m.functions).join(', ');
      throw new UnknownFunctionError(`step ${index}: ${m.name}@${m.version} describes no function ${spec.func} (it has: ${known})`, { step: index, module: m.name, func: spec.func });
    }
    const earlier = idByName.get(m.name);
    if (earlier !== undefined && earlier !== m.id) {
      throw new InvalidManifestError(`step ${index}: two different versions of ${m.name} in one deployment`, { step: index, module: m.name });
    }
    idByName.set(m.name, m.id);
    const step: DeployedStep = {
      module: m.id,
      name: m.name,
      func: spec.func,
      next: [...spec.next],
      providers: closure.providers.map((p) => p.id),
      // What the step asks for; each device grants it only as far as its owner's policy offers.
      grants: closure.hostImports,
      pin: spec.device,
    };
    const topics = manifest.topics[spec.module] ?? manifest.topics[m.name];
    if (topics) step.topics = { publish: [...topics.publish], subscribe: [...topics.subscribe] };
    return step;
  });
}

/** What the placement solver needs to know about each step. */
export function placementSteps(steps: readonly DeployedStep[], registry: Registry): PlacementStep[] {
  return steps.map((s, index) => {
    const ids = [s.module, ...s.providers];
    const records = ids.map((id) => registry.modules.get(id));
    const blobs = new Set<string>();
    let memoryBytes = 0;
    for (const r of records) {
      if (!r) continue;
      blobs.add(r.id);
      for (const h of Object.values(r.dataFiles)) blobs.add(h);
      memoryBytes += r.footprint ?? (r.memory?.min ?? 0) * PAGE;
    }
    const step: PlacementStep = { index, moduleId: s.module, moduleName: s.name, imports: [...s.grants], memoryBytes, pin: s.pin, blobs: [...blobs] };
    const publisher = records[0]?.signature?.publisher;
    if (publisher !== undefined) step.publisher = publisher;
    return step;
  });
}

/**
 * Every registered device as a placement candidate. Which blobs a peer holds is known
 * from the registry alone: the publisher of a module holds its blobs, and so does every
 * peer a current deployment placed the module on.
 */
export function placementCandidates(registry: Registry, alive: ReadonlySet<string>, presence: (peer: string) => PresenceState | undefined, replacing?: string): PlacementCandidate[] {
  const holds = new Map<string, Set<string>>();
  const committed = committedBytes(registry, replacing);
  const add = (peer: string, hashes: Iterable<string>): void => {
    let set = holds.get(peer);
    if (!set) holds.set(peer, (set = new Set()));
    for (const h of hashes) set.add(h);
  };
  for (const m of registry.modules.values()) add(m.publishedBy, [m.id, ...Object.values(m.dataFiles)]);
  for (const d of registry.deployments.values()) {
    for (const [i, s] of (d.record.steps ?? []).entries()) {
      const peer = d.record.solution[String(i)];
      const m = registry.modules.get(s.module);
      if (peer && m) add(peer, [m.id, ...Object.values(m.dataFiles)]);
    }
  }
  return registry.devices.values().map((device) => {
    const candidate: PlacementCandidate = { device, alive: alive.has(device.id), holds: holds.get(device.id) ?? new Set(), committedBytes: committed.get(device.id) ?? 0 };
    const telemetry = presence(device.id)?.telemetry;
    if (telemetry) candidate.telemetry = telemetry;
    return candidate;
  });
}

/** Place `steps` on the mesh as the registry and presence see it now. */
export function placeSteps(
  steps: readonly DeployedStep[],
  registry: Registry,
  alive: ReadonlySet<string>,
  presence: (peer: string) => PresenceState | undefined,
  options: PlacementOptions = {},
): Placement {
  return place(placementSteps(steps, registry), placementCandidates(registry, alive, presence, options.replacing), options);
}

/** Statuses in which a deployment's modules hold memory on their peers. */
const LIVE = new Set(['deploying', 'ready', 'rolled-back']);

/**
 * Budget bytes each peer's placed modules hold, per peer: one instance per deployment
 * and module name on each peer it is placed or cloned on. `replacing` is left out.
 */
export function committedBytes(registry: Registry, replacing?: string): Map<string, number> {
  const out = new Map<string, number>();
  const counted = new Set<string>();
  for (const d of registry.deployments.values()) {
    const r = d.record;
    if (r.id === replacing || !LIVE.has(r.status) || !r.steps) continue;
    const sizes = placementSteps(r.steps, registry);
    for (const [i, s] of r.steps.entries()) {
      const peers = [r.solution[String(i)], ...(r.replicas?.[String(i)] ?? [])];
      for (const peer of peers) {
        if (!peer) continue;
        const key = `${peer}\u0000${r.id}\u0000${s.name}`;
        if (counted.has(key)) continue;
        counted.add(key);
        out.set(peer, (out.get(peer) ?? 0) + sizes[i]!.memoryBytes);
      }
    }
  }
  return out;
}

/** The placement options a manifest asks for: anti-affinity and allowed engines. */
export function placementHints(manifest: Pick<Manifest, 'antiAffinity' | 'engines'>): PlacementOptions {
  const hints: PlacementOptions = {};
  if (manifest.antiAffinity) hints.antiAffinity = true;
  if (manifest.engines.length > 0) hints.engines = manifest.engines;
  return hints;
}

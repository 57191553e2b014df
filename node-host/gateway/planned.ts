/**
 * Where the mesh would place a manifest that is not deployed yet: what `fullManifest` and
 * the deployment certificate of a pending manifest show (the reference fills both at
 * creation, and its GUI reads them before deploying).
 */
import { parseManifest } from '../../shared/orchestrator/manifest.ts';
import { placementHints, placeSteps, resolveSteps } from '../../shared/orchestrator/plan.ts';
import type { DeploymentView } from '../../shared/registry/registry.ts';
import type { GatewayContext } from './context.ts';

/**
 * The view of a pending manifest with the steps it resolves to and the placement the mesh
 * would choose now; `undefined` when it is not pending or its steps do not resolve. With
 * `orUnplaced`, a manifest that resolves but cannot be placed gets its steps and an empty
 * placement rather than `undefined`.
 */
export function plannedView(g: GatewayContext, v: DeploymentView, orUnplaced = false): DeploymentView | undefined {
  if (v.record.status !== 'pending' || v.record.steps) return undefined;
  const { peer, orchestrator } = g.node;
  let steps;
  let manifest;
  try {
    manifest = parseManifest(v.record.manifest);
    steps = resolveSteps(manifest, orchestrator.packages);
  } catch {
    return undefined;
  }
  try {
    const alive = new Set([...peer.alive(), peer.id].filter((p) => !peer.registry.blacklist.get(p)));
    const { solution } = placeSteps(steps, peer.registry, alive, (p) => peer.presenceOf(p), { ...placementHints(manifest), operator: peer.id });
    return { ...v, record: { ...v.record, steps, solution } };
  } catch {
    return orUnplaced ? { ...v, record: { ...v.record, steps, solution: {} } } : undefined;
  }
}

/**
 * Loading a deployment's step into the sandbox without serving it: what the target of a
 * live migration and a hot standby both do before they receive the module's state.
 * @module
 */
import type { Peer } from '../mesh/peer.ts';
import type { DeployedStep } from '../registry/schema.ts';
import type { StagedModule, Supervisor } from '../supervisor/supervisor.ts';
import { MigrationFailedError } from './errors.ts';
import { deploymentOperator, stepRequester } from './requester.ts';

/**
 * Fetch the step's module and its providers (blobs from the mesh, verified) and load them,
 * not serving. Rejects with ERR_MIGRATION_FAILED when the registry lacks a module, or
 * with what fetching, the signature policy or the sandbox refused.
 */
export async function stageStep(peer: Peer, supervisor: Supervisor, deploymentId: string, name: string, step: DeployedStep): Promise<StagedModule> {
  const registry = peer.registry;
  const records = [step.module, ...step.providers].map((id) => {
    const m = registry.modules.get(id);
    if (!m) throw new MigrationFailedError(`module ${id.slice(0, 12)} is not in the target's registry`);
    return m;
  });
  const deployment = registry.deployments.get(deploymentId)?.record;
  const requester = await stepRequester(records, deployment ? deploymentOperator(deployment, registry.deployments) : undefined, supervisor.policy());
  const blobs = new Map<string, Uint8Array>();
  for (const m of records) {
    for (const hash of [m.id, ...Object.values(m.dataFiles)]) if (!blobs.has(hash)) blobs.set(hash, await peer.fetchBlob(hash));
  }
  const files = (m: (typeof records)[number]): Record<string, Uint8Array> => Object.fromEntries(Object.entries(m.dataFiles).map(([mount, h]) => [mount, blobs.get(h)!]));
  const [main, ...deps] = records;
  return supervisor.stage({
    deploymentId,
    name,
    wasm: blobs.get(main!.id)!,
    moduleId: main!.id,
    description: { name: main!.name, version: main!.version, functions: main!.functions },
    dataFiles: files(main!),
    grants: step.grants,
    requester,
    ...(deps.length > 0 ? { providers: deps.map((d) => ({ name: d.name, wasm: blobs.get(d.id)!, files: files(d) })) } : {}),
    ...(step.topics ? { topics: step.topics } : {}),
  });
}

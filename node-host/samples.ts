/**
 * The sample modules and deployments `liquidmesh start` brings up, published through the
 * package manager and deployed by the orchestrator like a user's own: whatever the
 * samples show, the CLI, the gateway and the PWA can do to user modules too.
 */
import type { Orchestrator } from '../shared/orchestrator/orchestrator.ts';
import type { ModuleRecord } from '../shared/registry/schema.ts';
import { readModuleFiles, sampleModuleDir } from './module-files.ts';

/** Directories under modules/ published at start (grayscale-c publishes grayscale 2.0.0). */
export const SAMPLE_MODULES = ['fibo', 'stateful-fibo', 'camera', 'grayscale', 'grayscale-c'] as const;

/** The sample deployments: id → sequence manifest. */
export const SAMPLE_DEPLOYMENTS: Record<string, { name: string; sequence: { device: null; module: string; func: string }[] }> = {
  fibo: { name: 'fibo', sequence: [{ device: null, module: 'fibo', func: 'fibo' }] },
  counter: { name: 'counter', sequence: [{ device: null, module: 'stateful-fibo', func: 'stateful_fibo' }] },
  'camera-gray': {
    name: 'camera-gray',
    sequence: [
      { device: null, module: 'camera', func: 'take_image_predefined_path' },
      { device: null, module: 'grayscale', func: 'grayscale_jpeg' },
    ],
  },
};

/** Publish every sample module (a version already published is kept). */
export async function publishSamples(orchestrator: Orchestrator): Promise<ModuleRecord[]> {
  const records: ModuleRecord[] = [];
  for (const dir of SAMPLE_MODULES) {
    const files = await readModuleFiles(sampleModuleDir(dir));
    if (!files.description) throw new Error(`modules/${dir} has no description.json`);
    records.push(await orchestrator.packages.publish({
      wasm: files.wasm,
      description: files.description,
      dataFiles: Object.fromEntries(Object.entries(files.data).map(([mount, f]) => [mount, f.bytes])),
    }));
  }
  return records;
}

/** Deploy the sample deployments and wait until each is ready (rejects naming the one that is not). */
export async function deploySamples(orchestrator: Orchestrator, timeoutMs = 60_000): Promise<void> {
  for (const [id, manifest] of Object.entries(SAMPLE_DEPLOYMENTS)) {
    const existing = orchestrator.list().find((d) => d.record.id === id);
    if (!existing) orchestrator.deploy(manifest, { id });
  }
  for (const id of Object.keys(SAMPLE_DEPLOYMENTS)) {
    const view = await orchestrator.waitFor(id, undefined, timeoutMs);
    if (view.record.status !== 'ready') throw new Error(`sample deployment ${id} ended ${view.record.status}: ${view.record.reason ?? 'no reason given'}`);
  }
}

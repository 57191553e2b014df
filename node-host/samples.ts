/**
 * The sample modules and deployments `liquidmesh start` brings up, published through the
 * package manager and deployed by the orchestrator like a user's own: whatever the
 * samples show, the CLI, the gateway and the PWA can do to user modules too.
 *
 * A restart over a kept data directory finds them already there, perhaps changed by the
 * user (a new revision, another placement): what exists is kept as it is, and only what
 * is missing is published or deployed.
 */
import type { Orchestrator } from '../shared/orchestrator/orchestrator.ts';
import { sha256Hex } from '../shared/bytes.ts';
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

/** Publish every sample module (one already published, with the same binary, is kept as it is). */
export async function publishSamples(orchestrator: Orchestrator): Promise<ModuleRecord[]> {
  const records: ModuleRecord[] = [];
  for (const dir of SAMPLE_MODULES) {
    const files = await readModuleFiles(sampleModuleDir(dir));
    if (!files.description) throw new Error(`modules/${dir} has no description.json`);
    const id = await sha256Hex(files.wasm);
    const known = orchestrator.packages.list().find((m) => m.id === id);
    if (known) {
      records.push(known);
      continue;
    }
    records.push(await orchestrator.packages.publish({
      wasm: files.wasm,
      description: files.description,
      dataFiles: Object.fromEntries(Object.entries(files.data).map(([mount, f]) => [mount, f.bytes])),
    }));
  }
  return records;
}

/**
 * Deploy the sample deployments that do not exist yet and wait until each is ready
 * (rejects naming the one that is not). Existing ones are left as they are, whatever
 * their state: they are the user's now. Resolves with the ids of those deployed here.
 */
export async function deploySamples(orchestrator: Orchestrator, timeoutMs = 60_000): Promise<string[]> {
  const created: string[] = [];
  for (const [id, manifest] of Object.entries(SAMPLE_DEPLOYMENTS)) {
    const existing = orchestrator.list().find((d) => d.record.id === id);
    if (existing) continue;
    orchestrator.deploy(manifest, { id });
    created.push(id);
  }
  for (const id of created) {
    const view = await orchestrator.waitFor(id, undefined, timeoutMs);
    if (view.record.status !== 'ready') throw new Error(`sample deployment ${id} ended ${view.record.status}: ${view.record.reason ?? 'no reason given'}`);
  }
  return created;
}

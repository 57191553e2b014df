/**
 * `liquidmesh publish` and `liquidmesh deploy`: put a module into the mesh's package
 * manager and run a deployment, through the gateway's WasmIoT routes.
 *
 *   liquidmesh publish <module-dir | file.wasm> [--name N] [--description F] [--data mount=path]…
 *   liquidmesh deploy <manifest.json> | --step module:func[@device]… [--name N]
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type ModuleSignature, signModule } from '../../shared/trust/module-signature.ts';
import { defaultDataDir } from '../data-dir.ts';
import { DEFAULT_KEY_NAME, loadUserKey } from '../keys/key-store.ts';
import { hasCode } from '../../shared/errors.ts';
import { type ModuleFiles, readModuleFiles } from '../module-files.ts';
import { keyValue, parseArgs } from './args.ts';
import { CliError } from './cli-error.ts';
import type { FormPart, GatewayClient } from './gateway-client.ts';
import type { Output } from './output.ts';
import { type ProgressMode, ProgressBar } from './progress.ts';

/** `publish`: create the module, upload its binary, then describe it with its data files. */
export async function publishCommand(argv: string[], client: GatewayClient, out: Output, mode: ProgressMode): Promise<void> {
  const args = parseArgs(argv, { values: ['name', 'description', 'data', 'gateway', 'key'], flags: ['json', 'sign'], repeat: ['data'] });
  const target = args.positionals[0];
  if (!target || args.positionals.length > 1) throw new CliError('ERR_USAGE', 'usage: liquidmesh publish <module-dir | file.wasm> [--name N] [--description F] [--data mount=path]… [--sign [--key NAME]]');
  let files: ModuleFiles;
  try {
    files = await readModuleFiles(target, {
      ...(args.values.name ? { name: args.values.name } : {}),
      ...(args.values.description ? { description: args.values.description } : {}),
      data: (args.lists.data ?? []).map((d) => keyValue(d, '--data')),
    });
  } catch (e) {
    if (hasCode(e, 'ERR_MODULE_FILES')) throw new CliError('ERR_MODULE_FILES', (e as Error).message);
    throw e;
  }

  // Signed over the content hash, name and version the describe step publishes.
  const signature = args.flags.has('sign') || args.values.key ? await signFiles(files, args.values.key) : undefined;

  const upload = new ProgressBar(`upload ${files.wasmFile}`, { mode });
  const created = await client.json<{ id: string }>('POST', '/file/module', {
    form: [
      { name: 'name', value: files.name },
      { name: 'wasm', value: files.wasm, filename: files.wasmFile, contentType: 'application/wasm' },
    ],
  }, (sent, total) => upload.update(sent, total));
  upload.done(`${files.wasm.byteLength} bytes`);

  let described: unknown = null;
  if (files.description) {
    const parts: FormPart[] = [{ name: 'description', value: JSON.stringify(files.description), contentType: 'application/json' }];
    if (signature) parts.push({ name: 'signature', value: `${signature.publisher}:${signature.signature}` });
    for (const [mount, f] of Object.entries(files.data)) parts.push({ name: mount, value: f.bytes, filename: f.file });
    const dataBar = new ProgressBar('describe + data files', { mode });
    described = await client.json('POST', `/file/module/${encodeURIComponent(created.id)}/upload`, { form: parts }, (sent, total) => dataBar.update(sent, total));
    dataBar.done(`${Object.keys(files.data).length} data file(s)`);
  }
  const [module] = await client.json<Record<string, unknown>[]>('GET', `/file/module/${encodeURIComponent(created.id)}`);
  out.data(module ?? { id: created.id, description: described });
  const version = typeof module?.version === 'string' ? `@${module.version}` : '';
  out.say(`published ${files.name}${version} (id ${created.id})${files.description ? '' : ' — no description.json: describe it before deploying'}`);
}

/**
 * Sign the module as the user key `keyName` (default `default`) of the key store in the
 * data directory (`LIQUIDMESH_DATA_DIR`, …). The version signed is the description's: a module without one cannot be
 * signed (the gateway would give it a version of its own).
 */
async function signFiles(files: ModuleFiles, keyName: string | undefined): Promise<ModuleSignature> {
  const version = (files.description as { version?: unknown } | undefined)?.version;
  if (typeof version !== 'string' || version === '') throw new CliError('ERR_USAGE', 'publish --sign needs a description.json with a version: the signature covers the name and version');
  const key = await loadUserKey(keyName ?? DEFAULT_KEY_NAME, defaultDataDir());
  const id = createHash('sha256').update(files.wasm).digest('hex');
  return signModule({ id, name: files.name, version }, key);
}

/** Parse `module:func[@device]` into a sequence step. */
export function parseStep(text: string): { module: string; func: string; device: string | null } {
  const m = /^([^:@\s]+):([^:@\s]+)(?:@(\S+))?$/.exec(text);
  if (!m) throw new CliError('ERR_USAGE', `--step expects module:function[@device], got "${text}"`);
  return { module: m[1]!, func: m[2]!, device: m[3] ?? null };
}

/** A deployment as the gateway shows it (only the fields the CLI reads). */
export interface DeploymentShape {
  _id: string;
  name?: string;
  status?: string;
  revision?: number;
  reason?: string;
  steps?: { module: string; func: string; device?: string; deviceName?: string; phase?: string }[];
}

/** Follow a deployment's steps until it settles, redrawing one progress bar. */
export async function followDeployment(client: GatewayClient, id: string, mode: ProgressMode, until: Promise<unknown>): Promise<DeploymentShape> {
  const bar = new ProgressBar(`deploy ${id}`, { mode, unit: 'count' });
  let finished = false;
  void until.finally(() => (finished = true)).catch(() => undefined);
  let view: DeploymentShape = { _id: id };
  while (!finished) {
    view = await client.json<DeploymentShape>('GET', `/file/manifest/${encodeURIComponent(id)}`).catch(() => view);
    const steps = view.steps ?? [];
    const ready = steps.filter((s) => s.phase === 'ready').length;
    const current = steps.find((s) => s.phase !== 'ready');
    bar.update(ready, Math.max(1, steps.length), current ? `${current.module} ${current.phase ?? '…'}${current.deviceName ? ` on ${current.deviceName}` : ''}` : (view.status ?? ''));
    await Promise.race([until.catch(() => undefined), new Promise((r) => setTimeout(r, 150))]);
  }
  view = await client.json<DeploymentShape>('GET', `/file/manifest/${encodeURIComponent(id)}`).catch(() => view);
  bar.done(view.status ?? 'done');
  return view;
}

/** `deploy`: create a deployment from a manifest (or steps) and deploy it, following its phases. */
export async function deployCommand(argv: string[], client: GatewayClient, out: Output, mode: ProgressMode): Promise<void> {
  const args = parseArgs(argv, { values: ['name', 'step', 'gateway'], flags: ['json'], repeat: ['step'] });
  let manifest: Record<string, unknown>;
  if (args.positionals.length === 1 && !args.lists.step) {
    const path = args.positionals[0]!;
    const text = path === '-' ? await readStdin() : await readFile(path, 'utf8').catch(() => {
      throw new CliError('ERR_FILE_NOT_FOUND', `cannot read manifest ${path}`);
    });
    try {
      manifest = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new CliError('ERR_INVALID_MANIFEST', `${path} is not JSON: ${(e as Error).message}`);
    }
    if (args.values.name) manifest.name = args.values.name;
  } else if (args.positionals.length === 0 && args.lists.step) {
    const steps = args.lists.step.map(parseStep);
    manifest = { name: args.values.name ?? steps.map((s) => s.module).join('-'), sequence: steps };
  } else {
    throw new CliError('ERR_USAGE', 'usage: liquidmesh deploy <manifest.json | -> | --step module:func[@device]… [--name N]');
  }
  const id = (await client.json<string>('POST', '/file/manifest', { json: manifest })).trim();
  const deploying = client.json('POST', `/file/manifest/${encodeURIComponent(id)}`);
  const view = await followDeployment(client, id, mode, deploying);
  await deploying; // a failed deployment throws here with the gateway's reason
  out.data(view);
  out.say(`deployment ${id} ${view.status ?? 'deployed'}${view.revision !== undefined ? ` (revision ${view.revision})` : ''}`);
  for (const s of view.steps ?? []) out.say(`  ${s.module}.${s.func} on ${s.deviceName ?? s.device ?? '?'}`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

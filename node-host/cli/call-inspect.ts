/**
 * `liquidmesh call`, `ls`, `history` and `migrate`: run functions and look at the mesh
 * through the gateway.
 *
 *   liquidmesh call <deployment> [module.function] [value | name=value]… [--file mount=path]… [--out DIR]
 *   liquidmesh ls devices|modules|deployments
 *   liquidmesh history [--device D|all] [--limit N]
 *   liquidmesh migrate <deployment> <module> <device> [--clone]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { keyValue, parseArgs } from './args.ts';
import { CliError } from './cli-error.ts';
import type { FormPart, GatewayClient } from './gateway-client.ts';
import { type Output, table } from './output.ts';
import { formatBytes } from '../../shared/bytes.ts';
import { type ProgressMode, ProgressBar } from './progress.ts';

const QUALIFIED = /^([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)$/;

/** Split call arguments into named parameters (bare values become param0, param1, …). */
export function callParams(values: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  let position = 0;
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq > 0 && /^[A-Za-z_]\w*$/.test(v.slice(0, eq))) params[v.slice(0, eq)] = v.slice(eq + 1);
    else params[`param${position++}`] = v;
  }
  return params;
}

/** Output file references in a gateway answer: `{name, url}` items wherever they appear. */
function outputFiles(answer: Record<string, unknown>): { name: string; url: string }[] {
  const files = answer.files;
  if (!Array.isArray(files)) return [];
  return files.filter((f): f is { name: string; url: string } => typeof f?.name === 'string' && typeof f?.url === 'string');
}

/** `call`: execute a deployment's chain, or one module function of it. */
export async function callCommand(argv: string[], client: GatewayClient, out: Output, mode: ProgressMode): Promise<void> {
  const args = parseArgs(argv, { values: ['file', 'out', 'gateway'], flags: ['json'], repeat: ['file'] });
  const [deployment, ...rest] = args.positionals;
  if (!deployment) throw new CliError('ERR_USAGE', 'usage: liquidmesh call <deployment> [module.function] [value | name=value]… [--file mount=path]… [--out DIR]');
  const qualified = rest[0] ? QUALIFIED.exec(rest[0]) : null;
  const params = callParams(qualified ? rest.slice(1) : rest);
  const files: FormPart[] = [];
  for (const item of args.lists.file ?? []) {
    const [mount, path] = keyValue(item, '--file');
    const bytes = await readFile(path).catch(() => {
      throw new CliError('ERR_FILE_NOT_FOUND', `cannot read ${path} for mount ${mount}`);
    });
    files.push({ name: mount, value: new Uint8Array(bytes), filename: basename(path) });
  }
  const body = files.length > 0 ? { form: [...Object.entries(params).map(([name, value]) => ({ name, value })), ...files] } : undefined;
  const bar = files.length > 0 ? new ProgressBar('upload', { mode }) : null;
  const progress = bar ? (sent: number, total: number) => bar.update(sent, total) : undefined;
  const t0 = performance.now();
  let answer: Record<string, unknown>;
  if (qualified) {
    const path = `/${encodeURIComponent(deployment)}/modules/${encodeURIComponent(qualified[1]!)}/${encodeURIComponent(qualified[2]!)}`;
    answer = body
      ? await client.json('POST', path, body, progress)
      : await client.json('GET', `${path}?${new URLSearchParams(params).toString()}`);
  } else {
    answer = await client.json('POST', `/execute/${encodeURIComponent(deployment)}`, body ?? { json: params }, progress);
  }
  bar?.done('sent');
  const ms = performance.now() - t0;
  const saved: string[] = [];
  if (args.values.out) {
    await mkdir(args.values.out, { recursive: true });
    for (const f of outputFiles(answer)) {
      const bytes = await client.bytes(f.url);
      const target = join(args.values.out, basename(f.name));
      await writeFile(target, bytes);
      saved.push(`${target} (${formatBytes(bytes.byteLength)})`);
    }
  }
  out.data(answer);
  out.say(`${JSON.stringify(answer.result ?? null)}`);
  const steps = Array.isArray(answer.steps) ? (answer.steps as Record<string, unknown>[]) : [];
  for (const s of steps) out.say(`  ${String(s.module ?? '?')}.${String(s.func ?? '?')} on ${deviceLabel(s)}: ${JSON.stringify(s.value ?? s.result ?? null)} in ${Number(s.durationMs ?? 0).toFixed(1)} ms`);
  for (const f of outputFiles(answer)) if (!args.values.out) out.say(`  file ${f.name}: ${new URL(f.url, client.base).href}`);
  for (const s of saved) out.say(`  saved ${s}`);
  out.say(`  (${ms.toFixed(1)} ms)`);
}

/** A step's or call's device as the gateway names it: `{id, name}`, or `deviceName` / `device` strings. */
function deviceLabel(s: Record<string, unknown>): string {
  const d = s.device;
  if (d && typeof d === 'object') return String((d as { name?: unknown; id?: unknown }).name ?? (d as { id?: unknown }).id ?? '?');
  return String(s.deviceName ?? d ?? '?');
}

/** The distinct module names running on a device, from the gateway's device view. */
function moduleNames(modules: unknown): string {
  if (!Array.isArray(modules)) return '-';
  const names = [...new Set(modules.map((m) => (typeof m === 'string' ? m : String((m as { module?: unknown; name?: unknown }).module ?? (m as { name?: unknown }).name ?? '?'))))];
  return names.join(',') || '-';
}

function percent(x: unknown): string {
  return typeof x === 'number' ? `${Math.round(x * 100)}%` : '-';
}

/** `ls devices|modules|deployments`. */
export async function lsCommand(argv: string[], client: GatewayClient, out: Output): Promise<void> {
  const args = parseArgs(argv, { values: ['gateway'], flags: ['json'] });
  const what = args.positionals[0];
  if (what === 'devices') {
    const devices = await client.json<Record<string, any>[]>('GET', '/file/device');
    out.data(devices);
    out.say(table(['NAME', 'ENGINE', 'STATE', 'CPU', 'MEMORY', 'MODULES', 'ID'], devices.map((d) => [
      d.name, d.engine, d.alive === false ? 'gone' : 'alive', percent(d.health?.cpuUsage), percent(d.health?.memoryUsage),
      moduleNames(d.modules), d._id,
    ])));
  } else if (what === 'modules') {
    const modules = await client.json<Record<string, any>[]>('GET', '/file/module');
    out.data(modules);
    out.say(table(['NAME', 'VERSION', 'FUNCTIONS', 'ID'], modules.map((m) => [
      m.name, m.version, Object.keys(m.description?.functions ?? {}).join(',') || (Array.isArray(m.exports) ? m.exports.map((e: any) => e.name).join(',') : '-'), m._id ?? m.id,
    ])));
  } else if (what === 'deployments') {
    const deployments = await client.json<Record<string, any>[]>('GET', '/file/manifest');
    out.data(deployments);
    out.say(table(['ID', 'NAME', 'STATUS', 'REVISION', 'STEPS'], deployments.map((d) => [
      d._id, d.name, d.status, d.revision,
      Array.isArray(d.steps) ? d.steps.map((s: any) => `${s.module}.${s.func}@${s.deviceName ?? s.device ?? '?'}`).join(' → ') : '-',
    ])));
  } else {
    throw new CliError('ERR_USAGE', 'usage: liquidmesh ls devices|modules|deployments');
  }
}

/** `history`: the request history of the gateway's device, another device, or all. */
export async function historyCommand(argv: string[], client: GatewayClient, out: Output): Promise<void> {
  const args = parseArgs(argv, { values: ['device', 'limit', 'gateway'], flags: ['json'] });
  if (args.positionals.length > 0) throw new CliError('ERR_USAGE', 'usage: liquidmesh history [--device D|all] [--limit N]');
  const limit = args.values.limit !== undefined ? Number(args.values.limit) : 20;
  if (!Number.isInteger(limit) || limit < 1) throw new CliError('ERR_USAGE', '--limit must be a positive integer');
  const query = args.values.device ? `?device=${encodeURIComponent(args.values.device)}` : '';
  const entries = (await client.json<Record<string, any>[]>('GET', `/request-history${query}`)).slice(-limit);
  out.data(entries);
  out.say(table(['ID', 'DEVICE', 'DEPLOYMENT', 'FUNCTION', 'ARGS', 'RESULT', 'OK'], entries.map((e) => [
    e.request_id, e.device_name ?? e.device ?? '-', e.deployment_id, `${e.module_name}.${e.function_name}`,
    JSON.stringify(e.request_args ?? []), JSON.stringify(e.result ?? null), e.success ? 'yes' : 'no',
  ])));
}

/** `migrate`: move (or clone) a running module with its state to another device. */
export async function migrateCommand(argv: string[], client: GatewayClient, out: Output, mode: ProgressMode): Promise<void> {
  const args = parseArgs(argv, { values: ['gateway'], flags: ['json', 'clone'] });
  const [deployment, module, device] = args.positionals;
  if (!deployment || !module || !device || args.positionals.length > 3) throw new CliError('ERR_USAGE', 'usage: liquidmesh migrate <deployment> <module> <device> [--clone]');
  const how = args.flags.has('clone') ? 'clone' : 'move';
  const bar = new ProgressBar(`${how} ${module} → ${device}`, { mode, unit: 'count' });
  bar.update(0, 1, 'snapshot, ship, restore…');
  const answer = await client.json<Record<string, any>>('POST', `/file/manifest/${encodeURIComponent(deployment)}/migrate`, { json: { module, device, ...(how === 'clone' ? { mode: 'clone' } : {}) } });
  bar.done('done');
  out.data(answer);
  const r = (answer.migration ?? answer) as Record<string, any>;
  out.say(`${how === 'clone' ? 'cloned' : 'moved'} ${module} of ${deployment} from ${r.fromName ?? r.from ?? '?'} to ${r.toName ?? r.to ?? device}` +
    `${typeof r.durationMs === 'number' ? ` in ${r.durationMs.toFixed(0)} ms` : ''}${typeof r.snapshotBytes === 'number' ? ` (state ${formatBytes(r.snapshotBytes)})` : ''}`);
}

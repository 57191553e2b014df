/**
 * The JSON shapes the gateway answers with: the reference's fields (`_id`, `name`,
 * `communication`, `description`, `sequence`, `fullManifest`, `request_id`, …) plus
 * ours (`engine`, `alive`, `health`, `status`, `revision`, `steps`, …). Pure functions
 * of registry records.
 */
import type { PresenceState } from '../../shared/registry/presence.ts';
import type { DeploymentView } from '../../shared/registry/registry.ts';
import type { DeviceDescription, FunctionDescription, ModuleRecord } from '../../shared/registry/schema.ts';
import type { HistoryEntry } from '../../shared/supervisor/history.ts';
import { historyUrl } from './context.ts';
import { moduleOpenApi } from './openapi.ts';
import { filePath } from './results.ts';

type Obj = Record<string, unknown>;

/** The reference's `supervisorInterfaces`: bare import names (`takeImageStaticSize`). */
export function supervisorInterfaces(capabilities: readonly string[]): string[] {
  return [...new Set(capabilities.map((c) => c.slice(c.indexOf('.') + 1)).filter((c) => c !== '*'))];
}

/** The reference's device description of `device`. */
export function wasmiotDescription(device: DeviceDescription): Obj {
  const cpu = device.platform.cpu;
  return {
    // clockSpeed.Hz is the Node orchestrator's, clockSpeedHz the Rust one's: both are read.
    platform: { cpu: { humanReadableName: cpu.humanReadableName, clockSpeed: { Hz: cpu.clockSpeedHz ?? 0 }, clockSpeedHz: cpu.clockSpeedHz ?? 0, cores: cpu.cores }, memory: { bytes: device.platform.memory.bytes } },
    supervisorInterfaces: supervisorInterfaces(device.capabilities),
  };
}

/** `{cpuUsage, memoryUsage}` from presence (null when the device is not alive). */
export function healthOf(presence: PresenceState | undefined): Obj | null {
  if (!presence) return null;
  const t = presence.telemetry;
  return { cpuUsage: t.cpu, memoryUsage: t.memory, callsPerSecond: t.callsPerSecond };
}

/** What a host measures of itself beyond presence (storage, network, uptime); see host-report.ts. */
export interface HostReport {
  storageUsage: number;
  uptime: number;
  networkUsage: Record<string, { downBytes: number; upBytes: number }>;
}

/**
 * WasmIoT 2026's device health: `{report: {cpuUsage, memoryUsage, storageUsage, uptime,
 * networkUsage}, timeOfQuery}`, with the first gateway's flat fields beside it. A device
 * other than the gateway's own reports only what presence carries: its storage and network
 * read 0 and {}, its uptime counts from its last start.
 */
export function healthReport(device: DeviceDescription, presence: PresenceState | undefined, host: HostReport | null, now: number): Obj | null {
  const flat = healthOf(presence);
  if (!flat) return null;
  const report = {
    cpuUsage: flat.cpuUsage,
    memoryUsage: flat.memoryUsage,
    storageUsage: host?.storageUsage ?? 0,
    uptime: host?.uptime ?? Math.max(0, Math.round((now - device.startedAt) / 1000)),
    networkUsage: host?.networkUsage ?? {},
  };
  return { report, timeOfQuery: new Date(now).toISOString(), ...flat };
}

/** The steps each device runs, by peer id (the `modules` of a device's view). */
export function stepsByDevice(deployments: readonly DeploymentView[]): Map<string, Obj[]> {
  const running = new Map<string, Obj[]>();
  for (const d of deployments) {
    for (const [i, s] of (d.record.steps ?? []).entries()) {
      const p = d.record.solution[String(i)];
      if (p) (running.get(p) ?? running.set(p, []).get(p)!).push({ deploymentId: d.record.id, deploymentName: d.record.name, module: s.name, func: s.func, step: i });
    }
  }
  return running;
}

/** One element of `GET /file/device`. */
export function deviceView(device: DeviceDescription, alive: boolean, presence: PresenceState | undefined, modules: Obj[], communication: { addresses: string[]; port: number | null }, extra: { host?: HostReport | null; now?: number; blacklisted?: boolean } = {}): Obj {
  return {
    _id: device.id,
    name: device.name,
    communication,
    description: wasmiotDescription(device),
    status: alive ? 'active' : 'inactive',
    engine: device.engine,
    alive,
    health: healthReport(device, presence, extra.host ?? null, extra.now ?? Date.now()),
    blacklisted: extra.blacklisted ?? false,
    capabilities: device.capabilities,
    simulated: device.simulated ?? [],
    version: device.version,
    startedAt: device.startedAt,
    modules,
  };
}

/** One element of `GET /file/module`. */
export function moduleView(m: ModuleRecord, base: string, publisherName: string): Obj {
  const mounts: Obj = {};
  for (const [fn, f] of Object.entries(m.functions)) mounts[fn] = Object.fromEntries(f.mounts.map((mount) => [mount.name, { stage: mount.stage, mediaType: mount.mediaType ?? 'application/octet-stream' }]));
  const self = `${base}/file/module/${m.id}`;
  return {
    _id: m.id,
    id: m.id,
    name: m.name,
    version: m.version,
    exports: m.exports.filter((e) => e.kind === 'function').map((e) => ({ name: e.name, parameterCount: m.functions[e.name]?.params.length ?? null })),
    requirements: m.imports.filter((i) => i.kind === 'function').map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
    wasm: { size: m.size, url: `${self}/wasm`, originalFilename: m.originalFilename ?? `${m.name}.wasm` },
    dataFiles: Object.fromEntries(Object.entries(m.dataFiles).map(([mount, hash]) => [mount, { sha256: hash, url: `${self}/${encodeURIComponent(mount)}` }])),
    mounts,
    functions: m.functions,
    memory: m.memory ?? null,
    description: moduleOpenApi(m, base),
    publishedBy: { id: m.publishedBy, name: publisherName },
    publishedAt: m.publishedAt,
    // Who signed it (verified at publish), or null: what `--require-signed` devices look for.
    signedBy: m.signature?.publisher ?? null,
  };
}

function endpoint(base: string, deploymentId: string, module: string, func: string, f: FunctionDescription | undefined): Obj {
  const output = f?.mounts.find((m) => m.stage === 'output');
  return {
    url: base,
    path: `/${encodeURIComponent(deploymentId)}/modules/${encodeURIComponent(module)}/${encodeURIComponent(func)}`,
    method: (f?.method ?? 'GET').toLowerCase(),
    request: {
      parameters: (f?.params ?? []).filter((p) => p.type !== 'bytes' && p.type !== 'none').map((p) => ({ name: p.name, in: 'query', required: true, schema: { type: p.type } })),
    },
    response: output ? { media_type: output.mediaType ?? 'application/octet-stream', schema: { type: 'string', format: 'binary' } } : { media_type: 'application/json', schema: { type: f?.result.type ?? 'integer' } },
  };
}

/**
 * The reference's `fullManifest`: per device, the DeploymentNode an orchestrator would
 * have POSTed to it (modules with file URLs, endpoints, instructions, mounts). Here it
 * is informational: devices get their steps through the registry.
 */
function fullManifest(view: DeploymentView, base: string, modules: (id: string) => ModuleRecord | undefined): Obj {
  const r = view.record;
  const steps = r.steps ?? [];
  const out: Record<string, Obj> = {};
  // The Rust orchestrator's form, which its GUI reads: one entry per step with its endpoint.
  // Added after the devices: the Node GUI takes the first key as the first step's device.
  const sequence = steps.map((s, i) => ({
    device: r.solution[String(i)] ?? null,
    module: s.module,
    func: s.func,
    endpoint: endpoint(base, r.id, s.name, s.func, modules(s.module)?.functions[s.func]),
  }));
  steps.forEach((s, i) => {
    const peer = r.solution[String(i)];
    if (!peer) return;
    const m = modules(s.module);
    const f = m?.functions[s.func];
    const node = (out[peer] ??= { deploymentId: r.id, modules: [], endpoints: {}, instructions: { modules: {} }, mounts: {} }) as { modules: Obj[]; endpoints: Record<string, Obj>; instructions: { modules: Record<string, Obj> }; mounts: Record<string, Obj> };
    if (!node.modules.some((x) => x.id === s.module)) {
      const self = `${base}/file/module/${s.module}`;
      node.modules.push({ id: s.module, name: s.name, urls: { binary: `${self}/wasm`, description: `${self}/description`, other: Object.fromEntries(Object.keys(m?.dataFiles ?? {}).map((k) => [k, `${self}/${encodeURIComponent(k)}`])) } });
    }
    const from = endpoint(base, r.id, s.name, s.func, f);
    (node.endpoints[s.name] ??= {})[s.func] = from;
    const nextStep = steps[s.next[0] ?? -1];
    const to = nextStep ? endpoint(base, r.id, nextStep.name, nextStep.func, modules(nextStep.module)?.functions[nextStep.func]) : null;
    (node.instructions.modules[s.name] ??= {})[s.func] = { from, to };
    const byStage = (stage: string): Obj[] => (f?.mounts ?? []).filter((x) => x.stage === stage).map((x) => ({ path: x.name, media_type: x.mediaType ?? 'application/octet-stream', stage }));
    (node.mounts[s.name] ??= {})[s.func] = { deployment: byStage('deployment'), execution: byStage('execution'), output: byStage('output') };
  });
  out.sequence = sequence as unknown as Obj;
  return out;
}

/** One element of `GET /file/manifest`. */
export function deploymentView(view: DeploymentView, base: string, nameOf: (peer: string) => string, modules: (id: string) => ModuleRecord | undefined, planned?: DeploymentView): Obj {
  const r = view.record;
  const steps = (r.steps ?? []).map((s, i) => {
    const peer = r.solution[String(i)] ?? null;
    const phase = peer ? view.phases[`${i}/${peer}`] : undefined;
    const current = phase && phase.revision === r.revision ? phase : undefined;
    return {
      step: i,
      module: s.name,
      moduleId: s.module,
      func: s.func,
      next: s.next,
      device: peer,
      deviceName: peer ? nameOf(peer) : null,
      phase: current?.phase ?? (peer ? 'placed' : 'unplaced'),
      ...(current?.reason ? { reason: current.reason } : {}),
    };
  });
  const submitted = r.manifest as Obj | null;
  const sequence = Array.isArray(submitted?.sequence)
    ? submitted.sequence
    : steps.map((s) => ({ device: s.device, module: s.moduleId, func: s.func }));
  return {
    _id: r.id,
    id: r.id,
    name: r.name,
    sequence,
    active: r.status === 'ready' || r.status === 'rolled-back' || r.status === 'deploying',
    status: r.status,
    revision: r.revision,
    coordinator: { id: r.coordinator, name: nameOf(r.coordinator) },
    reason: r.reason ?? null,
    steps,
    explanation: r.explanation ?? null,
    manifest: r.manifest,
    // A manifest not deployed yet shows where it would go now (the reference fills it at creation).
    fullManifest: fullManifest(planned ?? view, base, modules),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** One element of `GET /request-history`: the reference's fields and ours. */
export function historyView(e: HistoryEntry, base: string, self: string, peer: string, peerName: string, hasFile: (hash: string) => boolean): Obj {
  const outputFiles = (e.outputFiles ?? []).map((f) => ({ ...f, url: hasFile(f.sha256) ? base + filePath(f.sha256, f.name) : null }));
  const fileUrl = outputFiles.find((f) => f.url)?.url;
  return {
    request_id: e.requestId,
    deployment_id: e.deploymentId,
    module_name: e.moduleName,
    function_name: e.functionName,
    method: e.method,
    request_args: e.args,
    request_files: e.inputFiles.map((f) => f.name),
    result: e.success ? fileUrl ?? e.result ?? null : null,
    success: e.success,
    error: e.error ?? null,
    value: e.result ?? null,
    device: { id: peer, name: peerName },
    resultUrl: historyUrl(base, self, peer, e.requestId),
    startedAt: e.startedAt,
    durationMs: e.durationMs,
    inputFiles: e.inputFiles,
    outputFiles,
  };
}

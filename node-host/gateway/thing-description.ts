/**
 * A W3C WoT Thing Description 1.1 of the gateway's device: its health as a property,
 * and one action per function of every module deployed on it, with forms pointing at
 * the supervisor routes (`/{deployment}/modules/{module}/{function}`) and input and
 * output schemas from the module descriptions.
 */
import type { DeviceDescription, FunctionDescription } from '../../shared/registry/schema.ts';

type Obj = Record<string, unknown>;

/** One function of a module deployed on this device. */
export interface DeployedFunction {
  deploymentId: string;
  module: string;
  func: string;
  description: FunctionDescription;
}

function dataSchema(type: FunctionDescription['params'][number]['type']): Obj {
  if (type === 'integer') return { type: 'integer' };
  if (type === 'number') return { type: 'number' };
  if (type === 'string') return { type: 'string' };
  if (type === 'bytes') return { type: 'string', contentMediaType: 'application/octet-stream' };
  return { type: 'null' };
}

function action(base: string, f: DeployedFunction): Obj {
  const d = f.description;
  const path = `${base}/${encodeURIComponent(f.deploymentId)}/modules/${encodeURIComponent(f.module)}/${encodeURIComponent(f.func)}`;
  const scalars = d.params.filter((p) => p.type !== 'bytes' && p.type !== 'none');
  const inputs = [...d.mounts.filter((m) => m.stage === 'execution').map((m) => m.name), ...d.params.filter((p) => p.type === 'bytes').map((p) => p.name)];
  const output = d.mounts.find((m) => m.stage === 'output');
  const form: Obj = { op: 'invokeaction', 'htv:methodName': d.method, contentType: 'application/json', response: { contentType: 'application/json' } };
  const affordance: Obj = {
    title: `${f.module}.${f.func}`,
    description: `Deployment ${f.deploymentId}: ${f.func} of ${f.module}`,
    safe: d.method === 'GET',
    idempotent: false,
    output: {
      type: 'object',
      properties: {
        result: output ? { type: 'string', format: 'uri', description: `URL of ${output.name}` } : dataSchema(d.result.type),
        resultUrl: { type: 'string', format: 'uri' },
      },
      required: ['result', 'resultUrl'],
    },
    forms: [form],
  };
  if (d.method === 'GET') {
    form.href = scalars.length > 0 ? `${path}{?${scalars.map((p) => p.name).join(',')}}` : path;
    if (scalars.length > 0) affordance.uriVariables = Object.fromEntries(scalars.map((p) => [p.name, dataSchema(p.type)]));
  } else {
    form.href = path;
    if (inputs.length > 0) form.contentType = 'multipart/form-data';
    const properties: Obj = Object.fromEntries([
      ...scalars.map((p) => [p.name, dataSchema(p.type)] as const),
      ...inputs.map((n) => [n, { type: 'string', contentMediaType: 'application/octet-stream' }] as const),
    ]);
    if (Object.keys(properties).length > 0) affordance.input = { type: 'object', properties, required: Object.keys(properties) };
  }
  return affordance;
}

/** The Thing Description; `base` is the gateway's URL as the client sees it. */
export function thingDescription(device: DeviceDescription, base: string, functions: readonly DeployedFunction[]): Obj {
  const actions: Obj = {};
  for (const f of functions) actions[`${f.deploymentId}/${f.module}/${f.func}`] = action(base, f);
  const fraction = { type: 'number', minimum: 0, maximum: 1 };
  return {
    '@context': ['https://www.w3.org/2022/wot/td/v1.1', { htv: 'http://www.w3.org/2011/http#' }],
    '@type': 'Thing',
    id: `urn:liquidmesh:device:${device.id}`,
    title: device.name,
    description: `LiquidMesh ${device.engine} peer hosting WebAssembly modules (${device.platform.cpu.humanReadableName}, ${device.platform.cpu.cores} cores)`,
    version: { instance: device.version },
    base,
    securityDefinitions: { nosec_sc: { scheme: 'nosec' } },
    security: ['nosec_sc'],
    properties: {
      health: {
        title: 'Health',
        description: 'CPU and memory use as fractions',
        type: 'object',
        readOnly: true,
        properties: { cpuUsage: fraction, memoryUsage: fraction },
        forms: [{ href: `${base}/health`, op: 'readproperty', contentType: 'application/json', 'htv:methodName': 'GET' }],
      },
    },
    actions,
    events: {},
    links: [{ rel: 'describedby', href: `${base}/.well-known/wasmiot-device-description`, type: 'application/json' }],
  };
}

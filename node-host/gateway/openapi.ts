/**
 * OpenAPI 3.0.3 of a module, generated from its description as the reference does
 * (one path per function, `/{deployment}/modules/{module}/{function}`), so WasmIoT
 * clients and our own `POST /deploy` can read it back.
 */
import type { FunctionDescription, ModuleRecord } from '../../shared/registry/schema.ts';

type Obj = Record<string, unknown>;

function schemaOf(type: FunctionDescription['params'][number]['type']): Obj {
  if (type === 'integer') return { type: 'integer', format: 'int64' };
  if (type === 'number') return { type: 'number' };
  if (type === 'string') return { type: 'string' };
  if (type === 'bytes') return { type: 'string', format: 'binary' };
  return {};
}

const ERROR_RESPONSE = { $ref: '#/components/responses/Error' };

function operation(module: string, fn: string, f: FunctionDescription): Obj {
  const params = f.params.filter((p) => p.type !== 'bytes' && p.type !== 'none');
  const op: Obj = {
    operationId: `${module}.${fn}`,
    summary: `Call ${fn} of ${module}`,
    parameters: [
      { name: 'deployment', in: 'path', required: true, description: 'Deployment id', schema: { type: 'string' } },
      ...params.map((p) => ({ name: p.name, in: 'query', required: true, schema: schemaOf(p.type) })),
    ],
  };
  const inputs = f.mounts.filter((m) => m.stage === 'execution');
  const bytes = f.params.find((p) => p.type === 'bytes');
  if (inputs.length > 0 || bytes || f.pointer) {
    const names = inputs.map((m) => m.name);
    if (bytes && !names.includes(bytes.name)) names.push(bytes.name);
    if (f.pointer && names.length === 0) names.push('data');
    op.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: { type: 'object', properties: Object.fromEntries(names.map((n) => [n, { type: 'string', format: 'binary' }])), required: names },
          encoding: Object.fromEntries(inputs.filter((m) => m.mediaType).map((m) => [m.name, { contentType: m.mediaType }])),
        },
      },
    };
  }
  const output = f.mounts.find((m) => m.stage === 'output');
  const content: Obj = {};
  if (f.result.type === 'integer' || f.result.type === 'number' || f.result.type === 'string') content['application/json'] = { schema: schemaOf(f.result.type) };
  const fileType = output?.mediaType ?? (f.result.type === 'bytes' || f.pointer ? f.result.mediaType ?? 'application/octet-stream' : undefined);
  if (fileType) content[fileType] = { schema: { type: 'string', format: 'binary' } };
  if (Object.keys(content).length === 0) content['application/json'] = { schema: { nullable: true } };
  op.responses = {
    200: { description: output ? `The result; the output file ${output.name} comes back as a URL` : 'The result', content },
    400: ERROR_RESPONSE,
    404: ERROR_RESPONSE,
    502: ERROR_RESPONSE,
  };
  return op;
}

/** The OpenAPI document of a published module; `server` is the gateway's URL. */
export function moduleOpenApi(module: ModuleRecord, server: string): Obj {
  const paths: Obj = {};
  for (const [fn, f] of Object.entries(module.functions)) {
    paths[`/{deployment}/modules/${module.name}/${fn}`] = { [f.method.toLowerCase()]: operation(module.name, fn, f) };
  }
  return {
    openapi: '3.0.3',
    info: { title: module.name, version: module.version, description: `Functions of the WebAssembly module ${module.name} (sha256 ${module.id})` },
    servers: [{ url: server }],
    tags: [{ name: 'WebAssembly', description: 'Executing WebAssembly functions' }],
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['errorText', 'error', 'code'],
          properties: { errorText: { type: 'string' }, error: { type: 'string' }, code: { type: 'string' } },
        },
      },
      responses: {
        Error: { description: 'A named error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  };
}

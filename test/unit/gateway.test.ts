/**
 * The HTTP gateway over real HTTP on 127.0.0.1: two in-memory-linked Node peers with
 * worker sandboxes, seed 001's walk-throughs as curl-equivalent requests, the
 * supervisor routes, the older `POST /deploy` form against a local file server,
 * camera → grayscale with an output file, bad requests, and the OpenAPI / WoT documents.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { createLogger } from '../../shared/log.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { waitFor } from '../acceptance/wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
const moduleFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
type Json = any;

describe('HTTP gateway', () => {
  const log = collectLogs();
  let a: SupervisedPeer;
  let b: SupervisedPeer;
  let gateway: Gateway;
  let files: Server;
  let filesUrl = '';
  const served = new Map<string, Uint8Array>();
  let url = '';

  const json = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> => {
    const res = await fetch(url + path, init);
    const text = await res.text();
    let body: Json;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  };
  const post = (path: string, body: unknown): Promise<{ status: number; body: Json }> =>
    json(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const form = (fields: Record<string, string>, parts: Record<string, [Uint8Array, string, string]> = {}): FormData => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    for (const [k, [bytes, type, name]] of Object.entries(parts)) f.append(k, new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), name);
    return f;
  };
  /** Create and describe a module the way the reference GUI does. */
  const createModule = async (name: string, wasm: Uint8Array, describe: Record<string, string>): Promise<string> => {
    const created = await json('/file/module', { method: 'POST', body: form({ name }, { module: [wasm, 'application/wasm', `${name}.wasm`] }) });
    expect(created.status).toBe(201);
    const described = await json(`/file/module/${created.body.id}/upload`, { method: 'POST', body: form(describe) });
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    return created.body.id as string;
  };
  const deployManifest = async (manifest: unknown): Promise<string> => {
    const res = await fetch(`${url}/file/manifest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(manifest) });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toContain('application/json');
    const id = (await res.json()) as string;
    const deployed = await json(`/file/manifest/${id}`, { method: 'POST' });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
    expect(Object.keys(deployed.body.deviceResponses).length).toBeGreaterThan(0);
    return id;
  };

  beforeAll(async () => {
    const network = new MemoryNetwork();
    const start = (name: string): Promise<SupervisedPeer> =>
      startNodePeer({ name, transports: [network.createTransport()], timing: FAST, policy: OFFER_EVERYTHING, logger: createLogger(`peer:${name}`, log.sink) });
    a = await start('gw-a');
    b = await start('gw-b');
    await waitFor(() => [a, b].every((p) => p.peer.alive().length === 1 && p.peer.registry.devices.size === 2), 'both peers see each other');
    files = createServer((req, res) => {
      const bytes = served.get(req.url ?? '');
      if (!bytes) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-length': bytes.byteLength }).end(bytes);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    // The file server is another local service: POST /deploy may fetch from it only when allowed.
    gateway = await startGateway({ peer: a, port: 0, limits: { jsonBytes: 64 * 1024 }, allowFetchFrom: [new URL(filesUrl).host] });
    url = gateway.url;
  });

  afterAll(async () => {
    await gateway?.close();
    await new Promise((resolve) => files?.close(resolve));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  let fiboDep = '';
  let fiboId = '';

  it("runs seed 001's orchestrator walk-through: create, upload, describe, manifest, deploy, execute 12 → 233", async () => {
    const devices = await json('/file/device');
    expect(devices.status).toBe(200);
    expect(devices.body.map((d: Json) => d.name).sort()).toEqual(['gw-a', 'gw-b']);
    for (const d of devices.body) {
      expect(d).toMatchObject({ alive: true, engine: 'node', status: 'active' });
      expect(d._id).toMatch(/^[0-9a-f]{32}$/);
      expect(d.description.platform.memory.bytes).toBeGreaterThan(0);
      expect(d.description.supervisorInterfaces).toContain('takeImageStaticSize');
      expect(d.health).toHaveProperty('cpuUsage');
    }
    // Devices join the mesh themselves: a manual registration is checked, then refused with how to join.
    const register = await post('/file/device/discovery/register', { name: 'pi', addresses: ['10.0.0.2'], port: 5000 });
    expect([register.status, register.body.code]).toEqual([409, 'ERR_JOIN_THROUGH_MESH']);
    expect(register.body.error).toContain('liquidmesh peer --pwa');
    expect((await post('/file/device/discovery/register', { name: 'pi', port: 0 })).body.code).toBe('ERR_INVALID_PARAMS');
    expect((await json('/file/device')).body.map((d: Json) => d.name)).not.toContain('pi');

    const created = await json('/file/module', { method: 'POST', body: form({ name: 'fibonacci' }, { module: [await moduleFile('fibo/fibo.wasm'), 'application/wasm', 'fibo.wasm'] }) });
    expect(created.status).toBe(201);
    fiboId = created.body.id;
    const listed = await json('/file/module');
    expect(listed.body.map((m: Json) => m.name)).toContain('fibonacci');
    const described = await json(`/file/module/${fiboId}/upload`, { method: 'POST', body: form({ 'fibo[method]': 'GET', 'fibo[param0]': 'integer', 'fibo[output]': 'integer' }) });
    expect(described.status).toBe(200);
    expect(described.body.description.paths).toHaveProperty(['/{deployment}/modules/fibonacci/fibo']);
    const one = await json('/file/module/fibonacci');
    expect(one.body).toHaveLength(1);
    expect(one.body[0].functions.fibo.params).toEqual([{ name: 'param0', type: 'integer' }]);
    const wasm = await fetch(`${url}/file/module/${fiboId}/wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(new Uint8Array(await wasm.arrayBuffer())).toEqual(await moduleFile('fibo/fibo.wasm'));

    fiboDep = await deployManifest({ name: 'fibo-dep', sequence: [{ device: null, module: fiboId, func: 'fibo' }] });
    const shown = await json(`/file/manifest/${fiboDep}`);
    expect(shown.body).toMatchObject({ _id: fiboDep, name: 'fibo-dep', status: 'ready', revision: 1, active: true });
    expect(shown.body.steps[0]).toMatchObject({ module: 'fibonacci', func: 'fibo', phase: 'ready' });
    expect(['gw-a', 'gw-b']).toContain(shown.body.steps[0].deviceName);

    const executed = await post(`/execute/${fiboDep}`, { param0: 12 });
    expect(executed.status).toBe(200);
    expect(executed.body).toMatchObject({ result: 233, isInFailover: false });
    expect(executed.body.fetched_from_device).toBe(shown.body.steps[0].deviceName);
    expect(executed.body.steps[0]).toMatchObject({ module: 'fibonacci', func: 'fibo', value: 233 });
    const urlencoded = await json(`/execute/${fiboDep}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'param0=5' });
    expect(urlencoded.body.result).toBe(8);
  });

  it('calls a function through the supervisor route wherever it runs; its resultUrl resolves', async () => {
    for (const query of ['param0=12', 'iterations=12']) {
      const called = await json(`/${fiboDep}/modules/fibonacci/fibo?${query}`);
      expect(called.status).toBe(200);
      expect(called.body.result).toBe(233);
      const history = await fetch(called.body.resultUrl);
      expect(history.status).toBe(200);
      const entry = (await history.json()) as Json;
      expect(entry).toMatchObject({ result: 233, success: true, module_name: 'fibonacci', function_name: 'fibo', deployment_id: fiboDep });
    }
    const all = await json('/request-history?device=all');
    expect(all.body.filter((e: Json) => e.deployment_id === fiboDep).length).toBeGreaterThanOrEqual(4);
  });

  it("deploys seed 001's older POST /deploy form from URLs and answers ?iterations=7 with 21", async () => {
    served.set('/wasm-binaries/wasm32-unknown-unknown/fibo.wasm', await moduleFile('fibo/fibo.wasm'));
    served.set('/fibo/open-api-description.json', new TextEncoder().encode(JSON.stringify({
      openapi: '3.0.0',
      info: { title: 'fibo', version: '0.0.1' },
      paths: { '/{deployment}/modules/{module}/fibo': { get: { parameters: [{ name: 'iterations', in: 'query', required: true, schema: { type: 'integer', format: 'int64' } }], responses: { 200: { content: { 'application/json': { schema: { type: 'integer', format: 'int64' } } } } } } } },
    })));
    const node = {
      deploymentId: '0',
      modules: [{ id: '0', name: 'fiboMod', urls: { binary: `${filesUrl}/wasm-binaries/wasm32-unknown-unknown/fibo.wasm`, description: `${filesUrl}/fibo/open-api-description.json`, other: [] } }],
      instructions: { modules: { fiboMod: { fibo: { paths: { '': { get: {
        parameters: [{ name: 'iterations', in: 'query', required: true, schema: { type: 'integer', format: 'int64' } }],
        responses: { 200: { content: { 'application/json': { schema: { type: 'integer', format: 'int64' } } } } },
      } } }, to: null } } } },
    };
    const deployed = await post('/deploy', node);
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
    expect(deployed.body.status).toBe('success');
    expect((await json('/0/modules/fiboMod/fibo?iterations=7')).body.result).toBe(21);
    expect((await json('/0/modules/fiboMod/fibo?iterations=5')).body.result).toBe(8);
    expect(a.supervisor.deployed().map((d) => `${d.deploymentId}/${d.name}`)).toContain('0/fiboMod');
    // The same binary under two names is two modules.
    const names = (await json('/file/module')).body.map((m: Json) => m.name);
    expect(names).toEqual(expect.arrayContaining(['fibonacci', 'fiboMod']));

    const badUrl = await post('/deploy', { ...node, deploymentId: '9', modules: [{ ...node.modules[0], urls: { binary: 'not a url', other: [] } }] });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.code).toBe('ERR_BAD_URL');
    const missing = await post('/deploy', { ...node, deploymentId: '9', modules: [{ ...node.modules[0], urls: { binary: `${filesUrl}/nothing.wasm`, other: [] } }] });
    expect(missing.status).toBe(502);
    expect(missing.body).toMatchObject({ code: 'ERR_FETCH_FAILED', errorText: 'Deployment failed' });
    // What answered upstream (here a 404) is not told.
    expect(missing.body.error).toBe(`could not fetch ${filesUrl}/nothing.wasm`);
    expect((await json('/deploy/0', { method: 'DELETE' })).body.status).toBe('success');
  });

  it('chains camera → grayscale and returns the output file as a URL', async () => {
    const camera = await createModule('camera', await moduleFile('camera/camera.wasm'), {
      'take_image_predefined_path[method]': 'GET', 'take_image_predefined_path[output]': 'image/jpeg',
      'take_image_predefined_path[mounts][0][name]': 'image.jpeg', 'take_image_predefined_path[mounts][0][stage]': 'output',
    });
    const gray = await createModule('grayscale', await moduleFile('grayscale-c/grayscale.wasm'), {
      'grayscale_jpeg[method]': 'POST', 'grayscale_jpeg[output]': 'image/png',
      'grayscale_jpeg[mounts][0][name]': 'image.jpeg', 'grayscale_jpeg[mounts][0][stage]': 'execution',
      'grayscale_jpeg[mounts][1][name]': 'gray.png', 'grayscale_jpeg[mounts][1][stage]': 'output',
    });
    const dep = await deployManifest({ name: 'photo-gray', sequence: [{ device: null, module: camera, func: 'take_image_predefined_path' }, { device: null, module: gray, func: 'grayscale_jpeg' }] });
    const executed = await json(`/execute/${dep}`, { method: 'POST' });
    expect(executed.status, JSON.stringify(executed.body)).toBe(200);
    expect(executed.body.steps.map((s: Json) => s.module)).toEqual(['camera', 'grayscale']);
    expect(executed.body.result).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/[0-9a-f]{64}\/gray\.png$/);
    const png = await fetch(executed.body.result);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect([...new Uint8Array(await png.arrayBuffer()).slice(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const photo = await fetch(executed.body.steps[0].result);
    expect(photo.headers.get('content-type')).toBe('image/jpeg');
    // An execution-stage file sent as a multipart part, to the supervisor route.
    const jpeg = new Uint8Array(await photo.arrayBuffer());
    const direct = await json(`/${dep}/modules/grayscale/grayscale_jpeg`, { method: 'POST', body: form({}, { 'image.jpeg': [jpeg, 'image/jpeg', 'image.jpeg'] }) });
    expect(direct.status, JSON.stringify(direct.body)).toBe(200);
    expect(direct.body.files.map((f: Json) => [f.name, f.mediaType])).toEqual([['gray.png', 'image/png']]);
    expect((await fetch(direct.body.result)).status).toBe(200);
    const entry = (await (await fetch(direct.body.resultUrl)).json()) as Json;
    expect(entry).toMatchObject({ success: true, request_files: ['image.jpeg'], result: direct.body.result });
    const without = await json(`/${dep}/modules/grayscale/grayscale_jpeg`, { method: 'POST' });
    expect([without.status, without.body.code]).toEqual([400, 'ERR_INVALID_PARAMS']);
  });

  it('answers bad requests with the reference error shape and a stable code', async () => {
    const shape = (body: Json, code: string): void => {
      expect(typeof body.errorText).toBe('string');
      expect(typeof body.error).toBe('string');
      expect(body.code).toBe(code);
    };
    const cases: [Promise<{ status: number; body: Json }>, number, string][] = [
      [json('/file/module/nope'), 404, 'ERR_UNKNOWN_MODULE'],
      [json('/file/manifest/nope'), 404, 'ERR_UNKNOWN_DEPLOYMENT'],
      [json('/file/manifest/nope', { method: 'POST' }), 404, 'ERR_UNKNOWN_DEPLOYMENT'],
      [post('/execute/nope', {}), 404, 'ERR_UNKNOWN_DEPLOYMENT'],
      [json(`/file/module/${fiboId}/model`), 404, 'ERR_UNKNOWN_FILE'],
      [json('/request-history/999999'), 404, 'ERR_UNKNOWN_REQUEST'],
      [json('/nope/modules/fibonacci/fibo?param0=1'), 404, 'ERR_UNKNOWN_DEPLOYMENT'],
      [json(`/${fiboDep}/modules/fibonacci/fibo?param0=abc`), 400, 'ERR_INVALID_PARAMS'],
      [post('/file/manifest', { sequence: [{ module: 'fibonacci', func: 'fibo' }] }), 400, 'ERR_INVALID_MANIFEST'],
      [post('/file/manifest', { name: 'x', sequence: [{ module: 'nothing', func: 'fibo' }] }), 400, 'ERR_UNKNOWN_MODULE'],
      [json('/file/manifest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' }), 400, 'ERR_BAD_JSON'],
      [json('/file/module', { method: 'POST', body: form({}, { module: [new Uint8Array([0, 97, 115, 109]), 'application/wasm', 'x.wasm'] }) }), 400, 'ERR_INVALID_PARAMS'],
      [json('/file/module', { method: 'POST', body: form({ name: 'bad' }, { module: [new Uint8Array([1, 2, 3]), 'application/wasm', 'x.wasm'] }) }), 400, 'ERR_INVALID_WASM'],
      [json('/file/module', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\ngarbage' }), 400, 'ERR_BAD_MULTIPART'],
      [json('/file/module', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 400, 'ERR_BAD_MULTIPART'],
      [json(`/file/module/${fiboId}/upload`, { method: 'POST', body: form({ 'fibo[method]': 'GET', 'fibo[mounts][0][name]': 'model', 'fibo[mounts][0][stage]': 'deployment' }) }), 400, 'ERR_INVALID_PARAMS'],
      [json('/file/manifest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(100_000) }) }), 413, 'ERR_PAYLOAD_TOO_LARGE'],
      [json('/file/device', { method: 'PUT' }), 405, 'ERR_METHOD_NOT_ALLOWED'],
    ];
    for (const [request, status, code] of cases) {
      const { status: got, body } = await request;
      expect([got, body.code], JSON.stringify(body)).toEqual([status, code]);
      shape(body, code);
    }
    const named = await post('/file/manifest', { sequence: [{ module: 'fibonacci', func: 'fibo' }] });
    expect(named.body).toMatchObject({ errorText: 'Failed validating manifest' });
    expect(named.body.error).toContain('manifest must have a name');
    const unknown = await json('/no/such/route');
    expect(unknown.status).toBe(404);
    expect(unknown.body.err).toBe('Bad URL');
    // The gateway still answers after all of that.
    expect((await json('/health')).status).toBe(200);
  });

  it('shares deployments with the mesh both ways', async () => {
    expect(b.orchestrator.get(fiboDep).record.name).toBe('fibo-dep');
    const fromB = b.orchestrator.deploy({ name: 'from-b', sequence: [{ module: 'fibonacci', func: 'fibo', device: 'gw-b' }] });
    await waitFor(async () => (await json(`/file/manifest/${fromB.id}`)).body.status === 'ready', 'the deployment made on b is ready as seen over HTTP');
    const listed = await json('/file/manifest');
    expect(listed.body.map((d: Json) => d.name)).toEqual(expect.arrayContaining(['fibo-dep', 'from-b']));
    const called = await json(`/${fromB.id}/modules/fibonacci/fibo?param0=20`);
    expect(called.body).toMatchObject({ result: 10946, device: { name: 'gw-b' } });
    const remote = await json(`/request-history?device=gw-b&deployment=${fromB.id}`);
    expect(remote.body[0]).toMatchObject({ result: 10946, device: { name: 'gw-b' } });
    expect((await json(`/file/manifest/${fromB.id}`, { method: 'DELETE' })).status).toBe(200);
    await waitFor(() => b.peer.registry.deployments.get(fromB.id) === undefined, 'the deletion reaches b');
  });

  it('serves a valid OpenAPI 3.0.3 of a module and a WoT Thing Description of the device', async () => {
    const api = (await json(`/file/module/${fiboId}/description`)).body;
    expect(api.openapi).toBe('3.0.3');
    expect(api.info).toMatchObject({ title: 'fibonacci' });
    expect(typeof api.info.version).toBe('string');
    const op = api.paths['/{deployment}/modules/fibonacci/fibo'].get;
    for (const p of op.parameters) {
      expect(['path', 'query']).toContain(p.in);
      if (p.in === 'path') expect(p.required).toBe(true);
    }
    expect(op.parameters.map((p: Json) => p.name)).toEqual(['deployment', 'param0']);
    for (const response of Object.values(op.responses) as Json[]) expect(response.description ?? response.$ref).toBeTruthy();

    await post('/deploy', {
      deploymentId: 'td', modules: [{ id: 'td', name: 'fiboTd', urls: { binary: `${filesUrl}/wasm-binaries/wasm32-unknown-unknown/fibo.wasm`, other: [] } }],
      instructions: { modules: { fiboTd: { fibo: { to: null } } } },
    });
    const td = await fetch(`${url}/.well-known/wot-thing-description`);
    expect(td.headers.get('content-type')).toContain('application/td+json');
    const thing = (await td.json()) as Json;
    expect(thing['@context']).toContain('https://www.w3.org/2022/wot/td/v1.1');
    expect(thing.title).toBe('gw-a');
    expect(thing.id).toMatch(/^urn:/);
    expect(thing.securityDefinitions.nosec_sc.scheme).toBe('nosec');
    expect(thing.security).toEqual(['nosec_sc']);
    const action = thing.actions['td/fiboTd/fibo'];
    expect(action.forms[0]).toMatchObject({ op: 'invokeaction', 'htv:methodName': 'GET' });
    expect(action.forms[0].href).toContain('/td/modules/fiboTd/fibo');
    expect(action.uriVariables.param0.type).toBe('integer');
    expect(thing.properties.health.forms[0].href).toContain('/health');
    const href = String(action.forms[0].href).replace(/\{\?.*\}$/, '?param0=12');
    expect(((await (await fetch(href)).json()) as Json).result).toBe(233);
    const described = (await json('/.well-known/wasmiot-device-description')).body;
    expect(described.platform.cpu.clockSpeed).toHaveProperty('Hz');
    expect(described.supervisorInterfaces).toEqual(expect.arrayContaining(['takeImageStaticSize', 'takeImageDynamicSize']));
    expect(described.capabilities).toContain('camera.takeImageStaticSize');
    expect((await json('/health')).body).toEqual(expect.objectContaining({ cpuUsage: expect.any(Number), memoryUsage: expect.any(Number) }));
  });
});

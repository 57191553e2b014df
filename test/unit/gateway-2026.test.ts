/**
 * The gateway's WasmIoT 2026 routes over real HTTP on 127.0.0.1, with the reference's
 * request and response shapes: a real Rust module end to end, devices by name, deleting
 * and rediscovering devices, the blacklist moving steps away, manifest update and
 * failover, device logs (HTTP and WebSocket), export to a fresh mesh and import there,
 * the Rust supervisor's `/deploy` list and `/module_results`, and the health report.
 * Three Node peers with worker sandboxes on the in-memory network.
 */
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
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

/** A client of one gateway. */
function client(base: () => string) {
  const json = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: Json; type: string }> => {
    const res = await fetch(base() + path, init);
    const text = await res.text();
    let body: Json;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = { text };
    }
    return { status: res.status, body, type: res.headers.get('content-type') ?? '' };
  };
  const send = (method: string, path: string, body?: unknown) =>
    json(path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { json, send };
}

const form = (fields: Record<string, string>, parts: Record<string, [Uint8Array, string, string]> = {}): FormData => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  for (const [k, [bytes, type, name]] of Object.entries(parts)) f.append(k, new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), name);
  return f;
};

describe('HTTP gateway: WasmIoT 2026', () => {
  const log = collectLogs();
  const peers: SupervisedPeer[] = [];
  const gateways: Gateway[] = [];
  let a: SupervisedPeer;
  let b: SupervisedPeer;
  let c: SupervisedPeer;
  let url = '';
  const { json, send } = client(() => url);

  const start = async (network: MemoryNetwork, name: string): Promise<SupervisedPeer> => {
    const p = await startNodePeer({ name, transports: [network.createTransport()], timing: FAST, policy: OFFER_EVERYTHING, logger: createLogger(`peer:${name}`, log.sink) });
    peers.push(p);
    return p;
  };
  /** Create and describe a module the way the reference GUI does; its id. */
  const createModule = async (name: string, file: string, describe: Record<string, string>): Promise<string> => {
    const created = await json('/file/module', { method: 'POST', body: form({ name }, { module: [await moduleFile(file), 'application/wasm', file.split('/').pop()!] }) });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const described = await json(`/file/module/${created.body.id}/upload`, { method: 'POST', body: form(describe) });
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    return created.body.id as string;
  };
  /** POST /file/manifest (201, the id as a JSON string), then deploy it. */
  const deploy = async (manifest: unknown): Promise<string> => {
    const created = await send('POST', '/file/manifest', manifest);
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/json');
    expect(typeof created.body).toBe('string');
    const deployed = await send('POST', `/file/manifest/${created.body}`);
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
    return created.body as string;
  };

  beforeAll(async () => {
    const network = new MemoryNetwork();
    a = await start(network, 'gw26-a');
    b = await start(network, 'gw26-b');
    c = await start(network, 'gw26-c');
    await waitFor(() => [a, b, c].every((p) => p.peer.alive().length === 2 && p.peer.registry.devices.size === 3), 'the peers see each other');
    const gateway = await startGateway({ peer: a, port: 0 });
    gateways.push(gateway);
    url = gateway.url;
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all(peers.map((p) => p.stop()));
  });

  let fiboId = '';
  let fiboDep = '';

  it('runs a real Rust command module: create (originalFilename kept), describe, manifest with device "any", fullManifest before deploying, execute', async () => {
    fiboId = await createModule('rust-fibo', 'rust-fibo/rust-fibo.wasm', { 'fibo[method]': 'GET', 'fibo[param0]': 'integer', 'fibo[output]': 'integer' });
    const [listed] = (await json(`/file/module/${fiboId}`)).body;
    expect(listed.wasm).toMatchObject({ originalFilename: 'rust-fibo.wasm' });
    expect(listed.exports.map((e: Json) => e.name)).not.toContain('_start');

    const created = await send('POST', '/file/manifest', { name: 'rust-fibo-dep', sequence: [{ device: 'any', module: fiboId, func: 'fibo' }] });
    expect(created.status).toBe(201);
    fiboDep = created.body;
    const pending = (await json(`/file/manifest/${fiboDep}`)).body;
    expect(pending.status).toBe('pending');
    // Filled at creation: the Rust GUI's sequence form and the Node one's, keyed by device id.
    expect(pending.fullManifest.sequence[0].endpoint.request.parameters).toEqual([{ name: 'param0', in: 'query', required: true, schema: { type: 'integer' } }]);
    const planned = pending.fullManifest.sequence[0].device as string;
    expect([a, b, c].map((p) => p.peer.id)).toContain(planned);
    expect(pending.fullManifest[planned]).toMatchObject({ deploymentId: fiboDep, modules: [{ id: fiboId, name: 'rust-fibo' }] });
    // The Node GUI reads the first key as the first step's device.
    expect(Object.keys(pending.fullManifest)[0]).toBe(planned);

    expect((await send('POST', `/file/manifest/${fiboDep}`)).status).toBe(200);
    const executed = await send('POST', `/execute/${fiboDep}`, { param0: 12 });
    expect(executed.body).toMatchObject({ result: 233, isInFailover: false });
    for (const init of [{}, { method: 'POST' }]) {
      const called = await json(`/${fiboDep}/modules/rust-fibo/fibo?param0=20`, init);
      expect(called.body).toMatchObject({ result: 10946, resultUrl: expect.stringContaining('/request-history/') });
    }
  });

  it('lists devices with the 2026 health report, both clock speed fields and what each grants (network.ping among them)', async () => {
    const devices = (await json('/file/device')).body as Json[];
    expect(devices.map((d) => d.name).sort()).toEqual(['gw26-a', 'gw26-b', 'gw26-c']);
    for (const d of devices) {
      expect(d.health).toMatchObject({ report: { cpuUsage: expect.any(Number), memoryUsage: expect.any(Number), storageUsage: expect.any(Number), uptime: expect.any(Number), networkUsage: expect.any(Object) } });
      expect(Date.parse(d.health.timeOfQuery)).not.toBeNaN();
      expect(d.description.platform.cpu.clockSpeedHz).toBe(d.description.platform.cpu.clockSpeed.Hz);
      expect(d.description.supervisorInterfaces).toEqual(expect.arrayContaining(['ping', 'takeImageStaticSize', 'takeImageDynamicSize']));
      expect(d.blacklisted).toBe(false);
    }
    const self = devices.find((d) => d.name === 'gw26-a');
    expect(self.health.report.storageUsage).toBeGreaterThan(0);
    expect(Object.keys(self.health.report.networkUsage)).toContain('lo');
    const health = (await json('/health')).body;
    expect(health).toMatchObject({ cpuUsage: expect.any(Number), memoryUsage: expect.any(Number), storageUsage: expect.any(Number), uptime: expect.any(Number) });
    expect((await json('/.well-known/wasmiot-device-description')).body.supervisorInterfaces).toContain('ping');
  });

  it('answers one device by name or id, 404 for none', async () => {
    const one = await json('/file/device/gw26-b');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ _id: b.peer.id, name: 'gw26-b', status: 'active' });
    expect((await json(`/file/device/${c.peer.id}`)).body.name).toBe('gw26-c');
    // Like the list, it shows the steps the device runs.
    const host = a.peer.registry.deployments.get(fiboDep)!.record.solution['0']!;
    expect((await json(`/file/device/${host}`)).body.modules).toEqual([{ deploymentId: fiboDep, deploymentName: 'rust-fibo-dep', module: 'rust-fibo', func: 'fibo', step: 0 }]);
    const none = await json('/file/device/nobody');
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('ERR_UNKNOWN_DEVICE');
  });

  it('deletes device records, one by name and all, and a discovery reset brings back those that are there', async () => {
    const one = await send('DELETE', '/file/device/gw26-c');
    expect(one.body).toEqual({ deletedCount: 1 });
    expect((await json('/file/device')).body.map((d: Json) => d.name).sort()).toEqual(['gw26-a', 'gw26-b']);
    // A peer of the mesh is registered again by its name; one that is not in the mesh is refused.
    expect((await send('POST', '/file/device/discovery/register', { name: 'gw26-c', port: 5000 })).status).toBe(204);
    expect((await json('/file/device')).body.map((d: Json) => d.name).sort()).toEqual(['gw26-a', 'gw26-b', 'gw26-c']);
    expect((await send('DELETE', '/file/device/gw26-c')).body).toEqual({ deletedCount: 1 });
    expect((await send('POST', '/file/device/discovery/reset')).status).toBe(200);
    expect((await json('/file/device')).body.map((d: Json) => d.name).sort()).toEqual(['gw26-a', 'gw26-b', 'gw26-c']);
    const all = await send('DELETE', '/file/device');
    expect(all.body).toEqual({ deletedCount: 3 });
    expect((await json('/file/device')).body).toEqual([]);
    const reset = await send('POST', '/file/device/discovery/reset');
    expect(reset.body).toMatchObject({ devices: 3 });
    await waitFor(() => [a, b, c].every((p) => p.peer.registry.devices.size === 3), 'every peer knows every device again');
    expect((await send('POST', '/file/device/discovery/register', { name: 'pi', addresses: ['10.0.0.2'], port: 5000 })).status).toBe(409);
  });

  it('blacklists a device: its steps move, it gets no new placements; unblacklisting lets it host again', async () => {
    const host = a.peer.registry.deployments.get(fiboDep)!.record.solution['0']!;
    const hostName = [a, b, c].find((p) => p.peer.id === host)!.peer.registry.devices.get(host)!.name;
    const listed = await send('POST', `/file/device/${host}/blacklist`);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ _id: host, blacklisted: true });
    await waitFor(() => {
      const r = a.peer.registry.deployments.get(fiboDep)?.record;
      return r?.status === 'ready' && r.solution['0'] !== host;
    }, 'the step moves off the blacklisted device', 20_000);
    expect((await send('POST', `/execute/${fiboDep}`, { param0: 5 })).body.result).toBe(8);
    for (let i = 0; i < 3; i++) {
      const id = await deploy({ name: `spread-${i}`, sequence: [{ device: null, module: fiboId, func: 'fibo' }] });
      expect(a.peer.registry.deployments.get(id)!.record.solution['0']).not.toBe(host);
    }
    const pinned = await send('POST', '/file/manifest', { name: 'pinned', sequence: [{ device: hostName, module: fiboId, func: 'fibo' }] });
    const refused = await send('POST', `/file/manifest/${pinned.body}`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('ERR_NO_PLACEMENT');
    expect((await send('POST', `/file/device/${host}/unblacklist`)).body.blacklisted).toBe(false);
    expect((await send('POST', `/file/manifest/${pinned.body}`)).status).toBe(200);
    expect(a.peer.registry.deployments.get(pinned.body)!.record.solution['0']).toBe(host);
  });

  it('updates a manifest with PUT and fails over with PUT /file/manifest/failover/:id', async () => {
    const id = await deploy({ name: 'updatable', sequence: [{ device: 'gw26-b', module: fiboId, func: 'fibo' }] });
    const updated = await send('PUT', `/file/manifest/${id}`, { name: 'updatable', sequence: [{ device: 'gw26-c', module: fiboId, func: 'fibo' }] });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(Object.values(updated.body.deviceResponses as Record<string, Json>).map((r) => r.name)).toEqual(['gw26-c']);
    const failover = await send('PUT', `/file/manifest/failover/${id}`);
    expect(failover.status, JSON.stringify(failover.body)).toBe(200);
    expect(failover.body.deployment).toMatchObject({ _id: id, status: 'ready' });
    expect((await send('PUT', '/file/manifest/failover/nothing')).status).toBe(404);
  });

  it('keeps device logs: POST logData as a form field, GET ?after=, and pushes each over /ws/logs', async () => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws/logs`);
    const pushed: Json[] = [];
    socket.on('message', (data) => pushed.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    try {
      const before = new Date(Date.now() - 1).toISOString();
      const record = { deviceName: 'gw26-b', loglevel: 'INFO', message: 'deployed fibo', funcName: 'deploy' };
      const posted = await json('/device/logs', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logData: JSON.stringify(record) }).toString() });
      expect(posted.status).toBe(200);
      const multipart = await json('/device/logs', { method: 'POST', body: form({ logData: JSON.stringify({ ...record, message: 'second' }) }) });
      expect(multipart.status).toBe(200);
      const listed = (await json(`/device/logs?after=${encodeURIComponent(before)}`)).body as Json[];
      expect(listed.map((r) => r.message)).toEqual(['deployed fibo', 'second']);
      expect(listed[0]).toMatchObject({ ...record, dateReceived: expect.any(String) });
      expect((await json(`/device/logs?after=${encodeURIComponent(listed[1].dateReceived)}`)).body).toEqual([]);
      await waitFor(() => pushed.length === 2, 'both records pushed over the socket');
      expect(pushed.map((r) => r.message)).toEqual(['deployed fibo', 'second']);
      const bad = await json('/device/logs', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logData=%7Bnot%20json' });
      expect([bad.status, bad.body.code]).toEqual([400, 'ERR_BAD_JSON']);
      expect((await json('/device/logs?after=yesterday')).status).toBe(400);
    } finally {
      socket.close();
    }
    // A page of another origin may not read the logs.
    const foreign = new WebSocket(`${url.replace('http', 'ws')}/ws/logs`, { origin: 'http://evil.example' });
    const refused = await new Promise<boolean>((resolve) => {
      foreign.once('open', () => resolve(false));
      foreign.once('error', () => resolve(true));
    });
    foreign.terminate();
    expect(refused).toBe(true);
  });

  it('lists the deployments this device runs (GET /deploy), serves /module_results and removes one with DELETE /deploy/:id', async () => {
    const camera = await createModule('rust-camera', 'rust-camera/rust-camera.wasm', {
      'take_image_dynamic[method]': 'GET', 'take_image_dynamic[output]': 'image/jpeg',
      'take_image_dynamic[mounts][0][name]': 'image.jpeg', 'take_image_dynamic[mounts][0][stage]': 'output',
    });
    const dep = await deploy({ name: 'cam', sequence: [{ device: 'gw26-a', module: camera, func: 'take_image_dynamic' }] });
    const listed = (await json('/deploy')).body as Json[];
    const node = listed.find((n) => n.deploymentId === dep);
    expect(node).toMatchObject({ deploymentId: dep, modules: [{ id: camera, name: 'rust-camera', urls: { binary: expect.stringContaining(`/file/module/${camera}/wasm`) } }] });
    expect(node.endpoints['rust-camera'].take_image_dynamic).toMatchObject({ method: 'get', path: `/${dep}/modules/rust-camera/take_image_dynamic` });
    expect(node.mounts['rust-camera'].take_image_dynamic.output).toEqual([{ path: 'image.jpeg', media_type: 'image/jpeg', stage: 'output' }]);

    const called = await json(`/${dep}/modules/rust-camera/take_image_dynamic`);
    expect(called.status).toBe(200);
    expect(called.body.result).toContain('/files/');
    const result = await fetch(`${url}/module_results/${dep}/rust-camera/image.jpeg`);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('image/jpeg');
    const bytes = new Uint8Array(await result.arrayBuffer());
    expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
    expect((await json(`/module_results/${dep}/rust-camera/other.jpeg`)).status).toBe(404);

    expect((await send('DELETE', `/deploy/${dep}`)).body).toMatchObject({ status: 'success' });
    await waitFor(async () => !((await json('/deploy')).body as Json[]).some((n) => n.deploymentId === dep), 'the deployment leaves the list');
  });

  it('exports registry and blobs, and a fresh mesh imports them and runs the deployments again', async () => {
    const exported = await json('/export');
    expect(exported.status).toBe(200);
    const archive = exported.body;
    expect(archive).toMatchObject({ format: 'liquidmesh-export', version: 1 });
    expect(Object.keys(archive.blobs)).toContain(fiboId);
    expect(archive.deployments.map((d: Json) => d.id)).toContain(fiboDep);

    const network = new MemoryNetwork();
    const fresh = await start(network, 'fresh-1');
    const gateway = await startGateway({ peer: fresh, port: 0 });
    gateways.push(gateway);
    const other = client(() => gateway.url);
    const tampered = structuredClone(archive);
    tampered.blobs[fiboId] = Buffer.from('not the module').toString('base64');
    const refused = await other.send('POST', '/import', tampered);
    expect(refused.status).toBe(400);
    expect((await other.json('/file/module')).body).toEqual([]);

    const imported = await other.send('POST', '/import', archive);
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body.modules).toBe(archive.modules.length);
    expect(imported.body.redeployed).toContain(fiboDep);
    const modules = (await other.json('/file/module')).body as Json[];
    expect(modules.find((m) => m._id === fiboId)?.wasm.originalFilename).toBe('rust-fibo.wasm');
    await waitFor(async () => (await other.json(`/file/manifest/${fiboDep}`)).body.status === 'ready', 'the imported deployment runs on the fresh mesh', 20_000);
    expect((await other.send('POST', `/execute/${fiboDep}`, { param0: 12 })).body.result).toBe(233);
    const again = await other.send('POST', '/import', archive);
    expect(again.body.skipped.length).toBeGreaterThan(0);
    expect((await other.send('POST', '/import', { format: 'something-else' })).status).toBe(400);
  });
});

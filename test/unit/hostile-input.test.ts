/**
 * Hostile input against a running gateway (real HTTP on 127.0.0.1, two Node peers with
 * worker sandboxes on the in-memory network): describing a module a deployment uses,
 * deployment ids that exist, modules declaring more than an instance or a peer may
 * hold, input nested 100,000 levels deep (over HTTP, over RPC, in manifests), malformed
 * and misbehaving modules, and path traversal in mount names. Every case asserts the
 * named error AND that the peer still serves afterwards: fibo(12) answers 233 and the
 * request history reads.
 *
 * Covered elsewhere, not repeated here: a binary over the sandbox's size limit
 * (ERR_MODULE_TOO_LARGE, test/acceptance/sandbox.ts "caps memory growth…"), a body over
 * the gateway's limit (ERR_PAYLOAD_TOO_LARGE, gateway.test.ts "answers bad requests…"),
 * malformed binaries at the parser (wasm-binary.test.ts), budgets, traps and stack
 * overflow in the sandbox of every engine (test/acceptance/sandbox.ts).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { place } from '../../shared/orchestrator/placement.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { RequestHistory } from '../../shared/supervisor/history.ts';
import type { HistoryEntry } from '../../shared/supervisor/history.ts';
import { utf8 } from '../../shared/bytes.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { malformed, memoryModule, recursion, tableBomb } from '../helpers/hostile-wasm.ts';
import { collectLogs } from '../helpers/mesh.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
const MiB = 1024 * 1024;
const moduleFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
type Json = any;

/** A value nested `depth` arrays deep, built without recursion. */
function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** The JSON text of an array nested `depth` deep, without building the value. */
const deepText = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

const ok = (type: 'integer' | 'none' = 'integer'): ModuleDescription['functions'][string] => ({ method: 'GET', params: [], result: { type }, mounts: [] });

describe('hostile input', () => {
  const log = collectLogs();
  let a: SupervisedPeer;
  let b: SupervisedPeer;
  let gateway: Gateway;
  let url = '';
  let files: Server;
  let filesUrl = '';
  let fiboDep = '';
  let fiboId = '';

  const json = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> => {
    const res = await fetch(url + path, init);
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as Json };
    } catch {
      return { status: res.status, body: { text } };
    }
  };
  const postText = (path: string, text: string, method = 'POST'): Promise<{ status: number; body: Json }> =>
    json(path, { method, headers: { 'content-type': 'application/json' }, body: text });
  const post = (path: string, body: unknown): Promise<{ status: number; body: Json }> => postText(path, JSON.stringify(body));
  const form = (fields: Record<string, string>, parts: Record<string, [Uint8Array, string, string]> = {}): FormData => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    for (const [k, [bytes, type, name]] of Object.entries(parts)) f.append(k, new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), name);
    return f;
  };
  const createModule = async (name: string, wasm: Uint8Array): Promise<{ status: number; body: Json }> =>
    json('/file/module', { method: 'POST', body: form({ name }, { module: [wasm, 'application/wasm', `${name}.wasm`] }) });
  const describeModule = (id: string, fields: Record<string, string>): Promise<{ status: number; body: Json }> =>
    json(`/file/module/${id}/upload`, { method: 'POST', body: form(fields) });
  const FIBO_FORM = { 'fibo[method]': 'GET', 'fibo[param0]': 'integer', 'fibo[output]': 'integer' };

  /** The peer serves: fibo(12) is 233 through the gateway, and the request history reads. */
  const stillServes = async (): Promise<void> => {
    const called = await json(`/${fiboDep}/modules/hfibo/fibo?param0=12`);
    expect(called.status, JSON.stringify(called.body)).toBe(200);
    expect(called.body.result).toBe(233);
    for (const path of ['/request-history', '/request-history?device=all']) {
      const history = await json(path);
      expect(history.status, JSON.stringify(history.body)).toBe(200);
      expect(history.body.length).toBeGreaterThan(0);
    }
  };

  /** Publish a module through the package manager of `a`, with its description. */
  const publish = (name: string, wasm: Uint8Array, functions: ModuleDescription['functions'], version = '1.0.0'): Promise<unknown> =>
    a.orchestrator.packages.publish({ wasm, description: { name, version, functions } });

  beforeAll(async () => {
    const network = new MemoryNetwork();
    const start = (name: string, memoryBudgetBytes?: number): Promise<SupervisedPeer> =>
      startNodePeer({
        name, transports: [network.createTransport()], timing: FAST, logger: createLogger(`peer:${name}`, log.sink),
        limits: { callTimeoutMs: 1500 }, ...(memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes }),
      });
    a = await start('hb-a');
    // A small device: 4 MiB for all its instances together.
    b = await start('hb-b', 4 * MiB);
    await waitFor(() => [a, b].every((p) => p.peer.alive().length === 1 && p.peer.registry.devices.size === 2), 'both peers see each other');
    const fibo = await moduleFile('fibo/fibo.wasm');
    files = createServer((req, res) => {
      if (req.url === '/fibo.wasm') res.writeHead(200, { 'content-length': fibo.byteLength }).end(fibo);
      else res.writeHead(404).end('not found');
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    gateway = await startGateway({ peer: a, port: 0, allowFetchFrom: [new URL(filesUrl).host] });
    url = gateway.url;
    // The WasmIoT flow: upload, describe, manifest, deploy.
    const created = await createModule('hfibo', await moduleFile('fibo/fibo.wasm'));
    expect(created.status).toBe(201);
    fiboId = created.body.id;
    expect((await describeModule(fiboId, FIBO_FORM)).status).toBe(200);
    const manifest = await post('/file/manifest', { name: 'hfibo-dep', sequence: [{ device: 'hb-a', module: fiboId, func: 'fibo' }] });
    expect(manifest.status).toBe(201);
    fiboDep = manifest.body;
    const deployed = await json(`/file/manifest/${fiboDep}`, { method: 'POST' });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200);
  });

  afterAll(async () => {
    await gateway?.close();
    await new Promise((resolve) => files?.close(resolve));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  describe('integrity', () => {
    it('refuses to describe anew a module a deployment uses (409 ERR_MODULE_IN_USE); the deployment keeps its description', async () => {
      // The same description again changes nothing, so a script that repeats it still works.
      expect((await describeModule(fiboId, FIBO_FORM)).status).toBe(200);
      const changed = await describeModule(fiboId, { 'fibo[method]': 'GET', 'fibo[iterations]': 'integer', 'fibo[output]': 'integer' });
      expect(changed.status).toBe(409);
      expect(changed.body).toMatchObject({ code: 'ERR_MODULE_IN_USE', data: { deployment: fiboDep } });
      const shown = await json(`/file/module/${fiboId}`);
      expect(shown.body[0].functions.fibo.params).toEqual([{ name: 'param0', type: 'integer' }]);
      await stillServes();
    });

    it('refuses a deployment whose id exists unless the request says it replaces it', async () => {
      const before = a.orchestrator.get(fiboDep).record;
      const again = await rejectionOf(Promise.resolve().then(() => a.orchestrator.deploy({ name: 'intruder', sequence: [{ module: 'hfibo', func: 'fibo' }] }, { id: fiboDep })));
      expect(again.code).toBe('ERR_DEPLOYMENT_EXISTS');
      expect(a.orchestrator.get(fiboDep).record).toMatchObject({ name: before.name, revision: before.revision });

      // The supervisor API: a DeploymentNode naming a module already published.
      const node = { deploymentId: 'hn', modules: [{ id: 'hn', name: 'hfibo', urls: { other: [] } }], instructions: { modules: { hfibo: { fibo: { to: null } } } } };
      const first = await post('/deploy', node);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const second = await post('/deploy', node);
      expect(second.status).toBe(409);
      expect(second.body).toMatchObject({ code: 'ERR_DEPLOYMENT_EXISTS', data: { deployment: 'hn' } });
      expect(a.orchestrator.get('hn').record.revision).toBe(first.body.revision);
      const replaced = await post('/deploy?replace=true', node);
      expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
      expect(replaced.body.revision).toBeGreaterThan(first.body.revision);
      const inBody = await post('/deploy', { ...node, replace: true });
      expect(inBody.status, JSON.stringify(inBody.body)).toBe(200);
      expect(inBody.body.revision).toBeGreaterThan(replaced.body.revision);
      expect((await json('/hn/modules/hfibo/fibo?param0=7')).body.result).toBe(21);
      expect((await json('/deploy/hn', { method: 'DELETE' })).status).toBe(200);
      await stillServes();
    });
  });

  describe('budgets', () => {
    it('fails a deployment of a 44-byte module declaring a ten-million-entry table with ERR_MODULE_BUDGET, nothing half written', async () => {
      const bomb = tableBomb(10_000_000);
      expect(bomb.byteLength).toBe(44);
      const created = await createModule('tbomb', bomb);
      expect(created.status).toBe(201);
      const manifest = await post('/file/manifest', { name: 'tbomb-dep', sequence: [{ device: 'hb-a', module: created.body.id, func: 'ok' }] });
      const deployed = await json(`/file/manifest/${manifest.body}`, { method: 'POST' });
      expect(deployed.status).toBe(502);
      expect(deployed.body.code).toBe('ERR_DEPLOYMENT_FAILED');
      expect(deployed.body.data.reason).toContain('ERR_MODULE_BUDGET');
      expect(deployed.body.data.reason).toContain('maxTableElements');
      const record = a.orchestrator.get('tbomb-dep').record;
      expect(record.status).toBe('failed');
      expect(record.steps).toHaveLength(1);
      expect(a.supervisor.deployed().some((d) => d.deploymentId === record.id)).toBe(false);
      a.orchestrator.remove(record.id);
      await stillServes();
    });

    it("keeps a deployment off a peer whose memory budget it would exceed; the reason is in the placement's explanation", async () => {
      // 48 pages: 3 MiB of the small device's 4 MiB.
      await publish('m3', memoryModule(48), { ok: ok() });
      const one = a.orchestrator.deploy({ name: 'm3-one', sequence: [{ module: 'm3', func: 'ok', device: 'hb-b' }] });
      await a.orchestrator.waitFor(one.id);
      expect(a.orchestrator.get(one.id).record.status).toBe('ready');
      expect(b.supervisor.memoryUse()).toMatchObject({ budgetBytes: 4 * MiB, usedBytes: 3 * MiB });

      // Pinned there, a second one cannot be placed: the gateway answers with every verdict.
      const manifest = await post('/file/manifest', { name: 'm3-two', sequence: [{ device: 'hb-b', module: 'm3', func: 'ok' }] });
      const refused = await json(`/file/manifest/${manifest.body}`, { method: 'POST' });
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('ERR_NO_PLACEMENT');
      const verdict = refused.body.data.rejected.find((v: Json) => v.name === 'hb-b');
      expect(verdict.reasons.join(' ')).toMatch(/memory budget: needs 3 MiB, 3 MiB of 4 MiB in use/);
      // Free to go anywhere, it goes where it fits, and the explanation says why not hb-b.
      const anywhere = a.orchestrator.deploy({ name: 'm3-three', sequence: [{ module: 'm3', func: 'ok' }] });
      expect(anywhere.solution['0']).toBe(a.peer.id);
      const verdicts = (anywhere.explanation as Json)['0'].verdicts as Json[];
      expect(verdicts.find((v) => v.name === 'hb-b').reasons.join(' ')).toContain('memory budget');
      await a.orchestrator.waitFor(anywhere.id);
      for (const id of [one.id, anywhere.id, manifest.body]) a.orchestrator.remove(id);
      await waitFor(() => b.supervisor.deployed().length === 0, 'm3-one unloaded from hb-b');
      await stillServes();
    });

    it('a supervisor refuses a module over its memory budget (ERR_MEMORY_BUDGET); the deployment ends failed and the rest serves', async () => {
      const m3 = { wasm: memoryModule(48), description: { name: 'm3', version: '1.0.0', functions: { ok: ok() } } };
      await b.supervisor.deploy({ deploymentId: 'local', name: 'm3', ...m3 });
      const direct = await rejectionOf(b.supervisor.deploy({ deploymentId: 'local-2', name: 'm3', ...m3 }));
      expect(direct.code).toBe('ERR_MEMORY_BUDGET');
      expect((direct as Json).data).toEqual({ need: 3 * MiB, used: 3 * MiB, budget: 4 * MiB });
      // Loaded outside the registry, the first one is invisible to placement: the agent's load is refused.
      const dep = a.orchestrator.deploy({ name: 'm3-over', sequence: [{ module: 'm3', func: 'ok', device: 'hb-b' }] });
      const settled = await a.orchestrator.waitFor(dep.id);
      expect(settled.record.status).toBe('failed');
      expect(settled.record.reason).toContain('ERR_MEMORY_BUDGET');
      expect(b.supervisor.deployed().map((d) => d.deploymentId)).toEqual(['local']);
      expect((await b.supervisor.call('local', 'm3', 'ok')).value).toBe(42);
      a.orchestrator.remove(dep.id);
      await b.supervisor.undeploy('local');
      expect(b.supervisor.memoryUse().usedBytes).toBe(0);
      await stillServes();
    });

    it('rolls an update over the budget back to the revision that fits, which serves on', async () => {
      // 2 MiB loaded outside the registry, then a deployment of 1 MiB: 3 of 4 MiB in use.
      await b.supervisor.deploy({ deploymentId: 'local', name: 'm2', wasm: memoryModule(32), description: { name: 'm2', version: '1.0.0', functions: { ok: ok() } } });
      await publish('mx', memoryModule(16), { ok: ok() }, '1.0.0');
      await publish('mx', memoryModule(40), { ok: ok() }, '1.0.1');
      const dep = a.orchestrator.deploy({ name: 'mx-dep', sequence: [{ module: 'mx@1.0.0', func: 'ok', device: 'hb-b' }] });
      expect((await a.orchestrator.waitFor(dep.id)).record.status).toBe('ready');
      // The update takes the place of 1 MiB with 2.5 MiB: 4.5 MiB, over the budget.
      const next = a.orchestrator.update(dep.id, { name: 'mx-dep', sequence: [{ module: 'mx@1.0.1', func: 'ok', device: 'hb-b' }] });
      const settled = await a.orchestrator.waitFor(dep.id, (v) => v.record.revision > next.revision && ['ready', 'rolled-back', 'failed'].includes(v.record.status));
      expect(settled.record.status).toBe('rolled-back');
      expect(settled.record.reason).toContain('ERR_MEMORY_BUDGET');
      const call = await json(`/${dep.id}/modules/mx/ok`);
      expect(call.status, JSON.stringify(call.body)).toBe(200);
      expect(call.body.result).toBe(42);
      expect(b.supervisor.memoryUse().usedBytes).toBe(3 * MiB);
      a.orchestrator.remove(dep.id);
      await b.supervisor.undeploy('local');
      await waitFor(() => b.supervisor.memoryUse().usedBytes === 0, 'hb-b empty');
      await stillServes();
    });

    it('placement counts what each peer holds against its budget (a pure check)', () => {
      const device = (id: string, budgetBytes?: number): DeviceDescription => ({
        id: id.repeat(32).slice(0, 32), name: `dev-${id}`, engine: 'node', publicKey: '0'.repeat(64), capabilities: [], version: '1', startedAt: 0,
        platform: { cpu: { humanReadableName: 'x', cores: 1 }, memory: budgetBytes === undefined ? { bytes: 64 * MiB } : { bytes: 64 * MiB, budgetBytes } },
      });
      const step = (index: number, moduleName: string) => ({ index, moduleId: 'm'.repeat(64), moduleName, imports: [], memoryBytes: 10 * MiB, pin: null, blobs: [] });
      const small = { device: device('a', 16 * MiB), alive: true, holds: new Set<string>(), committedBytes: 0 };
      const large = { device: device('b'), alive: true, holds: new Set<string>(), committedBytes: 20 * MiB };
      // Two steps of 10 MiB: the first fits the 16 MiB budget, the second does not and goes to
      // the default budget (half of 64 MiB) of the other, which holds 20 MiB already.
      const placed = place([step(0, 'x'), step(1, 'y')], [small, large]);
      expect(placed.solution).toEqual({ 0: small.device.id, 1: large.device.id });
      expect(placed.explanation['1']!.verdicts.find((v) => v.name === 'dev-a')!.reasons).toEqual(['memory budget: needs 10 MiB, 10 MiB of 16 MiB in use']);
      // A third step of another module: no room anywhere.
      const full = rejectionOfSync(() => place([step(0, 'x'), step(1, 'y'), step(2, 'z')], [small, large]));
      expect(full.code).toBe('ERR_NO_PLACEMENT');
    });
  });

  describe('depth and size', () => {
    it('answers 400 ERR_INVALID_PARAMS naming the limit to call arguments nested 100,000 deep; the history still reads', async () => {
      const called = await postText(`/${fiboDep}/modules/hfibo/fibo`, deepText(100_000));
      expect(called.status).toBe(400);
      expect(called.body).toMatchObject({ code: 'ERR_INVALID_PARAMS', data: { limit: 'maxDepth' } });
      // The same object handed in already parsed, and over RPC from another peer.
      const local = await rejectionOf(a.supervisor.call(fiboDep, 'hfibo', 'fibo', { args: [deep(100_000)] }));
      expect(local.code).toBe('ERR_INVALID_PARAMS');
      const remote = await rejectionOf(b.peer.call(a.peer.id, 'supervisor.call', { deploymentId: fiboDep, module: 'hfibo', fn: 'fibo', args: [deep(1000)] }));
      expect(remote.code).toBe('ERR_INVALID_PARAMS');
      await stillServes();
    });

    it('refuses form field names bracketed deeper than 32 levels, in a describe form and in a call body', async () => {
      // Multipart field names are at most 300 bytes (ERR_BAD_MULTIPART above): 90 levels fit.
      const described = await describeModule(fiboId, { [`fibo${'[x]'.repeat(90)}`]: 'integer' });
      expect(described.status).toBe(400);
      expect(described.body).toMatchObject({ code: 'ERR_INVALID_PARAMS', data: { limit: 'maxDepth' } });
      const called = await json(`/${fiboDep}/modules/hfibo/fibo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `param0${'[x]'.repeat(100_000)}=1` });
      expect(called.status).toBe(400);
      expect(called.body.code).toBe('ERR_INVALID_PARAMS');
      await stillServes();
    });

    it('refuses a manifest nested 100,000 deep before anything is written to the registry', async () => {
      const count = a.peer.registry.deployments.values().length;
      const text = `{"name": "deep", "sequence": [{"device": null, "module": "hfibo", "func": "fibo"}], "extra": ${deepText(100_000)}}`;
      const created = await postText('/file/manifest', text);
      expect(created.status).toBe(400);
      expect(created.body).toMatchObject({ code: 'ERR_INVALID_PARAMS', data: { limit: 'maxDepth' } });
      const updated = await postText(`/file/manifest/${fiboDep}`, text, 'PUT');
      expect(updated.status).toBe(400);
      const parsed = { name: 'deep', sequence: [{ device: null, module: 'hfibo', func: 'fibo' }], extra: deep(100_000) };
      expect((await rejectionOf(Promise.resolve().then(() => a.orchestrator.deploy(parsed)))).code).toBe('ERR_INVALID_PARAMS');
      expect((await rejectionOf(Promise.resolve().then(() => a.orchestrator.update(fiboDep, parsed)))).code).toBe('ERR_INVALID_PARAMS');
      // Written to the registry directly, past every manifest check: whole or not at all.
      const record = { ...a.orchestrator.get(fiboDep).record, id: 'deep-record', manifest: parsed };
      expect((await rejectionOf(Promise.resolve().then(() => a.peer.registry.deployments.put(record)))).code).toBe('ERR_INVALID_PARAMS');
      expect(a.peer.registry.deployments.get('deep-record')).toBeUndefined();
      expect(a.peer.registry.deployments.values().length).toBe(count);
      expect(a.orchestrator.get(fiboDep).record.revision).toBe(1);
      await stillServes();
    });

    it('the request history stores a marker for what it cannot store, and skips a damaged row on read', async () => {
      const kv = new MemoryKeyValueStore();
      const errors: unknown[] = [];
      const history = new RequestHistory(kv, { flushMs: 10, onError: (e) => errors.push(e) });
      const entry = (requestId: string, fields: Partial<HistoryEntry>): HistoryEntry => ({
        requestId, deploymentId: 'd', moduleName: 'm', functionName: 'f', method: 'GET', args: [], inputFiles: [], success: true, result: 1, startedAt: 1, durationMs: 1, ...fields,
      });
      const cyclic: unknown[] = [];
      cyclic.push(cyclic);
      await history.record(entry(await history.nextId(), { args: [deep(100_000)] }));
      await history.record(entry(await history.nextId(), { args: [12], result: deep(100_000) }));
      await history.record(entry(await history.nextId(), { args: cyclic }));
      await history.record(entry(await history.nextId(), { args: [12], result: 233 }));
      const read = await history.query();
      expect(read.map((e) => [e.args, e.result])).toEqual([
        [[12], 233],
        [[{ unserialisable: 'too deep' }], 1],
        [[12], { unserialisable: 'too deep' }],
        [[{ unserialisable: 'too deep' }], 1],
      ]);
      await history.flush();
      // A batch with one damaged row among good ones, as a crash or another version might leave it.
      await kv.set('history/000000099999', utf8(JSON.stringify({ v: 2, strings: ['d', 'm', 'f', 'GET'], rows: [
        ['99999', 0, 1, 2, 3, [5], [], 1, 8, null, null, 1, 1],
        ['100000', 7, 'not an index'],
        'not a row',
      ] })));
      const reloaded = new RequestHistory(kv, { onError: (e) => errors.push(e) });
      const all = await reloaded.query({ limit: 100 });
      expect(all.map((e) => e.requestId)).toEqual(['99999', ...read.map((e) => e.requestId)]);
      expect(String(errors.at(-1))).toContain('2 damaged entries');
    });
  });

  describe('misbehaving and malformed modules', () => {
    it('refuses malformed binaries with 400 ERR_INVALID_WASM', async () => {
      for (const [what, bytes] of Object.entries(malformed())) {
        const created = await createModule(`bad-${what.replace(/\W+/g, '-')}`, bytes);
        expect(created.status, what).toBe(400);
        expect(created.body.code, what).toBe('ERR_INVALID_WASM');
      }
      await stillServes();
    });

    it('stops an endless loop (504 ERR_CALL_TIMEOUT), reports a trap and a stack overflow (502 ERR_WASM_TRAP), and serves on', async () => {
      const describedAs = async (dir: string): Promise<ModuleDescription['functions']> =>
        (JSON.parse(new TextDecoder().decode(await moduleFile(`${dir}/description.json`))) as ModuleDescription).functions;
      await publish('hloop', await moduleFile('loop/loop.wasm'), await describedAs('loop'));
      await publish('htrap', await moduleFile('trap/trap.wasm'), await describedAs('trap'));
      await publish('hrecurse', recursion(), { ok: ok(), recurse: { method: 'GET', params: [{ name: 'param0', type: 'integer' }], result: { type: 'integer' }, mounts: [] } });
      const deps = ['hloop', 'htrap', 'hrecurse'].map((m) => a.orchestrator.deploy({ name: `${m}-dep`, sequence: [{ module: m, func: 'ok', device: 'hb-a' }] }));
      for (const d of deps) expect((await a.orchestrator.waitFor(d.id)).record.status).toBe('ready');
      const [loop, trap, rec] = deps.map((d) => d.id);
      const forever = await json(`/${loop}/modules/hloop/forever`);
      expect(forever.status).toBe(504);
      expect(forever.body.code).toBe('ERR_CALL_TIMEOUT');
      expect((await json(`/${loop}/modules/hloop/ok`)).body.result).toBe(42);
      const boom = await json(`/${trap}/modules/htrap/boom`);
      expect(boom.status).toBe(502);
      expect(boom.body.code).toBe('ERR_WASM_TRAP');
      const overflow = await json(`/${rec}/modules/hrecurse/recurse?param0=0`);
      expect(overflow.status).toBe(502);
      expect(overflow.body.code).toBe('ERR_WASM_TRAP');
      expect((await json(`/${rec}/modules/hrecurse/ok`)).body.result).toBe(42);
      for (const id of [loop!, trap!, rec!]) a.orchestrator.remove(id);
      await stillServes();
    });
  });

  describe('path traversal', () => {
    it('refuses mount names that are paths, in a describe request and in a manifest', async () => {
      const created = await createModule('hpath', await moduleFile('camera/camera.wasm'));
      expect(created.status).toBe(201);
      for (const name of ['../../etc/passwd', '..', 'out/image.jpeg', 'a\\b']) {
        const described = await describeModule(created.body.id, {
          'take_image_predefined_path[method]': 'GET', 'take_image_predefined_path[output]': 'image/jpeg',
          'take_image_predefined_path[mounts][0][name]': name, 'take_image_predefined_path[mounts][0][stage]': 'output',
        });
        expect(described.status, name).toBe(400);
        expect(described.body.code, name).toBe('ERR_INVALID_PARAMS');
      }
      const node = {
        deploymentId: 'hpath-dep', modules: [{ id: 'p', name: 'hpathFibo', urls: { binary: `${filesUrl}/fibo.wasm`, other: [] } }],
        instructions: { modules: { hpathFibo: { fibo: { to: null } } } },
        endpoints: { hpathFibo: { fibo: { method: 'post', request: { parameters: [{ name: 'param0', in: 'query', schema: { type: 'integer' } }] }, response: { media_type: 'application/json' } } } },
        mounts: { hpathFibo: { fibo: { execution: [{ path: '../../etc/passwd' }] } } },
      };
      const deployed = await post('/deploy', node);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(400);
      expect(deployed.body.code).toBe('ERR_INVALID_PARAMS');
      expect(a.peer.registry.deployments.get('hpath-dep')).toBeUndefined();
      // A result file asked for by a name that is a path: the name is not used to find it.
      const file = await json('/files/0000000000000000000000000000000000000000000000000000000000000000/..%2F..%2Fetc%2Fpasswd');
      expect(file.status).toBe(404);
      expect(file.body.code).toBe('ERR_UNKNOWN_FILE');
      await stillServes();
    });
  });
});

/** What a synchronous function throws. */
function rejectionOfSync(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/**
 * Live migration over the HTTP gateway: `POST /file/manifest/:id/migrate` moves a
 * running module with its state (or clones it) and answers once the target serves;
 * `GET /file/manifest/:id` then shows the step on the new device; mistakes get the
 * reference's error shape with the right status.
 */
import { readFile } from 'node:fs/promises';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs } from '../helpers/mesh.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
type Json = any;

describe('HTTP gateway: live migration', () => {
  const log = collectLogs();
  let a: SupervisedPeer;
  let b: SupervisedPeer;
  let gateway: Gateway;

  const request = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(gateway.url + path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const count = async (deployment: string): Promise<number> => (await request('GET', `/${deployment}/modules/stateful-fibo/stateful_fibo`)).body.result as number;

  beforeAll(async () => {
    const network = new MemoryNetwork();
    const start = (name: string): Promise<SupervisedPeer> =>
      startNodePeer({ name, transports: [network.createTransport()], timing: FAST, logger: createLogger(`peer:${name}`, log.sink) });
    a = await start('mig-a');
    b = await start('mig-b');
    await waitFor(() => [a, b].every((p) => p.peer.alive().length === 1 && p.peer.registry.devices.size === 2), 'both peers see each other');
    const dir = new URL('../../modules/stateful-fibo/', import.meta.url);
    await a.orchestrator.packages.publish({
      wasm: new Uint8Array(await readFile(new URL('stateful-fibo.wasm', dir))),
      description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
    });
    gateway = await startGateway({ peer: a, port: 0 });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('moves a module with its state to the named device, and the manifest shows it there', async () => {
    const created = await fetch(`${gateway.url}/file/manifest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'counter', sequence: [{ device: 'mig-a', module: 'stateful-fibo', func: 'stateful_fibo' }] }) });
    const id = (await created.json()) as string;
    expect((await request('POST', `/file/manifest/${id}`)).status).toBe(200);
    expect([await count(id), await count(id), await count(id)]).toEqual([1, 2, 3]);

    const moved = await request('POST', `/file/manifest/${id}/migrate`, { module: 'stateful-fibo', device: 'mig-b' });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.migration).toMatchObject({ mode: 'move', fromName: 'mig-a', toName: 'mig-b', module: 'stateful-fibo' });
    expect(moved.body.deployment.steps[0].deviceName).toBe('mig-b');
    const shown = await request('GET', `/file/manifest/${id}`);
    expect(shown.body.steps[0]).toMatchObject({ deviceName: 'mig-b', device: b.peer.id });
    expect([await count(id), await count(id)]).toEqual([5, 8]);
  });

  it('clones a module: both copies serve from the same state on', async () => {
    const created = await fetch(`${gateway.url}/file/manifest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'twin', sequence: [{ device: 'mig-a', module: 'stateful-fibo', func: 'stateful_fibo' }] }) });
    const id = (await created.json()) as string;
    expect((await request('POST', `/file/manifest/${id}`)).status).toBe(200);
    expect([await count(id), await count(id)]).toEqual([1, 2]);
    const cloned = await request('POST', `/file/manifest/${id}/migrate`, { module: 'stateful-fibo', device: 'mig-b', mode: 'clone' });
    expect(cloned.status, JSON.stringify(cloned.body)).toBe(200);
    expect(cloned.body.migration).toMatchObject({ mode: 'clone', toName: 'mig-b' });
    // Each copy continues the sequence from the cloned state: 3, then 5.
    const onA = await a.orchestrator.call(id, 'stateful-fibo', 'stateful_fibo', {}, { peer: a.peer.id });
    const onB = await b.orchestrator.call(id, 'stateful-fibo', 'stateful_fibo', {}, { peer: b.peer.id });
    expect([Number(onA.value), Number(onB.value)]).toEqual([3, 3]);
  });

  it('answers mistakes with a named error and the right status', async () => {
    const unknownDeployment = await request('POST', '/file/manifest/no-such-deployment/migrate', { module: 'stateful-fibo', device: 'mig-b' });
    expect(unknownDeployment.status).toBe(404);
    expect(unknownDeployment.body).toMatchObject({ code: 'ERR_UNKNOWN_DEPLOYMENT' });
    expect(typeof unknownDeployment.body.errorText).toBe('string');
    const id = (await request('GET', '/file/manifest')).body.find((d: Json) => d.name === 'counter')._id as string;
    const unknownDevice = await request('POST', `/file/manifest/${id}/migrate`, { module: 'stateful-fibo', device: 'nowhere' });
    expect(unknownDevice.status).toBe(400);
    expect(unknownDevice.body.code).toBe('ERR_UNKNOWN_DEVICE');
    const noModule = await request('POST', `/file/manifest/${id}/migrate`, { device: 'mig-a' });
    expect(noModule.status).toBe(400);
    expect(noModule.body.code).toBe('ERR_INVALID_PARAMS');
    const badMode = await request('POST', `/file/manifest/${id}/migrate`, { module: 'stateful-fibo', device: 'mig-a', mode: 'teleport' });
    expect(badMode.status).toBe(400);
    // The module kept serving where it was through all of that.
    expect(await count(id)).toBe(13);
  });
});

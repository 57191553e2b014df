/**
 * Zones and risk levels over the gateway: ODRL cards posted the way the reference GUI
 * does (ids rewritten to real device and module ids), deployment certificates, and a
 * mesh enforcing them (`enforcePolicies`): placement refuses a device with the reason, and
 * a device moved to another zone loses the step it may no longer host. Two Node peers on
 * the in-memory network, the gateway on 127.0.0.1.
 */
import { readFile } from 'node:fs/promises';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { createLogger } from '../../shared/log.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { dataSourceCard, moduleCard, nodeCard, zoneCard } from '../helpers/odrl-cards.ts';
import { waitFor } from '../acceptance/wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
const moduleFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
type Json = any;

describe('HTTP gateway: zones and risk levels', () => {
  const log = collectLogs();
  let a: SupervisedPeer;
  let b: SupervisedPeer;
  let gateway: Gateway;
  let cameraId = '';
  const send = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(gateway.url + path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json };
  };

  beforeAll(async () => {
    const network = new MemoryNetwork();
    const start = (name: string): Promise<SupervisedPeer> =>
      startNodePeer({ name, transports: [network.createTransport()], timing: FAST, enforcePolicies: true, policy: OFFER_EVERYTHING, logger: createLogger(`peer:${name}`, log.sink) });
    a = await start('cards-a');
    b = await start('cards-b');
    await waitFor(() => [a, b].every((p) => p.peer.alive().length === 1 && p.peer.registry.devices.size === 2), 'both peers see each other');
    const description = JSON.parse(new TextDecoder().decode(await moduleFile('rust-camera/description.json'))) as ModuleDescription;
    cameraId = (await a.orchestrator.packages.publish({ wasm: await moduleFile('rust-camera/rust-camera.wasm'), description })).id;
    gateway = await startGateway({ peer: a, port: 0 });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('stores cards with their ids made real, lists and deletes them, and refuses a card it cannot read', async () => {
    expect((await send('POST', '/zoneRiskLevels', zoneCard())).body).toEqual({ _id: 'zones' });
    expect((await send('GET', '/zoneRiskLevels')).body).toEqual([{ _id: 'zones', ...zoneCard() }]);
    const node = await send('POST', '/nodeCards', nodeCard('cards-a', 'safe'));
    expect(node).toEqual({ status: 200, body: { _id: `node:${a.peer.id}` } });
    expect((await send('POST', '/nodeCards', nodeCard('cards-b', 'unsafe'))).status).toBe(200);
    const nodes = (await send('GET', '/nodeCards')).body as Json[];
    expect(nodes.map((n) => n.asset[0].uid).sort()).toEqual([a.peer.id, b.peer.id].sort());
    for (const name of ['cards-a', 'cards-b']) expect((await send('POST', '/dataSourceCards', dataSourceCard(name, 'camera', 'high'))).status).toBe(200);
    const sources = (await send('GET', '/dataSourceCards')).body as Json[];
    expect(sources.map((s) => s.asset[0].relation.find((r: Json) => r.type === 'nodeid').value).sort()).toEqual([a.peer.id, b.peer.id].sort());
    const module = await send('POST', '/moduleCards', moduleCard('rust-camera', 'low', 'camera', 'inherit', 'take_image'));
    expect(module.body).toEqual({ _id: `module:${cameraId}` });
    expect((await send('GET', '/moduleCards')).body[0].permission[0].target).toBe(cameraId);
    // The same device's card again replaces the first one.
    expect((await send('POST', '/nodeCards', nodeCard(a.peer.id, 'safe'))).status).toBe(200);
    expect((await send('GET', '/nodeCards')).body).toHaveLength(2);

    const bad = await send('POST', '/nodeCards', { asset: [{ uid: 'x' }] });
    expect([bad.status, bad.body.code]).toEqual([400, 'ERR_INVALID_PARAMS']);
    expect(bad.body.error).toContain('memberOf');
    expect((await send('POST', '/moduleCards', [1, 2])).status).toBe(400);
    expect((await send('POST', '/dataSourceCards', dataSourceCard('cards-a', 'microphone', 'low'))).status).toBe(200);
    expect((await send('GET', '/dataSourceCards')).body).toHaveLength(3);
    expect((await send('DELETE', '/dataSourceCards')).body).toEqual({ deletedCount: 3 });
    for (const name of ['cards-a', 'cards-b']) await send('POST', '/dataSourceCards', dataSourceCard(name, 'camera', 'high'));
  });

  it('refuses to place a step where the cards forbid it, with the reason; certifies what it places', async () => {
    const pinned = await send('POST', '/file/manifest', { name: 'cam-unsafe', sequence: [{ device: 'cards-b', module: 'rust-camera', func: 'take_image_predefined_path' }] });
    const refused = await send('POST', `/file/manifest/${pinned.body}`);
    expect([refused.status, refused.body.code]).toEqual([409, 'ERR_NO_PLACEMENT']);
    expect(refused.body.error).toContain('policy: input risk high is not allowed in zone unsafe');

    const created = await send('POST', '/file/manifest', { name: 'cam', sequence: [{ device: null, module: 'rust-camera', func: 'take_image_predefined_path' }] });
    // Before deploying, the certificate is for where the mesh would place it now.
    expect((await send('GET', '/deploymentCertificates')).body.find((c: Json) => c.deploymentId === created.body)).toMatchObject({ valid: true, validationLogs: [{ device: a.peer.id, node_zone: 'safe' }] });
    expect((await send('POST', `/file/manifest/${created.body}`)).status).toBe(200);
    expect(a.peer.registry.deployments.get(created.body)!.record.solution['0']).toBe(a.peer.id);
    const certificate = (await send('GET', `/deploymentCertificates/${created.body}`)).body;
    expect(certificate).toMatchObject({ deploymentId: created.body, valid: true });
    expect(Date.parse(certificate.date)).not.toBeNaN();
    expect(certificate.validationLogs).toEqual([{ step: 0, device: a.peer.id, module: cameraId, node_zone: 'safe', module_risk: 'low', input_risk: 'high', output_risk: 'high', valid: true, reasons: [] }]);
    const all = (await send('GET', '/deploymentCertificates')).body as Json[];
    expect(all.map((c) => c.deploymentId)).toContain(created.body);
    // A manifest has a certificate from its creation on; one the mesh cannot place is invalid and says why.
    const refusedCertificate = await send('GET', `/deploymentCertificates/${pinned.body}`);
    expect(refusedCertificate.status).toBe(200);
    expect(refusedCertificate.body).toMatchObject({ deploymentId: pinned.body, valid: false });
    expect(refusedCertificate.body.validationLogs[0].reasons.length).toBeGreaterThan(0);
  });

  it('moves a step off a device that changes to a zone that may not host it', async () => {
    const id = (await send('GET', '/file/manifest')).body.find((d: Json) => d.name === 'cam')._id as string;
    expect((await send('POST', '/nodeCards', nodeCard('cards-b', 'safe'))).status).toBe(200);
    expect((await send('POST', '/nodeCards', nodeCard('cards-a', 'unsafe'))).status).toBe(200);
    await waitFor(() => {
      const r = a.peer.registry.deployments.get(id)?.record;
      return r?.status === 'ready' && r.solution['0'] === b.peer.id;
    }, 'the step moves to the device in the safe zone', 20_000);
    const certificate = (await send('GET', `/deploymentCertificates/${id}`)).body;
    expect(certificate).toMatchObject({ valid: true, validationLogs: [{ device: b.peer.id, node_zone: 'safe' }] });
    const called = await send('GET', `/${id}/modules/rust-camera/take_image_predefined_path`);
    expect(called.body.device.name).toBe('cards-b');
    // Nowhere left to go: the deployment fails and says why.
    expect((await send('POST', '/nodeCards', nodeCard('cards-b', 'unsafe'))).status).toBe(200);
    await waitFor(() => a.peer.registry.deployments.get(id)?.record.status === 'failed', 'the deployment fails', 20_000);
    expect(a.peer.registry.deployments.get(id)!.record.reason).toContain('policy');
  });
});

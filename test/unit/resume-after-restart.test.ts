// A Node peer with a data directory that stops and starts again resumes what it hosted:
// a deployment that failed while it was away, because no other device could take its
// step, is placed on it again once it is back, and its calls work (no ERR_DEPLOYMENT_FAILED).
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { FileKeyValueStore } from '../../node-host/stores/file-key-value-store.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Y } from '../../shared/mesh/peer.ts';
import { RegistryPersistence } from '../../shared/registry/persistence.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { waitFor } from '../acceptance/wait.ts';

const module = async (name: string) => ({
  wasm: new Uint8Array(await readFile(new URL(`../../modules/${name}/${name}.wasm`, import.meta.url))),
  description: JSON.parse(await readFile(new URL(`../../modules/${name}/description.json`, import.meta.url), 'utf8')),
});

describe('A Node peer restarted with its data directory', () => {
  let dir: string;
  const running: SupervisedPeer[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-resume-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('is given back the deployment pinned to it that failed while it was away, and serves its calls', async () => {
    const network = new MemoryNetwork();
    const coordinator = await startNodePeer({ name: 'coordinator', transports: [network.createTransport()] });
    running.push(coordinator);
    let pi = await startNodePeer({ name: 'pi', transports: [network.createTransport()], dataDir: dir });
    running.push(pi);
    const piId = pi.peer.id;
    await waitFor(() => coordinator.peer.alive().includes(piId) && coordinator.peer.registry.devices.get(piId) !== undefined, 'the pi to join');

    await coordinator.orchestrator.packages.publish(await module('fibo'));
    const record = coordinator.orchestrator.deploy({ name: 'pinned', sequence: [{ module: 'fibo', func: 'fibo', device: 'pi' }] });
    expect((await coordinator.orchestrator.waitFor(record.id)).record.status).to.equal('ready');
    expect((await coordinator.orchestrator.execute(record.id, { args: [12] })).result.value).to.equal(233);

    await pi.stop();
    running.splice(running.indexOf(pi), 1);
    const failed = await coordinator.orchestrator.waitFor(record.id, (v) => v.record.status === 'failed', 20_000);
    expect(failed.record.waitingFor).to.deep.equal([piId]);
    const refused = await coordinator.orchestrator.execute(record.id, { args: [12] }, { readyTimeoutMs: 500 }).catch((e: { code?: string }) => e.code);
    expect(refused).to.equal('ERR_DEPLOYMENT_FAILED');

    pi = await startNodePeer({ name: 'pi', transports: [network.createTransport()], dataDir: dir });
    running.push(pi);
    expect(pi.peer.id).to.equal(piId);
    const back = await coordinator.orchestrator.waitFor(record.id, (v) => v.record.status === 'ready' && v.record.revision > failed.record.revision, 20_000);
    expect(back.record.solution['0']).to.equal(piId);
    expect(back.record.waitingFor).to.equal(undefined);
    expect((await coordinator.orchestrator.execute(record.id, { args: [12] })).result.value).to.equal(233);
    expect((await pi.orchestrator.execute(record.id, { args: [10] })).result.value).to.equal(89);
  });

  it('has a published module and a created deployment on disk by the time it answers, without stopping', async () => {
    const network = new MemoryNetwork();
    const pi = await startNodePeer({ name: 'pi', transports: [network.createTransport()], dataDir: dir });
    running.push(pi);
    const record = await pi.orchestrator.packages.publish(await module('fibo'));
    const deployment = pi.orchestrator.deploy({ name: 'kept', sequence: [{ module: 'fibo', func: 'fibo', device: null }] });
    await pi.peer.registrySaved();
    // What another process would read from the data directory now (the peer could die here).
    const doc = new Y.Doc();
    await new RegistryPersistence({ doc, kv: new FileKeyValueStore(join(dir, 'kv')), clock: new ManualClock() }).load();
    expect(Object.keys(doc.getMap('modules').toJSON())).to.include(record.id);
    expect(Object.keys(doc.getMap('deployments').toJSON())).to.include(deployment.id);
  });
});

// A browser peer hosting modules in real Chromium: Worker sandbox, IndexedDB stores,
// the (fake) media device as its camera; history and identity survive a restart.
import { expect } from 'chai';
import { deleteDB } from 'idb';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { startBrowserPeer } from '../../web/browser-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { EXPECTED_SELF } from './test-engine.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

const fetchBytes = async (path: string): Promise<Uint8Array> => new Uint8Array(await (await fetch(path)).arrayBuffer());

describe('Browser peer hosting modules', function () {
  const dbName = `lm-browser-peer-${Math.random().toString(36).slice(2)}`;
  const running: SupervisedPeer[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await deleteDB(dbName);
    await deleteDB(`${dbName}-caller`);
  });

  it('offers its camera, serves calls from another peer, and keeps its history and id across a restart', async () => {
    const network = new MemoryNetwork();
    const caller = await startBrowserPeer({ name: 'caller', transports: [network.createTransport()], dbName: `${dbName}-caller`, camera: false });
    running.push(caller);
    let host = await startBrowserPeer({ name: 'phone', transports: [network.createTransport()], dbName, policy: OFFER_EVERYTHING });
    const hostId = host.peer.id;
    await waitFor(() => caller.peer.registry.devices.get(hostId) !== undefined, 'the host in the registry');
    const description = caller.peer.registry.devices.get(hostId)!;
    expect(description.engine).to.equal(EXPECTED_SELF.deviceEngine);
    expect(description.capabilities).to.include('camera.takeImageStaticSize');
    expect(description.simulated ?? []).to.not.include('camera.takeImageStaticSize');

    await host.supervisor.deploy({
      deploymentId: 'b1',
      name: 'camera',
      wasm: await fetchBytes('/modules/camera/camera.wasm'),
      description: JSON.parse(new TextDecoder().decode(await fetchBytes('/modules/camera/description.json'))),
      grants: ['camera.*', 'wasi_snapshot_preview1.*'],
    });
    await waitFor(() => caller.peer.linked().includes(hostId), 'the link');
    const shot = await caller.peer.call(hostId, 'supervisor.call', { deploymentId: 'b1', module: 'camera', fn: 'take_image_predefined_path' });
    const bitmap = await createImageBitmap(new Blob([shot.files[0]!.bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
    expect(bitmap.width).to.be.greaterThan(0);

    await host.stop();
    host = await startBrowserPeer({ name: 'phone', transports: [network.createTransport()], dbName, camera: false });
    running.push(host);
    expect(host.peer.id).to.equal(hostId);
    const history = await host.supervisor.history.query({ deploymentId: 'b1' });
    expect(history.map((h) => [h.functionName, h.method, h.success])).to.deep.equal([['take_image_predefined_path', 'rpc', true]]);
  });
});

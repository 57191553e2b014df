import { expect } from 'chai';
import jpeg from 'jpeg-js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const moduleDir = new URL('../../modules/camera/', import.meta.url);

describe('Node peer hosting modules', () => {
  let dir: string;
  const running: SupervisedPeer[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-node-peer-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('describes what it can grant, serves a camera call from another peer with a real JPEG, and keeps its history across a restart', async () => {
    const network = new MemoryNetwork();
    const caller = await startNodePeer({ name: 'caller', transports: [network.createTransport()] });
    running.push(caller);
    let host = await startNodePeer({ name: 'pi-camera', transports: [network.createTransport()], dataDir: dir, policy: OFFER_EVERYTHING });
    running.push(host);
    const hostId = host.peer.id;

    await waitFor(() => caller.peer.registry.devices.get(hostId) !== undefined, 'the host to appear in the registry');
    const description = caller.peer.registry.devices.get(hostId)!;
    expect(description.capabilities).to.include.members(['wasi_snapshot_preview1.*', 'sys.millis', 'camera.takeImageStaticSize', 'dht.getTemperature']);
    expect(description.simulated).to.include.members(['camera.takeImageStaticSize', 'dht.getTemperature']);

    await host.supervisor.deploy({
      deploymentId: 'cam-1',
      name: 'camera',
      wasm: new Uint8Array(await readFile(new URL('camera.wasm', moduleDir))),
      description: JSON.parse(await readFile(new URL('description.json', moduleDir), 'utf8')),
      grants: ['camera.takeImageStaticSize', 'wasi_snapshot_preview1.*'],
    });
    await waitFor(() => caller.peer.linked().includes(hostId), 'the link');
    const shot = await caller.peer.call(hostId, 'supervisor.call', { deploymentId: 'cam-1', module: 'camera', fn: 'take_image_predefined_path' });
    expect(shot.files[0]!.mediaType).to.equal('image/jpeg');
    const decoded = jpeg.decode(shot.files[0]!.bytes);
    expect([decoded.width, decoded.height]).to.deep.equal([320, 240]);

    await host.stop();
    running.splice(running.indexOf(host), 1);
    host = await startNodePeer({ name: 'pi-camera', transports: [network.createTransport()], dataDir: dir, policy: OFFER_EVERYTHING });
    running.push(host);
    expect(host.peer.id).to.equal(hostId);
    const history = await host.supervisor.history.query({ deploymentId: 'cam-1' });
    expect(history.map((h) => [h.functionName, h.success, h.outputFiles?.[0]?.mediaType])).to.deep.equal([['take_image_predefined_path', true, 'image/jpeg']]);
  });
});

describe('communication.rpcCall between peers', () => {
  it('runs the named function on the peer that hosts it', async () => {
    const network = new MemoryNetwork();
    const a = await startNodePeer({ name: 'sensor', transports: [network.createTransport()], policy: OFFER_EVERYTHING });
    const b = await startNodePeer({ name: 'counter-host', transports: [network.createTransport()] });
    try {
      const load = async (name: string) => ({
        wasm: new Uint8Array(await readFile(new URL(`../../modules/${name}/${name}.wasm`, import.meta.url))),
        description: JSON.parse(await readFile(new URL(`../../modules/${name}/description.json`, import.meta.url), 'utf8')),
      });
      expect(a.peer.registry.devices.get(a.peer.id)!.capabilities).to.include('communication.rpcCall');
      await b.supervisor.deploy({ deploymentId: 'demo', name: 'counter', ...(await load('stateful-fibo')) });
      await a.supervisor.deploy({ deploymentId: 'demo', name: 'sensor', ...(await load('host-demo')), grants: ['sys.*', 'dht.*', 'communication.rpcCall'] });
      await waitFor(() => a.peer.linked().includes(b.peer.id), 'the link');
      await a.supervisor.call('demo', 'sensor', 'alert');
      await a.supervisor.call('demo', 'sensor', 'alert');
      // Two remote calls advanced the counter on b: its next value is the third, 3.
      expect((await b.supervisor.call('demo', 'counter', 'stateful_fibo')).value).to.equal(3);
      const remote = await b.supervisor.history.query({ deploymentId: 'demo', moduleName: 'counter' });
      expect(remote.map((h) => h.method)).to.deep.equal(['GET', 'rpc', 'rpc']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

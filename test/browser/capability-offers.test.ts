// The phone owner's say over its capabilities, in real Chromium with its fake camera:
// the camera is offered to no one until the owner ticks it in the Join view, the mesh
// view shows every device what it offers to whom, and unticking it stops a camera
// module that is already running at its next picture.
import { expect } from 'chai';
import { startBrowserPeer } from '../../web/browser-peer.ts';
import '../../web/ui/join-view.ts';
import '../../web/ui/mesh-view.ts';
import type { JoinView } from '../../web/ui/join-view.ts';
import type { MeshView } from '../../web/ui/mesh-view.ts';
import { waitFor } from '../acceptance/wait.ts';
import { find, Fixture, publishSample, textOf } from './ui-helpers.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('what a phone offers to the mesh', () => {
  let f: Fixture;
  beforeEach(() => (f = new Fixture()));
  afterEach(() => f.dispose());

  it('keeps the camera from every operator until its owner switches it on, and switching it off stops a running module', async () => {
    const dbName = `lm-offers-${Math.random().toString(36).slice(2, 8)}`;
    f.extraDbs(dbName);
    const phone = await startBrowserPeer({ name: 'phone', transports: [f.network.createTransport()], dbName });
    f.peers.push(phone);
    const operator = await f.peer('operator');
    await f.meshed();
    expect(phone.peer.registry.devices.get(phone.peer.id)!.capabilities).to.include('camera.takeImageStaticSize');
    await publishSample(operator, 'camera');
    const manifest = { name: 'cam', sequence: [{ device: null, module: 'camera', func: 'take_image_predefined_path' }] };
    const refused = await failure(Promise.resolve().then(() => operator.orchestrator.deploy(manifest)));
    expect(refused.code).to.equal('ERR_CAPABILITY_NOT_OFFERED');

    const mesh = await f.mount<MeshView>('lm-mesh-view', { node: operator });
    await waitFor(() => textOf(mesh).includes('Offers no camera or sensors to the mesh'), "the phone's offers in the mesh view");

    const join = await f.mount<JoinView>('lm-join-view', { node: phone });
    const box = find<HTMLInputElement>(join, 'input[name=offer-camera]');
    expect(box.checked).to.equal(false);
    box.click();
    await waitFor(() => operator.peer.registry.devices.get(phone.peer.id)?.policy?.offers.some((o) => o.capability === 'camera.*') === true, 'the offer to reach the operator');
    await waitFor(() => textOf(mesh).includes('Offers camera: anyone'), 'the mesh view to show the camera offered to anyone');

    const record = operator.orchestrator.deploy({ ...manifest, name: 'cam-2' });
    expect(record.solution['0']).to.equal(phone.peer.id);
    const shot = await operator.orchestrator.execute(record.id, {}, { readyTimeoutMs: 60_000 });
    expect(shot.result.files.map((x) => x.mediaType)).to.deep.equal(['image/jpeg']);

    // Unticked: the module already running there is refused its next picture.
    find<HTMLInputElement>(join, 'input[name=offer-camera]').click();
    const stopped = await failure(operator.orchestrator.execute(record.id));
    expect(JSON.stringify({ code: stopped.code, message: stopped.message })).to.contain('ERR_IMPORT_DENIED');
    await waitFor(() => textOf(mesh).includes('Offers no camera or sensors to the mesh'), 'the mesh view to show the camera withdrawn');
  });
});

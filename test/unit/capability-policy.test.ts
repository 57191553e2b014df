import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { policyFromArgs } from '../../node-host/capability-flags.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { type PlacementCandidate, type PlacementStep, place } from '../../shared/orchestrator/placement.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { type CapabilityPolicy, defaultCapabilityPolicy, grantedCapabilities, parseOffer, refusal, withOffers, withoutCapabilities } from '../../shared/trust/capability-policy.ts';
import { waitFor } from '../acceptance/wait.ts';

const CAMERA = 'camera.takeImageStaticSize';

async function sample(name: string, file = name): Promise<{ wasm: Uint8Array; description: never }> {
  const dir = new URL(`../../modules/${name}/`, import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL(`${file}.wasm`, dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as never,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('capability policy', () => {
  it('offers only the harmless imports unless the owner turns more on', () => {
    const policy = defaultCapabilityPolicy();
    const asked = ['wasi_snapshot_preview1.*', 'sys.millis', 'pubsub.publish', CAMERA, 'sensors.location', 'network.ping'];
    expect(grantedCapabilities(policy, asked, {})).to.deep.equal(['wasi_snapshot_preview1.*', 'sys.millis', 'pubsub.publish']);
    expect(refusal(policy, CAMERA, {})).to.equal(`does not offer ${CAMERA}`);
  });

  it('offers a capability to listed operators or to modules signed by listed publishers, and says to whom', () => {
    const policy = withOffers(defaultCapabilityPolicy(), [...parseOffer('camera=operator:op-x'), ...parseOffer('sensors.location=publisher:pub-y')]);
    expect(grantedCapabilities(policy, [CAMERA], { operator: 'op-x' })).to.deep.equal([CAMERA]);
    expect(grantedCapabilities(policy, [CAMERA], { operator: 'op-z', publisher: 'pub-y' })).to.deep.equal([]);
    expect(grantedCapabilities(policy, ['sensors.*'], { publisher: 'pub-y' })).to.deep.equal(['sensors.location']);
    expect(refusal(policy, CAMERA, { operator: 'op-z' })).to.equal(`offers ${CAMERA} only to operators op-x`);
    expect(grantedCapabilities(withoutCapabilities(policy, ['camera.*']), [CAMERA], { operator: 'op-x' })).to.deep.equal([]);
  });

  it('refuses flags it cannot read with a named error', async () => {
    expect(() => parseOffer('microphone')).to.throw().with.property('code', 'ERR_INVALID_POLICY');
    expect(() => parseOffer('camera=friend:bob')).to.throw().with.property('code', 'ERR_INVALID_POLICY');
    expect(await codeOf(policyFromArgs(['--require-signed', 'not-a-key']))).to.have.property('code', 'ERR_INVALID_POLICY');
    const policy = await policyFromArgs(['--offer', 'camera', '--require-signed', 'AB'.repeat(32)]);
    expect(policy.offers.map((o) => o.capability)).to.include('camera.*');
    expect(policy.requireSigned).to.deep.equal(['ab'.repeat(32)]);
  });
});

describe('placement under device policies', () => {
  const device = (id: string, policy?: CapabilityPolicy): PlacementCandidate => {
    const d: DeviceDescription = {
      id: id.padEnd(32, '0'),
      name: id,
      engine: 'node',
      publicKey: '0'.repeat(64),
      platform: { cpu: { humanReadableName: 'test', cores: 1 }, memory: { bytes: 1 << 30 } },
      capabilities: ['wasi_snapshot_preview1.*', 'sys.*', CAMERA],
      version: 'test',
      startedAt: 0,
    };
    if (policy) d.policy = policy;
    return { device: d, alive: true, holds: new Set() };
  };
  const step = (extra: Partial<PlacementStep> = {}): PlacementStep => ({ index: 0, moduleId: 'm', moduleName: 'camera', imports: [CAMERA, 'wasi_snapshot_preview1.*'], memoryBytes: 0, pin: null, blobs: [], ...extra });

  it('puts a camera step nowhere when no device offers the camera, with a named error saying why', () => {
    let caught: { code?: string; message: string } | undefined;
    try {
      place([step()], [device('a'), device('b', defaultCapabilityPolicy())]);
    } catch (error) {
      caught = error as { code?: string; message: string };
    }
    expect(caught?.code).to.equal('ERR_CAPABILITY_NOT_OFFERED');
    expect(caught?.message).to.contain(`does not offer ${CAMERA}`);
  });

  it("places it only on the device whose owner offers the camera to this deployment's operator or publisher", () => {
    const toX = withOffers(defaultCapabilityPolicy(), parseOffer('camera=operator:op-x'));
    const toPub = withOffers(defaultCapabilityPolicy(), parseOffer('camera=publisher:pub-y'));
    const candidates = [device('a'), device('b', toX), device('c', toPub)];
    expect(place([step()], candidates, { operator: 'op-x' }).solution['0']).to.equal('b'.padEnd(32, '0'));
    expect(place([step({ publisher: 'pub-y' })], candidates, { operator: 'op-z' }).solution['0']).to.equal('c'.padEnd(32, '0'));
    expect(() => place([step()], candidates, { operator: 'op-z' })).to.throw().with.property('code', 'ERR_CAPABILITY_NOT_OFFERED');
  });

  it('keeps devices that require signed modules for modules signed by a publisher they trust', () => {
    const strict = { ...defaultCapabilityPolicy(), requireSigned: ['pub-y'] };
    const plain = step({ imports: ['wasi_snapshot_preview1.*'] });
    expect(() => place([plain], [device('a', strict)])).to.throw().with.property('code', 'ERR_CAPABILITY_NOT_OFFERED');
    expect(place([{ ...plain, publisher: 'pub-y' }], [device('a', strict)]).solution['0']).to.equal('a'.padEnd(32, '0'));
  });
});

describe('the camera is never reachable without a grant (peers in one process)', () => {
  const running: SupervisedPeer[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  it('refuses a module that imports the camera where the owner has not offered it, naming the import', async () => {
    const network = new MemoryNetwork();
    const host = await startNodePeer({ name: 'pi', transports: [network.createTransport()] });
    running.push(host);
    expect(host.peer.registry.devices.get(host.peer.id)!.capabilities).to.include(CAMERA);
    const error = await codeOf(host.supervisor.deploy({ deploymentId: 'd', name: 'camera', ...(await sample('camera')), grants: [CAMERA, 'wasi_snapshot_preview1.*'] }));
    expect(error.code).to.equal('ERR_IMPORT_DENIED');
    expect(error.message).to.contain(CAMERA);
  });

  it("deploys camera-gray only where the camera is offered, and the owner's switch stops the camera at once", async () => {
    const network = new MemoryNetwork();
    const operator = await startNodePeer({ name: 'operator', transports: [network.createTransport()], fakeCamera: false });
    running.push(operator);
    const camPolicy = await policyFromArgs(['--offer', `camera=operator:${operator.peer.id}`]);
    const owner = await startNodePeer({ name: 'phone', transports: [network.createTransport()], policy: camPolicy });
    running.push(owner);
    const other = await startNodePeer({ name: 'pi', transports: [network.createTransport()] });
    running.push(other);
    await waitFor(() => operator.peer.registry.devices.size === 3 && operator.peer.alive().length === 2, 'three devices');
    await waitFor(() => operator.peer.registry.devices.get(owner.peer.id)?.policy !== undefined, "the owner's policy");
    await operator.orchestrator.packages.publish(await sample('camera'));
    await operator.orchestrator.packages.publish(await sample('grayscale-c', 'grayscale'));

    const manifest = { name: 'cam', sequence: [{ device: null, module: 'camera', func: 'take_image_predefined_path' }, { device: null, module: 'grayscale', func: 'grayscale_jpeg' }] };
    const record = operator.orchestrator.deploy(manifest);
    expect(record.solution['0']).to.equal(owner.peer.id);
    const out = await operator.orchestrator.execute(record.id, {}, { readyTimeoutMs: 30_000 });
    expect(out.result.files.map((f) => f.mediaType)).to.deep.equal(['image/png']);

    // Another operator: the phone keeps its camera for the first one.
    const rogueError = await codeOf(Promise.resolve().then(() => other.orchestrator.deploy({ ...manifest, name: 'rogue' })));
    expect(rogueError.code).to.equal('ERR_CAPABILITY_NOT_OFFERED');

    // The owner switches the camera off: the loaded module's next capture is refused.
    owner.grants.set(await policyFromArgs([]));
    const denied = await codeOf(operator.orchestrator.execute(record.id));
    expect(JSON.stringify(denied)).to.contain('ERR_IMPORT_DENIED');
    await waitFor(() => operator.peer.registry.devices.get(owner.peer.id)?.policy?.offers.every((o) => !o.capability.startsWith('camera')) === true, 'the new policy to reach the operator');
    expect(await codeOf(Promise.resolve().then(() => operator.orchestrator.deploy({ ...manifest, name: 'again' })))).to.have.property('code', 'ERR_CAPABILITY_NOT_OFFERED');
  });
});

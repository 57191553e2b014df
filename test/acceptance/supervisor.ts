/**
 * Supervisor behaviour over any Sandbox adapter: calling conventions from descriptions,
 * mounts, named parameter errors, persisted history, limits and hot update. Runs in
 * Node (worker threads) and Chromium (Workers).
 */
import { expect } from 'chai';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import type { HostServices } from '../../shared/ports/sandbox.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { Supervisor } from '../../shared/supervisor/supervisor.ts';
import type { SandboxHarness } from './sandbox.ts';
import { rejectionOf } from './wait.ts';

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xdb, 9, 8, 7, 0xff, 0xd9]);

/** A pub/sub bus within one supervisor: every publication is delivered back to it. */
function localBus() {
  const deliveries: Promise<number>[] = [];
  let supervisor: Supervisor | undefined;
  const services: HostServices = {
    // Hand the message on without waiting for the handlers, as a publish service must.
    publish: async (topic, data) => void deliveries.push(supervisor!.deliver(topic, data)),
    subscribe: async () => undefined,
  };
  return {
    services,
    attach: (s: Supervisor) => void (supervisor = s),
    /** How many modules handled each publication so far, once all (and those they caused) are done. */
    async settle(): Promise<number[]> {
      const counts: number[] = [];
      for (let i = 0; i < deliveries.length; i++) counts.push(await deliveries[i]!);
      return counts;
    },
  };
}

/** Run the suite against `harness`. */
export function runSupervisorTests(harness: SandboxHarness): void {
  describe(`Supervisor on ${harness.name}`, function () {
    const supervisors: Supervisor[] = [];
    const make = (kv = new MemoryKeyValueStore(), services: HostServices = {}, limits = {}): Supervisor => {
      const s = new Supervisor({ sandbox: harness.create(limits), kv, services });
      supervisors.push(s);
      return s;
    };
    const module = async (name: string) => ({
      wasm: await harness.moduleFile(`${name}/${name}.wasm`),
      description: JSON.parse(new TextDecoder().decode(await harness.moduleFile(`${name}/description.json`))) as ModuleDescription,
    });
    afterEach(async () => {
      await Promise.all(supervisors.splice(0).map((s) => s.stop()));
    });

    it('runs fibo with a WasmIoT query parameter (param0=12 → 233) and records the call', async () => {
      const s = make();
      await s.deploy({ deploymentId: 'd1', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      const out = await s.call('d1', 'fibo', 'fibo', { args: { param0: '12' }, method: 'GET' });
      expect(out.value).to.equal(233);
      const [entry] = await s.history.query({ deploymentId: 'd1' });
      expect(entry).to.include({ requestId: out.requestId, moduleName: 'fibo', functionName: 'fibo', success: true, result: 233, method: 'GET' });
      expect(entry!.args).to.deep.equal(['12']);
    });

    it('takes an i64 argument as a bigint and records it as decimal text', async () => {
      const s = make();
      await s.deploy({ deploymentId: 'd1', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      const out = await s.call('d1', 'fibo', 'fibo', { args: [13n] });
      expect(out.value).to.equal(377);
      const [entry] = await s.history.query({ deploymentId: 'd1' });
      expect(entry!.args).to.deep.equal(['13']);
    });

    it('refuses a missing or unparsable parameter by name, never running with a silent 0', async () => {
      const s = make();
      await s.deploy({ deploymentId: 'd1', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      const missing = await rejectionOf(s.call('d1', 'fibo', 'fibo', { args: {} }));
      expect(missing.code).to.equal('ERR_INVALID_PARAMS');
      expect(missing.message).to.contain('param0');
      const junk = await rejectionOf(s.call('d1', 'fibo', 'fibo', { args: ['twelve'] }));
      expect(junk.code).to.equal('ERR_INVALID_PARAMS');
      expect(junk.message).to.contain('twelve');
      expect((await rejectionOf(s.call('d1', 'fibo', 'fibo', { args: ['1.5'] }))).code).to.equal('ERR_INVALID_PARAMS');
      const failures = await s.history.query({ deploymentId: 'd1' });
      expect(failures.map((e) => [e.success, e.error?.code])).to.deep.equal([
        [false, 'ERR_INVALID_PARAMS'],
        [false, 'ERR_INVALID_PARAMS'],
        [false, 'ERR_INVALID_PARAMS'],
      ]);
    });

    it('uses the pointer ABI and the in-place buffer ABI as the descriptions say', async () => {
      const s = make();
      await s.deploy({ deploymentId: 'd2', name: 'fp', ...(await module('fibo-pointers')) });
      const fp = await s.call('d2', 'fp', 'fibo_from_pointers', { input: new Uint8Array([20]) });
      expect(new DataView(fp.bytes!.buffer, fp.bytes!.byteOffset).getBigUint64(0, true)).to.equal(10946n);
      await s.deploy({ deploymentId: 'd2', name: 'gray', ...(await module('grayscale')) });
      const image = new Uint8Array(640 * 480 * 3).fill(200);
      image.set([255, 0, 0], 3);
      const g = await s.call('d2', 'gray', 'convert2Grayscale', { input: image });
      expect(Array.from(g.bytes!.subarray(0, 6))).to.deep.equal([200, 200, 200, 76, 76, 76]);
    });

    it('returns an output-stage file with its media type', async () => {
      const s = make(undefined, { captureImage: async () => JPEG });
      await s.deploy({ deploymentId: 'cam', name: 'camera', ...(await module('camera')), grants: ['camera.takeImageStaticSize', 'wasi_snapshot_preview1.*'] });
      const out = await s.call('cam', 'camera', 'take_image_predefined_path');
      expect(out.files.map((f) => [f.name, f.mediaType, Array.from(f.bytes)])).to.deep.equal([['image.jpeg', 'image/jpeg', Array.from(JPEG)]]);
      const [entry] = await s.history.query();
      expect(entry!.outputFiles![0]).to.include({ name: 'image.jpeg', size: JPEG.byteLength, mediaType: 'image/jpeg' });
    });

    it('needs a file for every deployment-stage mount', async () => {
      const s = make();
      const reader = await module('wasi-reader');
      const error = await rejectionOf(s.deploy({ deploymentId: 'r', name: 'reader', ...reader, grants: ['wasi_snapshot_preview1.*'] }));
      expect(error.code).to.equal('ERR_INVALID_PARAMS');
      expect(error.message).to.contain('data.bin');
      await s.deploy({ deploymentId: 'r', name: 'reader', ...reader, grants: ['wasi_snapshot_preview1.*'], dataFiles: { 'data.bin': await harness.moduleFile('wasi-reader/data.bin') } });
      expect((await s.call('r', 'reader', 'sum_bytes')).value).to.equal(127572);
    });

    it('keeps its history and request numbering across a restart, queryable per function', async () => {
      const kv = new MemoryKeyValueStore();
      const first = make(kv);
      await first.deploy({ deploymentId: 'h', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      const a = await first.call('h', 'fibo', 'fibo', { args: [5] });
      await first.stop();
      const second = make(kv);
      await second.deploy({ deploymentId: 'h', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      const b = await second.call('h', 'fibo', 'fibo', { args: [6] });
      expect(Number(b.requestId)).to.be.greaterThan(Number(a.requestId));
      const all = await second.history.query({ deploymentId: 'h', moduleName: 'fibo', functionName: 'fibo' });
      expect(all.map((e) => e.result)).to.deep.equal([13, 8]);
      expect(await second.history.get(a.requestId)).to.include({ result: 8, success: true });
    });

    it('records a timed-out call as ERR_CALL_TIMEOUT and serves the next call', async () => {
      const s = make(undefined, {}, { callTimeoutMs: 300 });
      await s.deploy({ deploymentId: 'l', name: 'loop', ...(await module('loop')) });
      expect((await s.call('l', 'loop', 'next')).value).to.equal(11);
      expect((await rejectionOf(s.call('l', 'loop', 'forever'))).code).to.equal('ERR_CALL_TIMEOUT');
      expect((await s.call('l', 'loop', 'next')).value).to.equal(22);
      const [, timedOut] = await s.history.query({ deploymentId: 'l' });
      expect(timedOut!.error!.code).to.equal('ERR_CALL_TIMEOUT');
    });

    it('routes pub/sub between two deployments: poly-client publishes 1, -3, 2 and receives the roots 2 and 1 from poly-server', async () => {
      const bus = localBus();
      const s = make(undefined, bus.services);
      bus.attach(s);
      await s.deploy({ deploymentId: 'solver', name: 'server', ...(await module('poly-server')), grants: ['pubsub.*'], topics: { publish: ['poly/roots'], subscribe: ['poly/request'] } });
      await s.deploy({ deploymentId: 'app', name: 'client', ...(await module('poly-client')), grants: ['pubsub.*'], topics: { publish: ['poly/request'], subscribe: ['poly/*'] } });
      expect((await s.call('solver', 'server', 'start')).value).to.equal(0);
      expect((await s.call('app', 'client', 'solve', { args: { param0: '1', param1: '-3', param2: '2' } })).value).to.equal(0);
      // The request reached the server; its answer reached the client.
      expect(await bus.settle()).to.deep.equal([1, 1]);
      const read = async (fn: string) => (await s.call('app', 'client', fn)).value;
      expect([await read('root_count'), await read('root1'), await read('root2')]).to.deep.equal([2, 2, 1]);
      expect(s.subscriptions()).to.have.deep.members([
        { deploymentId: 'solver', module: 'server', topic: 'poly/request' },
        { deploymentId: 'app', module: 'client', topic: 'poly/roots' },
      ]);
      const handled = await s.history.query({ functionName: 'on_message' });
      expect(handled.map((e) => [e.deploymentId, e.moduleName, e.method, e.args, e.success])).to.have.deep.members([
        ['solver', 'server', 'pubsub', ['poly/request'], true],
        ['app', 'client', 'pubsub', ['poly/roots'], true],
      ]);
      expect(await s.undeploy('app')).to.equal(true);
      expect(s.subscriptions()).to.deep.equal([{ deploymentId: 'solver', module: 'server', topic: 'poly/request' }]);
    });

    it('fails publish and subscribe to a topic the deployment does not grant with ERR_TOPIC_DENIED, and keeps the instance', async () => {
      const bus = localBus();
      const s = make(undefined, bus.services);
      bus.attach(s);
      const topics = { publish: ['poly/roots'], subscribe: ['poly/roots'] };
      await s.deploy({ deploymentId: 'd', name: 'client', ...(await module('poly-client')), grants: ['pubsub.*'], topics });
      await s.deploy({ deploymentId: 'd', name: 'server', ...(await module('poly-server')), grants: ['pubsub.*'], topics });
      const publish = await rejectionOf(s.call('d', 'client', 'solve', { args: [1, -3, 2] }));
      expect(publish.code).to.equal('ERR_TOPIC_DENIED');
      expect(publish.message).to.contain('poly/request');
      const subscribe = await rejectionOf(s.call('d', 'server', 'start'));
      expect(subscribe.code).to.equal('ERR_TOPIC_DENIED');
      expect(subscribe.message).to.contain('poly/request');
      expect(await bus.settle()).to.deep.equal([]);
      expect(s.subscriptions().map((x) => `${x.module} ${x.topic}`)).to.deep.equal(['client poly/roots']);
      expect((await s.call('d', 'client', 'root_count')).value).to.equal(-1);
      const [, sub, pub] = await s.history.query({ deploymentId: 'd' });
      expect([pub!.error!.code, sub!.error!.code]).to.deep.equal(['ERR_TOPIC_DENIED', 'ERR_TOPIC_DENIED']);
    });

    it('delivers to every matching subscriber when one handler fails, counting those that handled it', async () => {
      const bus = localBus();
      const s = make(undefined, bus.services);
      bus.attach(s);
      const server = await module('poly-server');
      await s.deploy({ deploymentId: 'p', name: 'good', ...server, grants: ['pubsub.*'], topics: { publish: ['poly/roots'], subscribe: ['poly/request'] } });
      // Subscribes, but may not publish its answer: its handler fails.
      await s.deploy({ deploymentId: 'p', name: 'mute', ...server, grants: ['pubsub.*'], topics: { publish: [], subscribe: ['poly/#'] } });
      await s.deploy({ deploymentId: 'p', name: 'client', ...(await module('poly-client')), grants: ['pubsub.*'], topics: { publish: ['poly/request'], subscribe: ['poly/roots'] } });
      await s.call('p', 'good', 'start');
      await s.call('p', 'mute', 'start');
      await s.call('p', 'client', 'solve', { args: [2, 0, -8] });
      expect(await bus.settle()).to.deep.equal([1, 1]);
      expect([(await s.call('p', 'client', 'root1')).value, (await s.call('p', 'client', 'root2')).value]).to.deep.equal([2, -2]);
      const [failed] = await s.history.query({ moduleName: 'mute', functionName: 'on_message' });
      expect(failed).to.include({ method: 'pubsub', success: false });
      expect(failed!.error!.code).to.equal('ERR_TOPIC_DENIED');
    });

    it('refuses at deploy a pub/sub module not granted pubsub.*, and one this peer has no pub/sub for', async () => {
      const s = make(undefined, localBus().services);
      const client = await module('poly-client');
      const denied = await rejectionOf(s.deploy({ deploymentId: 'x', name: 'client', ...client, grants: [], topics: { publish: ['#'], subscribe: ['#'] } }));
      expect(denied.code).to.equal('ERR_IMPORT_DENIED');
      expect(denied.message).to.contain('pubsub.');
      const bare = make();
      expect(bare.interfaces()).to.not.include('pubsub.publish');
      expect((await rejectionOf(bare.deploy({ deploymentId: 'x', name: 'client', ...client, grants: ['pubsub.*'] }))).code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
    });

    it('hot-updates a module: the call in flight finishes on the old version, new calls reach the new one', async () => {
      const s = make(undefined, { readTemperature: async () => 20, readHumidity: async () => 0.5, rpcCall: async () => undefined });
      const demo = await module('host-demo');
      const grants = ['sys.*', 'dht.*', 'communication.*'];
      await s.deploy({ deploymentId: 'u', name: 'demo', ...demo, grants });
      const inFlight = s.call('u', 'demo', 'elapsed', { args: [400] });
      await new Promise((r) => setTimeout(r, 100));
      const updated = await s.deploy({ deploymentId: 'u', name: 'demo', ...demo, description: { ...demo.description, version: '2.0.0' }, grants });
      expect(updated.version).to.equal('2.0.0');
      expect((await inFlight).value as number).to.be.at.least(400);
      expect((await s.call('u', 'demo', 'temperature')).value).to.equal(20);

      await s.deploy({ deploymentId: 'u', name: 'counter', ...(await module('stateful-fibo')) });
      expect([(await s.call('u', 'counter', 'stateful_fibo')).value, (await s.call('u', 'counter', 'stateful_fibo')).value]).to.deep.equal([1, 2]);
      const next = await module('stateful-fibo');
      await s.deploy({ deploymentId: 'u', name: 'counter', ...next, description: { ...next.description, version: '1.1.0' } });
      expect((await s.call('u', 'counter', 'stateful_fibo')).value).to.equal(1);
    });

    it('deploys a module linked to its provider and serves it (calc over math: 7 → 56)', async () => {
      const s = make();
      const providers = [{ name: 'math', wasm: await harness.moduleFile('math/math.wasm') }];
      await s.deploy({ deploymentId: 'link', name: 'calc', ...(await module('calc')), providers });
      expect((await s.call('link', 'calc', 'square_plus', { args: { param0: '7' } })).value).to.equal(56);
      expect((await s.call('link', 'calc', 'math_calls')).value).to.equal(2);
      const unlinked = await rejectionOf(s.deploy({ deploymentId: 'bare', name: 'calc', ...(await module('calc')) }));
      expect(unlinked.code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
      expect(unlinked.message).to.contain('math.add');
    });

    it('deploys and serves modules from the Rust and Emscripten toolchains as their descriptions say', async () => {
      const s = make(undefined, { captureImage: async () => JPEG });
      const wasi = 'wasi_snapshot_preview1.*';
      await s.deploy({ deploymentId: 'rs', name: 'fibo', ...(await module('rust-fibo')), grants: [wasi] });
      expect((await s.call('rs', 'fibo', 'fibo', { args: { param0: '12' }, method: 'GET' })).value).to.equal(233);
      await s.deploy({ deploymentId: 'rs', name: 'ptr', ...(await module('rust-pointers')), grants: [wasi] });
      const fp = await s.call('rs', 'ptr', 'fibo_from_pointers', { input: new Uint8Array([20]) });
      expect(new DataView(fp.bytes!.buffer, fp.bytes!.byteOffset).getBigUint64(0, true)).to.equal(10946n);
      await s.deploy({ deploymentId: 'rs', name: 'files', ...(await module('rust-files')), grants: [wasi], dataFiles: { 'data.bin': await harness.moduleFile('rust-files/data.bin') } });
      expect((await s.call('rs', 'files', 'sum_bytes')).value).to.equal(127572);
      const shout = await s.call('rs', 'files', 'shout', { files: { 'input.txt': new TextEncoder().encode('abc') } });
      expect(shout.files.map((f) => [f.name, f.mediaType, new TextDecoder().decode(f.bytes)])).to.deep.equal([['output.txt', 'text/plain', 'ABC']]);
      await s.deploy({ deploymentId: 'rs', name: 'cam', ...(await module('rust-camera')), grants: ['camera.*', wasi] });
      const cam = await s.call('rs', 'cam', 'take_image_dynamic');
      expect(cam.files.map((f) => [f.name, Array.from(f.bytes)])).to.deep.equal([['image.jpeg', Array.from(JPEG)]]);
      await s.deploy({ deploymentId: 'rs', name: 'em', ...(await module('emcc-fibo')), grants: [wasi] });
      expect((await s.call('rs', 'em', 'fibo', { args: [20] })).value).to.equal(10946);
    });

    it('lists what it can grant, and forgets undeployed modules', async () => {
      const s = make(undefined, { captureImage: async () => JPEG });
      expect(s.interfaces()).to.include.members(['wasi_snapshot_preview1.*', 'sys.millis', 'camera.takeImageStaticSize']);
      expect(s.interfaces()).to.not.include('dht.getTemperature');
      await s.deploy({ deploymentId: 'x', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      expect(s.deployed().map((d) => d.name)).to.deep.equal(['fibo']);
      expect(await s.undeploy('x')).to.equal(true);
      expect((await rejectionOf(s.call('x', 'fibo', 'fibo', { args: [1] }))).code).to.equal('ERR_DEPLOYMENT_NOT_FOUND');
    });
  });
}

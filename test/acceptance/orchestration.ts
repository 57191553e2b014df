/**
 * Orchestration over any Sandbox adapter: publish, deploy, execute, chain, link, roll
 * back, fail over, adopt and pub/sub — with real peers, real registries and real
 * workers on the in-memory network. Runs in Node (worker threads) and Chromium (Workers).
 */
import { expect } from 'chai';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleRecord } from '../../shared/registry/schema.ts';
import type { PhaseRecord } from '../../shared/registry/schema.ts';
import type { HostServices, Sandbox } from '../../shared/ports/sandbox.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { createLogger } from '../../shared/log.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { rejectionOf, waitFor } from './wait.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

/** What the suite needs from an environment. */
export interface OrchestrationHarness {
  name: string;
  /** A fresh sandbox for one peer. */
  sandbox(): Sandbox;
  /** Bytes of a file under modules/ (e.g. `fibo/fibo.wasm`). */
  moduleFile(path: string): Promise<Uint8Array>;
}

/** A module that traps in its start function: it publishes fine and never loads. */
const TRAPS_AT_START = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x07, 0x08, 0x01, 0x04, 0x66, 0x69, 0x62, 0x6f, 0x00, 0x00, // export "fibo"
  0x08, 0x01, 0x00, // start: function 0
  0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // body: unreachable
]);

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };

/** Run the suite against `harness`. */
export function runOrchestrationTests(harness: OrchestrationHarness): void {
  describe(`Orchestration on ${harness.name}`, function () {
    let network: MemoryNetwork;
    let peers: SupervisedPeer[] = [];
    const log = collectLogs();

    const start = async (name: string, options: { camera?: boolean; engine?: 'browser' | 'node'; store?: ReturnType<typeof memoryStore> } = {}): Promise<SupervisedPeer> => {
      const services: HostServices = {};
      if (options.camera) {
        const camera = new FakeCamera({ width: 64, height: 48 });
        services.captureImage = async () => camera.capture();
      }
      const p = await startSupervisedPeer({
        policy: OFFER_EVERYTHING,
        transports: [network.createTransport()],
        store: options.store ?? memoryStore(),
        clock: new SystemClock(),
        device: { name, engine: options.engine ?? 'node', platform: { cpu: { humanReadableName: 'test', cores: 2 }, memory: { bytes: 2 ** 30 } } },
        sandbox: harness.sandbox(),
        services,
        timing: FAST,
        logger: createLogger(`peer:${name}`, log.sink),
        deploymentTiming: { startMs: 3000 },
      });
      peers.push(p);
      return p;
    };
    const mesh = async (...names: string[]): Promise<SupervisedPeer[]> => {
      const out: SupervisedPeer[] = [];
      for (const n of names) out.push(await start(n, { camera: n.startsWith('cam'), engine: n.startsWith('tab') ? 'browser' : 'node' }));
      await waitFor(() => out.every((p) => p.peer.alive().length === out.length - 1 && p.peer.registry.devices.size === out.length), 'every peer sees every other');
      return out;
    };
    const kill = async (p: SupervisedPeer): Promise<void> => {
      peers = peers.filter((q) => q !== p);
      await p.stop();
    };
    const module = async (dir: string, file = dir): Promise<{ wasm: Uint8Array; description: ModuleDescription }> => ({
      wasm: await harness.moduleFile(`${dir}/${file}.wasm`),
      description: JSON.parse(new TextDecoder().decode(await harness.moduleFile(`${dir}/description.json`))) as ModuleDescription,
    });
    const ready = (p: SupervisedPeer, ref: string) => p.orchestrator.waitFor(ref, (v) => v.record.status === 'ready', 15_000);

    beforeEach(() => {
      network = new MemoryNetwork();
      log.lines.length = 0;
    });
    afterEach(async () => {
      await Promise.all(peers.splice(0).map((p) => p.stop()));
    });

    it('publishes on one peer, deploys from another, executes from a third: fibo(12) = 233', async () => {
      const [a, b, c] = await mesh('a', 'b', 'c');
      const record = await a!.orchestrator.packages.publish(await module('fibo'));
      await waitFor(() => c!.peer.registry.modules.get(record.id) !== undefined, 'the module record reaches c');
      expect(c!.orchestrator.packages.resolve('fibo').exports.map((e) => e.name)).to.include('fibo');
      const seen: PhaseRecord['phase'][] = [];
      const off = c!.peer.registry.on('change', () => {
        for (const d of c!.peer.registry.deployments.values()) for (const ph of Object.values(d.phases)) if (seen.at(-1) !== ph.phase) seen.push(ph.phase);
      });
      const dep = b!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'c' }] });
      const view = await ready(b!, dep.id);
      off();
      expect(view.record.solution).to.deep.equal({ '0': c!.peer.id });
      expect(seen).to.include.members(['resolving', 'fetching', 'loading', 'ready']);
      expect(await c!.peer.store.blobs.has(record.id), 'the blob travelled to the host').to.equal(true);
      const out = await c!.orchestrator.execute('fib', { args: { param0: '12' } });
      expect(out.result.value).to.equal(233);
      expect(out.steps.map((s) => [s.peer, s.module, s.func])).to.deep.equal([[c!.peer.id, 'fibo', 'fibo']]);
      const history = await a!.peer.call(c!.peer.id, 'supervisor.history', { deploymentId: dep.id });
      expect(history.map((h) => h.result)).to.deep.equal([233]);
    });

    it('explains placement and refuses what cannot run, naming the reason', async () => {
      const [a, cam] = await mesh('a', 'cam');
      await a!.orchestrator.packages.publish(await module('fibo'));
      await a!.orchestrator.packages.publish(await module('camera'));
      expect((await rejectionOf(Promise.resolve().then(() => a!.orchestrator.deploy({ name: 'x', sequence: [{ module: 'nope', func: 'f' }] })))).code).to.equal('ERR_UNKNOWN_MODULE');
      const fn = await rejectionOf(Promise.resolve().then(() => a!.orchestrator.deploy({ name: 'x', sequence: [{ module: 'fibo', func: 'fib' }] })));
      expect(fn.code).to.equal('ERR_UNKNOWN_FUNCTION');
      expect(fn.message).to.contain('fibo');
      const pinned = await rejectionOf(Promise.resolve().then(() => a!.orchestrator.deploy({ name: 'x', sequence: [{ module: 'camera', func: 'take_image_predefined_path', device: 'a' }] })));
      expect(pinned.code).to.equal('ERR_NO_PLACEMENT');
      expect(pinned.message).to.contain('camera.takeImage');
      const dep = a!.orchestrator.deploy({ name: 'photo', sequence: [{ module: 'camera', func: 'take_image_predefined_path', device: null }] });
      expect(dep.solution['0']).to.equal(cam!.peer.id);
      expect(JSON.stringify(dep.explanation)).to.contain('camera.takeImage');
      expect(a!.peer.registry.deployments.keys()).to.deep.equal([dep.id]);
    });

    it('runs consecutive steps on one peer in-process and across peers by hops', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish(await module('fibo'));
      const dep = a!.orchestrator.deploy({
        name: 'fib-fib-fib',
        sequence: [
          { module: 'fibo', func: 'fibo', device: 'a' },
          { device: 'b', func: 'fibo', module: 'fibo' },
          { func: 'fibo', module: 'fibo', device: 'b' },
        ],
      });
      await ready(a!, dep.id);
      const out = await a!.orchestrator.execute(dep.id, { args: [2] });
      // fibo(2) = 2, fibo(2) = 2, fibo(2) = 2; then with 3: 3 → fibo(3) = 3 …
      expect(out.steps.map((s) => s.peer)).to.deep.equal([a!.peer.id, b!.peer.id, b!.peer.id]);
      expect(out.steps.map((s) => s.value)).to.deep.equal([2, 2, 2]);
      const four = await b!.orchestrator.execute(dep.id, { args: [4] });
      expect(four.steps.map((s) => s.value)).to.deep.equal([5, 8, 34]);
      expect(four.result.value).to.equal(34);
      for (const s of four.steps) expect(s.durationMs).to.be.a('number');
    });

    it('links a provider module at runtime and refuses a missing one at deploy time', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish(await module('calc'));
      const missing = await rejectionOf(Promise.resolve().then(() => b!.orchestrator.deploy({ name: 'c', sequence: [{ module: 'calc', func: 'square_plus' }] })));
      expect(missing.code).to.equal('ERR_MISSING_PROVIDER');
      expect(missing.message).to.contain('math');
      await a!.orchestrator.packages.publish(await module('math'));
      await waitFor(() => b!.peer.registry.modules.size === 2, 'both modules reach b');
      const closure = b!.orchestrator.packages.closure('calc');
      expect(closure.providers.map((p) => p.name)).to.deep.equal(['math']);
      const dep = b!.orchestrator.deploy({ name: 'c', sequence: [{ module: 'calc', func: 'square_plus', device: 'b' }] });
      await ready(b!, dep.id);
      expect((await a!.orchestrator.execute('c', { args: [7] })).result.value).to.equal(56);
    });

    it('rolls a failed update back to the revision that worked, and keeps serving it', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish(await module('fibo'));
      const dep = a!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'b' }] });
      await ready(a!, dep.id);
      await a!.orchestrator.packages.publish({
        wasm: TRAPS_AT_START,
        description: { name: 'fibo', version: '2.0.0', functions: { fibo: { method: 'GET', params: [], result: { type: 'none' }, mounts: [] } } },
      });
      expect(a!.orchestrator.packages.list('fibo').map((m: ModuleRecord) => m.version)).to.deep.equal(['2.0.0', '1.0.0']);
      const updated = a!.orchestrator.update(dep.id);
      expect(updated.revision).to.equal(2);
      const after = await a!.orchestrator.waitFor(dep.id, (v) => v.record.status === 'rolled-back' || v.record.status === 'failed', 15_000);
      expect(after.record.status).to.equal('rolled-back');
      expect(after.record.reason).to.match(/rolled back to revision 1.*step 0 \(fibo\.fibo\) failed/);
      expect(after.record.revision).to.equal(3);
      expect((await b!.orchestrator.execute(dep.id, { args: [12] })).result.value).to.equal(233);
    });

    it('fails a first deployment that cannot load, leaving nothing in progress', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish({
        wasm: TRAPS_AT_START,
        description: { name: 'broken', version: '1.0.0', functions: { fibo: { method: 'GET', params: [], result: { type: 'none' }, mounts: [] } } },
      });
      const dep = a!.orchestrator.deploy({ name: 'broken', sequence: [{ module: 'broken', func: 'fibo', device: 'b' }] });
      const view = await a!.orchestrator.waitFor(dep.id);
      expect(view.record.status).to.equal('failed');
      expect(view.record.reason).to.contain('ERR_');
      expect((await rejectionOf(a!.orchestrator.execute(dep.id))).code).to.equal('ERR_DEPLOYMENT_FAILED');
      expect(b!.supervisor.deployed()).to.deep.equal([]);
    });

    it('re-places the steps of a device that left, and the deployment answers again', async () => {
      const [tab, b, c] = await mesh('tab', 'b', 'c');
      await tab!.orchestrator.packages.publish(await module('fibo'));
      // Only the Node peers may host it, so the coordinating tab survives the loss.
      const dep = tab!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo' }], engines: ['node'] });
      const first = await ready(tab!, dep.id);
      const [host, survivor] = first.record.solution['0'] === b!.peer.id ? [b!, c!] : [c!, b!];
      expect(JSON.stringify(first.record.explanation)).to.contain('engine browser not allowed');
      await kill(host);
      const healed = await tab!.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready' && v.record.solution['0'] !== host.peer.id, 15_000);
      expect(healed.record.revision).to.be.greaterThan(first.record.revision);
      expect(healed.record.solution['0']).to.equal(survivor.peer.id);
      expect(JSON.stringify(healed.record.explanation)).to.contain('left the mesh');
      expect((await survivor.orchestrator.execute(dep.id, { args: [12] })).result.value).to.equal(233);
    });

    it('lets an alive peer adopt the deployments of a coordinator that left', async () => {
      const [a, b, c] = await mesh('a', 'b', 'c');
      await b!.orchestrator.packages.publish(await module('fibo'));
      await waitFor(() => a!.peer.registry.modules.size === 1, 'the module reaches a');
      const dep = a!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'c' }] });
      await ready(a!, dep.id);
      await kill(a!);
      const adopted = await b!.orchestrator.waitFor(dep.id, (v) => v.record.coordinator !== a!.peer.id, 10_000);
      expect([b!.peer.id, c!.peer.id]).to.include(adopted.record.coordinator);
      expect(adopted.record.status).to.equal('ready');
      expect((await b!.orchestrator.execute(dep.id, { args: [5] })).result.value).to.equal(8);
    });

    it('a peer that restarts alone from its saved registry takes nothing over before it hears the mesh', async () => {
      const stores = { a: memoryStore(), b: memoryStore() };
      const a = await start('a', { store: stores.a });
      const b = await start('b', { store: stores.b });
      await waitFor(() => a.peer.alive().length === 1 && b.peer.alive().length === 1, 'a and b to see each other');
      await a.orchestrator.packages.publish(await module('fibo'));
      const dep = a.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'b' }] });
      const first = await ready(a, dep.id);
      // Both go at once (a phone and its host both closed): nobody acts on the other leaving.
      peers = [];
      await Promise.all([a.stop(), b.stop()]);

      // a comes back alone, as a PWA reopened offline would: it must not adopt or re-place b's step.
      const again = await start('a', { store: stores.a });
      await new Promise((r) => setTimeout(r, 1500));
      const alone = again.orchestrator.get(dep.id).record;
      expect([alone.status, alone.revision, alone.solution]).to.deep.equal(['ready', first.record.revision, first.record.solution]);
      const back = await start('b', { store: stores.b });
      await waitFor(() => again.peer.alive().includes(back.peer.id), 'a to hear b again');
      // b reloads its step from its own saved registry; the deployment answers as before.
      let value: unknown;
      await waitFor(async () => (value = await again.orchestrator.execute(dep.id, { args: [12] }).then((o) => o.result.value, () => undefined)) !== undefined, 'fib to answer');
      expect(value).to.equal(233);
      expect(again.orchestrator.get(dep.id).record.revision).to.equal(first.record.revision);
    });

    it('deletes a deployment: every peer unloads its modules, and only those', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish(await module('fibo'));
      const dep = a!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'b' }, { module: 'fibo', func: 'fibo', device: 'a' }] });
      // A module deployed on a supervisor directly (not through the registry) is not the orchestrator's to remove.
      await b!.supervisor.deploy({ deploymentId: 'local', name: 'fibo', ...(await module('fibo')), grants: ['wasi_snapshot_preview1.*'] });
      await ready(a!, dep.id);
      expect(b!.supervisor.deployed().map((d) => d.deploymentId).sort()).to.deep.equal([dep.id, 'local']);
      a!.orchestrator.remove('fib');
      await waitFor(() => a!.supervisor.deployed().length === 0 && b!.supervisor.deployed().length === 1, 'every module of the deployment unloaded');
      expect(b!.supervisor.deployed().map((d) => d.deploymentId)).to.deep.equal(['local']);
      expect((await rejectionOf(Promise.resolve().then(() => b!.orchestrator.get('fib')))).code).to.equal('ERR_UNKNOWN_DEPLOYMENT');
    });

    it('manages versions: list, resolve by name@version, refuse removing one in use', async () => {
      const [a] = await mesh('a');
      const v1 = await a!.orchestrator.packages.publish(await module('fibo'));
      const d = a!.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo@1.0.0', func: 'fibo' }] });
      await ready(a!, d.id);
      expect((await rejectionOf(a!.orchestrator.packages.remove('fibo'))).code).to.equal('ERR_MODULE_IN_USE');
      a!.orchestrator.remove(d.id);
      expect((await a!.orchestrator.packages.remove('fibo@1.0.0')).id).to.equal(v1.id);
      expect(a!.orchestrator.packages.list()).to.deep.equal([]);
      expect(await a!.peer.store.blobs.has(v1.id)).to.equal(false);
    });

    it('carries pub/sub between peers within topic grants: the polynomial client gets its roots', async () => {
      const [a, b] = await mesh('a', 'b');
      await a!.orchestrator.packages.publish(await module('poly-client'));
      await a!.orchestrator.packages.publish(await module('poly-server'));
      const server = a!.orchestrator.deploy({ name: 'server', sequence: [{ module: 'poly-server', func: 'start', device: 'b' }], topics: { 'poly-server': { subscribe: ['poly/request'], publish: ['poly/roots'] } } });
      const client = a!.orchestrator.deploy({ name: 'client', sequence: [{ module: 'poly-client', func: 'solve', device: 'a' }], topics: { 'poly-client': { subscribe: ['poly/roots'], publish: ['poly/request'] } } });
      await ready(a!, server.id);
      await ready(a!, client.id);
      await a!.orchestrator.execute(server.id);
      expect((await b!.orchestrator.execute(client.id, { args: [1, -3, 2] })).result.value).to.equal(0);
      await waitFor(async () => (await b!.orchestrator.call(client.id, 'poly-client', 'root_count')).value === 2, 'the client received two roots');
      const roots = [(await a!.orchestrator.call('client', 'poly-client', 'root1')).value, (await a!.orchestrator.call('client', 'poly-client', 'root2')).value];
      expect(roots).to.deep.equal([2, 1]);
      // A client deployed without the grant to publish requests is refused by name.
      const rogue = a!.orchestrator.deploy({ name: 'rogue', sequence: [{ module: 'poly-client', func: 'solve', device: 'b' }], topics: { 'poly-client': { subscribe: ['poly/roots'], publish: [] } } });
      await ready(a!, rogue.id);
      const denied = await rejectionOf(a!.orchestrator.execute(rogue.id, { args: [1, 0, -4] }));
      expect(denied.code).to.equal('ERR_TOPIC_DENIED');
      expect(denied.message).to.contain('poly/request');
    });
  });
}

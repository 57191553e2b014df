/**
 * The acceptance suite every Sandbox adapter passes: Node worker threads under vitest,
 * browser Workers in Chromium under web-test-runner. The same sample modules
 * (modules/) must give the same results in both.
 */
import { expect } from 'chai';
import type { HostServices, Sandbox, SandboxLimits } from '../../shared/ports/sandbox.ts';
import { dataBomb, globalsBomb, recursion, segmentsBomb, tableBomb, tableGrower } from '../helpers/hostile-wasm.ts';
import { rejectionOf } from './wait.ts';

/** How an adapter is set up for the suite. */
export interface SandboxHarness {
  name: string;
  create(limits?: Partial<SandboxLimits>): Sandbox;
  /** Bytes of a file under modules/ (e.g. `fibo/fibo.wasm`). */
  moduleFile(path: string): Promise<Uint8Array>;
  /**
   * False when the adapter runs without shared memory (a page that is not cross-origin
   * isolated, an engine without SharedArrayBuffer): imports answered by the host thread
   * are then refused at load, and the tests of what they do give way to that refusal.
   */
  sharedMemory?: boolean;
  /**
   * Whether imports answered by the host thread work: with shared memory, or without it
   * through a service worker (ADR 0039). Default: as `sharedMemory`.
   */
  hostCalls?: boolean;
}

const scalar = (fn: string, ...args: (number | bigint)[]) => ({ fn, convention: { kind: 'scalar' as const, args } });
const u64le = (n: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
};
// A tiny but real JPEG header + payload stand-in is enough: the module stores bytes, it does not decode.
const FRAME = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 0xff, 0xd9]);
const f64le = (...values: number[]): Uint8Array => {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setFloat64(8 * i, v, true));
  return out;
};
const message = (topic: string, data: Uint8Array) => ({ fn: 'on_message', convention: { kind: 'message' as const, alloc: 'alloc', topic, data } });

/**
 * A minimal module for provider graphs: exports `name: () -> ()`, which calls `f` imported
 * from each module of `from` in turn. (Short ASCII names only: every size fits one byte.)
 */
function relay(from: string[], name = 'f'): Uint8Array {
  const str = (s: string): number[] => [s.length, ...new TextEncoder().encode(s)];
  const section = (id: number, body: number[]): number[] => [id, body.length, ...body];
  const code = [0x00, ...from.flatMap((_, i) => [0x10, i]), 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 0]),
    ...(from.length ? section(2, [from.length, ...from.flatMap((m) => [...str(m), ...str('f'), 0x00, 0x00])]) : []),
    ...section(3, [1, 0]),
    ...section(7, [1, ...str(name), 0x00, from.length]),
    ...section(10, [1, code.length, ...code]),
  ]);
}

/** Run the suite against `harness`. */
export function runSandboxTests(harness: SandboxHarness): void {
  describe(`Sandbox acceptance: ${harness.name}`, function () {
    let sandbox: Sandbox;
    const hostCalls = harness.hostCalls ?? harness.sharedMemory !== false;
    /** A test of imports answered by the host thread: where nothing can answer them they are refused at load instead (tested below). */
    const itHostThread = (title: string, body: () => Promise<void>): void => {
      if (hostCalls) it(title, body);
    };
    const wasm = (name: string): Promise<Uint8Array> => harness.moduleFile(`${name}/${name}.wasm`);
    afterEach(async () => {
      await sandbox?.close();
    });

    it('runs fibo with an i64 parameter: 0 → 1, 5 → 8, 12 → 233, 20 → 10946', async () => {
      sandbox = harness.create();
      const fibo = await sandbox.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] });
      const out: unknown[] = [];
      for (const n of [0n, 5n, 12n, 20n]) out.push((await fibo.call(scalar('fibo', n))).value);
      expect(out).to.deep.equal([1n, 8n, 233n, 10946n]);
      expect(fibo.info.exports.find((e) => e.name === 'fibo')?.type).to.deep.equal({ params: ['i64'], results: ['i64'] });
    });

    it('keeps state across calls on one instance, and a fresh instance or fresh call starts over', async () => {
      sandbox = harness.create();
      const bytes = await wasm('stateful-fibo');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      const seq: unknown[] = [];
      for (let i = 0; i < 5; i++) seq.push((await a.call(scalar('stateful_fibo'))).value);
      expect(seq).to.deep.equal([1n, 2n, 3n, 5n, 8n]);
      expect((await a.call({ ...scalar('stateful_fibo'), fresh: true })).value).to.equal(1n);
      expect((await a.call(scalar('stateful_fibo'))).value).to.equal(13n);
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      expect((await b.call(scalar('stateful_fibo'))).value).to.equal(1n);
    });

    it('passes bytes in and out through alloc and pointers', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('fibo-pointers'), grants: [] });
      const r = await m.call({ fn: 'fibo_from_pointers', convention: { kind: 'bytes', alloc: 'alloc', input: new Uint8Array([12]) } });
      expect(Array.from(r.bytes!)).to.deep.equal(Array.from(u64le(233n)));
    });

    it('converts a 640×480 RGB image to grayscale in place behind an exported pointer', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('grayscale'), grants: [] });
      const image = new Uint8Array(640 * 480 * 3);
      image.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30], 0);
      const r = await m.call({ fn: 'convert2Grayscale', convention: { kind: 'buffer', pointer: 'get_img_ptr', input: image } });
      expect(r.bytes!.byteLength).to.equal(image.byteLength);
      expect(Array.from(r.bytes!.subarray(0, 12))).to.deep.equal([76, 76, 76, 150, 150, 150, 29, 29, 29, 18, 18, 18]);
    });

    it('reads a deployment-stage file and an execution-stage file from its WASI directory', async () => {
      sandbox = harness.create();
      const data = await harness.moduleFile('wasi-reader/data.bin');
      const m = await sandbox.load({ wasm: await wasm('wasi-reader'), grants: ['wasi_snapshot_preview1.*'], files: { 'data.bin': data } });
      expect((await m.call(scalar('count_bytes'))).value).to.equal(1000);
      expect((await m.call(scalar('sum_bytes'))).value).to.equal(127572);
      const perCall = await m.call({ ...scalar('count_bytes'), files: { 'data.bin': new Uint8Array(7) } });
      expect(perCall.value).to.equal(7);
    });

    itHostThread('serves camera.takeImageStaticSize from a host service and returns the output file', async () => {
      sandbox = harness.create();
      const services: HostServices = { captureImage: async () => (await new Promise((r) => setTimeout(r, 20)), FRAME) };
      const m = await sandbox.load({ wasm: await wasm('camera'), grants: ['camera.*', 'wasi_snapshot_preview1.*'], services });
      const r = await m.call({ ...scalar('take_image_predefined_path'), outputs: ['image.jpeg'] });
      expect(r.value).to.equal(0);
      expect(Array.from(r.files['image.jpeg']!)).to.deep.equal(Array.from(FRAME));
    });

    itHostThread('serves sys, dht and communication imports, blocking the worker on the host thread', async () => {
      sandbox = harness.create();
      const calls: [string, number[]][] = [];
      const services: HostServices = {
        readTemperature: async () => 21.5,
        readHumidity: async () => 0.25,
        rpcCall: async (name, data) => void calls.push([name, Array.from(data)]),
      };
      const m = await sandbox.load({ wasm: await wasm('host-demo'), grants: ['sys.*', 'dht.*', 'communication.rpcCall'], services });
      expect((await m.call(scalar('greet'))).stdout).to.equal('hellohello\n42');
      expect((await m.call(scalar('temperature'))).value).to.equal(21.5);
      expect((await m.call(scalar('humidity'))).value).to.equal(0.25);
      expect((await m.call(scalar('elapsed', 30))).value as number).to.be.at.least(30);
      await m.call(scalar('alert'));
      expect(calls).to.deep.equal([['demo/counter/stateful_fibo', Array.from(new TextEncoder().encode('[]'))]]);
    });

    itHostThread('serves pubsub.subscribe and pubsub.publish within the topic grants, and passes a message to on_message', async () => {
      sandbox = harness.create();
      const published: [string, number[]][] = [];
      const subscribed: string[] = [];
      const services: HostServices = {
        publish: async (topic, data) => void published.push([topic, Array.from(data)]),
        subscribe: async (topic) => void subscribed.push(topic),
      };
      expect(sandbox.grantable(services)).to.include.members(['pubsub.publish', 'pubsub.subscribe']);
      expect(sandbox.grantable({})).to.not.include('pubsub.publish');
      const server = await sandbox.load({ wasm: await wasm('poly-server'), grants: ['pubsub.*'], services, topics: { publish: ['poly/*'], subscribe: ['poly/#'] } });
      expect((await server.call(scalar('start'))).value).to.equal(0);
      expect(subscribed).to.deep.equal(['poly/request']);
      await server.call(message('poly/request', f64le(1, -3, 2)));
      // The request's coefficients, then the roots, largest first.
      expect(published).to.deep.equal([['poly/roots', Array.from(f64le(1, -3, 2, 2, 1))]]);
    });

    itHostThread('fails a publish or subscribe outside the topic grants with ERR_TOPIC_DENIED naming the topic, and keeps serving', async () => {
      sandbox = harness.create();
      const used: string[] = [];
      const services: HostServices = { publish: async (t) => void used.push(`publish ${t}`), subscribe: async (t) => void used.push(`subscribe ${t}`) };
      const server = await sandbox.load({ wasm: await wasm('poly-server'), grants: ['pubsub.*'], services, topics: { publish: ['other/#'], subscribe: ['poly/*/x'] } });
      const subscribe = await rejectionOf(server.call(scalar('start')));
      expect(subscribe.code).to.equal('ERR_TOPIC_DENIED');
      expect(subscribe.message).to.contain('poly/request');
      const publish = await rejectionOf(server.call(message('poly/request', f64le(1, 0, -4))));
      expect(publish.code).to.equal('ERR_TOPIC_DENIED');
      expect(publish.message).to.contain('poly/roots');
      expect((await server.call(message('elsewhere', new Uint8Array(0)))).value).to.equal(undefined);
      // Without topic grants every topic is denied.
      const ungranted = await sandbox.load({ wasm: await wasm('poly-server'), grants: ['pubsub.*'], services });
      expect((await rejectionOf(ungranted.call(scalar('start')))).code).to.equal('ERR_TOPIC_DENIED');
      expect(used).to.deep.equal([]);
    });

    it('refuses at load a module importing what was not granted, naming the import', async () => {
      sandbox = harness.create();
      const denied = await rejectionOf(sandbox.load({ wasm: await wasm('camera'), grants: ['wasi_snapshot_preview1.*'], services: { captureImage: async () => FRAME } }));
      expect(denied.code).to.equal('ERR_IMPORT_DENIED');
      expect(denied.message).to.contain('camera.takeImageStaticSize');
      const unsupported = await rejectionOf(sandbox.load({ wasm: await wasm('camera'), grants: ['camera.*', 'wasi_snapshot_preview1.*'] }));
      expect(unsupported.code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
      expect(unsupported.message).to.contain('camera.takeImageStaticSize');
      expect(sandbox.grantable({})).to.not.include('camera.takeImageStaticSize');
      if (hostCalls) expect(sandbox.grantable({ captureImage: async () => FRAME })).to.include('camera.takeImageStaticSize');
      else expect(sandbox.grantable({ captureImage: async () => FRAME })).to.not.include('camera.takeImageStaticSize');
    });

    if (!hostCalls) {
      it('refuses at load, with ERR_NO_SHARED_MEMORY naming the import, a module whose imports answer from the host thread, and keeps serving the others', async () => {
        sandbox = harness.create();
        const services: HostServices = { captureImage: async () => FRAME, readTemperature: async () => 20, readHumidity: async () => 0.5, rpcCall: async () => undefined, publish: async () => undefined, subscribe: async () => undefined };
        for (const [name, grants, needs] of [['camera', ['camera.*', 'wasi_snapshot_preview1.*'], 'camera.'], ['host-demo', ['sys.*', 'dht.*', 'communication.rpcCall'], 'dht.'], ['poly-server', ['pubsub.*'], 'pubsub.']] as const) {
          const refused = await rejectionOf(sandbox.load({ wasm: await wasm(name), grants: [...grants], services, topics: { publish: ['#'], subscribe: ['#'] } }));
          expect(refused.code, name).to.equal('ERR_NO_SHARED_MEMORY');
          expect(refused.message, name).to.contain(needs);
          expect(refused.message, name).to.contain('SharedArrayBuffer');
        }
        expect(sandbox.grantable(services)).to.include('sys.delay');
        expect(sandbox.grantable(services).filter((g) => /^(camera|dht|communication|pubsub|sensors|network|wasi_ephemeral_nn)\./.test(g))).to.deep.equal([]);
        const fibo = await sandbox.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] });
        expect((await fibo.call(scalar('fibo', 20n))).value).to.equal(10946n);
      });
    }

    it('reports a trap as ERR_WASM_TRAP and keeps serving the instance', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      expect((await rejectionOf(m.call(scalar('boom')))).code).to.equal('ERR_WASM_TRAP');
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });

    it('undoes everything a failed call wrote: stores in several pages, a fill, a grown page', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      await m.call(scalar('set', 7));
      expect((await m.call(scalar('get'))).value).to.equal(14);
      expect((await rejectionOf(m.call(scalar('scribble', 9)))).code).to.equal('ERR_WASM_TRAP');
      expect((await m.call(scalar('get'))).value).to.equal(14);
      await m.call(scalar('set', 1));
      expect((await m.call(scalar('get'))).value).to.equal(2);
    });

    it('stops an endless loop at the time limit and resumes the instance from its last state', async () => {
      sandbox = harness.create({ callTimeoutMs: 400 });
      const m = await sandbox.load({ wasm: await wasm('loop'), grants: [] });
      expect((await m.call(scalar('next'))).value).to.equal(11);
      expect((await m.call(scalar('next'))).value).to.equal(22);
      expect((await rejectionOf(m.call(scalar('forever')))).code).to.equal('ERR_CALL_TIMEOUT');
      expect((await m.call(scalar('next'))).value).to.equal(33);
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });

    it('caps memory growth at the limit and refuses modules larger than allowed', async () => {
      sandbox = harness.create({ maxMemoryPages: 8 });
      const m = await sandbox.load({ wasm: await wasm('memory-hog'), grants: [] });
      expect((await m.call(scalar('grow'))).value).to.equal(8);
      expect((await m.call(scalar('ok'))).value).to.equal(42);
      const tiny = harness.create({ maxModuleBytes: 100 });
      expect((await rejectionOf(tiny.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] }))).code).to.equal('ERR_MODULE_TOO_LARGE');
      await tiny.close();
      const small = harness.create({ maxMemoryPages: 1 });
      expect((await rejectionOf(small.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] }))).code).to.equal('ERR_MEMORY_LIMIT');
      await small.close();
    });

    it('reports unbounded recursion (a wasm stack overflow) as ERR_WASM_TRAP and keeps serving the instance', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: recursion(), grants: [] });
      const error = await rejectionOf(m.call(scalar('recurse', 0)));
      expect(error.code).to.equal('ERR_WASM_TRAP');
      expect(error.message).to.include('stack overflow');
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });

    it('refuses at load, with ERR_MODULE_BUDGET naming the limit and the value, what a module declares beyond an instance\'s budget', async () => {
      sandbox = harness.create();
      const cases: [Uint8Array, string, number][] = [
        [tableBomb(10_000_000), 'maxTableElements', 10_000_000],
        [dataBomb(17 * 1024 * 1024), 'maxDataBytes', 17 * 1024 * 1024],
        [globalsBomb(20_000), 'maxGlobals', 20_000],
        [segmentsBomb(20_000), 'maxDataSegments', 20_000],
      ];
      for (const [bytes, limit, value] of cases) {
        const error = await rejectionOf(sandbox.load({ wasm: bytes, grants: [] }));
        expect(error.code, limit).to.equal('ERR_MODULE_BUDGET');
        expect((error as Error & { data?: unknown }).data).to.deep.include({ limit, value });
      }
      // A limit raised for one load lets the same module in.
      const allowed = await sandbox.load({ wasm: tableBomb(200_000), grants: [], limits: { maxTableElements: 200_000 } });
      expect((await allowed.call(scalar('ok'))).value).to.equal(42);
      const fibo = await sandbox.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] });
      expect((await fibo.call(scalar('fibo', 12n))).value).to.equal(233n);
    });

    it('caps table growth at the table budget: table.grow past it fails in the module, which keeps serving', async () => {
      sandbox = harness.create({ maxTableElements: 1000 });
      const m = await sandbox.load({ wasm: tableGrower(), grants: [] });
      expect((await m.call(scalar('grow', 999))).value).to.equal(1);
      expect((await m.call(scalar('grow', 1))).value).to.equal(-1);
      expect((await m.call(scalar('grow', 10_000_000))).value).to.equal(-1);
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });

    it('fails a call that needs more memory than allowed with a named error, and keeps serving', async () => {
      // grayscale grows to 16 pages for its 640×480×3 buffer; allow 8.
      sandbox = harness.create({ maxMemoryPages: 8 });
      const m = await sandbox.load({ wasm: await wasm('grayscale'), grants: [] });
      const error = await rejectionOf(m.call({ fn: 'convert2Grayscale', convention: { kind: 'buffer', pointer: 'get_img_ptr', input: new Uint8Array(640 * 480 * 3) } }));
      expect(error.code).to.be.oneOf(['ERR_WASM_TRAP', 'ERR_MEMORY_EXHAUSTED']);
      const fibo = await sandbox.load({ wasm: await wasm('fibo'), grants: ['wasi_snapshot_preview1.*'] });
      expect((await fibo.call(scalar('fibo', 12n))).value).to.equal(233n);
    });

    it('snapshots an instance and restores it elsewhere to continue (1, 2, 3 then 5, 8)', async () => {
      sandbox = harness.create();
      const bytes = await wasm('stateful-fibo');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      for (let i = 0; i < 3; i++) await a.call(scalar('stateful_fibo'));
      const snap = await a.snapshot();
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(snap);
      expect([(await b.call(scalar('stateful_fibo'))).value, (await b.call(scalar('stateful_fibo'))).value]).to.deep.equal([5n, 8n]);
      const other = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      expect((await rejectionOf(other.restore(snap))).code).to.equal('ERR_SNAPSHOT_MISMATCH');
    });

    it('resumes a restored state after a timeout, not the state before the restore', async () => {
      sandbox = harness.create({ callTimeoutMs: 400 });
      const bytes = await wasm('loop');
      const a = await sandbox.load({ wasm: bytes, grants: [] });
      await a.call(scalar('next'));
      const snap = await a.snapshot();
      const b = await sandbox.load({ wasm: bytes, grants: [] });
      await b.restore(snap);
      expect((await rejectionOf(b.call(scalar('forever')))).code).to.equal('ERR_CALL_TIMEOUT');
      expect((await b.call(scalar('next'))).value).to.equal(22);
    });

    it('answers calls issued together in order; calls queued behind a runaway one run after it is stopped', async () => {
      sandbox = harness.create({ callTimeoutMs: 400 });
      const bytes = await wasm('loop');
      const m = await sandbox.load({ wasm: bytes, grants: [] });
      const names = ['next', 'next', 'forever', 'next', 'ok', 'next'];
      const outcomes = await Promise.allSettled(names.map((n) => m.call(scalar(n))));
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.value : (o.reason as { code: string }).code))).to.deep.equal([11, 22, 'ERR_CALL_TIMEOUT', 33, 42, 44]);
      // A snapshot sees exactly the calls issued before it.
      const [fifth, snap, sixth] = await Promise.all([m.call(scalar('next')), m.snapshot(), m.call(scalar('next'))]);
      expect([fifth.value, sixth.value]).to.deep.equal([55, 66]);
      const copy = await sandbox.load({ wasm: bytes, grants: [] });
      await copy.restore(snap);
      expect((await copy.call(scalar('next'))).value).to.equal(66);
    });

    itHostThread('never runs again a call that reached the host, when a call issued with it is stopped', async () => {
      // Host calls are answered by the page's main thread, which a browser shares with the
      // other suites' pages of the same site: a limit with room for a busy main thread.
      sandbox = harness.create({ callTimeoutMs: 1500 });
      let alerts = 0;
      const services: HostServices = { rpcCall: async () => void alerts++, readTemperature: async () => 20, readHumidity: async () => 0.5 };
      const m = await sandbox.load({ wasm: await wasm('host-demo'), grants: ['sys.*', 'dht.*', 'communication.rpcCall'], services });
      const outcomes = await Promise.allSettled(['alert', 'forever', 'alert'].map((n) => m.call(scalar(n))));
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code))).to.deep.equal(['ok', 'ERR_CALL_TIMEOUT', 'ok']);
      expect(alerts).to.equal(2);
    });

    itHostThread('applies the time limit to each call of a batch, not to the batch', async () => {
      sandbox = harness.create({ callTimeoutMs: 1500 });
      const services: HostServices = { rpcCall: async () => undefined, readTemperature: async () => 20, readHumidity: async () => 0.5 };
      const m = await sandbox.load({ wasm: await wasm('host-demo'), grants: ['sys.*', 'dht.*', 'communication.rpcCall'], services });
      // Together past the limit, each well within it (room for a busy main thread, as above).
      const slept = await Promise.all([700, 700, 700].map((ms) => m.call(scalar('elapsed', ms))));
      expect(slept.map((r) => (r.value as number) >= 700)).to.deep.equal([true, true, true]);
    });

    it('links an app to a provider module: calc.square_plus(7) = 56 through math.mul and math.add', async () => {
      sandbox = harness.create();
      const calc = await sandbox.load({ wasm: await wasm('calc'), grants: [], providers: [{ name: 'math', wasm: await wasm('math') }] });
      expect((await calc.call(scalar('square_plus', 7n))).value).to.equal(56n);
      expect((await calc.call(scalar('square_plus', 0n))).value).to.equal(0n);
      expect((await calc.call(scalar('square_plus', -3n))).value).to.equal(6n);
    });

    it("keeps a provider's state across calls; fresh calls and other instances link their own", async () => {
      sandbox = harness.create();
      const spec = { wasm: await wasm('calc'), grants: [], providers: [{ name: 'math', wasm: await wasm('math') }] };
      const calc = await sandbox.load(spec);
      for (const x of [1n, 2n, 3n]) await calc.call(scalar('square_plus', x));
      expect((await calc.call(scalar('math_calls'))).value).to.equal(6n);
      expect((await calc.call({ ...scalar('square_plus', 4n), fresh: true })).value).to.equal(20n);
      expect((await calc.call({ ...scalar('math_calls'), fresh: true })).value).to.equal(0n);
      expect((await calc.call(scalar('math_calls'))).value).to.equal(6n);
      const other = await sandbox.load(spec);
      expect((await other.call(scalar('math_calls'))).value).to.equal(0n);
    });

    it("resumes the provider's state too when a call is stopped at the time limit", async () => {
      sandbox = harness.create({ callTimeoutMs: 400 });
      const calc = await sandbox.load({ wasm: await wasm('calc'), grants: [], providers: [{ name: 'math', wasm: await wasm('math') }] });
      expect((await calc.call(scalar('square_plus', 5n))).value).to.equal(30n);
      expect((await rejectionOf(calc.call(scalar('forever')))).code).to.equal('ERR_CALL_TIMEOUT');
      expect((await calc.call(scalar('math_calls'))).value).to.equal(2n);
      expect((await calc.call(scalar('square_plus', 6n))).value).to.equal(42n);
      expect((await calc.call(scalar('math_calls'))).value).to.equal(4n);
    });

    it('refuses at load an import no provider or host serves, or a provider cannot, naming the import', async () => {
      sandbox = harness.create();
      const calc = await wasm('calc');
      const missing = await rejectionOf(sandbox.load({ wasm: calc, grants: ['*'] }));
      expect(missing.code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
      expect(missing.message).to.contain('math.add');
      const lacking = await rejectionOf(sandbox.load({ wasm: calc, grants: [], providers: [{ name: 'math', wasm: await wasm('trap') }] }));
      expect(lacking.code).to.equal('ERR_LINK_FAILED');
      expect(lacking.message).to.contain('math.add');
      const mistyped = await rejectionOf(sandbox.load({ wasm: calc, grants: [], providers: [{ name: 'math', wasm: relay([], 'add') }] }));
      expect(mistyped.code).to.equal('ERR_LINK_FAILED');
      expect(mistyped.message).to.contain('math.add');
      // A provider is checked as the app is: its host imports need the deployment's grants.
      const services: HostServices = { readTemperature: async () => 20, readHumidity: async () => 0.5, rpcCall: async () => undefined };
      const providers = [{ name: 'math', wasm: await wasm('math') }, { name: 'demo', wasm: await wasm('host-demo') }];
      const denied = await rejectionOf(sandbox.load({ wasm: calc, grants: [], providers, services }));
      expect(denied.code).to.equal('ERR_IMPORT_DENIED');
      expect(denied.message).to.contain('provider demo');
      if (!hostCalls) {
        const refused = await rejectionOf(sandbox.load({ wasm: calc, grants: ['sys.*', 'dht.*', 'communication.*'], providers, services }));
        expect(refused.code).to.equal('ERR_NO_SHARED_MEMORY');
        expect(refused.message).to.contain('provider demo');
        return;
      }
      const granted = await sandbox.load({ wasm: calc, grants: ['sys.*', 'dht.*', 'communication.*'], providers, services });
      expect((await granted.call(scalar('square_plus', 2n))).value).to.equal(6n);
    });

    it('instantiates providers after those they import from, and refuses a cycle among them', async () => {
      sandbox = harness.create();
      // app → a → b → c, listed out of order.
      const providers = [{ name: 'a', wasm: relay(['b']) }, { name: 'c', wasm: relay([]) }, { name: 'b', wasm: relay(['c']) }];
      const chain = await sandbox.load({ wasm: relay(['a']), grants: [], providers });
      expect((await chain.call(scalar('f'))).value).to.equal(undefined);
      const cyclic = [{ name: 'a', wasm: relay(['b']) }, { name: 'b', wasm: relay(['a']) }];
      const cycle = await rejectionOf(sandbox.load({ wasm: relay(['a']), grants: [], providers: cyclic }));
      expect(cycle.code).to.equal('ERR_LINK_FAILED');
      expect(cycle.message).to.contain('a → b → a');
    });

    it('fails a call to a missing export with ERR_FUNCTION_NOT_FOUND', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      expect((await rejectionOf(m.call(scalar('nope')))).code).to.equal('ERR_FUNCTION_NOT_FOUND');
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });
  });
}

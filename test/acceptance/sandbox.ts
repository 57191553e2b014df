/**
 * The acceptance suite every Sandbox adapter passes: Node worker threads under vitest,
 * browser Workers in Chromium under web-test-runner. The same sample modules
 * (modules/) must give the same results in both.
 */
import { expect } from 'chai';
import type { HostServices, Sandbox, SandboxLimits } from '../../shared/ports/sandbox.ts';
import { rejectionOf } from './wait.ts';

/** How an adapter is set up for the suite. */
export interface SandboxHarness {
  name: string;
  create(limits?: Partial<SandboxLimits>): Sandbox;
  /** Bytes of a file under modules/ (e.g. `fibo/fibo.wasm`). */
  moduleFile(path: string): Promise<Uint8Array>;
}

const scalar = (fn: string, ...args: (number | bigint)[]) => ({ fn, convention: { kind: 'scalar' as const, args } });
const u64le = (n: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
};
// A tiny but real JPEG header + payload stand-in is enough: the module stores bytes, it does not decode.
const FRAME = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 0xff, 0xd9]);

/** Run the suite against `harness`. */
export function runSandboxTests(harness: SandboxHarness): void {
  describe(`Sandbox acceptance: ${harness.name}`, function () {
    let sandbox: Sandbox;
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

    it('serves camera.takeImageStaticSize from a host service and returns the output file', async () => {
      sandbox = harness.create();
      const services: HostServices = { captureImage: async () => (await new Promise((r) => setTimeout(r, 20)), FRAME) };
      const m = await sandbox.load({ wasm: await wasm('camera'), grants: ['camera.*', 'wasi_snapshot_preview1.*'], services });
      const r = await m.call({ ...scalar('take_image_predefined_path'), outputs: ['image.jpeg'] });
      expect(r.value).to.equal(0);
      expect(Array.from(r.files['image.jpeg']!)).to.deep.equal(Array.from(FRAME));
    });

    it('serves sys, dht and communication imports, blocking the worker on the host thread', async () => {
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

    it('refuses at load a module importing what was not granted, naming the import', async () => {
      sandbox = harness.create();
      const denied = await rejectionOf(sandbox.load({ wasm: await wasm('camera'), grants: ['wasi_snapshot_preview1.*'], services: { captureImage: async () => FRAME } }));
      expect(denied.code).to.equal('ERR_IMPORT_DENIED');
      expect(denied.message).to.contain('camera.takeImageStaticSize');
      const unsupported = await rejectionOf(sandbox.load({ wasm: await wasm('camera'), grants: ['camera.*', 'wasi_snapshot_preview1.*'] }));
      expect(unsupported.code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
      expect(unsupported.message).to.contain('camera.takeImageStaticSize');
      expect(sandbox.grantable({})).to.not.include('camera.takeImageStaticSize');
      expect(sandbox.grantable({ captureImage: async () => FRAME })).to.include('camera.takeImageStaticSize');
    });

    it('reports a trap as ERR_WASM_TRAP and keeps serving the instance', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      expect((await rejectionOf(m.call(scalar('boom')))).code).to.equal('ERR_WASM_TRAP');
      expect((await m.call(scalar('ok'))).value).to.equal(42);
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

    it('fails a call to a missing export with ERR_FUNCTION_NOT_FOUND', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('trap'), grants: [] });
      expect((await rejectionOf(m.call(scalar('nope')))).code).to.equal('ERR_FUNCTION_NOT_FOUND');
      expect((await m.call(scalar('ok'))).value).to.equal(42);
    });
  });
}

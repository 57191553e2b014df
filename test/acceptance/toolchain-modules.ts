/**
 * Modules built by the toolchains WasmIoT's own modules come from (Rust for wasm32-wasi,
 * Emscripten), run unchanged by every Sandbox adapter: a command whose exported functions
 * are `.command_export` wrappers and which has neither `_start` nor `_initialize`, a
 * reactor, a cdylib with the pointer ABI, WASI files, both camera conventions, and the Rust
 * supervisor's `network.ping` import.
 * Run beside {@link runSandboxTests} with the same harness.
 */
import { expect } from 'chai';
import type { HostServices, Sandbox } from '../../shared/ports/sandbox.ts';
import type { SandboxHarness } from './sandbox.ts';
import { rejectionOf } from './wait.ts';

const scalar = (fn: string, ...args: (number | bigint)[]) => ({ fn, convention: { kind: 'scalar' as const, args } });
const FRAME = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 9, 8, 7, 6, 5, 0xff, 0xd9]);
const WASI = 'wasi_snapshot_preview1.*';

/** Run the suite against `harness`. */
export function runToolchainModuleTests(harness: SandboxHarness): void {
  describe(`Modules from real toolchains: ${harness.name}`, function () {
    let sandbox: Sandbox;
    const wasm = (name: string): Promise<Uint8Array> => harness.moduleFile(`${name}/${name}.wasm`);
    afterEach(async () => {
      await sandbox?.close();
    });

    it('runs a Rust command module that exports neither _start nor _initialize, WASI included', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('rust-fibo'), grants: [WASI] });
      const names = m.info.exports.map((e) => e.name);
      expect(names).to.include.members(['fibo', 'stateful_fibo']);
      expect(names).to.not.include.members(['_start']);
      expect(names).to.not.include('_initialize');
      const out: unknown[] = [];
      for (const n of [0n, 5n, 12n, 20n]) out.push((await m.call(scalar('fibo', n))).value);
      expect(out).to.deep.equal([1n, 8n, 233n, 10946n]);
      // The first WASI call of a module nothing initialised: stderr and proc_exit.
      const exit = await rejectionOf(m.call(scalar('fibo', -1n)));
      expect(exit.code).to.equal('ERR_WASM_EXIT');
      const seq: unknown[] = [];
      for (let i = 0; i < 5; i++) seq.push((await m.call(scalar('stateful_fibo'))).value);
      expect(seq).to.deep.equal([1n, 2n, 3n, 5n, 8n]);
    });

    it('runs a Rust cdylib reactor: _initialize first, WASI stdout, state across calls', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('rust-reactor'), grants: [WASI] });
      expect((await m.call(scalar('add', 40n, 2n))).value).to.equal(42n);
      expect((await m.call(scalar('add', -1n, 1n))).value).to.equal(0n);
      expect((await m.call(scalar('calls'))).value).to.equal(2n);
      const greet = await m.call(scalar('greet'));
      expect(greet.stdout).to.equal('hello from a Rust reactor, 2 adds so far\n');
      expect(greet.value).to.equal(greet.stdout.length);
    });

    it('passes bytes through a Rust allocator (alloc + pointers)', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('rust-pointers'), grants: [WASI] });
      const r = await m.call({ fn: 'fibo_from_pointers', convention: { kind: 'bytes', alloc: 'alloc', input: new Uint8Array([12]) } });
      expect(Array.from(r.bytes!)).to.deep.equal([233, 0, 0, 0, 0, 0, 0, 0]);
      const big = await m.call({ fn: 'fibo_from_pointers', convention: { kind: 'bytes', alloc: 'alloc', input: new Uint8Array([20, 0]) } });
      expect(new DataView(big.bytes!.buffer, big.bytes!.byteOffset).getBigUint64(0, true)).to.equal(10946n);
    });

    it('reads and writes mount files through Rust std::fs over WASI', async () => {
      sandbox = harness.create();
      const data = await harness.moduleFile('rust-files/data.bin');
      const m = await sandbox.load({ wasm: await wasm('rust-files'), grants: [WASI], files: { 'data.bin': data } });
      expect((await m.call(scalar('count_bytes'))).value).to.equal(1000);
      expect((await m.call(scalar('sum_bytes'))).value).to.equal(127572);
      const input = new TextEncoder().encode('move me, please');
      const r = await m.call({ ...scalar('shout'), files: { 'input.txt': input }, outputs: ['output.txt'] });
      expect(r.value).to.equal(input.byteLength);
      expect(new TextDecoder().decode(r.files['output.txt'])).to.equal('MOVE ME, PLEASE');
      // A missing execution-stage file is the module's answer (−ENOENT), not a host failure.
      const bare = await sandbox.load({ wasm: await wasm('rust-files'), grants: [WASI] });
      expect((await bare.call(scalar('shout'))).value).to.equal(-44);
      expect((await bare.call(scalar('count_bytes'))).value).to.equal(-44);
    });

    if ((harness.hostCalls ?? harness.sharedMemory !== false) === false) {
      it('refuses by name, without shared memory, the Rust modules whose imports answer from the host thread', async () => {
        sandbox = harness.create();
        const services: HostServices = { captureImage: async () => FRAME, ping: async () => 1 };
        const camera = await rejectionOf(sandbox.load({ wasm: await wasm('rust-camera'), grants: ['camera.*', WASI], services }));
        expect([camera.code, camera.message.includes('camera.')]).to.deep.equal(['ERR_NO_SHARED_MEMORY', true]);
        const ping = await rejectionOf(sandbox.load({ wasm: await wasm('net-ping'), grants: ['network.ping'], services }));
        expect([ping.code, ping.message.includes('network.ping')]).to.deep.equal(['ERR_NO_SHARED_MEMORY', true]);
      });
    }

    // What the host thread answers (camera, ping) needs shared memory: refused above without it.
    const itHostThread = (title: string, body: () => Promise<void>): void => {
      if (harness.hostCalls ?? harness.sharedMemory !== false) it(title, body);
    };

    itHostThread('serves both camera conventions to a Rust command module', async () => {
      sandbox = harness.create();
      const services: HostServices = { captureImage: async () => FRAME };
      const m = await sandbox.load({ wasm: await wasm('rust-camera'), grants: ['camera.*', WASI], services });
      for (const fn of ['take_image_predefined_path', 'take_image_dynamic']) {
        const r = await m.call({ ...scalar(fn), outputs: ['image.jpeg'] });
        expect(r.value, fn).to.equal(0);
        expect(Array.from(r.files['image.jpeg']!), fn).to.deep.equal(Array.from(FRAME));
      }
      const denied = await rejectionOf(sandbox.load({ wasm: await wasm('rust-camera'), grants: [WASI], services }));
      expect(denied.code).to.equal('ERR_IMPORT_DENIED');
    });

    itHostThread('serves network.ping(a, b, c, d) -> f32 from the host only when granted', async () => {
      sandbox = harness.create();
      const asked: string[] = [];
      const services: HostServices = { ping: async (address) => (asked.push(address), address === '10.0.0.7' ? 3.5 : -1) };
      const bytes = await wasm('net-ping');
      const m = await sandbox.load({ wasm: bytes, grants: ['network.ping'], services });
      expect((await m.call(scalar('ping', 10, 0, 0, 7))).value).to.equal(3.5);
      expect((await m.call(scalar('ping', 10, 0, 0, 8))).value).to.equal(-1);
      expect((await m.call(scalar('reachable', 10, 0, 0, 7))).value).to.equal(1);
      expect(asked).to.deep.equal(['10.0.0.7', '10.0.0.8', '10.0.0.7']);
      expect((await rejectionOf(sandbox.load({ wasm: bytes, grants: [], services }))).code).to.equal('ERR_IMPORT_DENIED');
    });

    it('runs an Emscripten standalone module', async () => {
      sandbox = harness.create();
      const m = await sandbox.load({ wasm: await wasm('emcc-fibo'), grants: [WASI] });
      expect((await m.call(scalar('fibo', 12n))).value).to.equal(233n);
      const hello = await m.call(scalar('hello'));
      expect(hello.stdout).to.equal('hello from emscripten\n');
      expect(hello.value).to.equal(22);
    });
  });
}

/**
 * Host capabilities (shared/sandbox/host-imports/), each without a worker: what a module
 * importing it sees, and that the table, the load-time check and the worker agree. A
 * new capability gets its own `describe` here.
 */
import { expect } from 'chai';
import { MeshError } from '../../shared/errors.ts';
import { parseModule } from '../../shared/wasm/binary.ts';
import { checkImports, grantableImports, HOST_IMPORTS } from '../../shared/sandbox/capabilities.ts';
import { instantiate } from '../../shared/sandbox/instantiate.ts';
import type { HostCapability, HostContext } from '../../shared/sandbox/host-imports/host-import.ts';
import { HOST_CAPABILITIES } from '../../shared/sandbox/host-imports/table.ts';
import { MAX_NN_CONTEXTS } from '../../shared/sandbox/wasi-nn.ts';
import { initFor, recordingBridge } from '../helpers/worker-units.ts';
import { wat } from '../helpers/wat.ts';
import { putTensor } from '../helpers/nn-tensor.ts';

const f64 = (...values: number[]): Uint8Array => {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setFloat64(8 * i, v, true));
  return out;
};

/** A context over a fresh one-page memory, recording output and bridge calls. */
function context(answer: (op: string, args: unknown[]) => Uint8Array = () => new Uint8Array(0), exports: WebAssembly.Exports = {}) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const { bridge, calls } = recordingBridge(answer);
  const ctx: HostContext = {
    memory: () => memory,
    exports: () => exports,
    bridge,
    stdout: (t) => void stdout.push(t),
    stderr: (t) => void stderr.push(t),
    file: () => undefined,
  };
  const put = (at: number, bytes: Uint8Array | string): void => new Uint8Array(memory.buffer).set(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, at);
  return { memory, stdout, stderr, calls, ctx, put };
}

function capability(name: string): HostCapability {
  const c = HOST_CAPABILITIES.get(name);
  if (!c) throw new Error(`no capability ${name}`);
  return c;
}

describe('Host capability table', () => {
  it('lists every capability under its import module name, each serving exactly the functions it declares', () => {
    for (const [module, c] of HOST_CAPABILITIES) {
      expect(c.module).to.equal(module);
      const { ctx } = context();
      expect(Object.keys(c.create(ctx)).sort(), module).to.deep.equal(Object.keys(c.functions).sort());
    }
  });

  it('is what the load-time check knows: every declared function, with the service it needs', () => {
    const fromTable = [...HOST_CAPABILITIES.values()].flatMap((c) => Object.entries(c.functions).map(([f, need]) => [`${c.module}.${f}`, need]));
    expect(Object.entries(HOST_IMPORTS).sort()).to.deep.equal(fromTable.sort());
  });

  it('grants a function needing a service only on a peer that has the service', () => {
    expect(grantableImports({})).to.include('sys.millis').and.not.include('camera.takeImageStaticSize');
    expect(grantableImports({ captureImage: async () => new Uint8Array(0) })).to.include('camera.takeImageStaticSize');
  });

  it('denies by default: a module importing a module no capability serves is refused at load by name', async () => {
    const info = parseModule(await wat('(module (import "gpio" "write" (func (param i32))))'));
    let error: unknown;
    try {
      checkImports(info, ['*'], {});
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(MeshError);
    expect((error as MeshError).code).to.equal('ERR_IMPORT_NOT_SUPPORTED');
    expect((error as MeshError).message).to.contain('gpio.write');
  });

  it('denies by default: a served import not granted to the deployment is refused by name', async () => {
    const info = parseModule(await wat('(module (import "sys" "millis" (func (result i32))))'));
    expect(() => checkImports(info, [], {})).to.throw(MeshError).with.property('code', 'ERR_IMPORT_DENIED');
    expect(() => checkImports(info, ['sys.millis'], {})).not.to.throw();
  });

  it('offers an instance only the modules its binary imports', async () => {
    const init = await initFor(`(module (import "sys" "printInt" (func $p (param i32))) (memory (export "memory") 1)
      (func (export "go") i32.const 7 call $p))`);
    const unit = instantiate(init, {}, recordingBridge().bridge, () => 1);
    (unit.instance.exports.go as () => void)();
    expect(unit.stdout.join('')).to.equal('7');
  });
});

describe('sys', () => {
  it('prints UTF-8 text, lines and integers to the module stdout', () => {
    const { ctx, stdout, put } = context();
    const f = capability('sys').create(ctx);
    put(10, 'héllo');
    f.print!(10, 6);
    f.println!(10, 6);
    f.printInt!(-42);
    expect(stdout.join('')).to.equal('héllohéllo\n-42');
  });

  it('tells the time in whole milliseconds and delays without the host', () => {
    const { ctx, calls } = context();
    const f = capability('sys').create(ctx);
    const before = f.millis!() as number;
    f.delay!(5);
    expect(Number.isInteger(before)).to.equal(true);
    expect(f.millis!() as number).to.be.at.least(before);
    expect(calls).to.deep.equal([]);
  });
});

describe('camera', () => {
  const frame = new Uint8Array([0xff, 0xd8, 1, 2, 3, 4, 0xff, 0xd9]);

  it('static size: fills the module buffer up to its capacity and writes the size taken', () => {
    const { ctx, memory, put } = context(() => frame);
    put(0, new Uint8Array(new Uint32Array([5]).buffer));
    capability('camera').create(ctx).takeImageStaticSize!(64, 0);
    expect([...new Uint8Array(memory.buffer, 64, 6)]).to.deep.equal([...frame.subarray(0, 5), 0]);
    expect(new DataView(memory.buffer).getUint32(0, true)).to.equal(5);
  });

  it('dynamic size: puts the whole frame where the module allocates and writes pointer and length', () => {
    const sizes: number[] = [];
    const { ctx, memory } = context(() => frame, { alloc: (n: number) => (sizes.push(n), 512) } as unknown as WebAssembly.Exports);
    capability('camera').create(ctx).takeImageDynamicSize!(0, 4);
    const view = new DataView(memory.buffer);
    expect(sizes).to.deep.equal([frame.byteLength]);
    expect([view.getUint32(0, true), view.getUint32(4, true)]).to.deep.equal([512, frame.byteLength]);
    expect([...new Uint8Array(memory.buffer, 512, frame.byteLength)]).to.deep.equal([...frame]);
  });

  it('dynamic size without an exported alloc fails by name', () => {
    const { ctx } = context(() => frame);
    expect(() => capability('camera').create(ctx).takeImageDynamicSize!(0, 4)).to.throw(MeshError).with.property('code', 'ERR_FUNCTION_NOT_FOUND');
  });

  it('writes memory itself, so a tracked module counts all memory as written after it', () => {
    expect(capability('camera').writesMemory).to.equal(true);
  });
});

describe('dht', () => {
  it('answers temperature and humidity from the host', () => {
    const { ctx, calls } = context((op) => f64(op === 'readTemperature' ? 21.5 : 40.25));
    const f = capability('dht').create(ctx);
    expect([f.getTemperature!(), f.getHumidity!()]).to.deep.equal([21.5, 40.25]);
    expect(calls.map((c) => c.op)).to.deep.equal(['readTemperature', 'readHumidity']);
  });
});

describe('sensors', () => {
  it('answers one axis of a reading per call', () => {
    const { ctx, calls } = context(() => f64(1.5, -2, 9.75));
    const f = capability('sensors').create(ctx);
    expect([0, 1, 2].map((axis) => f.acceleration!(axis))).to.deep.equal([1.5, -2, 9.75]);
    expect(f.location!(1)).to.equal(-2);
    expect(calls.map((c) => c.op)).to.deep.equal(['readAcceleration', 'readAcceleration', 'readAcceleration', 'readLocation']);
  });

  it('traps on an axis outside 0..2 without asking the host', () => {
    const { ctx, calls } = context(() => f64(0, 0, 0));
    expect(() => capability('sensors').create(ctx).orientation!(3)).to.throw(RangeError, /axis 3/);
    expect(calls).to.deep.equal([]);
  });
});

describe('network', () => {
  it('pings the dotted address made of the four bytes', () => {
    const { ctx, calls } = context(() => f64(3.5));
    expect(capability('network').create(ctx).ping!(10, 99, 0, 258)).to.equal(3.5);
    expect(calls).to.deep.equal([{ op: 'ping', args: ['10.99.0.2'] }]);
  });
});

describe('communication', () => {
  it('calls the named function with the bytes the module gives', () => {
    const { ctx, calls, put } = context();
    put(0, 'camera-gray');
    put(32, new Uint8Array([1, 2, 3]));
    capability('communication').create(ctx).rpcCall!(0, 11, 32, 3);
    expect(calls).to.deep.equal([{ op: 'rpcCall', args: ['camera-gray', new Uint8Array([1, 2, 3])] }]);
  });
});

describe('pubsub', () => {
  it('publishes and subscribes by topic, answering 0', () => {
    const { ctx, calls, put } = context();
    put(0, 'room/temp');
    put(16, new Uint8Array([7, 8]));
    const f = capability('pubsub').create(ctx);
    expect(f.publish!(0, 9, 16, 2)).to.equal(0);
    expect(f.subscribe!(0, 9)).to.equal(0);
    expect(calls).to.deep.equal([
      { op: 'publish', args: ['room/temp', new Uint8Array([7, 8])] },
      { op: 'subscribe', args: ['room/temp'] },
    ]);
  });

  it('fails the module call with the host error (a denied topic)', () => {
    const { ctx, put } = context(() => {
      throw new MeshError('ERR_TOPIC_DENIED', 'no');
    });
    put(0, 'x');
    expect(() => capability('pubsub').create(ctx).publish!(0, 1, 0, 0)).to.throw(MeshError).with.property('code', 'ERR_TOPIC_DENIED');
  });
});

/** A wasi-nn tensor struct at 192: a u8 tensor (type 3) of shape [4] (dims at 128), its 4 bytes at 256. */
function putU8Tensor(view: DataView): void {
  putTensor(view, 192, { dimsAt: 128, dims: [4], type: 3, dataAt: 256, bytes: 4 });
}

describe('wasi_ephemeral_nn', () => {
  it('answers invalid_argument for an execution context it never made, saying why on stderr', () => {
    const { ctx, stderr, calls } = context();
    const f = capability('wasi_ephemeral_nn').create(ctx);
    expect(f.set_input!(12345, 0, 0)).to.equal(1);
    expect(stderr.join('')).to.contain('no execution context 12345');
    expect(calls).to.deep.equal([]);
  });

  it(`keeps only the ${MAX_NN_CONTEXTS} most recently used execution contexts, and says so for a dropped one`, () => {
    const { ctx, stderr } = context();
    const f = capability('wasi_ephemeral_nn').create(ctx);
    const view = new DataView(ctx.memory().buffer);
    // Each context holds a copy of its input.
    putU8Tensor(view);
    const made: number[] = [];
    for (let i = 0; i < MAX_NN_CONTEXTS + 100; i++) {
      expect(f.init_execution_context!(1, 64)).to.equal(0);
      made.push(view.getUint32(64, true));
      expect(f.set_input!(made.at(-1)!, 0, 192)).to.equal(0);
      // The first context stays in use, so it is never the least recently used.
      expect(f.set_input!(made[0]!, 0, 192)).to.equal(0);
    }
    expect(new Set(made).size).to.equal(made.length);
    const kept = made.filter((id) => f.set_input!(id, 0, 192) === 0);
    expect(kept).to.have.length(MAX_NN_CONTEXTS);
    expect(kept).to.include(made[0]);
    expect(kept).to.include(made.at(-1));
    expect(stderr.join('')).to.contain(`no execution context ${made[1]} (dropped: an instance keeps its ${MAX_NN_CONTEXTS} most recently used)`);
  });

  it('moves a copy of each input to the host thread on compute, and keeps its own for the next compute', () => {
    const { ctx } = context();
    const sent: { inputs: { data: Uint8Array }[]; transfer: Transferable[] }[] = [];
    const answer = new Uint8Array(8); // errno 0, no outputs
    const f = capability('wasi_ephemeral_nn').create({
      ...ctx,
      bridge: (op, args, transfer = []) => {
        if (op === 'nnCompute') {
          const inputs = args[1] as { data: Uint8Array }[];
          sent.push({ inputs: inputs.map((t) => ({ data: t.data.slice() })), transfer });
          // The host thread now owns the moved buffers: the worker's copies are gone.
          for (const t of inputs) t.data.fill(0);
        }
        return answer;
      },
    });
    const view = new DataView(ctx.memory().buffer);
    putU8Tensor(view);
    new Uint8Array(ctx.memory().buffer).set([1, 2, 3, 4], 256);
    expect(f.init_execution_context!(1, 64)).to.equal(0);
    const id = view.getUint32(64, true);
    expect(f.set_input!(id, 0, 192)).to.equal(0);
    expect(f.compute!(id)).to.equal(0);
    expect(f.compute!(id)).to.equal(0);
    expect(sent.map((s) => [...s.inputs[0]!.data])).to.deep.equal([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
    expect(sent.every((s) => s.transfer.length === 1)).to.equal(true);
  });

  it('loads a model by the name of a module file, and answers not_found for a missing one', () => {
    const { ctx, calls, put, memory } = context(() => new Uint8Array([0, 0, 0, 0, 9, 0, 0, 0]));
    const model = new Uint8Array([1, 2, 3]);
    const f = capability('wasi_ephemeral_nn').create({ ...ctx, file: (name) => (name === 'model' ? model : undefined) });
    put(0, 'model');
    expect(f.load_by_name!(0, 5, 64)).to.equal(0);
    expect(new DataView(memory.buffer).getUint32(64, true)).to.equal(9);
    expect(calls).to.deep.equal([{ op: 'nnLoad', args: [[model], 'autodetect'] }]);
    put(0, 'other');
    expect(f.load_by_name!(0, 5, 64)).to.equal(8);
  });
});

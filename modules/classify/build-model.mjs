#!/usr/bin/env node
// Builds modules/classify/model.onnx: the MobileNetV2 (224×224, 5 classes) that the npm
// package nsfwjs ships as a TF.js *layers* model (Keras 2.2.4 topology, uint8-quantised
// weights as base64 in a browserified shard), converted to a plain ONNX graph.
//
//   node modules/classify/build-model.mjs [out.onnx]
//
// Beside it, `model.weights`: the same network as a flat program of operations and f32
// weights (see buildWeights) for modules/classify-simd, which computes it without wasi-nn.
//
// The graph: input `input` float32 [1, 3, 224, 224] (NCHW, RGB, each sample /255 — the
// normalisation nsfwjs applies), output `probabilities` float32 [1, 5] (softmax over
// Drawing, Hentai, Neutral, Porn, Sexy). Every Conv2D/DepthwiseConv2D + BatchNorm pair
// becomes one Conv with the batch norm folded into its weights and bias; ZeroPadding2D is
// folded into the following conv's pads; ReLU(max 6) is Clip(0, 6); the 7×7 average pool
// is GlobalAveragePool; Dense layers are Gemm; Dropout is dropped. Opset 13.
//
// The protobuf encoding is written here (a few dozen lines; the ONNX messages only need
// varints, length-delimited fields and packed int64s). Output is byte-for-byte
// deterministic: the same nsfwjs version gives the same file.
//
// Over 400 lines because the protobuf writer, the conversion and the flat weights writer
// work on the one converted graph; split, each file would only re-export the graph.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Class labels of the nsfwjs model, in output order. */
export const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

// ------------------------------------------------------------------ protobuf writer

class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }
  bytes(b) {
    this.parts.push(b);
    this.length += b.length;
  }
  varint(n) {
    let v = BigInt.asUintN(64, BigInt(n));
    const out = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.bytes(Uint8Array.from(out));
  }
  tag(field, wire) {
    this.varint((field << 3) | wire);
  }
  int(field, n) {
    this.tag(field, 0);
    this.varint(n);
  }
  float(field, f) {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.bytes(b);
  }
  blob(field, b) {
    this.tag(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field, s) {
    this.blob(field, new TextEncoder().encode(s));
  }
  message(field, build) {
    const w = new Writer();
    build(w);
    this.blob(field, w.finish());
  }
  packedInts(field, list) {
    const w = new Writer();
    for (const n of list) w.varint(n);
    this.blob(field, w.finish());
  }
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 };

/** TensorProto: dims (1), data_type (2), name (8), raw_data (9). */
function tensor(w, name, dims, data) {
  w.packedInts(1, dims);
  w.int(2, FLOAT);
  w.string(8, name);
  w.blob(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** ValueInfoProto with a float tensor type of fixed shape. */
function valueInfo(w, name, dims) {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (t) => {
      t.int(1, FLOAT);
      t.message(2, (shape) => {
        for (const d of dims) shape.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

/** NodeProto: input (1), output (2), name (3), op_type (4), attribute (5). */
function node(w, n) {
  for (const i of n.inputs) w.string(1, i);
  w.string(2, n.output);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      if (Array.isArray(value)) {
        for (const v of value) a.int(8, v);
        a.int(20, ATTR.INTS);
      } else if (Number.isInteger(value)) {
        a.int(3, value);
        a.int(20, ATTR.INT);
      } else {
        a.float(2, value);
        a.int(20, ATTR.FLOAT);
      }
    });
  }
}

// ------------------------------------------------------------------ reading nsfwjs

/** The Keras topology and the dequantised weights by name. */
function readNsfwjs() {
  // The package exports no ./package.json; its CommonJS entry is dist/cjs/index.js.
  const dir = join(dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  const json = require(join(dir, 'model.min.js'));
  const shard = Buffer.from(require(join(dir, 'group1-shard1of1.min.js')), 'base64');
  const weights = new Map();
  let at = 0;
  for (const group of json.weightsManifest) {
    for (const spec of group.weights) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(count);
      const q = spec.quantization;
      if (q?.dtype === 'uint8') {
        for (let i = 0; i < count; i++) out[i] = q.min + q.scale * shard[at + i];
        at += count;
      } else if (!q && spec.dtype === 'float32') {
        for (let i = 0; i < count; i++) out[i] = shard.readFloatLE(at + 4 * i);
        at += 4 * count;
      } else {
        throw new Error(`weight ${spec.name}: unsupported encoding ${JSON.stringify(q ?? spec.dtype)}`);
      }
      weights.set(spec.name, { shape: spec.shape, data: out });
    }
  }
  if (at !== shard.length) throw new Error(`weights use ${at} of ${shard.length} shard bytes`);
  return { layers: json.modelTopology.model_config.config.layers, weights };
}

// ------------------------------------------------------------------ conversion

/** The converted graph: ONNX-style nodes in topological order and their initialisers. */
export function buildGraph() {
  const { layers, weights } = readNsfwjs();
  const byName = new Map(layers.map((l) => [l.name, l]));
  const consumers = new Map();
  for (const l of layers) for (const n of l.inbound_nodes.flat()) consumers.set(n[0], [...(consumers.get(n[0]) ?? []), l.name]);
  const weight = (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`missing weight ${name}`);
    return w;
  };
  const inputOf = (l) => {
    const nodes = l.inbound_nodes.flat();
    return nodes.map((n) => n[0]);
  };

  const nodes = [];
  const inits = [];
  // Keras tensor name → ONNX value name (identity layers like Dropout map through).
  const value = new Map();
  const padOf = new Map(); // ZeroPadding2D name → [top, left, bottom, right]

  const clipMin = 'clip_min';
  const clipMax = 'clip_max';
  inits.push({ name: clipMin, dims: [], data: Float32Array.of(0) });
  inits.push({ name: clipMax, dims: [], data: Float32Array.of(6) });

  for (const l of layers) {
    const c = l.config;
    const [src] = inputOf(l);
    switch (l.class_name) {
      case 'InputLayer':
        value.set(l.name, 'input');
        break;
      case 'ZeroPadding2D': {
        const [[t, b], [left, r]] = c.padding;
        padOf.set(l.name, [t, left, b, r]);
        value.set(l.name, value.get(src));
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const kernel = weight(`${l.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`);
        const [kh, kw, cin, m] = kernel.shape; // Keras HWIO (depthwise: H W C multiplier)
        if (depthwise && m !== 1) throw new Error(`${l.name}: depth multiplier ${m}`);
        const out = depthwise ? cin : m;
        // The batch norm right after it is folded in.
        const bnName = consumers.get(l.name)?.[0];
        const bn = bnName && byName.get(bnName)?.class_name === 'BatchNormalization' ? byName.get(bnName) : null;
        if (!bn) throw new Error(`${l.name}: no batch norm follows`);
        if (c.use_bias) throw new Error(`${l.name}: conv bias not expected`);
        const gamma = weight(`${bn.name}/gamma`).data;
        const beta = weight(`${bn.name}/beta`).data;
        const mean = weight(`${bn.name}/moving_mean`).data;
        const variance = weight(`${bn.name}/moving_variance`).data;
        const eps = bn.config.epsilon;
        const W = new Float32Array(out * (depthwise ? 1 : cin) * kh * kw);
        const B = new Float32Array(out);
        for (let o = 0; o < out; o++) {
          const scale = gamma[o] / Math.sqrt(variance[o] + eps);
          B[o] = beta[o] - mean[o] * scale;
          for (let y = 0; y < kh; y++) {
            for (let x = 0; x < kw; x++) {
              if (depthwise) {
                W[(o * kh + y) * kw + x] = kernel.data[(y * kw + x) * cin + o] * scale;
              } else {
                for (let i = 0; i < cin; i++) W[((o * cin + i) * kh + y) * kw + x] = kernel.data[((y * kw + x) * cin + i) * m + o] * scale;
              }
            }
          }
        }
        let pads = [0, 0, 0, 0];
        if (padOf.has(src)) {
          if (c.padding !== 'valid') throw new Error(`${l.name}: explicit padding before a "${c.padding}" conv`);
          pads = padOf.get(src);
        } else if (c.padding === 'same') {
          if (c.strides[0] !== 1 || c.strides[1] !== 1) throw new Error(`${l.name}: "same" padding with stride ${c.strides}`);
          pads = [(kh - 1) >> 1, (kw - 1) >> 1, kh >> 1, kw >> 1];
        }
        const [t, left, b, r] = pads;
        inits.push({ name: `${l.name}/W`, dims: [out, depthwise ? 1 : cin, kh, kw], data: W });
        inits.push({ name: `${l.name}/B`, dims: [out], data: B });
        nodes.push({
          name: l.name,
          op: 'Conv',
          inputs: [value.get(src), `${l.name}/W`, `${l.name}/B`],
          output: bn.name,
          attrs: { group: depthwise ? cin : 1, kernel_shape: [kh, kw], pads: [t, left, b, r], strides: c.strides, dilations: c.dilation_rate },
        });
        value.set(bn.name, bn.name);
        break;
      }
      case 'BatchNormalization':
        if (!value.has(l.name)) throw new Error(`${l.name}: batch norm not after a conv`);
        break;
      case 'ReLU':
        if (c.max_value !== 6 || c.negative_slope !== 0 || c.threshold !== 0) throw new Error(`${l.name}: unsupported ReLU ${JSON.stringify(c)}`);
        nodes.push({ name: l.name, op: 'Clip', inputs: [value.get(src), clipMin, clipMax], output: l.name });
        value.set(l.name, l.name);
        break;
      case 'Add':
        nodes.push({ name: l.name, op: 'Add', inputs: inputOf(l).map((n) => value.get(n)), output: l.name });
        value.set(l.name, l.name);
        break;
      case 'AveragePooling2D':
        // Over the whole 7×7 map: a global average.
        if (c.pool_size[0] !== 7 || c.pool_size[1] !== 7) throw new Error(`${l.name}: pool ${c.pool_size}`);
        nodes.push({ name: l.name, op: 'GlobalAveragePool', inputs: [value.get(src)], output: l.name });
        value.set(l.name, l.name);
        break;
      case 'Flatten':
        nodes.push({ name: l.name, op: 'Flatten', inputs: [value.get(src)], output: l.name, attrs: { axis: 1 } });
        value.set(l.name, l.name);
        break;
      case 'Dropout':
        value.set(l.name, value.get(src));
        break;
      case 'Dense': {
        const kernel = weight(`${l.name}/kernel`);
        const bias = weight(`${l.name}/bias`);
        inits.push({ name: `${l.name}/W`, dims: kernel.shape, data: kernel.data });
        inits.push({ name: `${l.name}/B`, dims: bias.shape, data: bias.data });
        const act = c.activation;
        const gemmOut = act === 'linear' ? l.name : `${l.name}/gemm`;
        nodes.push({ name: `${l.name}/gemm`, op: 'Gemm', inputs: [value.get(src), `${l.name}/W`, `${l.name}/B`], output: gemmOut });
        if (act === 'relu') nodes.push({ name: l.name, op: 'Relu', inputs: [gemmOut], output: l.name });
        else if (act === 'softmax') nodes.push({ name: l.name, op: 'Softmax', inputs: [gemmOut], output: l.name, attrs: { axis: 1 } });
        else if (act !== 'linear') throw new Error(`${l.name}: activation ${act}`);
        value.set(l.name, l.name);
        break;
      }
      default:
        throw new Error(`${l.name}: unsupported layer ${l.class_name}`);
    }
  }
  // The last layer's value is the output; rename it.
  const last = nodes[nodes.length - 1];
  last.output = 'probabilities';
  return { nodes, inits };
}

/** Build the ONNX model bytes. */
export function buildModel(graph = buildGraph()) {
  const { nodes, inits } = graph;
  const model = new Writer();
  model.int(1, 8); // ir_version
  model.string(2, 'liquidmesh build-model.mjs');
  model.string(3, '1');
  model.message(8, (op) => {
    op.string(1, '');
    op.int(2, 13);
  });
  model.message(7, (g) => {
    for (const n of nodes) g.message(1, (w) => node(w, n));
    g.string(2, 'mobilenet_v2_nsfwjs');
    for (const t of inits) g.message(5, (w) => tensor(w, t.name, t.dims, t.data));
    g.message(11, (w) => valueInfo(w, 'input', [1, 3, 224, 224]));
    g.message(12, (w) => valueInfo(w, 'probabilities', [1, LABELS.length]));
  });
  return model.finish();
}

// ------------------------------------------------------------------ flat weights

/** Operation codes of the flat weights file. */
export const OP = { conv: 1, depthwise: 2, add: 3, globalAveragePool: 4, dense: 5 };
/** Activations fused into an operation. */
export const ACT = { none: 0, relu6: 1, relu: 2, softmax: 3 };

/**
 * The same network as a flat program for modules/classify-simd (everything
 * little-endian): "LMW1", u32 operation count, then per operation 16 u32 — op, input a,
 * input b (0xffffffff when none), act, kh, kw, stride h, stride w, pad top, left, bottom,
 * right, cin, cout, weight count, bias count — followed by the weights and biases as
 * f32. Value 0 is the input image (NHWC [224, 224, 3]); operation i writes value i + 1;
 * the last one is the output. Layouts: conv weights [kh][kw][cin][cout], depthwise
 * [kh][kw][c], dense [in][out]. The Clip, Relu and Softmax nodes that follow a conv or
 * Gemm are fused into it as its `act`; Flatten of a 1×1 map is the identity.
 */
export function buildWeights(graph = buildGraph()) {
  const { nodes, inits } = graph;
  const init = new Map(inits.map((t) => [t.name, t]));
  const consumers = new Map();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const value = new Map([['input', 0]]);
  const ops = [];
  const fused = new Set();
  const NONE = 0xffffffff;
  const activation = (n) => {
    const next = consumers.get(n.output) ?? [];
    const act = next.length === 1 ? { Clip: ACT.relu6, Relu: ACT.relu, Softmax: ACT.softmax }[next[0].op] : undefined;
    if (act === undefined) return { act: ACT.none, output: n.output };
    fused.add(next[0]);
    return { act, output: next[0].output };
  };
  for (const n of nodes) {
    if (fused.has(n)) continue;
    const input = (name) => {
      if (!value.has(name)) throw new Error(`${n.name}: input ${name} not computed yet`);
      return value.get(name);
    };
    if (n.op === 'Flatten') {
      value.set(n.output, input(n.inputs[0]));
      continue;
    }
    const op = { a: input(n.inputs[0]), b: NONE, act: ACT.none, k: [0, 0], s: [0, 0], pads: [0, 0, 0, 0], cin: 0, cout: 0, w: new Float32Array(0), bias: new Float32Array(0) };
    let output = n.output;
    if (n.op === 'Conv') {
      const W = init.get(n.inputs[1]);
      const [cout, cinPerGroup, kh, kw] = W.dims;
      const depthwise = n.attrs.group !== 1;
      ({ act: op.act, output } = activation(n));
      op.code = depthwise ? OP.depthwise : OP.conv;
      op.k = [kh, kw];
      op.s = n.attrs.strides;
      op.pads = n.attrs.pads;
      op.cin = depthwise ? cout : cinPerGroup;
      op.cout = cout;
      op.w = new Float32Array(kh * kw * op.cin * (depthwise ? 1 : cout));
      for (let o = 0; o < cout; o++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            if (depthwise) op.w[(y * kw + x) * cout + o] = W.data[(o * kh + y) * kw + x];
            else for (let i = 0; i < op.cin; i++) op.w[((y * kw + x) * op.cin + i) * cout + o] = W.data[((o * op.cin + i) * kh + y) * kw + x];
      op.bias = init.get(n.inputs[2]).data;
    } else if (n.op === 'Gemm') {
      const W = init.get(n.inputs[1]);
      ({ act: op.act, output } = activation(n));
      op.code = OP.dense;
      [op.cin, op.cout] = W.dims;
      op.w = W.data;
      op.bias = init.get(n.inputs[2]).data;
    } else if (n.op === 'Add') {
      op.code = OP.add;
      op.b = input(n.inputs[1]);
    } else if (n.op === 'GlobalAveragePool') {
      op.code = OP.globalAveragePool;
    } else {
      throw new Error(`${n.name}: ${n.op} cannot be written as a flat weights operation`);
    }
    ops.push(op);
    value.set(output, ops.length);
  }
  const size = 8 + ops.reduce((sum, op) => sum + 64 + 4 * (op.w.length + op.bias.length), 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode('LMW1'), 0);
  view.setUint32(4, ops.length, true);
  let at = 8;
  for (const op of ops) {
    for (const v of [op.code, op.a, op.b, op.act, ...op.k, ...op.s, ...op.pads, op.cin, op.cout, op.w.length, op.bias.length]) {
      view.setUint32(at, v, true);
      at += 4;
    }
    for (const list of [op.w, op.bias]) for (const f of list) {
      view.setFloat32(at, f, true);
      at += 4;
    }
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(HERE, 'model.onnx');
  const graph = buildGraph();
  const bytes = buildModel(graph);
  writeFileSync(out, bytes);
  const weights = buildWeights(graph);
  writeFileSync(join(dirname(out), 'model.weights'), weights);
  console.log(`wrote ${join(dirname(out), 'model.weights')} (${weights.length} bytes)`);
  writeFileSync(join(dirname(out), 'labels'), `${LABELS.join('\n')}\n`);
  console.log(`wrote ${out} (${bytes.length} bytes)`);
}

// onnxruntime-node baselines for the benchmarks, built with bench/onnx.js so that both sides
// compute exactly the same product. onnxruntime-node is optional: install it for comparisons with
//   ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node
// (its install script otherwise tries to download GPU libraries and fails offline).
'use strict';
const { model, node, loadOrt, session } = require('./onnx');

const ort = loadOrt();

/** True when onnxruntime-node is installed. */
const available = ort !== null;

function randInt8(n, lo, hi, seed = 1) {
  let s = seed >>> 0;
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s % (hi - lo + 1));
  }
  return out;
}

/**
 * A matrix product M×K · K×N in onnxruntime-node. variant: 'f32' (MatMul), 'u8s8' / 'u8u8'
 * (MatMulInteger), 'qlinear' (QLinearMatMul u8s8 -> u8), 'dynamic' (DynamicQuantizeMatMul, fp32).
 * Weights are initializers (constant, as in a served model). Returns { run(): Promise }.
 */
async function matmul(variant, M, N, K, weights) {
  const B = weights ?? randInt8(K * N, -127, 127);
  const f32B = Float32Array.from(B, (v) => v * 0.01);
  let spec;
  let feeds;
  if (variant === 'f32') {
    spec = { nodes: [node('MatMul', ['A', 'B'], ['Y'])], initializers: [{ name: 'B', dtype: 'float', dims: [K, N], data: f32B }],
      inputs: [{ name: 'A', dtype: 'float', dims: [M, K] }], outputs: [{ name: 'Y', dtype: 'float', dims: [M, N] }] };
    feeds = { A: new ort.Tensor('float32', new Float32Array(M * K).fill(0.5), [M, K]) };
  } else if (variant === 'u8s8' || variant === 'u8u8') {
    const b = variant === 'u8s8' ? B : Uint8Array.from(B, (v) => v + 128);
    spec = { nodes: [node('MatMulInteger', ['A', 'B'], ['Y'])], initializers: [{ name: 'B', dtype: variant === 'u8s8' ? 'int8' : 'uint8', dims: [K, N], data: b }],
      inputs: [{ name: 'A', dtype: 'uint8', dims: [M, K] }], outputs: [{ name: 'Y', dtype: 'int32', dims: [M, N] }] };
    feeds = { A: new ort.Tensor('uint8', new Uint8Array(M * K).fill(200), [M, K]) };
  } else if (variant === 'qlinear') {
    const f = (name, v) => ({ name, dtype: 'float', dims: [], data: new Float32Array([v]) });
    const z = (name, dtype) => ({ name, dtype, dims: [], data: dtype === 'int8' ? new Int8Array(1) : new Uint8Array([128]) });
    spec = { nodes: [node('QLinearMatMul', ['A', 'as', 'az', 'B', 'bs', 'bz', 'ys', 'yz'], ['Y'])],
      initializers: [{ name: 'B', dtype: 'int8', dims: [K, N], data: B }, f('as', 0.02), z('az', 'uint8'), f('bs', 0.01), z('bz', 'int8'), f('ys', 0.5), z('yz', 'uint8')],
      inputs: [{ name: 'A', dtype: 'uint8', dims: [M, K] }], outputs: [{ name: 'Y', dtype: 'uint8', dims: [M, N] }] };
    feeds = { A: new ort.Tensor('uint8', new Uint8Array(M * K).fill(200), [M, K]) };
  } else if (variant === 'dynamic') {
    spec = { nodes: [node('DynamicQuantizeMatMul', ['A', 'B', 'bs', 'bz'], ['Y'], {}, 'com.microsoft')],
      initializers: [{ name: 'B', dtype: 'int8', dims: [K, N], data: B }, { name: 'bs', dtype: 'float', dims: [], data: new Float32Array([0.01]) },
        { name: 'bz', dtype: 'int8', dims: [], data: new Int8Array(1) }],
      inputs: [{ name: 'A', dtype: 'float', dims: [M, K] }], outputs: [{ name: 'Y', dtype: 'float', dims: [M, N] }], msOpset: 1 };
    feeds = { A: new ort.Tensor('float32', Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)), [M, K]) };
  } else {
    throw new Error('unknown variant ' + variant);
  }
  const s = await session(ort, model(spec));
  return { run: () => s.run(feeds), session: s, feeds };
}

/** Embedding bag as Gather + ReduceSum on an fp32 table (ONNX has no embedding-bag op). */
async function gatherSum(table, rows, D, indices, bags, L) {
  const spec = {
    nodes: [node('Gather', ['T', 'I'], ['G']), node('ReduceSum', ['G', 'axes'], ['Y'], { keepdims: 0 })],
    initializers: [{ name: 'T', dtype: 'float', dims: [rows, D], data: table }, { name: 'axes', dtype: 'int64', dims: [1], data: new BigInt64Array([1n]) }],
    inputs: [{ name: 'I', dtype: 'int64', dims: [bags, L] }],
    outputs: [{ name: 'Y', dtype: 'float', dims: [bags, D] }],
  };
  const s = await session(ort, model(spec));
  const feeds = { I: new ort.Tensor('int64', indices, [bags, L]) };
  return { run: () => s.run(feeds) };
}

/** fp32 Conv (NCHW) with bias; or QLinearConv u8s8 when quantized is true (batch n, quantized only). */
async function conv({ cin, cout, h, w, k, stride = 1, pad = 0, group = 1, quantized = false, n = 1 }) {
  const wCount = cout * (cin / group) * k * k;
  const attrs = { kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride], group };
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  let spec;
  let feeds;
  if (!quantized) {
    spec = { nodes: [node('Conv', ['X', 'W', 'B'], ['Y'], attrs)],
      initializers: [{ name: 'W', dtype: 'float', dims: [cout, cin / group, k, k], data: Float32Array.from({ length: wCount }, (_, i) => Math.sin(i) * 0.1) },
        { name: 'B', dtype: 'float', dims: [cout], data: new Float32Array(cout) }],
      inputs: [{ name: 'X', dtype: 'float', dims: [1, cin, h, w] }], outputs: [{ name: 'Y', dtype: 'float', dims: [1, cout, oh, ow] }] };
    feeds = { X: new ort.Tensor('float32', Float32Array.from({ length: cin * h * w }, (_, i) => Math.cos(i)), [1, cin, h, w]) };
  } else {
    const f = (name, v) => ({ name, dtype: 'float', dims: [], data: new Float32Array([v]) });
    spec = { nodes: [node('QLinearConv', ['X', 'xs', 'xz', 'W', 'ws', 'wz', 'ys', 'yz', 'B'], ['Y'], attrs)],
      initializers: [{ name: 'W', dtype: 'int8', dims: [cout, cin / group, k, k], data: randInt8(wCount, -127, 127) },
        f('xs', 0.02), { name: 'xz', dtype: 'uint8', dims: [], data: new Uint8Array([128]) }, f('ws', 0.01), { name: 'wz', dtype: 'int8', dims: [], data: new Int8Array(1) },
        f('ys', 0.5), { name: 'yz', dtype: 'uint8', dims: [], data: new Uint8Array([128]) }, { name: 'B', dtype: 'int32', dims: [cout], data: new Int32Array(cout) }],
      inputs: [{ name: 'X', dtype: 'uint8', dims: [n, cin, h, w] }], outputs: [{ name: 'Y', dtype: 'uint8', dims: [n, cout, oh, ow] }] };
    feeds = { X: new ort.Tensor('uint8', Uint8Array.from({ length: n * cin * h * w }, (_, i) => i & 255), [n, cin, h, w]) };
  }
  const s = await session(ort, model(spec));
  return { run: () => s.run(feeds), oh, ow };
}

module.exports = { available, ort, matmul, gatherSum, conv, randInt8 };

// Depthwise convolution (groups = channels): lowbit's Conv2d (fp32) and QuantizedConv2d (int8,
// uint8 out) against onnxruntime-node's Conv and QLinearConv (when installed; same threads), on
// the depthwise layers of MobileNetV2 at 224x224, batch 1. GFLOPS / GOPS = 2 * MACs / time.
//   node bench/index.js --filter conv-depthwise [--threads 2]
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const { model, node } = require('./onnx');
const { htmlTable } = require('./report');

// name, channels, h (= w), kernel, stride
const LAYERS = [
  ['mbv2 dw 32@112', 32, 112, 3, 1], ['mbv2 dw 96@112 s2', 96, 112, 3, 2], ['mbv2 dw 144@56', 144, 56, 3, 1],
  ['mbv2 dw 144@56 s2', 144, 56, 3, 2], ['mbv2 dw 192@28', 192, 28, 3, 1], ['mbv2 dw 192@28 s2', 192, 28, 3, 2],
  ['mbv2 dw 384@14', 384, 14, 3, 1], ['mbv2 dw 576@14', 576, 14, 3, 1], ['mbv2 dw 576@14 s2', 576, 14, 3, 2],
  ['mbv2 dw 960@7', 960, 7, 3, 1], ['dw 5x5 240@14', 240, 14, 5, 1], ['dw 5x5 240@28 s2', 240, 28, 5, 2],
];
const QUICK = ['mbv2 dw 144@56', 'mbv2 dw 144@56 s2', 'mbv2 dw 960@7'];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function ortSession(spec, threads) {
  return ort.ort.InferenceSession.create(model(spec), {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
}

async function ortDepthwise(c, hw, k, stride, oh, threads, wf, wq, x, xq) {
  const attrs = { kernel_shape: [k, k], pads: [k >> 1, k >> 1, k >> 1, k >> 1], strides: [stride, stride], group: c };
  const f = (name, v) => ({ name, dtype: 'float', dims: [], data: new Float32Array([v]) });
  const fp = await ortSession({
    nodes: [node('Conv', ['X', 'W', 'B'], ['Y'], attrs)],
    initializers: [{ name: 'W', dtype: 'float', dims: [c, 1, k, k], data: wf }, { name: 'B', dtype: 'float', dims: [c], data: new Float32Array(c) }],
    inputs: [{ name: 'X', dtype: 'float', dims: [1, c, hw, hw] }], outputs: [{ name: 'Y', dtype: 'float', dims: [1, c, oh, oh] }],
  }, threads);
  const q = await ortSession({
    nodes: [node('QLinearConv', ['X', 'xs', 'xz', 'W', 'ws', 'wz', 'ys', 'yz', 'B'], ['Y'], attrs)],
    initializers: [{ name: 'W', dtype: 'int8', dims: [c, 1, k, k], data: wq }, f('xs', 0.02), { name: 'xz', dtype: 'uint8', dims: [], data: new Uint8Array([128]) },
      f('ws', 0.01), { name: 'wz', dtype: 'int8', dims: [], data: new Int8Array(1) }, f('ys', 0.5), { name: 'yz', dtype: 'uint8', dims: [], data: new Uint8Array([128]) },
      { name: 'B', dtype: 'int32', dims: [c], data: new Int32Array(c) }],
    inputs: [{ name: 'X', dtype: 'uint8', dims: [1, c, hw, hw] }], outputs: [{ name: 'Y', dtype: 'uint8', dims: [1, c, oh, oh] }],
  }, threads);
  const fx = { X: new ort.ort.Tensor('float32', x, [1, c, hw, hw]) };
  const qx = { X: new ort.ort.Tensor('uint8', xq, [1, c, hw, hw]) };
  return { f32: () => fp.run(fx), int8: () => q.run(qx) };
}

async function run(lowbit, { quick = false, threads = 1, onRow = () => {} } = {}) {
  const rows = [];
  const minTime = quick ? 0.03 : 0.06;
  for (const [name, c, hw, k, stride] of LAYERS.filter((l) => !quick || QUICK.includes(l[0]))) {
    const r = lcg(c * 5 + hw + k);
    const wf = Float32Array.from({ length: c * k * k }, () => r() * 2 - 1);
    const wq = Int8Array.from({ length: c * k * k }, () => Math.floor(r() * 255) - 127);
    const x = Float32Array.from({ length: c * hw * hw }, () => r() * 2 - 1);
    const xq = Uint8Array.from({ length: c * hw * hw }, (_, i) => i & 255);
    const geo = { inChannels: c, outChannels: c, kernelSize: k, stride, padding: k >> 1, groups: c };
    // before this kernel, 'auto' ran depthwise layers on the sparse kernel (the dense GEMM is far slower)
    const dense = new lowbit.Conv2d(wf, { ...geo, mode: 'sparse' });
    const auto = new lowbit.Conv2d(wf, geo);
    const ql = lowbit.QuantizedConv2d.fromInt8(wq, { ...geo, scale: 0.01, bias: new Int32Array(c) });
    const [, , oh, ow] = dense.outputShape({ h: hw, w: hw });
    const out = new Float32Array(c * oh * ow), qout = new Uint8Array(c * oh * ow);
    const fo = { h: hw, w: hw, out, threads };
    const qo = { h: hw, w: hw, scale: 0.02, zeroPoint: 128, outScale: 0.5, outZeroPoint: 128, out: qout, threads };
    auto.forward(x, fo);
    const variants = [
      { name: 'dense', fn: () => dense.forward(x, fo) },
      { name: 'auto', fn: () => auto.forward(x, fo) },
      { name: 'int8', fn: () => ql.forward(xq, qo) },
    ];
    if (ort.available) {
      const o = await ortDepthwise(c, hw, k, stride, oh, threads, wf, wq, x, xq);
      variants.push({ name: 'ort', fn: o.f32, async: true }, { name: 'ortq', fn: o.int8, async: true });
    }
    const t = await compareAsync(variants, { minTime, rounds: quick ? 3 : 5, reps: 5 });
    const ops = 2 * c * k * k * oh * ow;
    const g = (v) => (t.has(v) ? ops / t.get(v) / 1e9 : undefined);
    const ratio = (a, b) => (t.has(a) && t.has(b) ? t.get(b) / t.get(a) : undefined);
    const row = {
      layer: name, threads, dense: g('dense'), auto: g('auto'), autoChoice: auto.explain({ h: hw, w: hw }).kernel, ort: g('ort'),
      int8: g('int8'), ortq: g('ortq'), autoVsOrt: ratio('auto', 'ort'), autoVsDense: ratio('auto', 'dense'), int8VsOrt: ratio('int8', 'ortq'),
    };
    rows.push(row);
    onRow(row);
  }
  return rows;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const x2 = (v) => (v === undefined ? '-' : v.toFixed(2) + 'x');
function median(a) {
  const s = a.filter((v) => v !== undefined).sort((p, q) => p - q);
  return s.length === 0 ? undefined : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const HEAD = ['layer', 'threads', 'fp32 before (sparse kernel)', 'fp32 auto', 'auto chose', 'ort Conv', 'auto/ort', 'auto/before', 'int8', 'ort QLinearConv', 'int8/ort'];
const cells = (r) => [r.layer, r.threads, f1(r.dense), f1(r.auto), r.autoChoice, f1(r.ort), x2(r.autoVsOrt), x2(r.autoVsDense), f1(r.int8), f1(r.ortq), x2(r.int8VsOrt)];

function format(rows) {
  let s = table(HEAD, rows.map(cells));
  s += `\nmedian fp32 auto/ort ${x2(median(rows.map((r) => r.autoVsOrt)))} (worst ${x2(Math.min(...rows.map((r) => r.autoVsOrt ?? Infinity)))}), ` +
    `int8/ort ${x2(median(rows.map((r) => r.int8VsOrt)))} (worst ${x2(Math.min(...rows.map((r) => r.int8VsOrt ?? Infinity)))})`;
  return s + '\nbatch 1; GFLOPS (fp32) / GOPS (int8, uint8 in and out) = 2 * MACs / time.';
}

function report(rows) {
  return { id: 'conv-depthwise', title: 'Depthwise convolution against onnxruntime', html: htmlTable(HEAD, rows.map(cells)) };
}

module.exports = {
  name: 'conv-depthwise', run, format, report,
  progress: (r) => `${r.layer}: fp32 auto ${f1(r.auto)} (${r.autoChoice}), ort ${f1(r.ort)}; int8 ${f1(r.int8)}, ort ${f1(r.ortq)}`,
};

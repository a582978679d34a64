// Dense fp32 convolution: Winograd (Conv2d mode 'winograd', the model's tile) and 'auto' against
// lowbit's direct dense kernel and onnxruntime-node's Conv (when installed; same threads, same
// batch), on the 3x3 stride-1 layers of ResNet and AlexNet conv3-5. Effective GFLOPS = direct
// FLOPs / time; ratios are of times measured in the same interleaved rounds.
//   node bench/index.js --filter conv-dense [--threads 2] [--full: batch 8 too]
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const { model, node } = require('./onnx');
const { htmlTable } = require('./report');

// name, cin, cout, h (= w), groups
const LAYERS = [
  ['alexnet conv3', 256, 384, 13, 1], ['alexnet conv4', 384, 384, 13, 2], ['alexnet conv5', 384, 256, 13, 2],
  ['resnet 3x3 64@56', 64, 64, 56, 1], ['resnet 3x3 128@28', 128, 128, 28, 1], ['resnet 3x3 256@14', 256, 256, 14, 1],
  ['resnet 3x3 512@7', 512, 512, 7, 1],
];
const QUICK = ['alexnet conv3', 'resnet 3x3 64@56', 'resnet 3x3 512@7'];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

// onnxruntime's fp32 Conv (3x3, pad 1) with the given batch and intra-op threads.
async function ortConv(cin, cout, hw, groups, n, threads, w, x) {
  const spec = {
    nodes: [node('Conv', ['X', 'W', 'B'], ['Y'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1], group: groups })],
    initializers: [{ name: 'W', dtype: 'float', dims: [cout, cin / groups, 3, 3], data: w }, { name: 'B', dtype: 'float', dims: [cout], data: new Float32Array(cout) }],
    inputs: [{ name: 'X', dtype: 'float', dims: [n, cin, hw, hw] }], outputs: [{ name: 'Y', dtype: 'float', dims: [n, cout, hw, hw] }],
  };
  const s = await ort.ort.InferenceSession.create(model(spec), {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const feeds = { X: new ort.ort.Tensor('float32', x, [n, cin, hw, hw]) };
  return () => s.run(feeds);
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const rows = [];
  const minTime = quick ? 0.03 : 0.08;
  for (const n of full ? [1, 8] : [1]) {
    for (const [name, cin, cout, hw, groups] of LAYERS.filter((l) => !quick || QUICK.includes(l[0]))) {
      const r = lcg(cin * 3 + cout + hw);
      const w = Float32Array.from({ length: cout * (cin / groups) * 9 }, () => r() * 2 - 1);
      const x = Float32Array.from({ length: n * cin * hw * hw }, () => r() * 2 - 1);
      const geo = { inChannels: cin, outChannels: cout, kernelSize: 3, padding: 1, groups };
      const dense = new lowbit.Conv2d(w, { ...geo, mode: 'dense' });
      const wino = new lowbit.Conv2d(w, { ...geo, mode: 'winograd' });
      const auto = new lowbit.Conv2d(w, geo);
      const out = new Float32Array(n * cout * hw * hw);
      const opts = { n, h: hw, w: hw, out, threads };
      auto.forward(x, opts);  // a trial, if the model asks for one, happens here
      const variants = [
        { name: 'dense', fn: () => dense.forward(x, opts) },
        { name: 'winograd', fn: () => wino.forward(x, opts) },
        { name: 'auto', fn: () => auto.forward(x, opts) },
      ];
      if (ort.available) variants.push({ name: 'ort', fn: await ortConv(cin, cout, hw, groups, n, threads, w, x), async: true });
      const t = await compareAsync(variants, { minTime, rounds: quick ? 3 : 5, reps: 5 });
      const flops = 2 * n * cout * (cin / groups) * 9 * hw * hw;
      const g = (v) => (t.has(v) ? flops / t.get(v) / 1e9 : undefined);
      const e = auto.explain({ n, h: hw, w: hw });
      const row = {
        layer: name, n, threads, dense: g('dense'), winograd: g('winograd'), auto: g('auto'), ort: g('ort'),
        tile: wino.explain({ n, h: hw, w: hw }).winogradTile, autoChoice: e.kernel + (e.measuredWinogradMs !== undefined ? ' (timed)' : ''),
        winoVsDense: t.get('dense') / t.get('winograd'), winoVsOrt: t.has('ort') ? t.get('ort') / t.get('winograd') : undefined,
        autoVsOrt: t.has('ort') ? t.get('ort') / t.get('auto') : undefined, denseVsOrt: t.has('ort') ? t.get('ort') / t.get('dense') : undefined,
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const x2 = (v) => (v === undefined ? '-' : v.toFixed(2) + 'x');

function median(a) {
  const s = a.filter((v) => v !== undefined).sort((p, q) => p - q);
  return s.length === 0 ? undefined : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const HEAD = ['layer', 'batch', 'threads', 'direct', 'winograd', 'tile', 'auto', 'auto chose', 'ort Conv', 'wino/direct', 'wino/ort', 'auto/ort', 'direct/ort'];
const cells = (r) => [r.layer, r.n, r.threads, f1(r.dense), f1(r.winograd), `F(${r.tile}x${r.tile})`, f1(r.auto), r.autoChoice, f1(r.ort),
  x2(r.winoVsDense), x2(r.winoVsOrt), x2(r.autoVsOrt), x2(r.denseVsOrt)];

function format(rows) {
  let s = table(HEAD, rows.map(cells));
  s += `\nmedian winograd/direct ${x2(median(rows.map((r) => r.winoVsDense)))}, winograd/ort ${x2(median(rows.map((r) => r.winoVsOrt)))}, auto/ort ${x2(median(rows.map((r) => r.autoVsOrt)))}`;
  return s + '\neffective GFLOPS = direct FLOPs / time; fp32, 3x3 stride 1 pad 1; ort = onnxruntime-node Conv, same threads.';
}

function report(rows) {
  return { id: 'conv-dense', title: 'Dense fp32 convolution: Winograd against direct and onnxruntime', html: htmlTable(HEAD, rows.map(cells)) };
}

module.exports = {
  name: 'conv-dense', run, format, report,
  progress: (r) => `${r.layer} n=${r.n}: direct ${f1(r.dense)}, winograd ${f1(r.winograd)}, ort ${f1(r.ort)} GFLOPS`,
};

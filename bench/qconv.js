// int8 dense convolution: lowbit's QuantizedConv2d (uint8 out; the direct kernels of AVX2, AVX-512
// VNNI or AMX, kernels/conv/README.md) against onnxruntime-node's QLinearConv (u8s8 -> u8) when it
// is installed, interleaved. Two activation kinds for lowbit: full-range uint8 (the exact vpmaddwd
// kernel on AVX2) and 7-bit (values spanning 128, the fast vpmaddubsw kernel, still exact; one
// kernel on AVX-512 and AMX). Batch 1 (--full: and batch 8); GOPS = 2 * MACs / time.
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const { barChart, htmlTable } = require('./report');

// name, cin, cout, h (= w), k, stride, pad, groups
const LAYERS = [
  ['alexnet conv2', 96, 256, 27, 5, 1, 2, 2], ['alexnet conv3', 256, 384, 13, 3, 1, 1, 1],
  ['alexnet conv4', 384, 384, 13, 3, 1, 1, 2], ['alexnet conv5', 384, 256, 13, 3, 1, 1, 2],
  ['resnet 3x3 64@56', 64, 64, 56, 3, 1, 1, 1], ['resnet 3x3 128@28', 128, 128, 28, 3, 1, 1, 1],
  ['resnet 3x3 256@14', 256, 256, 14, 3, 1, 1, 1], ['resnet 3x3 512@7', 512, 512, 7, 3, 1, 1, 1],
  ['resnet 3x3 128 s2', 128, 128, 28, 3, 2, 1, 1], ['resnet 1x1 256>64@56', 256, 64, 56, 1, 1, 0, 1],
  ['resnet 1x1 512>128@28', 512, 128, 28, 1, 1, 0, 1], ['resnet 1x1 1024>256@14', 1024, 256, 14, 1, 1, 0, 1],
  ['resnet 1x1 2048>512@7', 2048, 512, 7, 1, 1, 0, 1],
  // MobileNetV2's dense convolutions (its depthwise ones: bench/conv-depthwise.js)
  ['mobilenetv2 3x3 s2 3>32@224', 3, 32, 224, 3, 2, 1, 1], ['mobilenetv2 1x1 32>16@112', 32, 16, 112, 1, 1, 0, 1],
  ['mobilenetv2 1x1 16>96@112', 16, 96, 112, 1, 1, 0, 1], ['mobilenetv2 1x1 24>144@56', 24, 144, 56, 1, 1, 0, 1],
  ['mobilenetv2 1x1 144>24@56', 144, 24, 56, 1, 1, 0, 1], ['mobilenetv2 1x1 192>32@28', 192, 32, 28, 1, 1, 0, 1],
  ['mobilenetv2 1x1 384>64@14', 384, 64, 14, 1, 1, 0, 1], ['mobilenetv2 1x1 576>96@14', 576, 96, 14, 1, 1, 0, 1],
  ['mobilenetv2 1x1 960>160@7', 960, 160, 7, 1, 1, 0, 1], ['mobilenetv2 1x1 320>1280@7', 320, 1280, 7, 1, 1, 0, 1],
];
const QUICK = ['alexnet conv3', 'resnet 3x3 128@28', 'resnet 1x1 512>128@28'];
const DEFAULT = ['alexnet conv2', 'alexnet conv3', 'resnet 3x3 64@56', 'resnet 3x3 256@14', 'resnet 1x1 1024>256@14'];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const names = quick ? QUICK : full ? LAYERS.map((l) => l[0]) : DEFAULT;
  const minTime = quick ? 0.03 : 0.06;
  const rows = [];
  // --full: every layer at batch 1 and at batch 8
  const cases = [];
  for (const n of full ? [1, 8] : [1])
    for (const l of LAYERS.filter((x) => names.includes(x[0]))) cases.push([n, ...l]);
  for (const [n, name, cin, cout, hw, k, stride, pad, groups] of cases) {
    const r = lcg(cin * 7 + cout + hw);
    const count = cout * (cin / groups) * k * k;
    const w = Int8Array.from({ length: count }, () => Math.floor(r() * 255) - 127);
    const layer = lowbit.QuantizedConv2d.fromInt8(w, { inChannels: cin, outChannels: cout, kernelSize: k, stride, padding: pad, groups, scale: 0.01, bias: new Int32Array(cout) });
    const [, , oh, ow] = layer.outputShape({ n, h: hw, w: hw });
    const ops = 2 * n * cout * (cin / groups) * k * k * oh * ow;
    const x8 = Uint8Array.from({ length: n * cin * hw * hw }, (_, i) => i & 255); // as bench/ort.js feeds QLinearConv
    const x7 = Uint8Array.from({ length: n * cin * hw * hw }, () => 64 + Math.floor(r() * 128)); // 7-bit: spans 128 values
    const out = new Uint8Array(n * cout * oh * ow);
    const o = { n, h: hw, w: hw, scale: 0.02, zeroPoint: 128, outScale: 0.5, outZeroPoint: 128, out, threads };
    const variants = [
      { name: 'full', fn: () => layer.forward(x8, o) },
      { name: 'seven', fn: () => layer.forward(x7, o) },
    ];
    if (ort.available && threads === 1) {
      const c = await ort.conv({ cin, cout, h: hw, w: hw, k, stride, pad, group: groups, quantized: true, n });
      variants.push({ name: 'ort', fn: c.run, async: true });
    }
    const t = await compareAsync(variants, { minTime, rounds: 3, reps: 5 });
    const g = (n) => (t.has(n) ? ops / t.get(n) / 1e9 : undefined);
    const row = { layer: n > 1 ? `${name} b${n}` : name, full: g('full'), seven: g('seven'), ort: g('ort') };
    row.fullVsOrt = row.ort ? row.full / row.ort : undefined;
    row.sevenVsOrt = row.ort ? row.seven / row.ort : undefined;
    rows.push(row);
    onRow(row);
  }
  return rows;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const x2 = (v) => (v === undefined ? '-' : v.toFixed(2) + 'x');

function median(v) {
  const s = v.filter((a) => a !== undefined).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function format(rows) {
  let s = table(
    ['layer', 'lowbit 8-bit x GOPS', 'lowbit 7-bit x GOPS', 'ort QLinearConv GOPS', '8-bit/ort', '7-bit/ort'],
    rows.map((r) => [r.layer, f1(r.full), f1(r.seven), f1(r.ort), x2(r.fullVsOrt), x2(r.sevenVsOrt)]),
  );
  s += `\nmedian vs ort: 8-bit activations ${x2(median(rows.map((r) => r.fullVsOrt)))}, 7-bit ${x2(median(rows.map((r) => r.sevenVsOrt)))}`;
  return s + '\nbatch 1 (rows "b8": batch 8), uint8 in/out, int8 weights; GOPS = 2 * MACs / time; 8-bit: exact vpmaddwd kernel (AVX2 direct conv), 7-bit: vpmaddubsw kernel, used only where proven exact.';
}

function report(rows) {
  return {
    id: 'qconv',
    title: 'int8 convolution: lowbit QuantizedConv2d vs onnxruntime QLinearConv',
    html: barChart({
      title: 'GOPS per layer', yLabel: 'GOPS', categories: rows.map((r) => r.layer),
      series: [{ name: 'lowbit 8-bit x', values: rows.map((r) => r.full) }, { name: 'lowbit 7-bit x', values: rows.map((r) => r.seven) },
        { name: 'ort QLinearConv', values: rows.map((r) => r.ort ?? 0) }],
    }) + htmlTable(['layer', 'lowbit 8-bit x GOPS', 'lowbit 7-bit x GOPS', 'ort GOPS', '8-bit/ort', '7-bit/ort'],
      rows.map((r) => [r.layer, f1(r.full), f1(r.seven), f1(r.ort), x2(r.fullVsOrt), x2(r.sevenVsOrt)])),
  };
}

module.exports = {
  name: 'qconv', run, format, report,
  progress: (r) => `${r.layer}: lowbit 8-bit ${f1(r.full)}, 7-bit ${f1(r.seven)}, ort ${f1(r.ort)} GOPS`,
};

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => r.layer,
  pairs: [
    { family: 'int8 conv, u8 out', lowbit: '8-bit x', variant: 'full', base: 'ort', peer: 'onnxruntime-node', vs: 'QLinearConv u8s8' },
    { family: 'int8 conv, u8 out', lowbit: '7-bit x', variant: 'seven', base: 'ort', peer: 'onnxruntime-node', vs: 'QLinearConv u8s8' },
  ],
};

// Sparse convolution: lowbit's direct sparse fp32 kernel against its own dense fp32 convolution
// (the baseline it must beat) and the 'auto' choice of the performance model, per layer and
// sparsity; lowbit dense against onnxruntime-node's fp32 Conv when it is installed. Batch 1,
// effective GFLOPS = dense FLOPs / time (SkimCaffe's convention).
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const { lineChart, htmlTable } = require('./report');

// name, cin, cout, h (= w), k, stride, pad, groups
const LAYERS = [
  ['alexnet conv2', 96, 256, 27, 5, 1, 2, 2], ['alexnet conv3', 256, 384, 13, 3, 1, 1, 1],
  ['alexnet conv4', 384, 384, 13, 3, 1, 1, 2], ['alexnet conv5', 384, 256, 13, 3, 1, 1, 2],
  ['resnet 3x3 64@56', 64, 64, 56, 3, 1, 1, 1], ['resnet 3x3 128@28', 128, 128, 28, 3, 1, 1, 1],
  ['resnet 3x3 256@14', 256, 256, 14, 3, 1, 1, 1], ['resnet 3x3 512@7', 512, 512, 7, 3, 1, 1, 1],
  ['resnet 3x3 128 s2', 128, 128, 28, 3, 2, 1, 1], ['resnet 1x1 256>64@56', 256, 64, 56, 1, 1, 0, 1],
  ['resnet 1x1 512>128@28', 512, 128, 28, 1, 1, 0, 1], ['resnet 1x1 1024>256@14', 1024, 256, 14, 1, 1, 0, 1],
  ['resnet 1x1 2048>512@7', 2048, 512, 7, 1, 1, 0, 1],
];
// fp32 fully-connected layers (lowbit.Linear): name, in, out, batch
const FC = [['fc 1024>1024 batch 1', 1024, 1024, 1], ['fc 1024>1024 batch 64', 1024, 1024, 64]];
const QUICK = ['alexnet conv3', 'resnet 3x3 128@28', 'resnet 1x1 512>128@28'];
const DEFAULT = ['alexnet conv2', 'alexnet conv3', 'resnet 3x3 64@56', 'resnet 3x3 256@14', 'resnet 1x1 512>128@28', 'resnet 3x3 128 s2'];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const names = full ? LAYERS.map((l) => l[0]) : quick ? QUICK : DEFAULT;
  const sparsities = quick ? [0.8, 0.9, 0.95] : full ? [0.5, 0.7, 0.8, 0.9, 0.95] : [0.7, 0.8, 0.9, 0.95];
  const minTime = quick ? 0.03 : 0.06;
  const rows = [];
  for (const [name, cin, cout, hw, k, stride, pad, groups] of LAYERS.filter((l) => names.includes(l[0]))) {
    const r = lcg(cin * 7 + cout + hw);
    const count = cout * (cin / groups) * k * k;
    const w = Float32Array.from({ length: count }, () => r() * 2 - 1);
    const x = Float32Array.from({ length: cin * hw * hw }, () => r() * 2 - 1);
    const geo = { inChannels: cin, outChannels: cout, kernelSize: k, stride, padding: pad, groups };
    const dense = new lowbit.Conv2d(w, { ...geo, mode: 'dense' });
    const [, , oh, ow] = dense.outputShape({ h: hw, w: hw });
    const flops = 2 * cout * (cin / groups) * k * k * oh * ow;
    const out = new Float32Array(cout * oh * ow);
    const opts = { h: hw, w: hw, out, threads };
    let ortDense;
    if (ort.available && threads === 1) {
      const c = await ort.conv({ cin, cout, h: hw, w: hw, k, stride, pad, group: groups });
      ortDense = c.run;
    }
    for (const sp of sparsities) {
      const pruned = lowbit.pruneWeights(w, { sparsity: sp, rows: cout });
      const sparse = new lowbit.Conv2d(pruned, { ...geo, mode: 'sparse' });
      const auto = new lowbit.Conv2d(pruned, { ...geo, mode: 'auto' });
      const variants = [
        { name: 'dense', fn: () => dense.forward(x, opts) },
        { name: 'sparse', fn: () => sparse.forward(x, opts) },
        { name: 'auto', fn: () => auto.forward(x, opts) },
      ];
      if (ortDense && sp === sparsities[0]) variants.push({ name: 'ort', fn: ortDense, async: true });
      const t = await compareAsync(variants, { minTime, rounds: 3, reps: 5 });
      const g = (n) => (t.has(n) ? flops / t.get(n) / 1e9 : undefined);
      const e = auto.explain({ h: hw, w: hw });
      const row = {
        layer: name, sparsity: sp, dense: g('dense'), sparse: g('sparse'), auto: g('auto'), ort: g('ort'),
        speedup: t.get('dense') / t.get('sparse'),
        // auto runs the chosen kernel (plus a lookup of its choice): its time is that kernel's,
        // measured in the same rounds; its own timing is the 'auto' column, noisier by one more sample
        autoVsBest: Math.min(t.get('dense'), t.get('sparse')) / t.get(e.kernel),
        autoChoice: e.kernel + (e.measuredSparseMs !== undefined ? ' (timed)' : ''),
      };
      rows.push(row);
      onRow(row);
    }
  }
  // fully-connected layers (Linear: the same kernels over a batch-major input), batch 1 and 64
  for (const [name, K, N, batch] of quick ? [] : FC) {
    const r = lcg(K + N + batch);
    const w = Float32Array.from({ length: N * K }, () => r() * 2 - 1);
    const x = Float32Array.from({ length: batch * K }, () => r() * 2 - 1);
    const out = new Float32Array(batch * N);
    const dense = new lowbit.Linear(w, { inFeatures: K, outFeatures: N, mode: 'dense' });
    const flops = 2 * K * N * batch;
    for (const sp of sparsities) {
      const pruned = lowbit.pruneWeights(w, { sparsity: sp, rows: N });
      const sparse = new lowbit.Linear(pruned, { inFeatures: K, outFeatures: N, mode: 'sparse' });
      const auto = new lowbit.Linear(pruned, { inFeatures: K, outFeatures: N });
      const opts = { out, threads };
      const t = await compareAsync([
        { name: 'dense', fn: () => dense.forward(x, opts) },
        { name: 'sparse', fn: () => sparse.forward(x, opts) },
        { name: 'auto', fn: () => auto.forward(x, opts) },
      ], { minTime, rounds: 3, reps: 5 });
      const e = auto.explain({ batch });
      const g = (n) => flops / t.get(n) / 1e9;
      const row = {
        layer: name, fc: true, sparsity: sp, dense: g('dense'), sparse: g('sparse'), auto: g('auto'),
        speedup: t.get('dense') / t.get('sparse'),
        autoVsBest: Math.min(t.get('dense'), t.get('sparse')) / t.get(e.kernel),
        autoChoice: e.kernel + (e.measuredSparseMs !== undefined ? ' (timed)' : ''),
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));

function medians(rows) {
  rows = rows.filter((r) => !r.fc);  // the medians are over the convolution layers
  const out = {};
  for (const sp of [...new Set(rows.map((r) => r.sparsity))]) {
    const s = rows.filter((r) => r.sparsity === sp).map((r) => r.speedup).sort((a, b) => a - b);
    out[sp] = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
  return out;
}

function format(rows) {
  let s = table(
    ['layer', 'sparsity', 'dense GFLOPS', 'sparse eff. GFLOPS', 'sparse/dense', 'auto', 'auto chose', 'auto / best', 'ort fp32 Conv', 'dense/ort'],
    rows.map((r) => [r.layer, `${Math.round(r.sparsity * 100)}%`, f1(r.dense), f1(r.sparse), r.speedup.toFixed(2) + 'x', f1(r.auto), r.autoChoice,
      (r.autoVsBest * 100).toFixed(0) + '%', f1(r.ort), r.ort ? (r.dense / r.ort).toFixed(2) + 'x' : '-']),
  );
  const m = medians(rows);
  s += '\nmedian sparse/dense (convolutions): ' + Object.entries(m).map(([sp, v]) => `${Math.round(sp * 100)}% ${v.toFixed(2)}x`).join(', ');
  const worst = rows.reduce((m, r) => Math.min(m, r.autoVsBest), 1);
  s += `\nauto / best (the chosen kernel's time against the faster one's): worst ${(worst * 100).toFixed(0)}%, ` +
    `${rows.filter((r) => r.autoVsBest >= 0.95).length} of ${rows.length} within 5%; "(timed)": the model was too close to call, the first call timed both.`;
  return s + '\nbatch 1; effective GFLOPS = dense FLOPs / time; random unstructured pruning by magnitude.';
}

function report(rows) {
  const layers = [...new Set(rows.map((r) => r.layer))];
  return {
    id: 'sparse-conv',
    title: 'Sparse convolution: speedup over lowbit dense fp32',
    html: lineChart({
      title: 'Speedup against sparsity, per layer', xLabel: 'sparsity %', yLabel: 'sparse / dense',
      series: layers.map((l) => ({ name: l, points: rows.filter((r) => r.layer === l).map((r) => [Math.round(r.sparsity * 100), r.speedup]) })),
      lines: [{ y: 1, label: 'dense' }],
    }) + htmlTable(['layer', 'sparsity', 'dense GFLOPS', 'sparse eff. GFLOPS', 'speedup', 'auto chose', 'auto / best'],
      rows.map((r) => [r.layer, `${Math.round(r.sparsity * 100)}%`, f1(r.dense), f1(r.sparse), r.speedup.toFixed(2) + 'x', r.autoChoice, (r.autoVsBest * 100).toFixed(0) + '%'])),
  };
}

module.exports = {
  name: 'sparse-conv', run, format, report,
  progress: (r) => `${r.layer} ${Math.round(r.sparsity * 100)}%: dense ${f1(r.dense)}, sparse ${f1(r.sparse)} GFLOPS (${r.speedup.toFixed(2)}x)`,
};

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => `${r.layer} ${Math.round(r.sparsity * 100)}%`,
  pairs: [
    { family: 'conv fp32', lowbit: 'dense', variant: 'dense', base: 'ort', peer: 'onnxruntime-node', vs: 'Conv fp32' },
    { family: 'sparse conv fp32', lowbit: 'sparse, 90%', variant: 'sparse', base: 'dense', vs: 'lowbit dense', where: (r) => Math.abs(r.sparsity - 0.9) < 1e-9 },
  ],
};

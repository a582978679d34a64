// int8 sparse fully-connected: QuantizedLinear in mode 'sparse' (the 1x4-block sparse kernel)
// against mode 'dense' (the exact int8 GEMM) and 'auto' (the performance model's choice per call),
// same weights, measured side by side (interleaved) in this run. Weights: fp32, pruned by whole
// 1x4 blocks of smallest magnitude (pruneWeights with block [1, 4]), then fromFloat32 (symmetric
// per-channel int8): random element-level pruning would leave almost no all-zero 1x4 blocks.
// Effective GOPS = dense operations 2*M*N*K per second. Two operations: matmulQuantized on
// full-range uint8 activations (both kernels on their exact vpmaddwd paths) and forward (fp32 in
// and out, 7-bit dynamic quantization: the dense GEMM's faster vpmaddubsw path).
// Second section: QuantizedConv2d on ResNet-50's 1x1 layers, whose sparse mode runs the same kernel
// with the pixels as the batch (dense: im2col transpose + the int8 GEMM + transpose into NCHW).
'use strict';
const { compare, table } = require('./harness');
const { lineChart, htmlTable } = require('./report');

// [K, N]: a square layer and two DLRM-like MLP layers
const SHAPES = [[1024, 1024], [512, 256], [1024, 512]];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const shapes = full ? SHAPES : quick ? SHAPES.slice(0, 1) : SHAPES.slice(0, 2);
  const sparsities = quick ? [0.7, 0.9] : [0.5, 0.7, 0.8, 0.9, 0.95];
  const ms = quick ? [1, 16] : [1, 16, 64];
  const ops = full ? ['int8', 'forward'] : ['int8'];
  const opts = { minTime: quick ? 0.005 : full ? 0.02 : 0.008, rounds: full ? 3 : 2, reps: full ? 5 : 3 };
  const rows = [];
  for (const [K, N] of shapes) {
    const r = lcg(K * 7 + N);
    const w = Float32Array.from({ length: N * K }, () => r() * 2 - 1);
    for (const sp of sparsities) {
      const pruned = lowbit.pruneWeights(w, { sparsity: sp, rows: N, block: [1, 4] });
      const make = (mode) => lowbit.QuantizedLinear.fromFloat32(pruned, { k: K, n: N, layout: 'nk', mode });
      const layers = { dense: make('dense'), sparse: make('sparse'), auto: make('auto') };
      for (const M of ms) {
        const a = Uint8Array.from({ length: M * K }, () => Math.floor(r() * 256));
        const x = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
        const q = { scale: 0.02, zeroPoint: 128, outScale: 0.5, outZeroPoint: 128, out: new Uint8Array(M * N), threads };
        const fo = { out: new Float32Array(M * N), threads };
        for (const op of ops) {
          const call = op === 'int8' ? (l) => () => l.matmulQuantized(a, q) : (l) => () => l.forward(x, fo);
          const t = compare(Object.entries(layers).map(([name, l]) => ({ name, fn: call(l) })), opts);
          const gops = (s) => (2 * M * N * K) / s / 1e9;
          const e = layers.auto.explain({ m: M, narrow: op === 'forward' });
          const best = Math.min(t.get('dense'), t.get('sparse'));
          rows.push({
            shape: `${K}x${N}`, K, N, M, op, threads, sparsity: layers.sparse.blockSparsity,
            dense: gops(t.get('dense')), sparse: gops(t.get('sparse')), auto: gops(t.get('auto')),
            speedup: t.get('dense') / t.get('sparse'), autoChoice: e.kernel,
            // auto's loss: its choice's measured time (the two kernels' rows) over the better one,
            // and auto's own measured time over the better one (noisier: a third measurement)
            pickLoss: t.get(e.kernel) / best - 1, autoLoss: t.get('auto') / best - 1,
            predictedSpeedup: e.predictedDenseUs / e.predictedSparseUs,
          });
          onRow(rows[rows.length - 1]);
        }
      }
    }
  }
  if (threads === 1 && !quick) rows.push(...twoThreads(lowbit, opts, onRow));
  rows.push(...conv1x1(lowbit, { quick, threads, opts, onRow }));
  return rows;
}

// ResNet-50 1x1 layers [cin, cout, h (= w)], batch 1
const CONV_LAYERS = [[256, 64, 56], [512, 128, 28], [1024, 256, 14], [2048, 512, 7]];

// QuantizedConv2d dense vs sparse vs auto, uint8 in and out, 8-bit and 7-bit activations.
function conv1x1(lowbit, { quick, threads, opts, onRow }) {
  const layers = quick ? CONV_LAYERS.slice(2, 3) : CONV_LAYERS;
  const sparsities = quick ? [0.9] : [0.7, 0.8, 0.9];
  const out = [];
  for (const [cin, cout, hw] of layers) {
    const r = lcg(cin * 3 + cout);
    const w = Float32Array.from({ length: cout * cin }, () => r() * 2 - 1);
    for (const sp of sparsities) {
      const pruned = lowbit.pruneWeights(w, { sparsity: sp, rows: cout, block: [1, 4] });
      const make = (mode) => lowbit.QuantizedConv2d.fromFloat32(pruned, { inChannels: cin, outChannels: cout, kernelSize: 1, mode });
      const convs = { dense: make('dense'), sparse: make('sparse'), auto: make('auto') };
      for (const bits of [8, 7]) {
        const x = Uint8Array.from({ length: cin * hw * hw }, () => Math.floor(r() * (1 << bits)));
        const o = { h: hw, w: hw, scale: 0.02, zeroPoint: bits === 8 ? 128 : 64, outScale: 0.5, outZeroPoint: 128, out: new Uint8Array(cout * hw * hw), threads };
        const t = compare(Object.entries(convs).map(([name, c]) => ({ name, fn: () => c.forward(x, o) })), opts);
        const gops = (v) => (2 * cin * cout * hw * hw) / v / 1e9;
        const e = convs.auto.explain({ h: hw, w: hw, narrow: bits === 7 });
        const best = Math.min(t.get('dense'), t.get('sparse'));
        const row = {
          conv: true, layer: `${cin}>${cout}@${hw}`, bits, threads, sparsity: convs.sparse.blockSparsity,
          dense: gops(t.get('dense')), sparse: gops(t.get('sparse')), auto: gops(t.get('auto')), speedup: t.get('dense') / t.get('sparse'),
          autoChoice: e.kernel, pickLoss: t.get(e.kernel) / best - 1, autoLoss: t.get('auto') / best - 1,
          predictedSpeedup: e.predictedDenseUs / e.predictedSparseUs,
        };
        out.push(row);
        onRow(row);
      }
    }
  }
  return out;
}

// N = K = 1024: one thread against two, dense and sparse (N split by nonzero blocks).
function twoThreads(lowbit, opts, onRow) {
  const K = 1024, N = 1024;
  const r = lcg(99);
  const w = Float32Array.from({ length: N * K }, () => r() * 2 - 1);
  const out = [];
  for (const sp of [0.8, 0.9]) {
    const pruned = lowbit.pruneWeights(w, { sparsity: sp, rows: N, block: [1, 4] });
    const dense = lowbit.QuantizedLinear.fromFloat32(pruned, { k: K, n: N, layout: 'nk', mode: 'dense' });
    const sparse = lowbit.QuantizedLinear.fromFloat32(pruned, { k: K, n: N, layout: 'nk', mode: 'sparse' });
    for (const M of [1, 64]) {
      const a = Uint8Array.from({ length: M * K }, () => Math.floor(r() * 256));
      const q = (threads) => ({ scale: 0.02, zeroPoint: 128, outScale: 0.5, out: new Uint8Array(M * N), threads });
      const t = compare([
        { name: 'd1', fn: () => dense.matmulQuantized(a, q(1)) }, { name: 'd2', fn: () => dense.matmulQuantized(a, q(2)) },
        { name: 's1', fn: () => sparse.matmulQuantized(a, q(1)) }, { name: 's2', fn: () => sparse.matmulQuantized(a, q(2)) },
      ], opts);
      const gops = (s) => (2 * M * N * K) / t.get(s) / 1e9;
      const row = { twoThreads: true, shape: `${K}x${N}`, M, sparsity: sparse.blockSparsity, d1: gops('d1'), d2: gops('d2'), s1: gops('s1'), s2: gops('s2') };
      out.push(row);
      onRow(row);
    }
  }
  return out;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const pct = (v) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

function format(allRows) {
  const rows = allRows.filter((r) => !r.twoThreads && !r.conv);
  let s = table(
    ['KxN', 'M', 'op', 'block sp.', 'dense GOPS', 'sparse GOPS', 'auto GOPS', 'sparse/dense', 'predicted', 'auto chose', 'choice vs best', 'auto vs best'],
    rows.map((r) => [r.shape, r.M, r.op, `${(r.sparsity * 100).toFixed(0)}%`, f1(r.dense), f1(r.sparse), f1(r.auto), r.speedup.toFixed(2) + 'x',
      r.predictedSpeedup.toFixed(2) + 'x', r.autoChoice, pct(r.pickLoss), pct(r.autoLoss)]),
  );
  const worst = Math.max(...rows.map((r) => r.pickLoss));
  s += `\nworst auto choice: ${pct(worst)} slower than the better kernel (its measured time in the same run); threads ${rows[0]?.threads ?? 1}`;
  const tt = allRows.filter((r) => r.twoThreads);
  if (tt.length) {
    s += '\n\n' + table(['KxN', 'M', 'block sp.', 'dense 1T', 'dense 2T', '2T/1T', 'sparse 1T', 'sparse 2T', '2T/1T'],
      tt.map((r) => [r.shape, r.M, `${(r.sparsity * 100).toFixed(0)}%`, f1(r.d1), f1(r.d2), (r.d2 / r.d1).toFixed(2) + 'x', f1(r.s1), f1(r.s2), (r.s2 / r.s1).toFixed(2) + 'x']));
  }
  s += '\nGOPS = 2·M·N·K / s (dense operations). int8: matmulQuantized, full-range uint8 activations, uint8 output; forward: fp32 in/out (7-bit dynamic quantization).' +
    '\nWeights pruned by 1x4 blocks (pruneWeights block [1, 4]) then fromFloat32.';
  const cv = allRows.filter((r) => r.conv);
  if (cv.length) {
    s += '\n\nQuantizedConv2d, ResNet-50 1x1 layers (cin>cout@h=w, batch 1), sparse kernel with M = pixels:\n' + table(
      ['layer', 'act', 'block sp.', 'dense GOPS', 'sparse GOPS', 'auto GOPS', 'sparse/dense', 'predicted', 'auto chose', 'choice vs best', 'auto vs best'],
      cv.map((r) => [r.layer, `${r.bits}-bit`, `${(r.sparsity * 100).toFixed(0)}%`, f1(r.dense), f1(r.sparse), f1(r.auto), r.speedup.toFixed(2) + 'x',
        r.predictedSpeedup.toFixed(2) + 'x', r.autoChoice, pct(r.pickLoss), pct(r.autoLoss)]));
    s += `\nworst auto choice (conv): ${pct(Math.max(...cv.map((r) => r.pickLoss)))}. GOPS = 2·cin·cout·h·w / s; uint8 in and out (forward), 1x4 blocks along the input channels.`;
  }
  return s;
}

function report(allRows) {
  const rows = allRows.filter((r) => !r.twoThreads && !r.conv);
  const keys = [...new Set(rows.map((r) => `${r.shape} M=${r.M} ${r.op}`))];
  return {
    id: 'sparse-fc',
    title: 'int8 sparse fully-connected: speedup over the dense int8 GEMM',
    html: lineChart({
      title: 'sparse / dense against block sparsity', xLabel: 'block sparsity %', yLabel: 'sparse / dense',
      series: keys.map((k) => ({ name: k, points: rows.filter((r) => `${r.shape} M=${r.M} ${r.op}` === k).map((r) => [Math.round(r.sparsity * 100), r.speedup]) })),
      lines: [{ y: 1, label: 'dense' }],
    }) + htmlTable(['KxN', 'M', 'op', 'block sparsity', 'dense GOPS', 'sparse GOPS', 'auto GOPS', 'auto chose', 'choice vs best'],
      rows.map((r) => [r.shape, r.M, r.op, `${(r.sparsity * 100).toFixed(0)}%`, f1(r.dense), f1(r.sparse), f1(r.auto), r.autoChoice, pct(r.pickLoss)])) +
      htmlTable(['QuantizedConv2d 1x1 layer', 'activations', 'block sparsity', 'dense GOPS', 'sparse GOPS', 'auto GOPS', 'auto chose', 'choice vs best'],
        allRows.filter((r) => r.conv).map((r) => [r.layer, `${r.bits}-bit`, `${(r.sparsity * 100).toFixed(0)}%`, f1(r.dense), f1(r.sparse), f1(r.auto), r.autoChoice, pct(r.pickLoss)])),
  };
}

module.exports = {
  name: 'sparse-fc', run, format, report,
  progress: (r) => r.conv ? `conv ${r.layer} ${r.bits}-bit ${Math.round(r.sparsity * 100)}%: dense ${f1(r.dense)}, sparse ${f1(r.sparse)}, auto ${f1(r.auto)} GOPS (${r.autoChoice})`
    : r.twoThreads ? `${r.shape} M=${r.M} ${Math.round(r.sparsity * 100)}%: dense 2T/1T ${(r.d2 / r.d1).toFixed(2)}x, sparse 2T/1T ${(r.s2 / r.s1).toFixed(2)}x`
    : `${r.shape} M=${r.M} ${r.op} ${Math.round(r.sparsity * 100)}%: dense ${f1(r.dense)}, sparse ${f1(r.sparse)}, auto ${f1(r.auto)} GOPS (${r.autoChoice})`,
};

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => (r.conv ? `conv ${r.layer} ${r.bits}b` : `${r.shape} M=${r.M}${r.op && r.op !== 'int8' ? ' ' + r.op : ''}`) +
    (r.twoThreads ? ' 2T' : '') + ` ${Math.round(r.sparsity * 100)}%`,
  pairs: [
    { family: 'sparse int8 FC, u8 out', lowbit: 'sparse, >=88%', variant: 'sparse', base: 'dense', vs: 'lowbit dense', where: (r) => !r.conv && r.sparsity >= 0.88 },
    { family: 'sparse int8 conv 1x1', lowbit: 'sparse, >=88%', variant: 'sparse', base: 'dense', vs: 'lowbit dense', where: (r) => r.conv && r.sparsity >= 0.88 },
  ],
};

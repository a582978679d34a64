// The residual split (native/kernels/gemm/README.md, "Residual split"): full-range int8 weights
// as a dense part safe for AVX2's vpmaddubsw kernel + a sparse residual, against lowbit's exact
// int16 kernel on the same weights and onnxruntime-node's MatMulInteger (u8s8: the same
// saturating instruction, not exact; u8u8: its exact path), all measured in this run with
// full-range uint8 activations. Also: the residual density per weight distribution, and the
// model's inputs (per-weight cost of both kernels, per-entry cost of the residual).
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}
function gauss(r) {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

// K×N int8 weights ('kn' layout) of a distribution, quantized symmetric per output channel
// (max |w| of a column -> 127), as fromFloat32 does.
function weights(kind, K, N, seed = 7) {
  const r = lcg(seed);
  const f = new Float32Array(K * N);
  for (let i = 0; i < f.length; i++) f[i] = kind === 'uniform' ? r() * 2 - 1 : gauss(r);
  if (kind === 'pruned') {
    // magnitude pruning to 50% (the threshold of |N(0,1)| at the median)
    for (let i = 0; i < f.length; i++) if (Math.abs(f[i]) < 0.6745) f[i] = 0;
  }
  const w = new Int8Array(K * N);
  for (let n = 0; n < N; n++) {
    let mx = 0;
    for (let k = 0; k < K; k++) mx = Math.max(mx, Math.abs(f[k * N + n]));
    const s = mx / 127 || 1;
    for (let k = 0; k < K; k++) w[k * N + n] = Math.round(f[k * N + n] / s);
  }
  return w;
}

const SHAPES = [[256, 1024, 1024], [1024, 1024, 1024]];
const QUICK = [[256, 1024, 1024]];

async function run(lowbit, { quick = false, onRow = () => {} } = {}) {
  const rows = [];
  // residual density per distribution (1024 x 1024)
  for (const kind of ['gaussian', 'uniform', 'pruned']) {
    const w = weights(kind, 1024, 1024);
    const l = lowbit.QuantizedLinear.fromInt8(w, { k: 1024, n: 1024, layout: 'kn', residual: 'always' });
    const a = lowbit.QuantizedLinear.fromInt8(w, { k: 1024, n: 1024, layout: 'kn' });
    const row = { density: true, kind, residualDensity: l.residualDensity, autoSplits: a.residualDensity > 0 };
    rows.push(row);
    onRow(row);
  }
  const minTime = quick ? 0.1 : 0.25;
  for (const [M, N, K] of quick ? QUICK : SHAPES) {
    const w = weights('gaussian', K, N, M + N + K);
    const split = lowbit.QuantizedLinear.fromInt8(w, { k: K, n: N, layout: 'kn', scale: 0.01, residual: 'always' });
    const plain = lowbit.QuantizedLinear.fromInt8(w, { k: K, n: N, layout: 'kn', scale: 0.01, residual: 'never' });
    // the fast kernel alone on safe weights of the same shape (the model's 'fast' cost)
    const safeW = Int8Array.from(w, (v) => v >> 1);
    const safe = lowbit.QuantizedLinear.fromInt8(safeW, { k: K, n: N, layout: 'kn', scale: 0.01, residual: 'never' });
    const r = lcg(M * 3 + K);
    const A = Uint8Array.from({ length: M * K }, () => Math.floor(r() * 256));
    const C = new Int32Array(M * N);
    const Q = new Uint8Array(M * N);
    const q = { scale: 0.02, zeroPoint: 128, outScale: 4, outZeroPoint: 128, out: Q };
    const variants = [
      { name: 'split', fn: () => split.matmulInt32(A, { out: C }) },
      { name: 'splitQ', fn: () => split.matmulQuantized(A, q) },
      { name: 'exact', fn: () => plain.matmulInt32(A, { out: C }) },
      { name: 'fastSafe', fn: () => safe.matmulInt32(A, { out: C }) },
    ];
    if (ort.available) {
      for (const v of ['u8s8', 'u8u8']) {
        const mm = await ort.matmul(v, M, N, K, w);
        variants.push({ name: 'ort_' + v, fn: mm.run, async: true });
      }
    }
    const t = await compareAsync(variants, { minTime, rounds: 3, reps: 5 });
    // exactness of the split on this input, against the exact kernel
    const c1 = split.matmulInt32(A);
    const c2 = plain.matmulInt32(A);
    let same = c1.length === c2.length;
    for (let i = 0; same && i < c1.length; i++) same = c1[i] === c2[i];
    const ops = 2 * M * N * K;
    const row = { shape: `${M}x${N}x${K}`, M, N, K, residualDensity: split.residualDensity, exactMatch: same };
    for (const [name, s] of t) row[name] = ops / s / 1e9;
    // the model's inputs: ns per weight-row for each kernel, ns per residual entry-row
    const entries = split.residualDensity * K * N * M;
    row.modelExactNs = (t.get('exact') / (M * N * K)) * 1e9;
    row.modelFastNs = (t.get('fastSafe') / (M * N * K)) * 1e9;
    row.modelEntryNs = ((t.get('split') - t.get('fastSafe')) / entries) * 1e9;
    row.breakEvenDensity = (row.modelExactNs - row.modelFastNs) / row.modelEntryNs;
    rows.push(row);
    onRow(row);
  }
  return rows;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const f2 = (v) => (v === undefined ? '-' : v.toFixed(2));
function format(rows) {
  const d = rows.filter((r) => r.density);
  const s = rows.filter((r) => r.shape);
  const out = [
    'residual density (1024x1024, per-channel symmetric int8; pruned = 50% magnitude-pruned Gaussian):',
    table(['weights', 'residual %', 'auto splits'], d.map((r) => [r.kind, (r.residualDensity * 100).toFixed(2), String(r.autoSplits)])),
    '',
    'GOPS, full-range uint8 activations, Gaussian int8 weights (split = dense fast kernel + residual, exact;',
    '  exact = the always-exact kernel: vpmaddwd on AVX2, vpdpbusd on AVX-512 VNNI):',
    table(['shape', 'res %', 'split', 'splitQ', 'exact', 'fast (safe w)', 'ort u8s8', 'ort u8u8', 'split/u8s8', 'exact/u8s8', 'split/exact', 'exact match', 'break-even %'],
      s.map((r) => [r.shape, (r.residualDensity * 100).toFixed(2), f1(r.split), f1(r.splitQ), f1(r.exact), f1(r.fastSafe), f1(r.ort_u8s8), f1(r.ort_u8u8),
        r.ort_u8s8 ? f2(r.split / r.ort_u8s8) : '-', r.ort_u8s8 ? f2(r.exact / r.ort_u8s8) : '-', f2(r.split / r.exact), String(r.exactMatch), f1(r.breakEvenDensity * 100)])),
  ];
  return out.join('\n');
}

module.exports = { name: 'gemm-residual', run, format, progress: (r) => JSON.stringify(r) };

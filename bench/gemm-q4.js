// 4-bit weights with int8 outliers (QuantizedLinear.fromFloat32({ bits: 4 })): speed against
// lowbit's own int8 layer on the same weights, measured in this run (GEMV at M = 1, which streams
// the weights, and M = 64), and the error against the fp32 product next to plain 4-bit (no
// outliers) and int8, on Gaussian and heavy-tailed (Student-t, 3 degrees of freedom) weights.
'use strict';
const { compareAsync, table } = require('./harness');

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}
function gaussFn(r) {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}
// Student-t with 3 degrees of freedom: Z / sqrt(chi2_3 / 3)
function studentFn(r) {
  const g = gaussFn(r);
  return () => {
    const z = g();
    const c = g() ** 2 + g() ** 2 + g() ** 2;
    return z / Math.sqrt(c / 3);
  };
}
function fill(n, f) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f();
  return a;
}

// [N, K, M]: outputs, inputs, rows (the 4096x4096 and 4096x11008 GEMV, and M = 64)
const SPEED = [[4096, 4096, 1], [11008, 4096, 1], [4096, 4096, 64], [11008, 4096, 64]];
const QUICK = [[4096, 4096, 1], [4096, 4096, 64]];

async function speed(lowbit, quick, onRow) {
  const rows = [];
  let cache = null;
  for (const [N, K, M] of quick ? QUICK : SPEED) {
    if (!cache || cache.N !== N || cache.K !== K) {
      const w = fill(N * K, gaussFn(lcg(N + K)));
      cache = {
        N, K,
        int8: lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N }),
        q4: lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N, bits: 4 }),
        q4g32: lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N, bits: 4, groupSize: 32 }),
        q4plain: lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N, bits: 4, outliers: 0 }),
      };
    }
    const x = fill(M * K, gaussFn(lcg(M)));
    const y = new Float32Array(M * N);
    const a = Uint8Array.from({ length: M * K }, (_, i) => (i * 37) & 255);
    const f = { scale: 0.02, zeroPoint: 128, out: y };
    const v = [
      { name: 'int8', fn: () => cache.int8.forward(x, { out: y }) },
      { name: 'q4', fn: () => cache.q4.forward(x, { out: y }) },
      { name: 'q4g32', fn: () => cache.q4g32.forward(x, { out: y }) },
      { name: 'q4plain', fn: () => cache.q4plain.forward(x, { out: y }) },
      { name: 'int8mm', fn: () => cache.int8.matmulFloat(a, f) },
      { name: 'q4mm', fn: () => cache.q4.matmulFloat(a, f) },
    ];
    const t = await compareAsync(v, { minTime: quick ? 0.05 : 0.15, rounds: 3, reps: 5 });
    const ops = 2 * M * N * K;
    const row = { shape: `${M}x${N}x${K}`, M, N, K, int8Bytes: cache.int8.byteLength, q4Bytes: cache.q4.byteLength };
    for (const [name, s] of t) row[name] = ops / s / 1e9;
    rows.push(row);
    onRow(row);
  }
  return rows;
}

function accuracy(lowbit, onRow) {
  const rows = [];
  const N = 256, K = 1024, M = 32;
  for (const dist of ['gaussian', 'student-t3']) {
    const r = lcg(dist.length * 101);
    const w = fill(N * K, dist === 'gaussian' ? gaussFn(r) : studentFn(r));
    const x = fill(M * K, gaussFn(r));
    const ref = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
        ref[m * N + n] = s;
      }
    let norm = 0;
    for (const v of ref) norm += v * v;
    const err = (layer) => {
      const y = layer.forward(x, { reduceRange: false });
      let e = 0;
      for (let i = 0; i < y.length; i++) e += (y[i] - ref[i]) ** 2;
      return Math.sqrt(e / norm);
    };
    const row = { accuracy: true, dist, int8: err(lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N })) };
    for (const g of [128, 32]) {
      for (const o of [0, 0.005, 0.01, 0.02]) {
        row[`g${g}_${o}`] = err(lowbit.QuantizedLinear.fromFloat32(w, { k: K, n: N, bits: 4, groupSize: g, outliers: o }));
      }
    }
    rows.push(row);
    onRow(row);
  }
  return rows;
}

async function run(lowbit, { quick = false, onRow = () => {} } = {}) {
  return [...accuracy(lowbit, onRow), ...(await speed(lowbit, quick, onRow))];
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const f2 = (v) => (v === undefined ? '-' : v.toFixed(2));
const pct = (v) => (v === undefined ? '-' : (v * 100).toFixed(2) + '%');
function format(rows) {
  const acc = rows.filter((r) => r.accuracy);
  const sp = rows.filter((r) => r.shape);
  const cols = [];
  for (const g of [128, 32]) for (const o of [0, 0.005, 0.01, 0.02]) cols.push([`g${g}_${o}`, `4b g${g} ${o * 100}%`]);
  return [
    'relative error ||y - y_fp32|| / ||y_fp32|| (256x1024 weights, 32 Gaussian rows, 8-bit dynamic activations; 4b 0% = plain 4-bit):',
    table(['weights', 'int8', ...cols.map((c) => c[1])], acc.map((r) => [r.dist, pct(r.int8), ...cols.map((c) => pct(r[c[0]]))])),
    '',
    'GOPS (forward: fp32 in/out, dynamic activations; mm: matmulFloat on uint8), 4-bit = group 128, 1% outliers unless named:',
    table(['MxNxK', 'int8', '4b', '4b g32', '4b 0%', 'int8 mm', '4b mm', '4b/int8', '4b g32/int8', '4b mm/int8 mm', 'MiB int8', 'MiB 4b'],
      sp.map((r) => [r.shape, f1(r.int8), f1(r.q4), f1(r.q4g32), f1(r.q4plain), f1(r.int8mm), f1(r.q4mm), f2(r.q4 / r.int8), f2(r.q4g32 / r.int8), f2(r.q4mm / r.int8mm),
        (r.int8Bytes / 2 ** 20).toFixed(1), (r.q4Bytes / 2 ** 20).toFixed(1)])),
  ].join('\n');
}

module.exports = { name: 'gemm-q4', run, format, progress: (r) => JSON.stringify(r) };

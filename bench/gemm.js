// int8 GEMM: lowbit's exact path (full-range uint8 activations), its fast path (7-bit activations,
// exact by construction) and the dynamic-quantization fp32 layer, against onnxruntime-node
// (MatMulInteger u8u8 = its exact path, u8s8 = saturating, fp32 MatMul) and PyTorch (quantized
// Linear on FBGEMM's engine, dynamic quantized Linear) when they are installed, all measured in
// this run. (The shape lists come from shared/ANCHORS.md; its figures are not shown.)
'use strict';
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const torch = require('./torch');
const { barChart, htmlTable } = require('./report');

// [M, N, K, FBGEMM GOPS from ANCHORS]: only the shapes are used (figures not measured here are not shown)
const FBGEMM = [
  [156800, 4, 36, 13.1], [156800, 8, 36, 28.9], [156800, 16, 36, 43.4], [1, 128, 512, 4.2], [1, 1024, 256, 8.7],
  [1, 2048, 512, 21.1], [1, 4096, 1024, 28.6], [6, 256, 1024, 79.9], [6, 256, 2048, 99.9], [6, 512, 512, 86.1],
  [6, 1024, 256, 55.3], [6, 2048, 256, 64.7], [6, 2048, 512, 126.9], [6, 4096, 256, 64.7], [6, 4096, 1024, 153.5],
  [6, 4096, 2048, 155.2], [10, 2048, 256, 89.2], [10, 4096, 1024, 163.4], [20, 2048, 256, 113.3], [20, 4096, 1024, 164.5],
  [102, 1024, 512, 156.2], [102, 2323, 256, 131.6], [102, 512, 256, 130.7], [1, 800, 3200, 25.2], [1, 800, 8000, 27.9],
  [16, 256, 1500, 119.5], [16, 256, 1567, 130.6],
];
// [M, N, K, onnxruntime-node u8u8 GOPS from ANCHORS]
const ORT_SHAPES = [
  [1, 1024, 1024, 49.1], [16, 1024, 1024, 118], [64, 1024, 1024, 135], [256, 1024, 1024, 137], [1024, 1024, 1024, 130],
  [128, 4096, 1024, 134], [1, 4096, 4096, 46.1], [64, 512, 2048, 138], [32, 256, 64, 37.3], [1, 256, 512, 12.9], [256, 256, 1152, 137],
];
const QUICK = [[1, 1024, 1024], [16, 256, 1500], [64, 1024, 1024], [102, 1024, 512], [156800, 16, 36], [256, 256, 1152]];
const DEFAULT = [...QUICK, [1, 4096, 1024], [20, 4096, 1024], [32, 256, 64], [128, 4096, 1024], [1024, 1024, 1024]];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

function shapesFor({ quick, full }) {
  const list = full ? [...FBGEMM.map((s) => s.slice(0, 3)), ...ORT_SHAPES.map((s) => s.slice(0, 3))] : quick ? QUICK : DEFAULT;
  const seen = new Set();
  return list.filter(([m, n, k]) => !seen.has(`${m}x${n}x${k}`) && seen.add(`${m}x${n}x${k}`));
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const rows = [];
  // the int8 peaks of this core, measured now (register-only loops built into the addon)
  const peaks = lowbit.measurePeaks(quick ? 0.1 : 0.3);
  if (peaks.maddS16Gops) rows.push({ peaks: true, ...peaks });
  const minTime = quick ? 0.03 : 0.08;
  for (const [M, N, K] of shapesFor({ quick, full })) {
    const r = lcg(M * 31 + N * 7 + K);
    const w = Int8Array.from({ length: K * N }, () => Math.floor(r() * 255) - 127);
    // w is K×N (ONNX MatMul's B, what ort.matmul takes too)
    const lin = lowbit.QuantizedLinear.fromInt8(w, { k: K, n: N, layout: 'kn', scale: 0.01 });
    const aFull = Uint8Array.from({ length: M * K }, () => Math.floor(r() * 256));
    const a7 = Uint8Array.from(aFull, (v) => v >> 1);
    const out = new Uint8Array(M * N);
    const q = { scale: 0.02, zeroPoint: 128, outScale: 1, outZeroPoint: 128, out, threads };
    const ops = 2 * M * N * K;
    const gops = (t) => ops / t / 1e9;
    const row = { shape: `${M}x${N}x${K}`, M, N, K };
    const variants = [
      { name: 'exact', fn: () => lin.matmulQuantized(aFull, q) },
      { name: 'fast', fn: () => lin.matmulQuantized(a7, { ...q, zeroPoint: 64 }) },
    ];
    if (M >= 16 && !quick) {
      const x = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
      const y = new Float32Array(M * N);
      const wf = Float32Array.from(w, (v) => v * 0.01);
      const lf = lowbit.QuantizedLinear.fromFloat32(wf, { k: K, n: N, layout: 'kn' });
      variants.push({ name: 'dynamic', fn: () => lf.forward(x, { out: y, threads }) });
      // fp32 baseline without onnxruntime: lowbit's own dense fp32 GEMM, as a 1x1 convolution
      // (out[N][M] = W[N][K] · x[K][M]: the same multiply-adds, transposed layout)
      if (M * K <= 1 << 24) {
        const wt = new Float32Array(N * K);
        for (let kk = 0; kk < K; kk++) for (let nn = 0; nn < N; nn++) wt[nn * K + kk] = wf[kk * N + nn];
        const fc = new lowbit.Conv2d(wt, { inChannels: K, outChannels: N, kernelSize: 1, mode: 'dense' });
        const xt = new Float32Array(K * M);
        const yt = new Float32Array(N * M);
        variants.push({ name: 'f32', fn: () => fc.forward(xt, { h: 1, w: M, out: yt, threads }) });
      }
    }
    if (ort.available && threads === 1) {
      for (const v of ['u8u8', 'u8s8', ...(M >= 16 && !quick ? ['f32'] : [])]) {
        const mm = await ort.matmul(v, M, N, K, w);
        variants.push({ name: 'ort_' + v, fn: mm.run, async: true });
      }
    }
    const tp = threads === 1 ? await torch.peer(1) : null;
    if (tp) {
      variants.push(await tp.variant('torch_q', 'qlinear', { M, N, K }));
      if (M >= 16 && !quick) variants.push(await tp.variant('torch_dyn', 'dynamic', { M, N, K }));
    }
    const times = await compareAsync(variants, { minTime, rounds: quick ? 2 : 3, reps: 5 });
    for (const [name, t] of times) row[name] = gops(t);
    if (M === 1) row.exactUs = (ops / (row.exact * 1e9)) * 1e6;
    rows.push(row);
    onRow(row);
  }
  if (!quick) rows.push(await extras(lowbit, minTime, onRow));
  return rows;
}

// The online-serving latency case, the binding's own cost, and two-thread scaling.
async function extras(lowbit, minTime, onRow) {
  const ex = { extras: true };
  const r = lcg(42);
  const w = Int8Array.from({ length: 1024 * 1024 }, () => Math.floor(r() * 255) - 127);
  const lin = lowbit.QuantizedLinear.fromInt8(w, { k: 1024, n: 1024, layout: 'kn', scale: 0.01 });
  const a = Uint8Array.from({ length: 1024 }, () => Math.floor(r() * 256));
  const out = new Int32Array(1024);
  const variants = [
    { name: 'gemv', fn: () => lin.matmulInt32(a, { out }) },
  ];
  // binding cost: a product so small that the kernel takes nanoseconds
  const tiny = lowbit.QuantizedLinear.fromInt8(new Int8Array(4), { k: 4, n: 1 });
  const ta = new Uint8Array(4);
  const tout = new Int32Array(1);
  variants.push({ name: 'tiny', fn: () => tiny.matmulInt32(ta, { out: tout }) });
  if (ort.available) {
    const mm = await ort.matmul('u8u8', 1, 1024, 1024, w);
    variants.push({ name: 'ort', fn: mm.run, async: true });
    const empty = await ort.matmul('u8u8', 1, 1, 1, new Int8Array(1));
    variants.push({ name: 'ortTiny', fn: empty.run, async: true });
  }
  const t = await compareAsync(variants, { minTime, rounds: 3, reps: 7 });
  ex.gemvUs = t.get('gemv') * 1e6;
  ex.tinyUs = t.get('tiny') * 1e6;
  if (t.has('ort')) {
    ex.ortUs = t.get('ort') * 1e6;
    ex.ortTinyUs = t.get('ortTiny') * 1e6;
  }
  // two threads against one at 1024^3 (exact path)
  const big = lowbit.QuantizedLinear.fromInt8(w, { k: 1024, n: 1024, layout: 'kn', scale: 0.01 });
  const A = Uint8Array.from({ length: 1024 * 1024 }, () => Math.floor(r() * 256));
  const C = new Int32Array(1024 * 1024);
  const tt = await compareAsync([
    { name: '1', fn: () => big.matmulInt32(A, { out: C, threads: 1 }) },
    { name: '2', fn: () => big.matmulInt32(A, { out: C, threads: 2 }) },
  ], { minTime: Math.max(minTime, 0.2), rounds: 3, reps: 3 });
  ex.gops1 = (2 * 1024 ** 3) / tt.get('1') / 1e9;
  ex.gops2 = (2 * 1024 ** 3) / tt.get('2') / 1e9;
  onRow(ex);
  return ex;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const ratio = (a, b) => (a === undefined || b === undefined ? '-' : (a / b).toFixed(2) + 'x');

function columns(rows) {
  return [
    ['shape MxNxK', 'lowbit exact', 'lowbit 7-bit', 'dyn fp32', 'lowbit fp32', 'dyn/fp32', 'ort u8u8', 'ort u8s8', 'ort fp32', 'exact/ort u8u8', '7-bit/ort u8s8', 'dyn/ort fp32', 'torch q', 'exact/torch q', 'torch dyn', 'dyn/torch dyn'],
    rows.map((r) => [r.shape, f1(r.exact), f1(r.fast), f1(r.dynamic), f1(r.f32), ratio(r.dynamic, r.f32), f1(r.ort_u8u8), f1(r.ort_u8s8), f1(r.ort_f32),
      ratio(r.exact, r.ort_u8u8), ratio(r.fast, r.ort_u8s8), ratio(r.dynamic, r.ort_f32), f1(r.torch_q), ratio(r.exact, r.torch_q), f1(r.torch_dyn), ratio(r.dynamic, r.torch_dyn)]),
  ];
}

function formatExtras(ex) {
  if (!ex) return '';
  let s = `\n1x1024x1024 int32 from JavaScript: ${ex.gemvUs.toFixed(1)} us per call`;
  if (ex.ortUs) s += ` vs onnxruntime-node MatMulInteger u8u8 ${ex.ortUs.toFixed(1)} us = ${(ex.gemvUs / ex.ortUs).toFixed(2)}x its time`;
  s += `\nbinding cost (1x1x4 product, validation included): ${ex.tinyUs.toFixed(2)} us per call`;
  if (ex.ortTinyUs) s += ` (onnxruntime-node session.run of a 1x1x1 MatMulInteger: ${ex.ortTinyUs.toFixed(1)} us)`;
  s += `\n1024^3 exact, int32 out: 1 thread ${ex.gops1.toFixed(1)} GOPS, 2 threads ${ex.gops2.toFixed(1)} GOPS = ${(ex.gops2 / ex.gops1).toFixed(2)}x`;
  return s;
}

function peakLine(allRows) {
  const p = allRows.find((r) => r.peaks);
  return p ? `\npeaks measured now on this core: vpmaddwd (exact int16) ${p.maddS16Gops.toFixed(1)} GOPS, vpmaddubsw idiom ${p.maddubsGops.toFixed(1)} GOPS; ` +
    `best exact shape at ${(Math.max(...allRows.filter((r) => r.exact).map((r) => r.exact)) / p.maddS16Gops * 100).toFixed(0)}% of its peak` : '';
}

function format(allRows) {
  const rows = allRows.filter((r) => !r.extras && !r.peaks);
  const [h, body] = columns(rows);
  return table(h, body) + '\nGOPS = 2·M·N·K / s, one call at a time, uint8 requantized output (dyn: fp32 in/out, dynamic quantization; lowbit fp32: its dense fp32 GEMM). ' +
    (ort.available ? 'onnxruntime-node measured in this run (session.run included).' : 'onnxruntime-node not installed: see bench/ort.js.') +
    (rows.some((r) => r.torch_q) ? ' PyTorch measured in this run (torch q: quantized Linear, FBGEMM engine, u8 in/out; torch dyn: dynamic quantized Linear; Python call included).' : ' PyTorch not installed.') + formatExtras(allRows.find((r) => r.extras)) + peakLine(allRows);
}

function report(allRows) {
  const rows = allRows.filter((r) => !r.extras && !r.peaks);
  const p = allRows.find((r) => r.peaks);
  const [h, body] = columns(rows);
  const series = [
    { name: 'lowbit exact', values: rows.map((r) => r.exact) },
    { name: 'lowbit 7-bit (exact)', values: rows.map((r) => r.fast) },
  ];
  if (rows.some((r) => r.ort_u8u8)) series.push({ name: 'onnxruntime u8u8', values: rows.map((r) => r.ort_u8u8) });
  if (rows.some((r) => r.ort_u8s8)) series.push({ name: 'onnxruntime u8s8 (saturating)', values: rows.map((r) => r.ort_u8s8) });
  if (rows.some((r) => r.torch_q)) series.push({ name: 'PyTorch quantized Linear (FBGEMM engine)', values: rows.map((r) => r.torch_q) });
  return {
    id: 'gemm',
    title: 'int8 GEMM (GOPS, one thread)',
    html: barChart({
      title: 'GOPS by shape against the hardware peaks (dashed)', yLabel: 'GOPS', categories: rows.map((r) => r.shape), series,
      lines: p
        ? [{ y: p.maddS16Gops, label: `vpmaddwd peak (exact int16), measured ${p.maddS16Gops.toFixed(0)}` }, { y: p.maddubsGops, label: `vpmaddubsw idiom peak, measured ${p.maddubsGops.toFixed(0)}` }]
        : [],
    }) + htmlTable(h, body),
  };
}

module.exports = {
  name: 'gemm', run, format, report,
  progress: (r) => r.peaks ? `peaks: vpmaddwd ${r.maddS16Gops.toFixed(0)}, maddubs ${r.maddubsGops.toFixed(0)} GOPS` : r.extras ? `latency 1x1024x1024 ${r.gemvUs.toFixed(1)} us; 1024^3 threads 2/1 ${(r.gops2 / r.gops1).toFixed(2)}x` : `${r.shape}: exact ${f1(r.exact)} GOPS, 7-bit ${f1(r.fast)}${r.ort_u8u8 ? `, ort u8u8 ${f1(r.ort_u8u8)}` : ''}`,
};

// The summary's pairs (bench/README.md): lowbit's variant against a peer's or a baseline's, by the
// names they were timed under.
module.exports.summary = {
  caseName: (r) => (r.extras ? 'latency 1x1024x1024' : r.shape),
  pairs: [
    { family: 'int8 GEMM, u8 out', lowbit: 'exact', variant: 'exact', base: 'ort_u8u8', peer: 'onnxruntime-node', vs: 'MatMulInteger u8u8' },
    { family: 'int8 GEMM, u8 out', lowbit: '7-bit', variant: 'fast', base: 'ort_u8s8', peer: 'onnxruntime-node', vs: 'MatMulInteger u8s8' },
    { family: 'int8 GEMM, u8 out', lowbit: 'exact', variant: 'exact', base: 'torch_q', peer: 'pytorch', vs: 'quantized Linear' },
    { family: 'GEMM fp32 in/out', lowbit: 'dynamic int8', variant: 'dynamic', base: 'ort_f32', peer: 'onnxruntime-node', vs: 'MatMul fp32' },
    { family: 'GEMM fp32 in/out', lowbit: 'dynamic int8', variant: 'dynamic', base: 'torch_dyn', peer: 'pytorch', vs: 'dynamic qLinear' },
    { family: 'int8 GEMV 1x1024x1024', lowbit: 'int32 out', variant: 'gemv', base: 'ort', peer: 'onnxruntime-node', vs: 'MatMulInteger u8u8' },
    { family: 'GEMM fp32 in/out', lowbit: 'dynamic int8', variant: 'dynamic', base: 'f32', vs: 'lowbit fp32 GEMM' },
    { family: 'int8 GEMM, u8 out', lowbit: '7-bit', variant: 'fast', base: 'exact', vs: 'lowbit exact' },
  ],
};

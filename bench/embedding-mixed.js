// Mixed-precision embedding tables on a Zipf workload: memory, accuracy against the fp32 table and
// speed against the pure q4 / q2 table and the fp32 table, in the same run.
//
// One table of `rows` ids (random values, D = `dim`), a Zipf(s) access distribution over randomly
// permuted ids; the hot rows are the `hot` most frequent ids of a separate sample of the same
// distribution (what a caller's access log gives). Lookups: 512 bags of 20 Zipf ids, default calls.
// Accuracy: relative L2 error of the pooled outputs against the fp32 table's.
//
//   node bench/embedding-mixed.js [rows=1000000] [dim=64] [s=1.05] [hot=10000] [rounds=5]
'use strict';
const lowbit = require('..');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const ROWS = Number(args.rows ?? 1e6), DIM = Number(args.dim ?? 64), S = Number(args.s ?? 1.05);
const HOT = Number(args.hot ?? 10000), ROUNDS = Number(args.rounds ?? 5), BAGS = 512, POOL = 20;

function lcg(seed) {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 4294967296;
}

function main() {
  const r = lcg(42);
  // values: a mix of scales per row, as trained embeddings have
  const values = new Float32Array(ROWS * DIM);
  for (let i = 0; i < ROWS; i++) {
    const scale = 0.05 + r() * 0.5;
    for (let d = 0; d < DIM; d++) values[i * DIM + d] = (r() + r() + r() - 1.5) * scale;
  }
  // Zipf over ranks, ranks mapped to random ids
  const cdf = new Float64Array(ROWS);
  let acc = 0;
  for (let k = 0; k < ROWS; k++) cdf[k] = acc += 1 / Math.pow(k + 1, S);
  const perm = Int32Array.from({ length: ROWS }, (_, i) => i);
  for (let i = ROWS - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const draw = () => {
    const u = r() * acc;
    let lo = 0, hi = ROWS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo];
  };
  const counts = new Float64Array(ROWS);
  for (let i = 0; i < 2e6; i++) counts[draw()]++;
  const streams = Array.from({ length: 8 }, () => Int32Array.from({ length: BAGS * POOL }, draw));
  const offsets = Int32Array.from({ length: BAGS }, (_, b) => b * POOL);
  let hotShare = 0;
  {
    const hot = new Set(Int32Array.from({ length: ROWS }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b).slice(0, HOT));
    let n = 0;
    for (const s of streams) for (const id of s) n += hot.has(id) ? 1 : 0;
    hotShare = n / (streams.length * BAGS * POOL);
  }

  const t0 = Date.now();
  const tables = {
    f32: lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'f32' }),
    q4: lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'q4' }),
    'q4+f32': lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'q4', hot: { counts, rows: HOT, format: 'f32' } }),
    'q4+f16': lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'q4', hot: { counts, rows: HOT, format: 'f16' } }),
    q2: lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'q2' }),
    'q2+f16': lowbit.EmbeddingTable.fromFloat32(values, { dim: DIM, format: 'q2', hot: { counts, rows: HOT, format: 'f16' } }),
  };
  console.log(`tables built in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${ROWS} ids, D=${DIM}, Zipf s=${S}, ${HOT} hot ids = ${(100 * HOT / ROWS).toFixed(2)}% of ids, ${(100 * hotShare).toFixed(1)}% of lookups`);
  const bytes = (name) => {
    const t = tables[name];
    const hot = t.hotIds ? t.hotIds.length * lowbit.rowBytes(t.hotFormat, DIM) : 0;
    return t.rows * t.rowStride + hot;
  };
  const ref = streams.map((s) => lowbit.embeddingBag(tables.f32, { indices: s, offsets }));
  const err = (name) => {
    let num = 0, den = 0;
    streams.forEach((s, k) => {
      const y = lowbit.embeddingBag(tables[name], { indices: s, offsets });
      for (let i = 0; i < y.length; i++) {
        num += (y[i] - ref[k][i]) ** 2;
        den += ref[k][i] ** 2;
      }
    });
    return Math.sqrt(num / den);
  };
  const time = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(tables)) {
      const n = 200;
      const a = process.hrtime.bigint();
      for (let i = 0; i < n; i++) lowbit.embeddingBag(tables[name], { indices: streams[i & 7], offsets });
      const us = Number(process.hrtime.bigint() - a) / 1e3 / n;
      time[name] = Math.min(time[name] ?? Infinity, us);
    }
  }
  console.log('table    | MiB     | rel. L2 error vs f32 | us / 512-bag call | Mrows/s | vs pure low-precision | vs f32');
  for (const name of Object.keys(tables)) {
    const base = name.startsWith('q4') ? 'q4' : name.startsWith('q2') ? 'q2' : 'f32';
    console.log(
      `${name.padEnd(8)} | ${(bytes(name) / 2 ** 20).toFixed(1).padStart(7)} | ${err(name).toExponential(3).padStart(20)} | ${time[name].toFixed(1).padStart(17)} | ` +
        `${((BAGS * POOL) / time[name]).toFixed(1).padStart(7)} | ${(time[base] / time[name]).toFixed(2).padStart(21)}x | ${(time.f32 / time[name]).toFixed(2)}x`,
    );
  }
}

main();

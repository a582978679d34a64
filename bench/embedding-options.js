// Embedding-bag options, each against the default in the same run, interleaved:
// - hugePages: a table in a caller's ArrayBuffer (4 KiB pages) against the same bytes in another
//   ArrayBuffer opened with EmbeddingTable.fromBuffer(..., { hugePages: true }): q8 D = 128 / 256,
//   warm (FBGEMM's batch of random rows of the whole table, the call repeated) and cold, and
//   the one-time cost of the collapse;
// - outputType 'float16' against fp32 output: warm calls and a long stream (20000 bags x 20).
'use strict';
const { compareAsync, table } = require('./harness');
const { fillRows, batch, lcg } = require('./embedding').helpers;

async function run(lowbit, { quick = false, full = false, onRow = () => {} } = {}) {
  const rowsOut = [];
  const rows = full ? 4_000_000 : quick ? 250_000 : 1_000_000;
  const minTime = quick ? 0.03 : 0.06;
  for (const dim of quick ? [128] : [128, 256]) {
    const bytes = rows * lowbit.rowBytes('q8', dim);
    const a = new Uint8Array(new ArrayBuffer(bytes));
    fillRows(lowbit, a, 'q8', rows, dim);
    const b = new Uint8Array(new ArrayBuffer(bytes));
    b.set(a);
    const plain = lowbit.EmbeddingTable.fromBuffer(a, { dim, format: 'q8' });
    const t0 = process.hrtime.bigint();
    const huge = lowbit.EmbeddingTable.fromBuffer(b, { dim, format: 'q8', hugePages: true });
    const adviseMs = Number(process.hrtime.bigint() - t0) / 1e6;
    // warm: FBGEMM's protocol (its C++ bench's too): one batch of random rows of the whole table,
    // the call repeated, so its ~900 rows stay in cache, each on its own 4 KiB page
    const warm = batch(rows, 10, 100, 7);
    const cold = Array.from({ length: 64 }, (_, i) => batch(rows, 10, 100, i + dim));
    let c1 = 0;
    let c2 = 0;
    const times = await compareAsync([
      { name: 'warm4k', fn: () => lowbit.embeddingBag(plain, { indices: warm.indices, lengths: warm.lengths }) },
      { name: 'warm2m', fn: () => lowbit.embeddingBag(huge, { indices: warm.indices, lengths: warm.lengths }) },
      { name: 'cold4k', fn: () => { const x = cold[c1++ % cold.length]; lowbit.embeddingBag(plain, { indices: x.indices, lengths: x.lengths }); } },
      { name: 'cold2m', fn: () => { const x = cold[c2++ % cold.length]; lowbit.embeddingBag(huge, { indices: x.indices, lengths: x.lengths }); } },
    ], { minTime, rounds: 3, reps: 5 });
    const m = (n, s) => n / s / 1e6;
    const row = {
      kind: 'pages', dim, rows, mib: bytes / 2 ** 20, hugePages: huge.hugePages, adviseMs,
      warm4k: m(warm.total, times.get('warm4k')), warm2m: m(warm.total, times.get('warm2m')),
      cold4k: m(cold[0].total, times.get('cold4k')), cold2m: m(cold[0].total, times.get('cold2m')),
    };
    rowsOut.push(row);
    onRow(row);
  }
  // fp16 against fp32 output, same table (lowbit-allocated), same lookups
  for (const [format, dim] of quick ? [['q8', 128]] : [['q4', 32], ['q8', 64], ['q8', 128], ['q8', 256]]) {
    const t = lowbit.EmbeddingTable.allocate(rows, { dim, format });
    fillRows(lowbit, t.bytes, format, rows, dim);
    const warm = batch(rows, 10, 100, 7, 2000); // embedding.js's warm: 2000 hot rows
    const nb = quick ? 5000 : 20000;
    const rs = lcg(99 + dim);
    const stream = { lengths: new Int32Array(nb).fill(20), indices: BigInt64Array.from({ length: 20 * nb }, () => BigInt(Math.floor(rs() * rows))) };
    const o32 = new Float32Array(nb * dim);
    const o16 = new Uint16Array(nb * dim);
    const w32 = new Float32Array(10 * dim);
    const w16 = new Uint16Array(10 * dim);
    const times = await compareAsync([
      { name: 'warm32', fn: () => lowbit.embeddingBag(t, { indices: warm.indices, lengths: warm.lengths, out: w32 }) },
      { name: 'warm16', fn: () => lowbit.embeddingBag(t, { indices: warm.indices, lengths: warm.lengths, out: w16, outputType: 'float16' }) },
      { name: 'stream32', fn: () => lowbit.embeddingBag(t, { indices: stream.indices, lengths: stream.lengths, out: o32 }) },
      { name: 'stream16', fn: () => lowbit.embeddingBag(t, { indices: stream.indices, lengths: stream.lengths, out: o16, outputType: 'float16' }) },
    ], { minTime, rounds: 3, reps: 5 });
    const m = (n, s) => n / s / 1e6;
    const row = {
      kind: 'output', format, dim, rows,
      warm32: m(warm.total, times.get('warm32')), warm16: m(warm.total, times.get('warm16')),
      stream32: m(stream.indices.length, times.get('stream32')), stream16: m(stream.indices.length, times.get('stream16')),
    };
    rowsOut.push(row);
    onRow(row);
  }
  return rowsOut;
}

const f1 = (v) => v.toFixed(1);
const x2 = (a, b) => (a / b).toFixed(2) + 'x';

function format(rows) {
  const pages = rows.filter((r) => r.kind === 'pages');
  const out = rows.filter((r) => r.kind === 'output');
  let s = table(
    ['q8 table in an ArrayBuffer', 'D', 'MiB', 'hugePages', 'one-time ms', 'warm 4 KiB', 'warm 2 MiB', '2M / 4K', 'cold 4 KiB', 'cold 2 MiB', '2M / 4K'],
    pages.map((r) => [`${r.rows.toLocaleString()} rows`, r.dim, r.mib.toFixed(0), r.hugePages, r.adviseMs.toFixed(0),
      f1(r.warm4k), f1(r.warm2m), x2(r.warm2m, r.warm4k), f1(r.cold4k), f1(r.cold2m), x2(r.cold2m, r.cold4k)]),
  );
  s += '\nMrows/s; FBGEMM\'s batch (10 bags x ~100); warm: one batch of random rows, the call repeated (FBGEMM\'s protocol); cold: 64 batches in turn; the same bytes in two ArrayBuffers, the second opened with hugePages: true.\n';
  s += table(
    ['table', 'D', 'warm fp32 out', 'warm fp16 out', 'fp16 / fp32', 'stream fp32 out', 'stream fp16 out', 'fp16 / fp32'],
    out.map((r) => [r.format, r.dim, f1(r.warm32), f1(r.warm16), x2(r.warm16, r.warm32), f1(r.stream32), f1(r.stream16), x2(r.stream16, r.stream32)]),
  );
  s += '\nMrows/s; outputType \'float16\' against fp32 output; stream: 20000 bags x 20 random rows into a caller output.';
  return s;
}

module.exports = {
  name: 'embedding-options', run, format,
  progress: (r) => (r.kind === 'pages' ? `q8 D=${r.dim} ${r.hugePages}: warm ${f1(r.warm4k)} -> ${f1(r.warm2m)} Mrows/s`
    : `${r.format} D=${r.dim}: warm fp32 ${f1(r.warm32)} / fp16 ${f1(r.warm16)} Mrows/s`),
};

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => (r.kind === 'pages' ? `q8 D=${r.dim} pages` : `${r.format} D=${r.dim} output`),
  pairs: [
    { family: 'embedding options', lowbit: 'hugePages, cold', variant: 'cold2m', base: 'cold4k', vs: 'lowbit 4 KiB pages' },
    { family: 'embedding options', lowbit: 'fp16 out, stream', variant: 'stream16', base: 'stream32', vs: 'lowbit fp32 out' },
  ],
};

// Embedding bag: lowbit's 8-bit and 4-bit lookups in FBGEMM's benchmark configuration (batch 10,
// pooling ~100) and a DLRM-like batch, in Mrows/s and GB/s of table bytes read; one and two
// threads; against onnxruntime-node Gather + ReduceSum on an fp32 table of the same content when
// it is installed.
'use strict';
const crypto = require('node:crypto');
const { compareAsync, table } = require('./harness');
const ort = require('./ort');
const { lineChart, htmlTable } = require('./report');

// Rows of random codes with a valid scale and bias (quantizing fp32 rows would cost minutes).
function randomTable(lowbit, format, rows, dim) {
  const t = lowbit.EmbeddingTable.allocate(rows, { dim, format });
  fillRows(lowbit, t.bytes, format, rows, dim);
  return t;
}

// Fills `bytes` with `rows` rows of random codes, scale 0.01 and bias -1.
function fillRows(lowbit, bytes, format, rows, dim) {
  const rb = lowbit.rowBytes(format, dim);
  for (let off = 0; off < bytes.length; off += 1 << 30) crypto.randomFillSync(bytes, off, Math.min(1 << 30, bytes.length - off));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codeBytes = format === 'q8' ? dim : format === 'q4' ? Math.ceil(dim / 2) : Math.ceil(dim / 4);
  for (let r = 0; r < rows; r++) {
    const o = r * rb + codeBytes;
    if (format === 'q8') {
      dv.setFloat32(o, 0.01, true);
      dv.setFloat32(o + 4, -1, true);
    } else {
      dv.setUint16(o, 0x211f, true); // fp16 0.01
      dv.setUint16(o + 2, 0xbc00, true); // fp16 -1
    }
  }
}

function randomF32(lowbit, rows, dim) {
  const t = lowbit.EmbeddingTable.allocate(rows, { dim, format: 'f32' });
  const v = new Float32Array(t.bytes.buffer);
  const u = new Uint32Array(v.buffer);
  // in slices given as views: randomFillSync's offset is limited to 2^31 - 1 bytes
  for (let off = 0; off < u.length; off += 1 << 26) crypto.randomFillSync(u.subarray(off, Math.min(u.length, off + (1 << 26))));
  for (let i = 0; i < u.length; i++) u[i] = (u[i] & 0x807fffff) | 0x3f000000; // finite values in (-1, 1)
  return t;
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

// FBGEMM's batch: 10 bags, lengths uniform in [1, 199] (average 100).
function batch(rows, bags, avg, seed, hot = 0) {
  const r = lcg(seed);
  const lengths = Int32Array.from({ length: bags }, () => 1 + Math.floor(r() * (2 * avg - 1)));
  const total = lengths.reduce((a, b) => a + b, 0);
  const span = hot > 0 ? hot : rows;
  const indices = BigInt64Array.from({ length: total }, () => BigInt(Math.floor(r() * span)));
  return { lengths, indices, total };
}

async function run(lowbit, { quick = false, full = false, threads = 1, onRow = () => {} } = {}) {
  const rowsOut = [];
  const rows = full ? 4_000_000 : quick ? 250_000 : 1_000_000;
  const dims = quick ? [64, 128] : [32, 64, 128, 256];
  const minTime = quick ? 0.03 : 0.06;
  for (const format of ['q8', 'q4']) {
    for (const dim of dims) {
      const t = randomTable(lowbit, format, rows, dim);
      const rb = lowbit.rowBytes(format, dim);
      // many batches of random indices so that rows are cold (not in cache) on each call
      const cold = Array.from({ length: 64 }, (_, i) => batch(rows, 10, 100, i + dim));
      const warm = batch(rows, 10, 100, 7, 2000);
      let c = 0;
      const variants = [
        { name: 'cold', fn: () => { const b = cold[c++ % cold.length]; lowbit.embeddingBag(t, { indices: b.indices, lengths: b.lengths }); } },
        { name: 'warm', fn: () => lowbit.embeddingBag(t, { indices: warm.indices, lengths: warm.lengths }) },
      ];
      // a long stream (the gather limit's setup): 20000 bags of 20, one and two threads
      const nb = quick ? 5000 : 20000;
      const rs = lcg(99 + dim);
      const stream = { lengths: new Int32Array(nb).fill(20), indices: BigInt64Array.from({ length: 20 * nb }, () => BigInt(Math.floor(rs() * rows))) };
      const streamLookups = stream.indices.length;
      const out = new Float32Array(stream.lengths.length * dim);
      variants.push({ name: 'stream', fn: () => lowbit.embeddingBag(t, { indices: stream.indices, lengths: stream.lengths, out }) });
      variants.push({ name: 'stream2', fn: () => lowbit.embeddingBag(t, { indices: stream.indices, lengths: stream.lengths, out, threads: 2 }) });
      // fp32 baseline: the same lookups on an fp32 table (4·D bytes a row; random values)
      if (format === 'q8') {
        const f32 = randomF32(lowbit, rows, dim);
        variants.push({ name: 'streamF32', fn: () => lowbit.embeddingBag(f32, { indices: stream.indices, lengths: stream.lengths, out }) });
      }
      const times = await compareAsync(variants, { minTime, rounds: 2, reps: 5 });
      const mrows = (n, s) => n / s / 1e6;
      const row = {
        format, dim, rowBytes: rb, rows,
        cold: mrows(cold[0].total, times.get('cold')),
        warm: mrows(warm.total, times.get('warm')),
        stream: mrows(streamLookups, times.get('stream')),
        stream2: mrows(streamLookups, times.get('stream2')),
        streamF32: times.has('streamF32') ? mrows(streamLookups, times.get('streamF32')) : undefined,
      };
      row.streamGBs = (row.stream * rb) / 1e3;
      rowsOut.push(row);
      onRow(row);
    }
  }
  // DLRM-like request: batch 512, 26 tables, D=64 (q8), pooling uniform in [20, 100], all tables in
  // one embeddingBags call; 1,000,000 rows a table with --full, 100,000 otherwise (memory and time).
  if (!quick) {
    const tRows = full ? 1_000_000 : 100_000;
    const dim = 64;
    const tables = Array.from({ length: 26 }, () => randomTable(lowbit, 'q8', tRows, dim));
    const reqs = Array.from({ length: 8 }, (_, s) => {
      const r = lcg(1000 + s);
      return tables.map((table) => {
        const lengths = Int32Array.from({ length: 512 }, () => 20 + Math.floor(r() * 81));
        const total = lengths.reduce((a, b) => a + b, 0);
        return { table, lengths, indices: Int32Array.from({ length: total }, () => Math.floor(r() * tRows)) };
      });
    });
    const lookups = reqs[0].reduce((a, l) => a + l.indices.length, 0);
    const out = new Float32Array(512 * 26 * dim);
    let c = 0;
    const times = await compareAsync([
      { name: '1', fn: () => lowbit.embeddingBags(reqs[c++ % reqs.length], { out }) },
      { name: '2', fn: () => lowbit.embeddingBags(reqs[c++ % reqs.length], { out, threads: 2 }) },
    ], { minTime, rounds: 2, reps: 5 });
    const row = { dlrm: true, rows: tRows, lookups, mrows1: lookups / times.get('1') / 1e6, mrows2: lookups / times.get('2') / 1e6, ms1: times.get('1') * 1e3 };
    rowsOut.push(row);
    onRow(row);
  }
  // onnxruntime comparison: 8-bit D=64 vs Gather + ReduceSum on fp32, 512 bags of 20 (ANCHORS case)
  if (ort.available && !quick) {
    const ortRows = 1_000_000;
    const dim = 64;
    const t = randomTable(lowbit, 'q8', ortRows, dim);
    const f32 = t.toFloat32();
    const r = lcg(5);
    const idx = BigInt64Array.from({ length: 512 * 20 }, () => BigInt(Math.floor(r() * ortRows)));
    const lengths = new Int32Array(512).fill(20);
    const g = await ort.gatherSum(f32, ortRows, dim, idx, 512, 20);
    const times = await compareAsync([
      { name: 'lowbit', fn: () => lowbit.embeddingBag(t, { indices: idx, lengths }) },
      { name: 'ort', fn: g.run, async: true },
    ], { minTime, rounds: 3, reps: 5 });
    const row = { format: 'q8 vs ort fp32', dim, rowBytes: 72, rows: ortRows, lowbitMrows: 10240 / times.get('lowbit') / 1e6, ortMrows: 10240 / times.get('ort') / 1e6 };
    rowsOut.push(row);
    onRow(row);
  }
  return rowsOut;
}

const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));

function format(rows) {
  const main = rows.filter((r) => r.cold !== undefined);
  let s = table(
    ['table', 'D', 'row B', 'cold', 'warm', 'stream', 'stream GB/s', 'fp32 table stream', 'vs fp32', '2 threads', '2T / 1T'],
    main.map((r) => [r.format, r.dim, r.rowBytes, f1(r.cold), f1(r.warm), f1(r.stream), r.streamGBs.toFixed(2), f1(r.streamF32),
      r.streamF32 ? (r.stream / r.streamF32).toFixed(2) + 'x' : '-', f1(r.stream2), (r.stream2 / r.stream).toFixed(2) + 'x']),
  );
  s += `\nMrows/s. ${main[0] ? main[0].rows.toLocaleString() : ''} rows; cold: FBGEMM's batch (10 bags, ~100 lookups each) on random rows of the whole table, no flush;`;
  s += '\nwarm: the same batch over 2000 hot rows; stream: 20000 bags x 20 random rows (the gather limit\'s setup); one call at a time, per-call cost included.';
  const d = rows.find((r) => r.dlrm);
  if (d) s += `\nDLRM-like (512 samples x 26 q8 tables of ${d.rows.toLocaleString()} rows, D=64, pooling 20..100, ${d.lookups} lookups, one call): ${d.ms1.toFixed(2)} ms, ${f1(d.mrows1)} Mrows/s; 2 threads ${f1(d.mrows2)} Mrows/s (${(d.mrows2 / d.mrows1).toFixed(2)}x)`;
  const o = rows.find((r) => r.ortMrows !== undefined);
  if (o) s += `\nq8 D=64, 1M rows, 512 bags x 20: lowbit ${f1(o.lowbitMrows)} Mrows/s vs onnxruntime-node Gather+ReduceSum fp32 ${f1(o.ortMrows)} Mrows/s = ${(o.lowbitMrows / o.ortMrows).toFixed(2)}x`;
  return s;
}

function report(rows) {
  const main = rows.filter((r) => r.cold !== undefined);
  const series = [];
  for (const f of ['q8', 'q4']) {
    const r = main.filter((x) => x.format === f);
    if (!r.length) continue;
    series.push({ name: `${f} stream 1 thread`, points: r.map((x) => [x.rowBytes, x.streamGBs]) });
    series.push({ name: `${f} stream 2 threads`, points: r.map((x) => [x.rowBytes, (x.stream2 * x.rowBytes) / 1e3]) });
  }
  return {
    id: 'embedding',
    title: 'Embedding bag (GB/s of table rows read)',
    html: lineChart({ title: 'GB/s against row size', xLabel: 'row bytes', yLabel: 'GB/s', series, logX: true }) +
      htmlTable(['table', 'D', 'row B', 'cold Mrows/s', 'warm Mrows/s', 'stream Mrows/s', 'stream GB/s', '2 threads Mrows/s'],
        main.map((r) => [r.format, r.dim, r.rowBytes, f1(r.cold), f1(r.warm), f1(r.stream), r.streamGBs.toFixed(2), f1(r.stream2)])),
  };
}

module.exports = {
  name: 'embedding', run, format, report,
  helpers: { fillRows, batch, lcg }, // for embedding-options.js
  progress: (r) => (r.cold !== undefined ? `${r.format} D=${r.dim}: cold ${f1(r.cold)} Mrows/s, stream ${f1(r.stream)}`
    : r.dlrm ? `DLRM-like: ${f1(r.mrows1)} Mrows/s` : `vs onnxruntime: ${f1(r.lowbitMrows)} / ${f1(r.ortMrows)} Mrows/s`),
};

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => (r.dlrm ? 'DLRM-like 512x26' : `${r.format} D=${r.dim}`),
  pairs: [
    { family: 'embedding bag', lowbit: 'q8', variant: 'lowbit', base: 'ort', peer: 'onnxruntime-node', vs: 'Gather+ReduceSum fp32' },
    { family: 'embedding bag', lowbit: 'q8 stream', variant: 'stream', base: 'streamF32', vs: 'lowbit fp32 table' },
    { family: 'embedding bag', lowbit: '2 threads', variant: 'stream2', base: 'stream', vs: 'lowbit 1 thread' },
  ],
};

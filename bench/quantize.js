// Quantize / dequantize throughput: lowbit's kernels at the best ISA and at the scalar reference,
// against a plain JavaScript loop computing the same formula, side by side.
'use strict';
const { compare, table } = require('./harness');

// The formula in plain JavaScript (the baseline a Node user would otherwise write).
function quantizeJs(x, out, scale, zp, qmin, qmax) {
  const inv = Math.fround(1 / scale);
  for (let i = 0; i < x.length; i++) {
    const v = Math.fround(x[i] * inv);
    if (v !== v) {
      out[i] = zp;
      continue;
    }
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1; // Math.round breaks ties upwards; make it half-to-even
    r += zp;
    out[i] = r < qmin ? qmin : r > qmax ? qmax : r;
  }
  return out;
}
function dequantizeJs(q, out, scale, zp) {
  for (let i = 0; i < q.length; i++) out[i] = (q[i] - zp) * scale;
  return out;
}

function run(lowbit, { quick = false, onRow = () => {} } = {}) {
  const info = lowbit.cpu();
  const best = info.isa;
  const sizes = quick ? [4096, 1 << 20] : [4096, 1 << 18, 1 << 22];
  const rows = [];
  for (const n of sizes) {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * 3;
    const p = lowbit.chooseQuantParams(-3, 3);
    const q = new Uint8Array(n);
    const f = new Float32Array(n);
    for (const op of ['quantize', 'dequantize']) {
      const native = op === 'quantize' ? () => lowbit.quantize(x, { ...p, out: q }) : () => lowbit.dequantize(q, { ...p, out: f });
      const js = op === 'quantize' ? () => quantizeJs(x, q, p.scale, p.zeroPoint, 0, 255) : () => dequantizeJs(q, f, p.scale, p.zeroPoint);
      // Let V8 finish optimizing the JS loop at this size first (a fair baseline, not a cold one).
      const w0 = process.hrtime.bigint();
      while (Number(process.hrtime.bigint() - w0) < (quick ? 5e7 : 2e8)) js();
      const t = compare(
        [
          { name: 'js', fn: js },
          { name: 'scalar', fn: native, before: () => lowbit.setIsa('scalar'), after: () => lowbit.setIsa(best) },
          { name: best, fn: native },
        ],
        { minTime: quick ? 0.02 : 0.05, rounds: quick ? 2 : 3 },
      );
      const bytes = n * 5; // 4 bytes read + 1 written, or 1 read + 4 written
      const gbs = (name) => bytes / t.get(name) / 1e9;
      const row = {
        op,
        n,
        isa: best,
        gbs: gbs(best),
        scalarGbs: gbs('scalar'),
        jsGbs: gbs('js'),
        vsJs: t.get('js') / t.get(best),
        vsScalar: t.get('scalar') / t.get(best),
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

function format(rows) {
  return table(
    ['op', 'elements', 'ISA', 'GB/s', 'scalar GB/s', 'JS loop GB/s', 'vs JS', 'vs scalar'],
    rows.map((r) => [r.op, r.n, r.isa, r.gbs.toFixed(2), r.scalarGbs.toFixed(2), r.jsGbs.toFixed(2), r.vsJs.toFixed(1) + 'x', r.vsScalar.toFixed(1) + 'x']),
  );
}

module.exports = { name: 'quantize', run, format, progress: (r) => `${r.op} n=${r.n}: ${r.gbs.toFixed(2)} GB/s` };

const { lineChart, htmlTable } = require('./report');

function report(rows) {
  const series = [];
  for (const op of ['quantize', 'dequantize']) {
    const r = rows.filter((x) => x.op === op);
    series.push({ name: `${op} lowbit ${r[0].isa}`, points: r.map((x) => [x.n, x.gbs]) });
    series.push({ name: `${op} scalar`, points: r.map((x) => [x.n, x.scalarGbs]) });
    series.push({ name: `${op} JS loop`, points: r.map((x) => [x.n, x.jsGbs]) });
  }
  return {
    id: 'quantize',
    title: 'Quantize / dequantize (GB/s of bytes read + written)',
    html:
      lineChart({ title: 'Throughput by array length', xLabel: 'elements', yLabel: 'GB/s', series, logX: true }) +
      htmlTable(
        ['op', 'elements', 'ISA', 'GB/s', 'scalar GB/s', 'JS loop GB/s', 'vs JS', 'vs scalar'],
        rows.map((r) => [r.op, r.n, r.isa, r.gbs.toFixed(2), r.scalarGbs.toFixed(2), r.jsGbs.toFixed(2), r.vsJs.toFixed(1) + 'x', r.vsScalar.toFixed(1) + 'x']),
      ),
  };
}

module.exports.report = report;

// The summary's pairs (bench/README.md).
module.exports.summary = {
  caseName: (r) => `${r.op} n=${r.n}`,
  pairs: [{ family: 'quantize/dequantize', lowbit: 'best ISA', variant: (r) => r.isa, base: 'js', vs: 'plain JavaScript loop' }],
};

// Sparse Winograd (Conv2d winogradSparsity: U pruned in the Winograd domain) against dense
// Winograd and against lowbit's direct sparse kernel at the same sparsity of the spatial weights
// (pruneWeights), on AlexNet conv3-5 and the ResNet 3x3 stride-1 layers, batch 1. Effective GFLOPS
// = dense direct FLOPs / time; ratios of times measured in the same interleaved rounds.
//   node bench/index.js --filter sparse-winograd [--threads 2] [--quick]
'use strict';
const { compareAsync, table } = require('./harness');
const { htmlTable } = require('./report');

const LAYERS = [
  ['alexnet conv3', 256, 384, 13, 1], ['alexnet conv4', 384, 384, 13, 2], ['alexnet conv5', 384, 256, 13, 2],
  ['resnet 3x3 64@56', 64, 64, 56, 1], ['resnet 3x3 128@28', 128, 128, 28, 1], ['resnet 3x3 256@14', 256, 256, 14, 1],
  ['resnet 3x3 512@7', 512, 512, 7, 1],
];
const QUICK = ['alexnet conv3', 'resnet 3x3 128@28'];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function run(lowbit, { quick = false, threads = 1, onRow = () => {} } = {}) {
  const rows = [];
  const minTime = quick ? 0.03 : 0.05;
  for (const [name, cin, cout, hw, groups] of LAYERS.filter((l) => !quick || QUICK.includes(l[0]))) {
    const r = lcg(cin + cout * 3 + hw);
    const w = Float32Array.from({ length: cout * (cin / groups) * 9 }, () => r() * 2 - 1);
    const x = Float32Array.from({ length: cin * hw * hw }, () => r() * 2 - 1);
    const geo = { inChannels: cin, outChannels: cout, kernelSize: 3, padding: 1, groups };
    const out = new Float32Array(cout * hw * hw);
    const opts = { h: hw, w: hw, out, threads };
    const wino = new lowbit.Conv2d(w, { ...geo, mode: 'winograd' });
    const flops = 2 * cout * (cin / groups) * 9 * hw * hw;
    for (const sp of [0.7, 0.9, 0.95]) {
      const swino = new lowbit.Conv2d(w, { ...geo, mode: 'winograd', winogradSparsity: sp });
      const direct = new lowbit.Conv2d(lowbit.pruneWeights(w, { sparsity: sp, rows: cout }), { ...geo, mode: 'sparse' });
      const t = await compareAsync([
        { name: 'wino', fn: () => wino.forward(x, opts) },
        { name: 'swino', fn: () => swino.forward(x, opts) },
        { name: 'direct', fn: () => direct.forward(x, opts) },
      ], { minTime, rounds: quick ? 3 : 5, reps: 5 });
      const g = (v) => flops / t.get(v) / 1e9;
      const row = {
        layer: name, sparsity: sp, threads, wino: g('wino'), swino: g('swino'), direct: g('direct'), tile: swino.explain({ h: hw, w: hw }).winogradTile,
        vsWino: t.get('wino') / t.get('swino'), vsDirect: t.get('direct') / t.get('swino'),
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

const f1 = (v) => v.toFixed(1);
const x2 = (v) => v.toFixed(2) + 'x';
const HEAD = ['layer', 'sparsity', 'threads', 'dense winograd', 'sparse winograd', 'tile', 'direct sparse', 'sparse wino / dense wino', 'sparse wino / direct sparse'];
const cells = (r) => [r.layer, `${Math.round(r.sparsity * 100)}%`, r.threads, f1(r.wino), f1(r.swino), `F(${r.tile}x${r.tile})`, f1(r.direct), x2(r.vsWino), x2(r.vsDirect)];

function format(rows) {
  return table(HEAD, rows.map(cells)) + '\neffective GFLOPS = dense direct FLOPs / time; batch 1; sparse winograd: U blocks pruned in the Winograd domain; direct sparse: spatial weights pruned by magnitude to the same sparsity.';
}

function report(rows) {
  return { id: 'sparse-winograd', title: 'Sparse Winograd against dense Winograd and direct sparse convolution', html: htmlTable(HEAD, rows.map(cells)) };
}

module.exports = {
  name: 'sparse-winograd', run, format, report,
  progress: (r) => `${r.layer} ${Math.round(r.sparsity * 100)}%: sparse wino ${f1(r.swino)}, dense wino ${f1(r.wino)}, direct sparse ${f1(r.direct)}`,
};

// Per-call cost of the native boundary, two builds of lowbit side by side in one process,
// interleaved (9 rounds, min/median/max): node bench/percall.js <lowbitA> <lowbitB>
// e.g. a worktree of an older commit (npm ci there) against this checkout: B/A is the change.
if (process.argv.length < 4) {
  console.error('usage: node bench/percall.js <lowbitA> <lowbitB>');
  process.exit(2);
}
const [A, B] = process.argv.slice(2).map((p) => require(require('node:path').resolve(p)));
function setup(lb) {
  const dim = 64, rows = 1000;
  const t = lb.EmbeddingTable.fromFloat32(new Float32Array(rows * dim).map((_, i) => (i % 97) / 97), { dim, format: 'q8' });
  const indices = new Int32Array([17]), offsets = new Int32Array([0]);
  const w = new Float32Array(1024 * 1024).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const layer = lb.QuantizedLinear.fromFloat32(w, { k: 1024, n: 1024, layout: 'nk', mode: 'dense' });
  const a = new Uint8Array(1024).map((_, i) => i & 127);
  const out = new Int32Array(1024);
  const x = new Float32Array(1024).map((_, i) => Math.sin(i));
  const T = lb.EmbeddingTable.fromFloat32(new Float32Array(100000 * 64).map((_, i) => (i % 89) / 89), { dim: 64, format: 'q8' });
  const bigIdx = new Int32Array(20000 * 20).map((_, i) => (i * 7919) % 100000), bigOff = new Int32Array(20000).map((_, i) => i * 20);
  const a64 = new Uint8Array(64 * 1024).map((_, i) => i & 127);
  return {
    embBigAsync: () => lb.embeddingBagAsync(T, { indices: bigIdx, offsets: bigOff }),
    embBig: () => lb.embeddingBag(T, { indices: bigIdx, offsets: bigOff }),
    gemm64Async: () => layer.matmulInt32Async(a64),
    gemm64: () => layer.matmulInt32(a64),
    emb: () => lb.embeddingBag(t, { indices, offsets }),
    embAsync: () => lb.embeddingBagAsync(t, { indices, offsets }),
    gemm: () => layer.matmulInt32(a, { out }),
    fwd: () => layer.forward(x),
    quant: () => lb.quantize(x, { scale: 0.01, zeroPoint: 128 }),
  };
}
const sa = setup(A), sb = setup(B);
async function time(fn, isAsync, reps) {
  const t0 = process.hrtime.bigint();
  if (isAsync) for (let i = 0; i < reps; i++) await fn();
  else for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e3 / reps;
}
(async () => {
  const cases = [['embBig', false, 20], ['embBigAsync', true, 20], ['gemm64', false, 50], ['gemm64Async', true, 50], ['emb', false, 20000], ['embAsync', true, 5000], ['gemm', false, 2000], ['fwd', false, 2000], ['quant', false, 20000]];
  for (const [name, isAsync, reps] of cases) {
    const ra = [], rb = [];
    for (let r = 0; r < 9; r++) { ra.push(await time(sa[name], isAsync, reps)); rb.push(await time(sb[name], isAsync, reps)); }
    ra.sort((x, y) => x - y); rb.sort((x, y) => x - y);
    const f = (v) => v.toFixed(2);
    console.log(`${name.padEnd(9)} A min/med/max ${f(ra[0])}/${f(ra[4])}/${f(ra[8])} us   B ${f(rb[0])}/${f(rb[4])}/${f(rb[8])} us   B/A median ${(rb[4] / ra[4]).toFixed(3)}`);
  }
})();

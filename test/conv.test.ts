import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { Conv2d, pruneWeights } = lowbit;

interface Geo { cin: number; cout: number; k: [number, number]; s: [number, number]; p: [number, number]; d: [number, number]; g: number }

// Plain loops in double: the oracle. Returns [out, scale] where scale = |bias| + Σ|w·x| per output.
function refConv(x: Float32Array, n: number, h: number, w: number, wt: Float32Array, bias: Float32Array | null, geo: Geo, relu: boolean) {
  const oh = Math.floor((h + 2 * geo.p[0] - geo.d[0] * (geo.k[0] - 1) - 1) / geo.s[0]) + 1;
  const ow = Math.floor((w + 2 * geo.p[1] - geo.d[1] * (geo.k[1] - 1) - 1) / geo.s[1]) + 1;
  const cing = geo.cin / geo.g;
  const coutg = geo.cout / geo.g;
  const out = new Float64Array(n * geo.cout * oh * ow);
  const scale = new Float64Array(out.length);
  for (let b = 0; b < n; b++) for (let co = 0; co < geo.cout; co++) {
    const g = Math.floor(co / coutg);
    for (let y = 0; y < oh; y++) for (let xo = 0; xo < ow; xo++) {
      let s = bias ? bias[co] : 0;
      let a = Math.abs(s);
      for (let ci = 0; ci < cing; ci++) for (let ky = 0; ky < geo.k[0]; ky++) for (let kx = 0; kx < geo.k[1]; kx++) {
        const iy = y * geo.s[0] - geo.p[0] + ky * geo.d[0];
        const ix = xo * geo.s[1] - geo.p[1] + kx * geo.d[1];
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        const v = wt[((co * cing + ci) * geo.k[0] + ky) * geo.k[1] + kx] * x[((b * geo.cin + g * cing + ci) * h + iy) * w + ix];
        s += v;
        a += Math.abs(v);
      }
      const i = ((b * geo.cout + co) * oh + y) * ow + xo;
      out[i] = relu ? Math.max(0, s) : s;
      scale[i] = a;
    }
  }
  return { out, scale, oh, ow };
}

const cases: Array<Geo & { n: number; h: number; w: number; sparsity: number }> = [
  { cin: 8, cout: 12, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 1, n: 1, h: 13, w: 11, sparsity: 0.9 },
  { cin: 6, cout: 10, k: [5, 5], s: [1, 1], p: [2, 2], d: [1, 1], g: 2, n: 2, h: 9, w: 10, sparsity: 0.7 },
  { cin: 8, cout: 8, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], g: 1, n: 1, h: 15, w: 14, sparsity: 0.5 },
  { cin: 16, cout: 7, k: [1, 1], s: [1, 1], p: [0, 0], d: [1, 1], g: 1, n: 1, h: 7, w: 9, sparsity: 0.95 },
  { cin: 4, cout: 4, k: [3, 3], s: [1, 1], p: [2, 2], d: [2, 2], g: 4, n: 1, h: 8, w: 8, sparsity: 0 },
  { cin: 3, cout: 5, k: [3, 2], s: [2, 1], p: [1, 0], d: [1, 1], g: 1, n: 1, h: 6, w: 5, sparsity: 1 },
  // depthwise (the dedicated kernel in 'dense' and 'auto'): 3x3 / 5x5, stride 1 / 2
  { cin: 12, cout: 12, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 12, n: 2, h: 11, w: 13, sparsity: 0 },
  { cin: 9, cout: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], g: 9, n: 1, h: 17, w: 16, sparsity: 0.3 },
  { cin: 5, cout: 5, k: [5, 5], s: [1, 1], p: [2, 2], d: [1, 1], g: 5, n: 1, h: 9, w: 7, sparsity: 0 },
  { cin: 6, cout: 6, k: [5, 5], s: [2, 2], p: [2, 2], d: [1, 1], g: 6, n: 1, h: 14, w: 15, sparsity: 0 },
];

describe('Conv2d', () => {
  test('sparse and dense kernels match the oracle within the fp32 tolerance on every ISA', () => {
    const r = rng(17);
    for (const c of cases) {
      const count = c.cout * (c.cin / c.g) * c.k[0] * c.k[1];
      const dense = Float32Array.from({ length: count }, () => r() * 2 - 1);
      const wt = pruneWeights(dense, { sparsity: c.sparsity, rows: c.cout });
      const bias = Float32Array.from({ length: c.cout }, () => r() - 0.5);
      const x = Float32Array.from({ length: c.n * c.cin * c.h * c.w }, () => r() * 2 - 1);
      const ref = refConv(x, c.n, c.h, c.w, wt, bias, c, true);
      const K = (c.cin / c.g) * c.k[0] * c.k[1];
      forEachIsa((isa) => {
        for (const mode of ['sparse', 'dense', 'auto'] as const) {
          const layer = new Conv2d(wt, { inChannels: c.cin, outChannels: c.cout, kernelSize: c.k, stride: c.s, padding: c.p, dilation: c.d, groups: c.g, bias, relu: true, mode });
          expect(layer.outputShape({ n: c.n, h: c.h, w: c.w })).toEqual([c.n, c.cout, ref.oh, ref.ow]);
          for (const threads of [1, 3]) {
            const y = layer.forward(x, { n: c.n, h: c.h, w: c.w, threads });
            let bad = -1;
            for (let i = 0; i < y.length && bad < 0; i++) if (Math.abs(y[i] - ref.out[i]) > (K + 2) * 2 ** -23 * ref.scale[i]) bad = i;
            expect({ isa, mode, threads, geo: c, bad }).toEqual({ isa, mode, threads, geo: c, bad: -1 });
          }
        }
      });
    }
  });

  test('pruning reaches the sparsity, by blocks too, deterministically', () => {
    const w = Float32Array.from({ length: 64 * 72 }, (_, i) => Math.sin(i * 1.7));
    const p = pruneWeights(w, { sparsity: 0.8, rows: 64 });
    expect(p.filter((v) => v === 0).length).toBe(Math.round(0.8 * w.length));
    expect(pruneWeights(w, { sparsity: 0.8, rows: 64 })).toEqual(p);
    const b = pruneWeights(w, { sparsity: 0.5, rows: 64, block: [4, 1] });
    for (let r0 = 0; r0 < 64; r0 += 4) for (let c = 0; c < 72; c++) {
      const zeros = [0, 1, 2, 3].filter((d) => b[(r0 + d) * 72 + c] === 0).length;
      expect([0, 4]).toContain(zeros);
    }
    const layer = new Conv2d(p, { inChannels: 8, outChannels: 64, kernelSize: 3 });
    expect(layer.sparsity).toBeCloseTo(0.8, 3);
    expect(layer.nnz).toBe(p.length - p.filter((v) => v === 0).length);
  });

  test('auto explains its choice; very sparse layers go sparse, dense ones dense', () => {
    const w = Float32Array.from({ length: 64 * 64 * 9 }, (_, i) => Math.sin(i));
    const sparse = new Conv2d(pruneWeights(w, { sparsity: 0.97, rows: 64 }), { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1 });
    // stride 2: at stride 1, a dense 3x3 layer weighs Winograd too (conv-winograd.test.ts)
    const dense = new Conv2d(w, { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, stride: 2 });
    const e = sparse.explain({ h: 28, w: 28 });
    expect(e.kernel).toBe('sparse');
    expect(e.reason).toMatch(/sparsity 97/);
    expect(e.predictedSparseMs).toBeLessThan(e.predictedDenseMs!);
    expect(dense.explain({ h: 28, w: 28 }).kernel).toBe('dense');
    expect(new Conv2d(w, { inChannels: 64, outChannels: 64, kernelSize: 3, mode: 'sparse' }).explain({ h: 8, w: 8 }).reason).toMatch(/requested/);
  });

  test('auto times both kernels on the first call of a shape the model cannot call, then keeps the faster', async () => {
    // dilated: the same taps as the 3x3 stride-1 layer, which would weigh Winograd too (conv-winograd.test.ts)
    const w = pruneWeights(Float32Array.from({ length: 64 * 64 * 9 }, (_, i) => Math.sin(i * 0.37)), { sparsity: 0.6, rows: 64 });
    const geo = { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 2, dilation: 2 };
    const r = rng(5);
    const x = Float32Array.from({ length: 64 * 20 * 20 }, () => r() * 2 - 1);
    const shape = { h: 20, w: 20 };
    const byKernel = {
      sparse: new Conv2d(w, { ...geo, mode: 'sparse' }).forward(x, shape),
      dense: new Conv2d(w, { ...geo, mode: 'dense' }).forward(x, shape),
    };
    for (const form of ['sync', 'async'] as const) {
      const auto = new Conv2d(w, geo);
      const before = auto.explain(shape);
      expect(before.reason).toMatch(/too close to call.*first forward/);
      expect(before.measuredSparseMs).toBeUndefined();
      const y = form === 'sync' ? auto.forward(x, shape) : await auto.forwardAsync(x, shape);
      const after = auto.explain(shape);
      expect(after.measuredSparseMs).toBeGreaterThan(0);
      expect(after.measuredDenseMs).toBeGreaterThan(0);
      expect(after.kernel).toBe(after.measuredSparseMs! < after.measuredDenseMs! ? 'sparse' : 'dense');
      expect(after.reason).toMatch(/measured on the first call/);
      // the output is the chosen kernel's, on the first call and after
      expect(y).toEqual(byKernel[after.kernel as 'sparse' | 'dense']);
      expect(auto.forward(x, shape)).toEqual(byKernel[after.kernel as 'sparse' | 'dense']);
      // another shape is a new trial
      expect(auto.explain({ h: 21, w: 21 }).measuredSparseMs).toBeUndefined();
    }
  });

  test('Promise form gives the same result', async () => {
    const w = pruneWeights(Float32Array.from({ length: 16 * 8 * 9 }, (_, i) => Math.cos(i)), { sparsity: 0.8, rows: 16 });
    const layer = new Conv2d(w, { inChannels: 8, outChannels: 16, kernelSize: 3, padding: 1, mode: 'sparse' });
    const x = Float32Array.from({ length: 8 * 20 * 20 }, (_, i) => Math.sin(i));
    expect(await layer.forwardAsync(x, { h: 20, w: 20, threads: 2 })).toEqual(layer.forward(x, { h: 20, w: 20 }));
  });

  test('bad input', () => {
    const w = new Float32Array(4 * 2 * 9);
    const opts = { inChannels: 2, outChannels: 4, kernelSize: 3 };
    expectCode(() => new Conv2d(new Float64Array(72) as unknown as Float32Array, opts), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /weights must be a Float32Array/);
    expectCode(() => new Conv2d(new Float32Array(71), opts), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /weights.length must be .* = 72, got 71/);
    expectCode(() => new Conv2d(w, { ...opts, stride: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /stride/);
    expectCode(() => new Conv2d(w, { ...opts, stride: -1 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /stride/);
    expectCode(() => new Conv2d(w, { ...opts, padding: 3 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /padding .* smaller than the kernel extent/);
    expectCode(() => new Conv2d(w, { ...opts, groups: 3 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /groups/);
    expectCode(() => new Conv2d(w, { ...opts, mode: 'fast' as 'auto' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /mode/);
    expectCode(() => new Conv2d(w, { ...opts, bias: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /bias/);
    const nan = new Float32Array(72);
    nan[9] = NaN;
    expectCode(() => new Conv2d(nan, opts), RangeError, 'ERR_LOWBIT_NOT_FINITE', /weights\[9\]/);
    const layer = new Conv2d(w, opts);
    expectCode(() => layer.forward(new Float32Array(2 * 8 * 8 - 1), { h: 8, w: 8 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /input.length must be .* = 128/);
    expectCode(() => layer.forward(new Float32Array(2 * 2 * 2), { h: 2, w: 2 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT');
    const out = new Float32Array(5).fill(9);
    expectCode(() => layer.forward(new Float32Array(128), { h: 8, w: 8, out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.out.length/);
    expect(Array.from(out)).toEqual([9, 9, 9, 9, 9]);
    expectCode(() => layer.forward(new Float32Array(128), { h: 8, w: -8 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.w/);
    expectCode(() => pruneWeights(w, { sparsity: 1.5, rows: 4 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /sparsity/);
  });
});

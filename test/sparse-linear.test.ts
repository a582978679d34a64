// QuantizedLinear on the sparse kernel: mode 'sparse' and 'auto' give results bit-identical to mode
// 'dense' for every method, output type, shape edge case, thread count and ISA; explain(); bad input.
import * as lowbit from '../lib';
import { atActiveOrAvx2, expectCode, forEachIsa, rng } from './helpers';

const { QuantizedLinear, pruneWeights } = lowbit;
type Layer = lowbit.QuantizedLinear;

// N x K int8 weights (layout 'nk') with a fraction `sp` of the 1x4 blocks all zero, some all-zero
// rows, and values in [lo, hi].
function blockSparse(n: number, k: number, sp: number, r: () => number, lo = -128, hi = 127): Int8Array {
  const w = new Int8Array(n * k);
  const zeroRow = n > 2 ? Math.floor(r() * n) : -1;
  for (let i = 0; i < n; i++) {
    for (let k0 = 0; k0 < k; k0 += 4) {
      if (i === zeroRow || r() < sp) continue;
      for (let j = k0; j < Math.min(k, k0 + 4); j++) w[i * k + j] = lo + Math.floor(r() * (hi - lo + 1));
    }
  }
  return w;
}

function randU8(len: number, r: () => number, hi = 255): Uint8Array {
  return Uint8Array.from({ length: len }, () => Math.floor(r() * (hi + 1)));
}

function same(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// Every product of `layer` and `ref` on the same inputs, compared bit for bit.
function expectSameProducts(layer: Layer, ref: Layer, m: number, r: () => number, threads: number, tag: object): void {
  const k = layer.k;
  const lda = k + (r() < 0.5 ? 0 : 3);
  const a = randU8((m - 1) * lda + k, r);
  const a8 = Int8Array.from(a, (v) => v - 128);
  const zp = Math.floor(r() * 256);
  const common = { m, lda, threads };
  const cases: [string, (l: Layer) => ArrayBufferView][] = [
    ['int32', (l) => l.matmulInt32(a, { ...common, zeroPoint: zp })],
    ['int32 s8', (l) => l.matmulInt32(a8, { ...common, zeroPoint: zp - 128 })],
    ['float', (l) => l.matmulFloat(a, { ...common, scale: 0.02, zeroPoint: zp, relu: true })],
    ['uint8', (l) => l.matmulQuantized(a, { ...common, scale: 0.02, zeroPoint: zp, outScale: 0.5, outZeroPoint: 100 })],
    ['int8 s8', (l) => l.matmulQuantized(a8, { ...common, scale: 0.02, zeroPoint: 3, outScale: 0.3, dtype: 'int8', relu: true })],
  ];
  for (const [name, run] of cases) expect({ ...tag, name, ok: same(run(layer), run(ref)) }).toEqual({ ...tag, name, ok: true });
  const x = Float32Array.from({ length: m * k }, () => r() * 4 - 1);
  for (const perRow of [false, true])
    for (const reduceRange of [true, false]) {
      const o = { perRow, reduceRange, threads, relu: perRow };
      expect({ ...tag, perRow, reduceRange, ok: same(layer.forward(x, o), ref.forward(x, o)) }).toEqual({ ...tag, perRow, reduceRange, ok: true });
    }
}

describe('QuantizedLinear sparse mode equals dense mode bit for bit', () => {
  test('shapes, sparsities, thread counts, every ISA', () => {
    const r = rng(31);
    // [m, n, k, block sparsity]
    const shapes = [
      [1, 16, 64, 0.8], [7, 24, 100, 0.7], [1, 5, 1, 0.0], [3, 7, 5, 0.5], [9, 33, 67, 0.9], [16, 64, 256, 0.95],
      [2, 3, 13, 1.0], [8, 40, 36, 0.0], [17, 100, 130, 0.6],
    ];
    forEachIsa((isa) => {
      for (const [m, n, k, sp] of shapes) {
        const w = blockSparse(n, k, sp, r);
        const bias = Float32Array.from({ length: n }, () => r() * 10 - 5);
        const scale = Float32Array.from({ length: n }, () => 0.001 + r() * 0.01);
        const make = (mode: lowbit.LinearMode) => QuantizedLinear.fromInt8(w, { k, n, layout: 'nk', scale, bias, mode });
        const dense = make('dense');
        for (const mode of ['sparse', 'auto'] as const) {
          const layer = make(mode);
          for (const threads of [1, 2, 3]) expectSameProducts(layer, dense, m, r, threads, { isa, m, n, k, sp, mode, threads });
        }
      }
    });
  });

  test('int32 bias, per-tensor scale, layout kn, full int32 equality against a direct sum', () => {
    const r = rng(5);
    const [m, n, k] = [5, 12, 21];
    const wnk = blockSparse(n, k, 0.6, r);
    const wkn = new Int8Array(k * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) wkn[j * n + i] = wnk[i * k + j];
    const bias = Int32Array.from({ length: n }, () => Math.floor(r() * 2000) - 1000);
    const s = QuantizedLinear.fromInt8(wkn, { k, n, layout: 'kn', scale: 0.01, bias, mode: 'sparse' });
    const d = QuantizedLinear.fromInt8(wkn, { k, n, layout: 'kn', scale: 0.01, bias, mode: 'dense' });
    const a = randU8(m * k, r);
    const got = s.matmulInt32(a, { zeroPoint: 77 });
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc += (a[i * k + p] - 77) * wnk[j * k + p];
        expect(got[i * n + j]).toBe(acc);
      }
    const q = { scale: 0.05, zeroPoint: 7, outScale: 0.7 };
    expect(same(s.matmulQuantized(a, q), d.matmulQuantized(a, q))).toBe(true);
    expect(same(s.matmulFloat(a, { scale: 0.05 }), d.matmulFloat(a, { scale: 0.05 }))).toBe(true);
  });

  test('async forms and threads', async () => {
    const r = rng(8);
    const [m, n, k] = [19, 200, 300];
    const w = blockSparse(n, k, 0.85, r);
    const s = QuantizedLinear.fromInt8(w, { k, n, layout: 'nk', scale: 0.01, mode: 'sparse' });
    const d = QuantizedLinear.fromInt8(w, { k, n, layout: 'nk', scale: 0.01, mode: 'dense' });
    const a = randU8(m * k, r);
    const x = Float32Array.from({ length: m * k }, () => r() - 0.5);
    for (const threads of [1, 2, 3]) {
      const [i1, i2] = await Promise.all([s.matmulInt32Async(a, { zeroPoint: 9, threads }), d.matmulInt32Async(a, { zeroPoint: 9, threads })]);
      expect(same(i1, i2)).toBe(true);
      const q = { scale: 0.01, zeroPoint: 9, outScale: 0.2, threads };
      expect(same(await s.matmulQuantizedAsync(a, q), d.matmulQuantized(a, q))).toBe(true);
      expect(same(await s.matmulFloatAsync(a, { scale: 0.01, threads }), d.matmulFloat(a, { scale: 0.01 }))).toBe(true);
      expect(same(await s.forwardAsync(x, { threads, perRow: true }), d.forward(x, { perRow: true }))).toBe(true);
    }
  });

  test('fromFloat32 with block-pruned weights; auto picks sparse where the model says so, same results', () => {
    const r = rng(77);
    const [n, k] = [256, 512];
    const wf = Float32Array.from({ length: n * k }, () => r() * 2 - 1);
    const pruned = pruneWeights(wf, { sparsity: 0.95, rows: n, block: [1, 4] });
    const auto = QuantizedLinear.fromFloat32(pruned, { k, n, layout: 'nk' });
    const dense = QuantizedLinear.fromFloat32(pruned, { k, n, layout: 'nk', mode: 'dense' });
    const sparse = QuantizedLinear.fromFloat32(pruned, { k, n, layout: 'nk', mode: 'sparse' });
    expect(auto.blockSparsity).toBeCloseTo(0.95, 3);
    expect(auto.sparseKept).toBe(true);
    expect(dense.sparseKept).toBe(false);
    expect(sparse.byteLength).toBeLessThan(dense.byteLength);
    expect(auto.byteLength).toBeGreaterThan(dense.byteLength);
    // Which kernel wins at a batch size depends on the CPU (on AVX-512 VNNI the dense kernel is
    // ~3x faster than on AVX2, and at m=64 95% is then inside the trial band): what holds on every
    // CPU is that explain's choice follows its own predictions, and that one row at 95% is sparse.
    for (const m of [1, 8, 64]) {
      const e = auto.explain({ m });
      expect(e.predictedSparseUs).toBeGreaterThan(0);
      expect(e.predictedDenseUs).toBeGreaterThan(0);
      const ratio = e.predictedDenseUs! / e.predictedSparseUs!;
      if (e.reason.includes('within 1.30x')) expect(ratio > 1 / 1.3 && ratio < 1.3).toBe(true);
      else {
        expect(e.kernel).toBe(ratio > 1 ? 'sparse' : 'dense');
        expect(e.reason).toMatch(new RegExp(`m=${m}.*block sparsity 95\\.0%.*-> ${e.kernel}`));
      }
    }
    const one = auto.explain({ m: 1 });
    expect(one.kernel).toBe('sparse');
    expect(one.predictedDenseUs! / one.predictedSparseUs!).toBeGreaterThan(1.3);
    for (const m of [1, 8, 64]) {
      const x = Float32Array.from({ length: m * k }, () => r() - 0.5);
      expect(same(auto.forward(x), dense.forward(x))).toBe(true);
      expect(same(sparse.forward(x), dense.forward(x))).toBe(true);
    }
  });

  test('auto keeps no sparse weights for dense layers or weights with zero points', () => {
    const r = rng(3);
    const [n, k] = [64, 128];
    const w = blockSparse(n, k, 0.1, r);
    const auto = QuantizedLinear.fromInt8(w, { k, n, layout: 'nk' });
    expect(auto.sparseKept).toBe(false);
    expect(auto.explain({ m: 4 })).toMatchObject({ kernel: 'dense', reason: expect.stringMatching(/not packed/) });
    const sparse = blockSparse(n, k, 0.9, r);
    const zp = QuantizedLinear.fromInt8(sparse, { k, n, layout: 'nk', zeroPoint: 3 });
    expect(zp.sparseKept).toBe(false);
    const ez = zp.explain({ m: 4 });
    expect(ez.kernel).toBe('dense');
    expect(ez.predictedSparseUs).toBeUndefined();
    expect(ez.reason).toMatch(/zero points/);
    expect(QuantizedLinear.fromInt8(sparse, { k, n, layout: 'nk', mode: 'dense' }).explain({ m: 1 })).toMatchObject({ kernel: 'dense', reason: expect.stringMatching(/^mode 'dense'/) });
    expect(QuantizedLinear.fromInt8(sparse, { k, n, layout: 'nk', mode: 'sparse' }).explain({ m: 1 })).toMatchObject({ kernel: 'sparse', reason: expect.stringMatching(/^mode 'sparse'/) });
  });

  test('auto near break-even: the first call of a batch-size bucket times both kernels, explain reports it, same results', () => {
    const r = rng(21);
    const [n, k] = [256, 512];
    const wf = Float32Array.from({ length: n * k }, () => r() * 2 - 1);
    // whether some sparsity of the list lands in the trial band depends on the level (helpers.ts)
    const search = (): boolean => {
      let found = false;
      // the sparse/dense ratio at m = 1 crosses 1 somewhere between 50% and 97% block sparsity, so
      // some sparsity of this list lands within the trial band (1.3x) on any CPU the model fits
      for (const sp of [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97]) {
        const pruned = pruneWeights(wf, { sparsity: sp, rows: n, block: [1, 4] });
        const auto = QuantizedLinear.fromFloat32(pruned, { k, n, layout: 'nk' });
        if (!auto.sparseKept) continue;
        const before = auto.explain({ m: 1, narrow: true });
        if (!/times both kernels/.test(before.reason)) continue;
        found = true;
        expect(before.measuredSparseUs).toBeUndefined();
        const dense = QuantizedLinear.fromFloat32(pruned, { k, n, layout: 'nk', mode: 'dense' });
        const x = Float32Array.from({ length: k }, () => r() - 0.5);
        expect(same(auto.forward(x), dense.forward(x))).toBe(true);  // the trial call
        const after = auto.explain({ m: 1, narrow: true });
        expect(after.measuredSparseUs).toBeGreaterThan(0);
        expect(after.measuredDenseUs).toBeGreaterThan(0);
        expect(after.kernel).toBe(after.measuredSparseUs! * 1.04 < after.measuredDenseUs! ? 'sparse' : 'dense');
        expect(after.reason).toMatch(/measured on the first call of this batch size: sparse [\d.]+ us, dense [\d.]+ us -> (sparse|dense)/);
        expect(same(auto.forward(x), dense.forward(x))).toBe(true);  // the remembered choice
        // other buckets and thread counts are measured separately
        expect(auto.explain({ m: 1, narrow: true, threads: 2 }).measuredSparseUs).toBeUndefined();
        expect(auto.explain({ m: 1, narrow: false }).measuredSparseUs).toBeUndefined();
        // int8 products: a trial on the first call of its own bucket, same bits
        const a = randU8(3 * k, r);
        const q = { scale: 0.02, zeroPoint: 128, outScale: 0.5 };
        expect(same(auto.matmulQuantized(a, q), dense.matmulQuantized(a, q))).toBe(true);
        break;
      }
      return found;
    };
    expect(atActiveOrAvx2(search)).toBe(true);
  });

  test('serialize keeps the mode and the results; sparse-only layers round trip', () => {
    const r = rng(12);
    const [m, n, k] = [6, 30, 45];
    const w = blockSparse(n, k, 0.8, r);
    const bias = Float32Array.from({ length: n }, () => r());
    const a = randU8(m * k, r);
    const dense = QuantizedLinear.fromInt8(w, { k, n, layout: 'nk', scale: 0.02, bias, mode: 'dense' });
    const want = dense.matmulFloat(a, { scale: 0.1, zeroPoint: 128 });
    for (const mode of ['auto', 'sparse', 'dense'] as const) {
      const layer = QuantizedLinear.fromInt8(w, { k, n, layout: 'nk', scale: 0.02, bias, mode, zeroPoint: Int32Array.from({ length: n }, () => 0) });
      const back = QuantizedLinear.deserialize(layer.serialize());
      expect(back.mode).toBe(mode);
      expect(Array.from(back.weightZeroPoints)).toEqual(Array.from(layer.weightZeroPoints));
      expect(back.sparseKept).toBe(layer.sparseKept);
      expect(same(back.serialize(), layer.serialize())).toBe(true);
      expect(same(back.matmulFloat(a, { scale: 0.1, zeroPoint: 128 }), want)).toBe(true);
    }
    const bytes = dense.serialize();
    bytes[8] |= 3 << 2;
    expectCode(() => QuantizedLinear.deserialize(bytes), RangeError, 'ERR_LOWBIT_INVALID_SERIALIZATION', /flags: unknown value 0xd/);
  });

  test('bad input: mode string, sparse with zero points, explain options', () => {
    const w = new Int8Array(8 * 4).fill(1);
    expectCode(() => QuantizedLinear.fromInt8(w, { k: 8, n: 4, mode: 'fast' as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.mode must be 'auto', 'sparse' or 'dense', got 'fast'/);
    expectCode(() => QuantizedLinear.fromFloat32(new Float32Array(32), { k: 8, n: 4, mode: 1 as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.mode/);
    expectCode(() => QuantizedLinear.fromInt8(w, { k: 8, n: 4, zeroPoint: 2, mode: 'sparse' }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /options\.zeroPoint must be 0 with mode 'sparse'.*got 2/);
    expectCode(
      () => QuantizedLinear.fromInt8(w, { k: 8, n: 4, zeroPoint: Int32Array.of(0, 0, -5, 0), mode: 'sparse' }),
      RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /got -5 at index 2/,
    );
    const layer = QuantizedLinear.fromInt8(w, { k: 8, n: 4, mode: 'sparse' });
    expectCode(() => layer.explain(undefined as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options must be an object/);
    expectCode(() => layer.explain({ m: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.m/);
    expectCode(() => layer.explain({ m: 1, narrow: 'yes' as never }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options\.narrow/);
    expectCode(() => layer.explain({ m: 1, threads: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.threads/);
    // the sparse path validates its inputs like the dense one, before anything is written
    expectCode(() => layer.matmulInt32(new Uint8Array(7)), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /a\.length/);
  });
});

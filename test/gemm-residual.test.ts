// The residual split of full-range int8 weights (options.residual): a dense part safe for the AVX2
// fast kernel + a sparse residual must give exactly the unsplit layer's results, on every ISA,
// for every output, activation type, zero point, thread count, sync and async, after serialize.
import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { QuantizedLinear } = lowbit;

function gaussInt8(n: number, r: () => number): Int8Array {
  const w = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    w[i] = Math.max(-127, Math.min(127, Math.round(g * 38)));
  }
  return w;
}
function full(n: number, r: () => number, ctor: typeof Uint8Array | typeof Int8Array, lo: number): Uint8Array | Int8Array {
  const a = new ctor(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(r() * 256);
  return a;
}
const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));

describe('residual split', () => {
  test('bit-identical to the unsplit layer, every output, every ISA', () => {
    forEachIsa(() => {
      const r = rng(11);
      for (const [m, k, n] of [[1, 1, 1], [3, 7, 9], [5, 64, 33], [17, 300, 20], [70, 129, 17]]) {
        for (const signed of [false, true]) {
          const w = r() < 0.5 ? gaussInt8(k * n, r) : (full(k * n, r, Int8Array, -128) as Int8Array);
          const zeroPoint = Int32Array.from({ length: n }, (_, i) => (i % 3) * 60 - 60);
          const scale = Float32Array.from({ length: n }, () => 0.001 + r() * 0.01);
          const bias = Float32Array.from({ length: n }, () => r() - 0.5);
          const split = QuantizedLinear.fromInt8(w, { k, n, zeroPoint, scale, bias, residual: 'always' });
          const plain = QuantizedLinear.fromInt8(w, { k, n, zeroPoint, scale, bias, residual: 'never' });
          expect(plain.residualDensity).toBe(0);
          const a = full(m * k, r, signed ? Int8Array : Uint8Array, signed ? -128 : 0);
          const zp = signed ? -128 : 255;
          expect(same(split.matmulInt32(a, { zeroPoint: zp }), plain.matmulInt32(a, { zeroPoint: zp }))).toBe(true);
          expect(same(split.matmulInt32(a, { zeroPoint: zp, kernel: 'exact' }), plain.matmulInt32(a, { zeroPoint: zp }))).toBe(true);
          expect(same(split.matmulFloat(a, { scale: 0.02, zeroPoint: zp }), plain.matmulFloat(a, { scale: 0.02, zeroPoint: zp }))).toBe(true);
          const q = { scale: 0.02, zeroPoint: zp, outScale: 0.5, outZeroPoint: 100 };
          expect(same(split.matmulQuantized(a, q), plain.matmulQuantized(a, q))).toBe(true);
        }
      }
    });
  });

  test('moves only pairs that could saturate; safe weights are not split', () => {
    const r = rng(5);
    const safe = Int8Array.from({ length: 64 * 8 }, () => Math.floor(r() * 128) - 64);
    expect(QuantizedLinear.fromInt8(safe, { k: 64, n: 8, residual: 'always' }).residualDensity).toBe(0);
    const big = new Int8Array(64 * 8).fill(127);
    const l = QuantizedLinear.fromInt8(big, { k: 64, n: 8, residual: 'always' });
    expect(l.residualDensity).toBe(0.5); // one of each (127, 127) pair
    expect(l.fastPathForAnyInput).toBe(true);
    const g = QuantizedLinear.fromInt8(gaussInt8(512 * 64, r), { k: 512, n: 64, residual: 'always' });
    expect(g.residualDensity).toBeGreaterThan(0.002);
    expect(g.residualDensity).toBeLessThan(0.02);
  });

  test('forward, threads, async, serialize', async () => {
    const r = rng(7);
    const k = 200, n = 48, m = 40;
    const w = Float32Array.from({ length: k * n }, () => r() * 2 - 1);
    const split = QuantizedLinear.fromFloat32(w, { k, n, residual: 'always' });
    const plain = QuantizedLinear.fromFloat32(w, { k, n, residual: 'never' });
    expect(split.residualDensity).toBeGreaterThan(0);
    const x = Float32Array.from({ length: m * k }, () => r() * 4 - 2);
    for (const perRow of [false, true]) {
      const want = plain.forward(x, { reduceRange: false, perRow });
      expect(same(split.forward(x, { reduceRange: false, perRow }), want)).toBe(true);
      expect(same(split.forward(x, { reduceRange: false, perRow, threads: 2 }), want)).toBe(true);
      expect(same(await split.forwardAsync(x, { reduceRange: false, perRow }), want)).toBe(true);
    }
    const a = full(m * k, r, Uint8Array, 0);
    const want = plain.matmulInt32(a, { zeroPoint: 3 });
    expect(same(await split.matmulInt32Async(a, { zeroPoint: 3, threads: 2 }), want)).toBe(true);
    const back = QuantizedLinear.deserialize(split.serialize());
    expect(back.residualDensity).toBe(split.residualDensity);
    expect(same(back.matmulInt32(a, { zeroPoint: 3 }), want)).toBe(true);
    // the serialized weights are the original ones: a 'never' layer writes the same packed bytes
    const ps = plain.serialize(), ss = split.serialize();
    expect(same(ps.subarray(12), ss.subarray(12))).toBe(true);
    expect(QuantizedLinear.deserialize(plain.serialize()).residualDensity).toBe(0);
  });

  test('bad options', () => {
    const w = new Int8Array(8);
    expectCode(() => QuantizedLinear.fromInt8(w, { k: 4, n: 2, residual: 'yes' as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.residual/);
    expectCode(() => QuantizedLinear.fromFloat32(new Float32Array(8), { k: 4, n: 2, residual: 1 as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.residual/);
  });
});

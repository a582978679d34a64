// 4-bit weights with int8 outliers (QuantizedLinear.fromFloat32({ bits: 4 })): the same bits on
// every ISA, accuracy against the fp32 product, every output, int8 and uint8 activations,
// threads, async, serialize, and bad options / bytes refused with codes.
import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { QuantizedLinear } = lowbit;

function floats(n: number, r: () => number, heavy = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    a[i] = heavy && r() < 0.01 ? g * 20 : g;
  }
  return a;
}
function relErr(y: Float32Array, x: Float32Array, w: Float32Array, m: number, k: number, n: number): number {
  let e = 0, s = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let ref = 0;
      for (let p = 0; p < k; p++) ref += x[i * k + p] * w[j * k + p];
      e += (y[i * n + j] - ref) ** 2;
      s += ref * ref;
    }
  return Math.sqrt(e / s);
}
const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

describe('4-bit weights', () => {
  test('the same bits on every ISA; every group size; error near the fp32 product', () => {
    const r = rng(3);
    for (const [m, k, n] of [[1, 1, 1], [3, 33, 9], [5, 130, 17], [20, 300, 40]]) {
      const w = floats(k * n, r, true);
      const x = floats(m * k, r);
      for (const groupSize of [32, 64, 128, 0] as const) {
        const layer = QuantizedLinear.fromFloat32(w, { k, n, bits: 4, groupSize, bias: floats(n, r) });
        expect(layer.bits).toBe(4);
        expect(layer.groupSize).toBe(groupSize);
        let first: Float32Array | null = null;
        forEachIsa(() => {
          const y = layer.forward(x, { reduceRange: false });
          if (first === null) first = y;
          else expect(same(y, first)).toBe(true);
          const a = Uint8Array.from({ length: m * k }, (_, i) => (i * 31 + 7) & 255);
          const f = layer.matmulFloat(a, { scale: 0.03, zeroPoint: 100, relu: true });
          expect(f.every((v) => v >= 0)).toBe(true);
        });
      }
    }
    const k = 256, n = 64, m = 16;
    const w = floats(k * n, r, true), x = floats(m * k, r);
    const plain = relErr(QuantizedLinear.fromFloat32(w, { k, n, bits: 4, outliers: 0 }).forward(x, { reduceRange: false }), x, w, m, k, n);
    const kept = relErr(QuantizedLinear.fromFloat32(w, { k, n, bits: 4, outliers: 0.02 }).forward(x, { reduceRange: false }), x, w, m, k, n);
    expect(kept).toBeLessThan(0.2);
    expect(kept).toBeLessThan(plain * 0.7); // the heavy tail kept in int8
    const byThreshold = QuantizedLinear.fromFloat32(w, { k, n, bits: 4, outlierThreshold: 6 });
    expect(byThreshold.outlierCount).toBe(Array.from(w).filter((v) => Math.abs(v) >= 6).length);
  });

  test('requantized, int8 activations, threads, async, serialize', async () => {
    const r = rng(9);
    const k = 100, n = 24, m = 11;
    const layer = QuantizedLinear.fromFloat32(floats(k * n, r), { k, n, bits: 4, groupSize: 32, bias: floats(n, r) });
    const a = Uint8Array.from({ length: m * k }, () => Math.floor(r() * 256));
    const f = layer.matmulFloat(a, { scale: 0.05, zeroPoint: 128 });
    const q = layer.matmulQuantized(a, { scale: 0.05, zeroPoint: 128, outScale: 0.25, outZeroPoint: 120 });
    for (let i = 0; i < q.length; i++) {
      const want = Math.min(255, Math.max(0, roundHalfEven(Math.fround(f[i] / Math.fround(0.25))) + 120));
      expect(q[i]).toBe(want);
    }
    const s8 = Int8Array.from(a, (v) => v - 128);
    expect(same(layer.matmulFloat(s8, { scale: 0.05, zeroPoint: 0 }), f)).toBe(true);
    expect(same(layer.matmulFloat(a, { scale: 0.05, zeroPoint: 128, threads: 2 }), f)).toBe(true);
    expect(same(await layer.matmulFloatAsync(a, { scale: 0.05, zeroPoint: 128 }), f)).toBe(true);
    const x = floats(m * k, r);
    const y = layer.forward(x);
    expect(same(await layer.forwardAsync(x, { threads: 2 }), y)).toBe(true);
    const perRow = layer.forward(x, { perRow: true });
    expect(perRow.length).toBe(m * n);
    const back = QuantizedLinear.deserialize(layer.serialize());
    expect(back.bits).toBe(4);
    expect(back.groupSize).toBe(32);
    expect(back.outlierCount).toBe(layer.outlierCount);
    expect(same(back.forward(x), y)).toBe(true);
    expect(same(back.serialize(), layer.serialize())).toBe(true);
  });

  test('bad options, bad input, bad bytes', () => {
    const w = new Float32Array(64 * 4).fill(0.5);
    const o = { k: 64, n: 4, bits: 4 as const };
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, bits: 3 as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.bits/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, groupSize: 48 as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.groupSize/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, outliers: 0.7 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.outliers/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, outliers: NaN }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.outliers/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, outlierThreshold: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /outlierThreshold/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, outliers: 0.01, outlierThreshold: 1 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /exclusive/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { k: 64, n: 4, groupSize: 32 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /4-bit weights only/);
    expectCode(() => QuantizedLinear.fromFloat32(w, { ...o, mode: 'sparse' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /8-bit/);
    const bad = w.slice();
    bad[7] = NaN;
    expectCode(() => QuantizedLinear.fromFloat32(bad, o), RangeError, 'ERR_LOWBIT_NOT_FINITE', /weights\[7\]/);
    const layer = QuantizedLinear.fromFloat32(w, o);
    expectCode(() => layer.matmulInt32(new Uint8Array(64)), TypeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /4-bit/);
    expectCode(() => layer.forward(new Float32Array(63)), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    const x = new Float32Array(64);
    x[3] = Infinity;
    expectCode(() => layer.forward(x), RangeError, 'ERR_LOWBIT_NOT_FINITE', /row 0/);
    const bytes = layer.serialize();
    for (const cut of [bytes.length - 1, 40, 20]) {
      expectCode(() => QuantizedLinear.deserialize(bytes.subarray(0, cut)), RangeError, 'ERR_LOWBIT_INVALID_SERIALIZATION');
    }
    const flipped = bytes.slice();
    flipped[flipped.length - 2] ^= 0x40; // an outlier scale or the last value: still parses or is refused, never crashes
    try {
      QuantizedLinear.deserialize(flipped);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_LOWBIT_INVALID_SERIALIZATION');
    }
  });
});

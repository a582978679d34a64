import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

// The quantization formula written out in JavaScript, independent of the native code.
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
function quantizeJs(x: Float32Array, scale: number, zp: number, qmin: number, qmax: number): number[] {
  const inv = Math.fround(1 / Math.fround(scale));
  return Array.from(x, (v) => {
    if (Number.isNaN(v)) return zp;
    const r = roundHalfEven(Math.fround(v * inv)) + zp;
    return Math.min(qmax, Math.max(qmin, r));
  });
}

function testInput(n: number, seed: number, scale: number): Float32Array {
  const r = rng(seed);
  const specials = [NaN, Infinity, -Infinity, -0, 0, 3.4e38, -3.4e38, 1e-45];
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.1) x[i] = specials[Math.floor(r() * specials.length)];
    else if (k < 0.4) x[i] = (Math.floor(r() * 600) - 300 + 0.5) * scale; // exact ties
    else x[i] = (r() * 600 - 300) * scale;
  }
  return x;
}

describe('quantize / dequantize', () => {
  test('match the formula on every ISA, bit for bit, for uint8 and int8', () => {
    const cases = [
      { scale: 1, zeroPoint: 0, dtype: 'uint8' as const },
      { scale: 0.0078125, zeroPoint: 255, dtype: 'uint8' as const },
      { scale: 0.0371, zeroPoint: 128, dtype: 'uint8' as const },
      { scale: 0.5, zeroPoint: -128, dtype: 'int8' as const },
      { scale: 3.7e-5, zeroPoint: 127, dtype: 'int8' as const },
      { scale: 0.02, zeroPoint: 0, dtype: 'int8' as const, qmin: -64, qmax: 63 },
    ];
    forEachIsa((isa) => {
      for (const [ci, c] of cases.entries()) {
        for (const n of [0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 1000, 4099]) {
          const x = testInput(n, n * 31 + ci, c.scale);
          const q = lowbit.quantize(x, c);
          const lo = c.dtype === 'int8' ? -128 : 0;
          const hi = c.dtype === 'int8' ? 127 : 255;
          const want = quantizeJs(x, c.scale, c.zeroPoint, c.qmin ?? lo, c.qmax ?? hi);
          expect({ isa, n, ci, q: Array.from(q) }).toEqual({ isa, n, ci, q: want });
          const back = lowbit.dequantize(q, { scale: c.scale, zeroPoint: c.zeroPoint });
          const s = Math.fround(c.scale);
          const wantBack = Float32Array.from(q, (v) => Math.fround((v - c.zeroPoint) * s));
          expect(Buffer.from(back.buffer).equals(Buffer.from(wantBack.buffer))).toBe(true);
        }
      }
    });
  });

  test('return the right types and honour out', () => {
    const x = new Float32Array([0.1, -0.2, 0.3]);
    expect(lowbit.quantize(x, { scale: 0.01, zeroPoint: 0 })).toBeInstanceOf(Uint8Array);
    expect(lowbit.quantize(x, { scale: 0.01, zeroPoint: 0, dtype: 'int8' })).toBeInstanceOf(Int8Array);
    const out = new Int8Array(3);
    expect(lowbit.quantize(x, { scale: 0.01, zeroPoint: 0, out })).toBe(out);
    expect(Array.from(out)).toEqual([10, -20, 30]);
    const f = new Float32Array(3);
    expect(lowbit.dequantize(out, { scale: 0.5, zeroPoint: 0, out: f })).toBe(f);
    expect(Array.from(f)).toEqual([5, -10, 15]);
  });

  test('work on subarray views with odd offsets', () => {
    const big = new Float32Array(100).map((_, i) => i - 50);
    const view = big.subarray(3, 70);
    const outBuf = new Uint8Array(200).fill(7);
    const out = outBuf.subarray(5, 72);
    lowbit.quantize(view, { scale: 1, zeroPoint: 100, out });
    expect(Array.from(out)).toEqual(Array.from(view, (v) => v + 100));
    expect(outBuf[4]).toBe(7);
    expect(outBuf[72]).toBe(7);
  });

  test('arrays over a SharedArrayBuffer work as inputs and outputs', () => {
    const x = new Float32Array(new SharedArrayBuffer(4 * 40)).map((_, i) => i - 20);
    const out = new Uint8Array(new SharedArrayBuffer(40));
    lowbit.quantize(x, { scale: 1, zeroPoint: 100, out });
    expect(Array.from(out)).toEqual(Array.from(x, (v) => v + 100));
    const back = new Float32Array(new SharedArrayBuffer(4 * 40));
    lowbit.dequantize(out, { scale: 1, zeroPoint: 100, out: back });
    expect(Array.from(back)).toEqual(Array.from(x));
  });

  test('Promise forms give the same results', async () => {
    const x = testInput(100003, 7, 0.05);
    const p = lowbit.chooseQuantParams(-15, 15);
    const sync = lowbit.quantize(x, p);
    const asyncQ = await lowbit.quantizeAsync(x, p);
    expect(Buffer.from(asyncQ).equals(Buffer.from(sync))).toBe(true);
    const back = await lowbit.dequantizeAsync(asyncQ, p);
    expect(back).toEqual(lowbit.dequantize(sync, p));
  });

  test('Promise forms keep their arrays alive while they run (GC forced)', () => {
    const code = `
      const l = require('./dist');
      const p = l.chooseQuantParams(-1, 1);
      const jobs = [];
      for (let i = 0; i < 8; i++) {
        // nothing but the pending Promise refers to these arrays
        jobs.push(l.quantizeAsync(new Float32Array(1 << 20).fill(0.5), p).then((q) => q[q.length - 1]));
        global.gc();
      }
      global.gc();
      Promise.all(jobs).then((v) => { global.gc(); console.log(JSON.stringify(v)); });`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    const expected = lowbit.quantize(new Float32Array([0.5]), lowbit.chooseQuantParams(-1, 1))[0];
    expect(JSON.parse(r.stdout)).toEqual(new Array(8).fill(expected));
  });

  test('Promise forms reject bad input before starting', async () => {
    await expect(lowbit.quantizeAsync(new Float32Array(2), { scale: -1, zeroPoint: 0 })).rejects.toMatchObject({
      code: 'ERR_LOWBIT_INVALID_SCALE',
    });
  });
});

describe('chooseQuantParams', () => {
  test('follows FBGEMM: widened to include 0, zero point nudged to an integer', () => {
    expect(lowbit.chooseQuantParams(0, 2.55)).toEqual({ scale: Math.fround(0.01), zeroPoint: 0, qmin: 0, qmax: 255, dtype: 'uint8' });
    const p = lowbit.chooseQuantParams(-1, 3);
    expect(p.zeroPoint).toBe(64);
    expect(p.scale).toBeCloseTo(4 / 255, 7);
    expect(lowbit.chooseQuantParams(1, 2).zeroPoint).toBe(0);
    expect(lowbit.chooseQuantParams(-2, -1).zeroPoint).toBe(255);
  });

  test('symmetric and reduced ranges', () => {
    expect(lowbit.chooseQuantParams(-1, 3, { signed: true, symmetric: true })).toMatchObject({ zeroPoint: 0, qmin: -128, qmax: 127 });
    expect(lowbit.chooseQuantParams(-1, 3, { symmetric: true })).toMatchObject({ zeroPoint: 128 });
    expect(lowbit.chooseQuantParams(-1, 3, { reduceRange: true })).toMatchObject({ qmin: 0, qmax: 127 });
    expect(lowbit.chooseQuantParams(-1, 3, { signed: true, reduceRange: true })).toMatchObject({ qmin: -64, qmax: 63 });
  });

  test('round trip stays within half a step, on every ISA', () => {
    const x = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 4 - 1);
    forEachIsa(() => {
      const p = lowbit.chooseQuantParams(-5, 3);
      const back = lowbit.dequantize(lowbit.quantize(x, p), p);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(back[i] - x[i]));
      expect(worst).toBeLessThanOrEqual(p.scale * 0.5 * 1.0001);
    });
  });
});

describe('bad input', () => {
  const x = new Float32Array([1, 2, 3]);
  const ok = { scale: 0.1, zeroPoint: 0 };

  test('wrong array types', () => {
    expectCode(() => lowbit.quantize([1, 2] as unknown as Float32Array, ok), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /x must be a Float32Array, got Array\(2\)/);
    expectCode(() => lowbit.quantize(new Float64Array(3) as unknown as Float32Array, ok), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /got Float64Array/);
    expectCode(() => lowbit.quantize(x, { ...ok, out: new Uint16Array(3) as unknown as Uint8Array }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options.out must be a Uint8Array or Int8Array/);
    expectCode(() => lowbit.dequantize(new Int16Array(3) as unknown as Int8Array, ok), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /q must be/);
    expectCode(() => lowbit.quantize(x, { ...ok, dtype: 'int8', out: new Uint8Array(3) }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /dtype/);
    expectCode(() => lowbit.quantize(x, { ...ok, dtype: 'int4' as 'int8' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /dtype/);
    expectCode(() => lowbit.quantize(x, undefined as unknown as lowbit.QuantizeOptions), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options/);
  });

  test('length mismatches leave the output untouched', () => {
    const out = new Uint8Array(4).fill(9);
    expectCode(() => lowbit.quantize(x, { ...ok, out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.out.length must be 3.*got 4/);
    expect(Array.from(out)).toEqual([9, 9, 9, 9]);
    const f = new Float32Array(2).fill(9);
    expectCode(() => lowbit.dequantize(new Uint8Array(3), { ...ok, out: f }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expect(Array.from(f)).toEqual([9, 9]);
  });

  test('bad scales', () => {
    for (const scale of [NaN, Infinity, -Infinity, 0, -0.5, 1e-40, 1e39]) {
      expectCode(() => lowbit.quantize(x, { scale, zeroPoint: 0 }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /options.scale/);
      expectCode(() => lowbit.dequantize(new Uint8Array(1), { scale, zeroPoint: 0 }), RangeError, 'ERR_LOWBIT_INVALID_SCALE');
    }
    expectCode(() => lowbit.quantize(x, { scale: '1' as unknown as number, zeroPoint: 0 }), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
  });

  test('zero points and clamps out of range', () => {
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: 256 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /\[0, 255\].*256/);
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: -129, dtype: 'int8' }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT');
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: 0.5 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT');
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: 200, qmax: 127 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /\[0, 127\]/);
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: 0, qmin: -1 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.qmin/);
    expectCode(() => lowbit.quantize(x, { scale: 1, zeroPoint: 10, qmin: 10, qmax: 5 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.qmax/);
    expectCode(() => lowbit.dequantize(new Int8Array(1), { scale: 1, zeroPoint: 128 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /\[-128, 127\]/);
  });

  test('bad ranges for chooseQuantParams', () => {
    expectCode(() => lowbit.chooseQuantParams(NaN, 1), RangeError, 'ERR_LOWBIT_INVALID_RANGE', /min/);
    expectCode(() => lowbit.chooseQuantParams(0, Infinity), RangeError, 'ERR_LOWBIT_INVALID_RANGE', /max/);
    expectCode(() => lowbit.chooseQuantParams(2, 1), RangeError, 'ERR_LOWBIT_INVALID_RANGE', /min must be <= max/);
    expectCode(() => lowbit.chooseQuantParams(0, 1, { signed: 1 as unknown as boolean }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options.signed/);
  });

  test('detached buffers', () => {
    const buf = new ArrayBuffer(12);
    const view = new Float32Array(buf);
    structuredClone(buf, { transfer: [buf] });
    expectCode(() => lowbit.quantize(view, ok), TypeError, 'ERR_LOWBIT_DETACHED', /x is backed by a detached ArrayBuffer/);
  });

  test('the native layer itself rejects bad arguments without crashing', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../lib/native') as typeof import('../lib/native');
    const raw = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
    expectCode(() => raw.quantize(new Float32Array(4), new Uint8Array(3), 1, 0, 0, 255, false), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => raw.quantize(new Float64Array(4), new Uint8Array(4), 1, 0, 0, 255, false), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    expectCode(() => raw.quantize(new Float32Array(4), new Uint8Array(4), NaN, 0, 0, 255, false), RangeError, 'ERR_LOWBIT_INVALID_SCALE');
    expectCode(() => raw.quantize(new Float32Array(4), new Uint8Array(4), 1, 300, 0, 255, false), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    expectCode(() => raw.quantize(new Float32Array(4), new Int8Array(4), 1, 0, 5, 3, false), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT');
    expectCode(() => raw.dequantize(new Uint8Array(4), new Float32Array(5), 1, 0, false), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => raw.quantize(), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    const buf = new ArrayBuffer(16);
    const detached = new Float32Array(buf);
    structuredClone(buf, { transfer: [buf] });
    expectCode(() => raw.quantize(detached, new Uint8Array(0), 1, 0, 0, 255, false), TypeError, 'ERR_LOWBIT_DETACHED');
  });
});

import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { QuantizedConv2d } = lowbit;

interface Geo { cin: number; cout: number; k: [number, number]; s: [number, number]; p: [number, number]; d: [number, number]; g: number }

// Plain loops: acc = Σ (x − xz)(w − wz[co]) (+ int32 bias), padding = xz. The sums are far below
// 2^53, so doubles hold them exactly.
function refAcc(x: Uint8Array, n: number, h: number, w: number, xz: number, wt: Int8Array, wz: Int32Array, bias: Int32Array | null, geo: Geo) {
  const oh = Math.floor((h + 2 * geo.p[0] - geo.d[0] * (geo.k[0] - 1) - 1) / geo.s[0]) + 1;
  const ow = Math.floor((w + 2 * geo.p[1] - geo.d[1] * (geo.k[1] - 1) - 1) / geo.s[1]) + 1;
  const cing = geo.cin / geo.g;
  const coutg = geo.cout / geo.g;
  const out = new Float64Array(n * geo.cout * oh * ow);
  for (let b = 0; b < n; b++) for (let co = 0; co < geo.cout; co++) {
    const g = Math.floor(co / coutg);
    const z = wz.length > 1 ? wz[co] : wz[0];
    for (let y = 0; y < oh; y++) for (let xo = 0; xo < ow; xo++) {
      let s = bias ? bias[co] : 0;
      for (let ci = 0; ci < cing; ci++) for (let ky = 0; ky < geo.k[0]; ky++) for (let kx = 0; kx < geo.k[1]; kx++) {
        const iy = y * geo.s[0] - geo.p[0] + ky * geo.d[0];
        const ix = xo * geo.s[1] - geo.p[1] + kx * geo.d[1];
        const xv = iy < 0 || iy >= h || ix < 0 || ix >= w ? xz : x[((b * geo.cin + g * cing + ci) * h + iy) * w + ix];
        s += (xv - xz) * (wt[((co * cing + ci) * geo.k[0] + ky) * geo.k[1] + kx] - z);
      }
      out[((b * geo.cout + co) * oh + y) * ow + xo] = s;
    }
  }
  return { acc: out, oh, ow };
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}
const fr = Math.fround;

function randInts<T extends Int8Array | Uint8Array>(ctor: new (n: number) => T, n: number, lo: number, hi: number, r: () => number): T {
  const out = new ctor(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(r() * (hi - lo + 1));
  return out;
}

const cases: Array<Geo & { n: number; h: number; w: number }> = [
  { cin: 8, cout: 12, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 1, n: 1, h: 13, w: 11 }, // 3x3 pad 1
  { cin: 6, cout: 10, k: [5, 5], s: [1, 1], p: [2, 2], d: [1, 1], g: 2, n: 1, h: 9, w: 10 }, // 5x5 groups 2
  { cin: 8, cout: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], g: 1, n: 1, h: 15, w: 14 }, // stride 2
  { cin: 17, cout: 7, k: [1, 1], s: [1, 1], p: [0, 0], d: [1, 1], g: 1, n: 1, h: 7, w: 9 }, // 1x1, odd channels
  { cin: 4, cout: 6, k: [3, 3], s: [1, 1], p: [2, 2], d: [2, 2], g: 2, n: 1, h: 8, w: 8 }, // dilation 2
  { cin: 5, cout: 3, k: [3, 2], s: [2, 1], p: [1, 0], d: [1, 1], g: 1, n: 2, h: 6, w: 5 }, // batch 2, odd
  { cin: 32, cout: 40, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 1, n: 2, h: 20, w: 19 }, // several blocks
  { cin: 12, cout: 12, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 12, n: 2, h: 11, w: 13 }, // depthwise 3x3
  { cin: 9, cout: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], g: 9, n: 1, h: 17, w: 16 }, // depthwise 3x3 s2
  { cin: 6, cout: 6, k: [5, 5], s: [2, 2], p: [2, 2], d: [1, 1], g: 6, n: 1, h: 14, w: 15 }, // depthwise 5x5 s2
];

const opts = (c: Geo) => ({ inChannels: c.cin, outChannels: c.cout, kernelSize: c.k, stride: c.s, padding: c.p, dilation: c.d, groups: c.g });

describe('QuantizedConv2d', () => {
  test('int32 accumulators equal the plain-loop sum on every ISA (full-range and 7-bit activations, zero points)', () => {
    const r = rng(41);
    cases.forEach((c, idx) => {
      const count = c.cout * (c.cin / c.g) * c.k[0] * c.k[1];
      const wt = randInts(Int8Array, count, -128, 127, r);
      const wz = idx % 2 ? Int32Array.of(Math.floor(r() * 256) - 128) : Int32Array.from({ length: c.cout }, () => Math.floor(r() * 256) - 128);
      const layer = QuantizedConv2d.fromInt8(wt, { ...opts(c), zeroPoint: wz });
      for (const sevenBit of [false, true]) {
        const x = sevenBit ? randInts(Uint8Array, c.n * c.cin * c.h * c.w, 50, 177, r) : randInts(Uint8Array, c.n * c.cin * c.h * c.w, 0, 255, r);
        const xz = sevenBit ? 120 : Math.floor(r() * 256);
        const ref = refAcc(x, c.n, c.h, c.w, xz, wt, wz, null, c);
        expect(layer.outputShape({ n: c.n, h: c.h, w: c.w })).toEqual([c.n, c.cout, ref.oh, ref.ow]);
        forEachIsa((isa) => {
          for (const kernel of ['auto', 'exact'] as const) {
            const got = layer.forwardInt32(x, { n: c.n, h: c.h, w: c.w, zeroPoint: xz, kernel });
            let ok = got.length === ref.acc.length;
            for (let i = 0; ok && i < got.length; i++) ok = got[i] === ref.acc[i];
            expect({ isa, idx, sevenBit, kernel, ok }).toEqual({ isa, idx, sevenBit, kernel, ok: true });
          }
        });
      }
    });
  });

  test('requantized and float outputs follow the documented fp32 formula bit for bit', () => {
    const r = rng(7);
    for (const c of [cases[0], cases[1], cases[4], cases[5], cases[7], cases[8], cases[9]]) {
      const count = c.cout * (c.cin / c.g) * c.k[0] * c.k[1];
      const wt = randInts(Int8Array, count, -127, 127, r);
      const wScale = Float32Array.from({ length: c.cout }, () => 0.001 + r() * 0.02);
      const biasI = Int32Array.from({ length: c.cout }, () => Math.floor(r() * 4000) - 2000);
      const biasF = Float32Array.from({ length: c.cout }, () => r() * 4 - 2);
      const x = randInts(Uint8Array, c.n * c.cin * c.h * c.w, 0, 255, r);
      const xz = 131;
      const xs = 0.037;
      const outScale = 0.2;
      const shape = { n: c.n, h: c.h, w: c.w };
      const li = QuantizedConv2d.fromInt8(wt, { ...opts(c), scale: wScale, bias: biasI });
      const lf = QuantizedConv2d.fromInt8(wt, { ...opts(c), scale: wScale, bias: biasF });
      const accI = refAcc(x, c.n, c.h, c.w, xz, wt, Int32Array.of(0), biasI, c).acc;
      const acc0 = refAcc(x, c.n, c.h, c.w, xz, wt, Int32Array.of(0), null, c).acc;
      const plane = accI.length / (c.n * c.cout);
      forEachIsa((isa) => {
        const q = li.forward(x, { ...shape, scale: xs, zeroPoint: xz, outScale, outZeroPoint: 100 });
        const qs = li.forward(x, { ...shape, scale: xs, zeroPoint: xz, outScale, outZeroPoint: -5, dtype: 'int8', relu: true });
        const qf = lf.forward(x, { ...shape, scale: xs, zeroPoint: xz, outScale, outZeroPoint: 100 });
        const f = li.forwardFloat(x, { ...shape, scale: xs, zeroPoint: xz, relu: true });
        const ff = lf.forwardFloat(x, { ...shape, scale: xs, zeroPoint: xz });
        let bad = 0;
        for (let i = 0; i < accI.length; i++) {
          const co = Math.floor(i / plane) % c.cout;
          const ab = fr(fr(xs) * wScale[co]);
          const mult = fr(ab / fr(outScale));
          const v = roundHalfEven(fr(fr(accI[i]) * mult));
          if (q[i] !== Math.min(255, Math.max(0, v + 100))) bad++;
          if (qs[i] !== Math.min(127, Math.max(-5, v - 5))) bad++;
          const vf = roundHalfEven(fr(fr(fr(acc0[i]) + fr(biasF[co] / ab)) * mult));
          if (qf[i] !== Math.min(255, Math.max(0, vf + 100))) bad++;
          const wf = fr(fr(accI[i]) * ab);
          if (f[i] !== (wf > 0 ? wf : 0)) bad++;
          if (ff[i] !== fr(fr(fr(acc0[i]) * ab) + biasF[co])) bad++;
        }
        expect({ isa, bad }).toEqual({ isa, bad: 0 });
      });
    }
  });

  test('threads 1, 2, 3 give identical bits; the Promise forms match', async () => {
    const r = rng(9);
    const c = cases[6];
    const w = Float32Array.from({ length: c.cout * c.cin * 9 }, () => r() * 2 - 1);
    const bias = Float32Array.from({ length: c.cout }, () => r() - 0.5);
    const layer = QuantizedConv2d.fromFloat32(w, { ...opts(c), bias });
    expect(layer.weightScales.length).toBe(c.cout);
    const x = randInts(Uint8Array, c.n * c.cin * c.h * c.w, 0, 255, r);
    const i = { n: c.n, h: c.h, w: c.w, zeroPoint: 128 };
    const fo = { ...i, scale: 0.02, relu: true };
    const o = { ...fo, outScale: 0.1, outZeroPoint: 10 };
    const one = layer.forward(x, { ...o, threads: 1 });
    for (const threads of [2, 3]) expect(layer.forward(x, { ...o, threads })).toEqual(one);
    const f1 = layer.forwardFloat(x, { ...fo, threads: 1 });
    expect(layer.forwardFloat(x, { ...fo, threads: 3 })).toEqual(f1);
    expect(await layer.forwardAsync(x, { ...o, threads: 2 })).toEqual(one);
    expect(await layer.forwardFloatAsync(x, fo)).toEqual(f1);
    expect(await layer.forwardInt32Async(x, i)).toEqual(layer.forwardInt32(x, { ...i, threads: 3 }));
    // per-tensor weights; a caller's out array is filled and returned
    const per = QuantizedConv2d.fromFloat32(w, { ...opts(c), perChannel: false });
    expect(per.weightScales.length).toBe(1);
    const out = new Float32Array(per.outputShape({ n: c.n, h: c.h, w: c.w }).reduce((a, b) => a * b));
    expect(per.forwardFloat(x, { ...fo, out })).toBe(out);
  });

  test('bad input: named errors with codes, output untouched', async () => {
    const w = new Int8Array(4 * 2 * 9);
    const geo = { inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1 };
    expectCode(() => QuantizedConv2d.fromInt8(new Float32Array(72) as unknown as Int8Array, geo), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /weights/);
    expectCode(() => QuantizedConv2d.fromInt8(new Int8Array(71), geo), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /weights.length/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, groups: 3 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /groups/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, stride: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /stride/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, padding: 3 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /padding/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, scale: 0 }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /options.scale/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, scale: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.scale/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, zeroPoint: 128 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /options.zeroPoint/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, zeroPoint: Int32Array.of(0, 0, 0, 200) }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /zeroPoint\[3\]/);
    expectCode(() => QuantizedConv2d.fromInt8(w, { ...geo, bias: new Int32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.bias/);
    expectCode(() => QuantizedConv2d.fromFloat32(Float32Array.of(NaN, ...new Float32Array(71)), geo), RangeError, 'ERR_LOWBIT_NOT_FINITE', /weights/);
    expectCode(() => QuantizedConv2d.fromFloat32(new Float32Array(72), undefined as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options/);

    const layer = QuantizedConv2d.fromInt8(w, geo);
    const x = new Uint8Array(2 * 5 * 5);
    const base = { h: 5, w: 5, scale: 0.1, zeroPoint: 3, outScale: 0.2 };
    const out = new Uint8Array(4 * 25).fill(7);
    const untouched = () => expect(out.every((v) => v === 7)).toBe(true);
    expectCode(() => layer.forward(new Int8Array(50) as unknown as Uint8Array, { ...base, out }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /x must be a Uint8Array/);
    expectCode(() => layer.forward(new Uint8Array(49), { ...base, out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /x.length/);
    expectCode(() => layer.forward(x, { ...base, h: 0, out }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.h/);
    expectCode(() => layer.forward(x, { ...base, scale: -1, out }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /options.scale/);
    expectCode(() => layer.forward(x, { ...base, outScale: Infinity, out }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /options.outScale/);
    expectCode(() => layer.forward(x, { ...base, zeroPoint: 256, out }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /options.zeroPoint/);
    expectCode(() => layer.forward(x, { ...base, outZeroPoint: -1, out }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /options.outZeroPoint/);
    expectCode(() => layer.forward(x, { ...base, out: new Uint8Array(99) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.out.length/);
    expectCode(() => layer.forward(x, { ...base, dtype: 'int8', out }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /dtype/);
    expectCode(() => layer.forward(x, { ...base, dtype: 'int4' as never, out }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /dtype/);
    expectCode(() => layer.forward(x, { ...base, threads: 0, out }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /threads/);
    expectCode(() => layer.forwardFloat(x, { h: 5, w: 5 } as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options.scale/);
    untouched();
    const small = QuantizedConv2d.fromInt8(new Int8Array(4 * 2 * 25), { ...geo, kernelSize: 5, padding: 0 });
    expectCode(() => small.forwardInt32(new Uint8Array(2 * 9), { h: 3, w: 3 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT');
    await expect(layer.forwardAsync(new Uint8Array(3), base)).rejects.toMatchObject({ code: 'ERR_LOWBIT_LENGTH_MISMATCH' });
    expect(layer.forward(x, { ...base, out })).toBe(out);
    expect(out.every((v) => v === 0)).toBe(true); // (0 − 3)·0 = 0 → zero point 0
  });
});

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { QuantizedLinear } = lowbit;
const root = path.join(__dirname, '..', '..');

function randInts<T extends Int8Array | Uint8Array>(ctor: new (n: number) => T, n: number, lo: number, hi: number, r: () => number): T {
  const out = new ctor(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(r() * (hi - lo + 1));
  return out;
}

// Σ_k (a − az)(w − wz[n]) with w N×K row-major (PyTorch's [out][in], the default layout): the mathematical int32 result.
function refInt32(a: Uint8Array | Int8Array, lda: number, m: number, az: number, w: Int8Array, k: number, n: number, wz: Int32Array): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const z = wz.length > 1 ? wz[j] : wz[0];
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * lda + p] - az) * (w[j * k + p] - z);
      c[i * n + j] = s;
    }
  }
  return c;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

const fr = Math.fround;

describe('QuantizedLinear products are exact on every ISA', () => {
  const shapes = [
    [1, 1, 1], [1, 7, 3], [1, 64, 256], [2, 9, 5], [3, 17, 33], [4, 8, 4], [5, 31, 67], [7, 1, 13], [13, 40, 100], [33, 24, 260], [1, 300, 1000],
  ];
  test('int32 output, uint8 and int8 activations, full-range values, per-tensor and per-channel zero points', () => {
    const r = rng(11);
    forEachIsa((isa) => {
      for (const [m, n, k] of shapes) {
        for (const signed of [false, true]) {
          const w = randInts(Int8Array, k * n, -128, 127, r);
          const wz = r() < 0.5 ? Int32Array.of(Math.floor(r() * 256) - 128) : Int32Array.from({ length: n }, () => Math.floor(r() * 256) - 128);
          const lda = k + (r() < 0.5 ? 0 : 3);
          const a = signed ? randInts(Int8Array, m * lda, -128, 127, r) : randInts(Uint8Array, m * lda, 0, 255, r);
          const az = signed ? [-128, 0, 127][Math.floor(r() * 3)] : [0, 128, 255][Math.floor(r() * 3)];
          const lin = QuantizedLinear.fromInt8(w, { k, n, zeroPoint: wz });
          const got = lin.matmulInt32(a, { m, lda, zeroPoint: az });
          expect({ isa, m, n, k, signed, ok: Buffer.from(got.buffer).equals(Buffer.from(refInt32(a, lda, m, az, w, k, n, wz).buffer)) }).toEqual({
            isa, m, n, k, signed, ok: true,
          });
        }
      }
    });
  });

  test('adversarial extremes (all 255 × all 127 / −128) do not saturate', () => {
    forEachIsa(() => {
      for (const wv of [127, -128]) {
        const k = 1031;
        const n = 9;
        const lin = QuantizedLinear.fromInt8(new Int8Array(k * n).fill(wv), { k, n });
        const c = lin.matmulInt32(new Uint8Array(2 * k).fill(255), { m: 2 });
        expect(Array.from(c)).toEqual(new Array(2 * n).fill(255 * wv * k));
      }
    });
  });

  test('7-bit activations take the fast path and stay exact; kernel: exact agrees', () => {
    const r = rng(5);
    const k = 300;
    const n = 70;
    const w = randInts(Int8Array, k * n, -128, 127, r);
    const a = randInts(Uint8Array, 20 * k, 40, 167, r); // spans 128 values
    const lin = QuantizedLinear.fromInt8(w, { k, n });
    forEachIsa(() => {
      const want = refInt32(a, k, 20, 77, w, k, n, Int32Array.of(0));
      expect(lin.matmulInt32(a, { zeroPoint: 77 })).toEqual(want);
      expect(lin.matmulInt32(a, { zeroPoint: 77, kernel: 'exact' })).toEqual(want);
    });
  });

  test('float and requantized outputs follow the documented fp32 order bit for bit', () => {
    const r = rng(3);
    const [m, n, k] = [6, 21, 45];
    const w = randInts(Int8Array, k * n, -128, 127, r);
    const a = randInts(Uint8Array, m * k, 0, 255, r);
    const wScale = Float32Array.from({ length: n }, () => 0.001 + r() * 0.02);
    const bias = Float32Array.from({ length: n }, () => r() * 4 - 2);
    const lin = QuantizedLinear.fromInt8(w, { k, n, scale: wScale, zeroPoint: 0, bias });
    const acc = refInt32(a, k, m, 131, w, k, n, Int32Array.of(0));
    const aScale = 0.037;
    const outScale = 0.2;
    forEachIsa(() => {
      const f = lin.matmulFloat(a, { scale: aScale, zeroPoint: 131 });
      const fRelu = lin.matmulFloat(a, { scale: aScale, zeroPoint: 131, relu: true });
      const q = lin.matmulQuantized(a, { scale: aScale, zeroPoint: 131, outScale, outZeroPoint: 100 });
      const qs = lin.matmulQuantized(a, { scale: aScale, zeroPoint: 131, outScale, outZeroPoint: -5, dtype: 'int8', relu: true });
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const ab = fr(fr(aScale) * wScale[j]);
          const wantF = fr(fr(acc[i * n + j] * ab) + bias[j]);
          expect(f[i * n + j]).toBe(wantF);
          expect(fRelu[i * n + j]).toBe(wantF > 0 ? wantF : 0);
          const mult = fr(ab / fr(outScale));
          const biasAcc = fr(bias[j] / ab);
          const v = roundHalfEven(fr(fr(fr(acc[i * n + j]) + biasAcc) * mult));
          expect(q[i * n + j]).toBe(Math.min(255, Math.max(0, v + 100)));
          expect(qs[i * n + j]).toBe(Math.min(127, Math.max(-5, v - 5)));
        }
      }
    });
  });

  test('layouts nk (the default) and kn give the same products; threads split without changing a bit', () => {
    const r = rng(9);
    const [m, n, k] = [70, 45, 130];
    const w = randInts(Int8Array, k * n, -128, 127, r);
    const wt = new Int8Array(k * n);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) wt[j * k + p] = w[p * n + j];
    const a = randInts(Uint8Array, m * k, 0, 255, r);
    const kn = QuantizedLinear.fromInt8(w, { k, n, layout: 'kn' });
    const nk = QuantizedLinear.fromInt8(wt, { k, n });
    const one = kn.matmulInt32(a);
    expect(one).toEqual(refInt32(a, k, m, 0, wt, k, n, Int32Array.of(0)));
    expect(nk.matmulInt32(a)).toEqual(one);
    expect(QuantizedLinear.fromInt8(wt, { k, n, layout: 'nk' }).matmulInt32(a)).toEqual(one);
    expect(kn.matmulInt32(a, { threads: 2 })).toEqual(one);
    expect(kn.matmulInt32(a.subarray(0, k), { threads: 3 })).toEqual(one.subarray(0, n));
  });
});

describe('forward (dynamic quantization)', () => {
  const r = rng(21);
  const [m, n, k] = [16, 33, 200];
  const w = Float32Array.from({ length: k * n }, () => (r() - 0.5) * 0.2);
  const x = Float32Array.from({ length: m * k }, () => (r() - 0.5) * 4);
  const bias = Float32Array.from({ length: n }, () => r() - 0.5);
  const ref = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = bias[j];
    for (let p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p]; // w: N×K, PyTorch's Linear.weight
    ref[i * n + j] = s;
  }
  const lin = QuantizedLinear.fromFloat32(w, { k, n, bias });

  test('approximates the fp32 layer, per tensor and per row, 7 and 8 bits', () => {
    const scale = Math.max(...Array.from(ref, Math.abs));
    for (const opts of [{}, { perRow: true }, { reduceRange: false }, { perRow: true, reduceRange: false }]) {
      const y = lin.forward(x, opts);
      let worst = 0;
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - ref[i]));
      expect(worst / scale).toBeLessThan(0.03);
    }
  });

  test('is identical on every ISA, with threads, and in the Promise form', async () => {
    const want = lin.forward(x);
    const wantRow = lin.forward(x, { perRow: true, relu: true });
    forEachIsa(() => {
      expect(lin.forward(x)).toEqual(want);
      expect(lin.forward(x, { perRow: true, relu: true })).toEqual(wantRow);
      expect(lin.forward(x, { threads: 2 })).toEqual(want);
    });
    expect(await lin.forwardAsync(x)).toEqual(want);
  });

  test('rejects non-finite input and leaves out untouched', () => {
    const bad = Float32Array.from(x);
    bad[5] = -Infinity;
    const out = new Float32Array(m * n).fill(7);
    expectCode(() => lin.forward(bad, { out }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /row 0/);
    expect(out.every((v) => v === 7)).toBe(true);
  });
});

describe('serialization and lifetime', () => {
  test('round trip keeps every product identical', () => {
    const r = rng(4);
    const [n, k] = [19, 70];
    const w = randInts(Int8Array, k * n, -128, 127, r);
    const lin = QuantizedLinear.fromInt8(w, { k, n, scale: Float32Array.from({ length: n }, (_, i) => 0.01 + i * 0.001), zeroPoint: Int32Array.from({ length: n }, (_, i) => i - 9), bias: new Float32Array(n).fill(0.25) });
    const back = QuantizedLinear.deserialize(lin.serialize());
    expect([back.k, back.n]).toEqual([k, n]);
    expect(Array.from(back.weightZeroPoints)).toEqual(Array.from(lin.weightZeroPoints));
    const a = randInts(Uint8Array, 3 * k, 0, 255, r);
    expect(back.matmulInt32(a)).toEqual(lin.matmulInt32(a));
    expect(back.matmulFloat(a, { scale: 0.1 })).toEqual(lin.matmulFloat(a, { scale: 0.1 }));
    expect(lin.byteLength).toBeGreaterThan(k * n);
  });

  test('an int32 bias is added to the exact sum, survives serialization, and forward refuses it', () => {
    const r = rng(8);
    const [m, n, k] = [3, 10, 20];
    const w = randInts(Int8Array, k * n, -128, 127, r);
    const a = randInts(Uint8Array, m * k, 0, 255, r);
    const bias = Int32Array.from({ length: n }, (_, i) => i * 1000 - 4000);
    const lin = QuantizedLinear.fromInt8(w, { k, n, scale: 0.01, bias });
    const acc = refInt32(a, k, m, 0, w, k, n, Int32Array.of(0));
    const f = lin.matmulFloat(a, { scale: 0.5 });
    const ab = fr(fr(0.5) * fr(0.01));
    for (let i = 0; i < m * n; i++) expect(f[i]).toBe(fr((acc[i] + bias[i % n]) * ab));
    expect(Array.from(lin.matmulInt32(a))).toEqual(Array.from(acc)); // the raw product has no bias
    const back = QuantizedLinear.deserialize(lin.serialize());
    expect(Array.from(back.bias as Int32Array)).toEqual(Array.from(bias));
    expect(back.matmulFloat(a, { scale: 0.5 })).toEqual(f);
    expectCode(() => lin.forward(new Float32Array(k)), TypeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /real-valued/);
  });

  test('packed weights are reported to V8 as external memory and released by GC', () => {
    const code = `
      const l = require(${JSON.stringify(path.join(root, 'dist'))});
      const mb = () => process.memoryUsage().external / 1048576;
      const before = mb();
      let layers = Array.from({ length: 20 }, () => l.QuantizedLinear.fromInt8(new Int8Array(1 << 20), { k: 1024, n: 1024 }));
      const held = mb();
      layers = null;
      (async () => {
        for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
        console.log(JSON.stringify({ before, held, after: mb() }));
      })();`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8' });
    const m = JSON.parse(r.stdout) as { before: number; held: number; after: number };
    expect(m.held - m.before).toBeGreaterThan(19);
    expect(m.after - m.before).toBeLessThan(2);
  });

  test('corrupt bytes are rejected', () => {
    const good = QuantizedLinear.fromInt8(new Int8Array(12), { k: 3, n: 4 }).serialize();
    expectCode(() => QuantizedLinear.deserialize(new Uint8Array(2)), RangeError, 'ERR_LOWBIT_INVALID_SERIALIZATION', /magic: truncated/);
    expectCode(() => QuantizedLinear.deserialize(good.subarray(0, good.length - 1)), RangeError, 'ERR_LOWBIT_INVALID_SERIALIZATION', /truncated/);
    const flipped = Uint8Array.from(good);
    flipped[0] ^= 1;
    expectCode(() => QuantizedLinear.deserialize(flipped), RangeError, 'ERR_LOWBIT_INVALID_SERIALIZATION', /magic/);
  });

  test('works in worker_threads, from serialized bytes, with concurrent async calls', () => {
    const code = `
      const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
      const l = require(DIST);
      if (isMainThread) {
        const lin = l.QuantizedLinear.fromInt8(Int8Array.from({ length: 64 * 32 }, (_, i) => (i * 7) % 255 - 127), { k: 64, n: 32 });
        const a = Uint8Array.from({ length: 8 * 64 }, (_, i) => (i * 13) % 256);
        const want = Array.from(lin.matmulInt32(a));
        const bytes = lin.serialize();
        let pending = 3;
        for (let t = 0; t < 3; t++) {
          const w = new Worker(__filename, { workerData: { bytes, a } });
          w.on('message', (got) => {
            if (JSON.stringify(got) !== JSON.stringify(want)) { console.log('MISMATCH'); process.exit(1); }
            if (--pending === 0) Promise.all([1, 2, 3, 4].map(() => lin.matmulInt32Async(a, { threads: 2 })))
              .then((rs) => console.log(rs.every((r) => JSON.stringify(Array.from(r)) === JSON.stringify(want)) ? 'OK' : 'ASYNC MISMATCH'));
          });
          w.on('error', (e) => { console.log('ERR', e.message); process.exit(1); });
        }
      } else {
        const lin = l.QuantizedLinear.deserialize(workerData.bytes);
        lin.matmulInt32Async(workerData.a).then((c) => parentPort.postMessage(Array.from(c)));
      }`;
    const file = path.join(root, 'dist-test', 'worker-check.js');
    require('node:fs').writeFileSync(file, code.replace('DIST', JSON.stringify(path.join(root, 'dist'))));
    const r = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('OK');
  });
});

describe('bad input', () => {
  const lin = QuantizedLinear.fromInt8(new Int8Array(6 * 4), { k: 6, n: 4, scale: 0.5 });
  const a = new Uint8Array(12);

  test('construction', () => {
    expectCode(() => QuantizedLinear.fromInt8(new Uint8Array(4) as unknown as Int8Array, { k: 2, n: 2 }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /weights must be a Int8Array, got Uint8Array/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(5), { k: 2, n: 2 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /weights.length must be k \* n = 4, got 5/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 0, n: 4 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.k/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: -2, n: -2 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 1.5, n: 4 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, scale: NaN }), RangeError, 'ERR_LOWBIT_INVALID_SCALE');
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, scale: new Float32Array([1, 0]) }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /scale\[1\]/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, scale: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, zeroPoint: 200 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /options.zeroPoint must be an integer in \[-128, 127\] for int8 weights, got 200/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, layout: 'xy' as 'kn' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /layout/);
    expectCode(() => QuantizedLinear.fromInt8(new Int8Array(4), { k: 2, n: 2, bias: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /bias/);
    const nanW = new Float32Array(4);
    nanW[2] = NaN;
    expectCode(() => QuantizedLinear.fromFloat32(nanW, { k: 2, n: 2 }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /weights\[2\]/);
  });

  test('products', () => {
    expectCode(() => lin.matmulInt32(new Float32Array(12) as unknown as Uint8Array), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /a must be a Uint8Array or Int8Array, got Float32Array/);
    expectCode(() => lin.matmulInt32(new Uint8Array(13)), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /multiple of lda \(6\)/);
    expectCode(() => lin.matmulInt32(new Uint8Array(10), { m: 2 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /at least 12/);
    expectCode(() => lin.matmulInt32(a, { lda: 5 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options.lda/);
    expectCode(() => lin.matmulInt32(a, { zeroPoint: 256 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /zeroPoint/);
    expectCode(() => lin.matmulInt32(new Int8Array(12), { zeroPoint: 128 }), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT', /\[-128, 127\] for an Int8Array a, got 128/);
    expectCode(() => lin.matmulInt32(a, { threads: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /threads/);
    expectCode(() => lin.matmulFloat(a, { scale: NaN }), RangeError, 'ERR_LOWBIT_INVALID_SCALE');
    expectCode(() => lin.matmulFloat(a, undefined as unknown as lowbit.MatmulFloatOptions), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    expectCode(() => lin.matmulQuantized(a, { scale: 1, outScale: -1 }), RangeError, 'ERR_LOWBIT_INVALID_SCALE', /outScale/);
    expectCode(() => lin.matmulQuantized(a, { scale: 1, outScale: 1, dtype: 'int8', out: new Uint8Array(8) }), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    expectCode(() => lin.forward(new Float32Array(7)), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    const out = new Int32Array(9).fill(3);
    expectCode(() => lin.matmulInt32(a, { out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /m \* n = 8, got 9/);
    expect(Array.from(out)).toEqual(new Array(9).fill(3));
    const buf = new ArrayBuffer(12);
    const det = new Uint8Array(buf);
    structuredClone(buf, { transfer: [buf] });
    expectCode(() => lin.matmulInt32(det), TypeError, 'ERR_LOWBIT_DETACHED');
  });

  test('a direct native call with bad sizes throws instead of writing out of bounds', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../lib/native') as { binding: { PackedLinear: new (...a: unknown[]) => { gemm: (...a: unknown[]) => unknown } } };
    const s = Float32Array.of(1);
    // modes: 1 sparse kernel, 2 dense GEMM (the sparse path checks the same sizes before running)
    for (const mode of [1, 2]) {
      const p = new binding.PackedLinear('int8', new Int8Array(24), 6, 4, false, Int32Array.of(0), false, mode);
      expectCode(() => p.gemm(new Uint8Array(12), 6, 3, 0, 0, new Int32Array(12), 4, 1, s, 1, 0, 0, 0, null, false, 1, false, false), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /a.length/);
      expectCode(() => p.gemm(new Uint8Array(12), 6, 2, 0, 0, new Int32Array(7), 4, 1, s, 1, 0, 0, 0, null, false, 1, false, false), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /out.length/);
      expectCode(() => p.gemm(new Uint8Array(12), 6, 2, 0, 0, new Int32Array(8), 3, 1, s, 1, 0, 0, 0, null, false, 1, false, false), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /ldc/);
    }
    expectCode(() => new binding.PackedLinear('int8', new Int8Array(24), 6, 4, false, Int32Array.of(1), false, 1), RangeError, 'ERR_LOWBIT_INVALID_ZERO_POINT');
    expectCode(() => new binding.PackedLinear('int8', new Int8Array(24), 6, 4, false, Int32Array.of(0), false, 3), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    expectCode(() => new binding.PackedLinear('bytes', new Uint8Array(40), 0), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT');
  });
});

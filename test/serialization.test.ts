// QuantizedLinear.deserialize accepts exactly what the constructors accept (issue 10, class 6):
// every field is checked, errors are RangeError ERR_LOWBIT_INVALID_SERIALIZATION naming the field,
// and a fuzz of single-byte mutations and truncations either throws a coded error or yields a layer
// that fromInt8 would accept and that runs.
import * as lowbit from '../lib';
import { expectCode, rng } from './helpers';

const { QuantizedLinear } = lowbit;
const CODE = 'ERR_LOWBIT_INVALID_SERIALIZATION';

// Offsets of the fields of a serialization (lib/gemm.ts serialize, native/kernels/gemm/pack.cc).
function layoutOf(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nScales = v.getUint32(12, true);
  const biasCount = 16 + 4 * nScales;
  const nBias = v.getUint32(biasCount, true);
  const packed = biasCount + 4 + 4 * nBias;
  return { scales: 16, nScales, biasCount, bias: biasCount + 4, nBias, packed, k: packed + 8, n: packed + 16, perChannel: packed + 24, zeroPoints: packed + 28 };
}

function layers() {
  const r = rng(77);
  const [k, n] = [13, 10];
  const w = Int8Array.from({ length: k * n }, () => Math.floor(r() * 256) - 128);
  // 1x4 blocks pruned for the sparse one
  const pruned = Float32Array.from({ length: k * n }, (_, i) => ((i % k) >> 2) % 2 === 0 ? 0 : r() - 0.5);
  return {
    'fromInt8 per channel, float bias, dense': QuantizedLinear.fromInt8(w, {
      k, n, mode: 'dense',
      scale: Float32Array.from({ length: n }, () => 0.001 + r() * 0.01),
      zeroPoint: Int32Array.from({ length: n }, () => Math.floor(r() * 256) - 128),
      bias: Float32Array.from({ length: n }, () => r() - 0.5),
    }),
    'fromInt8 per tensor, int32 bias, auto': QuantizedLinear.fromInt8(w, { k, n, scale: 0.02, zeroPoint: -3, bias: Int32Array.from({ length: n }, () => Math.floor(r() * 2e4) - 1e4) }),
    'fromFloat32 float bias, sparse': QuantizedLinear.fromFloat32(pruned, { k, n, mode: 'sparse', bias: Float32Array.from({ length: n }, () => r()) }),
  };
}

// What fromInt8 checks, checked on a deserialized layer: it must build from the same parameters.
function expectValid(layer: lowbit.QuantizedLinear): void {
  const { k, n } = layer;
  const zps = layer.weightZeroPoints;
  const scales = layer.weightScales;
  const bias = layer.bias;
  expect(zps.every((z) => z >= -128 && z <= 127)).toBe(true);
  expect(scales.every((s) => Number.isFinite(s) && s > 0)).toBe(true);
  const int32Bias = Object.prototype.toString.call(bias) === '[object Int32Array]';
  if (bias && !int32Bias) expect(Array.from(bias).every(Number.isFinite)).toBe(true);
  QuantizedLinear.fromInt8(new Int8Array(k * n), { k, n, scale: scales, zeroPoint: zps, bias: bias ?? undefined, mode: layer.mode });
  // and it runs
  const a = new Uint8Array(2 * k).fill(200);
  expect(layer.matmulInt32(a).length).toBe(2 * n);
  expect(layer.matmulFloat(a, { scale: 0.05, zeroPoint: 100 }).length).toBe(2 * n);
  if (!int32Bias) {
    expect(layer.forward(Float32Array.from({ length: 2 * k }, (_, i) => Math.sin(i))).length).toBe(2 * n);
  }
}

function outcome(bytes: Uint8Array): 'accepted' | 'refused' {
  let layer: lowbit.QuantizedLinear;
  try {
    layer = QuantizedLinear.deserialize(bytes);
  } catch (e) {
    // every refusal is a coded lowbit error; the serialization ones say which field
    expect(lowbit.isLowbitError(e)).toBe(true);
    expect(['RangeError', 'TypeError']).toContain((e as Error).constructor.name);
    expect((e as { code: string }).code).toBe(CODE);
    return 'refused';
  }
  expectValid(layer);
  return 'accepted';
}

describe('QuantizedLinear.deserialize validates every field', () => {
  test.each(Object.entries(layers()))('%s: round trip', (_name, layer) => {
    const back = QuantizedLinear.deserialize(layer.serialize());
    expect(back.serialize()).toEqual(layer.serialize());
    expectValid(back);
  });

  const base = layers()['fromInt8 per channel, float bias, dense'];
  const good = base.serialize();
  const L = layoutOf(good);
  const edit = (fn: (v: DataView, b: Uint8Array) => void): Uint8Array => {
    const b = Uint8Array.from(good);
    fn(new DataView(b.buffer), b);
    return b;
  };

  test.each<[string, (v: DataView, b: Uint8Array) => void, RegExp]>([
    ['a zero point above 127', (v) => v.setInt32(L.zeroPoints + 8, 200, true), /weightZeroPoints\[2\] must be an integer in \[-128, 127\].*got 200/],
    ['a zero point below -128', (v) => v.setInt32(L.zeroPoints, -129, true), /weightZeroPoints\[0\] .*got -129/],
    ['a NaN bias', (v) => v.setFloat32(L.bias + 4, NaN, true), /bias\[1\] must be finite, got NaN/],
    ['an infinite bias', (v) => v.setFloat32(L.bias, -Infinity, true), /bias\[0\] must be finite, got -Infinity/],
    ['a zero scale', (v) => v.setFloat32(L.scales + 12, 0, true), /weightScales\[3\] must be a finite number > 0.*got 0/],
    ['a negative scale', (v) => v.setFloat32(L.scales, -1, true), /weightScales\[0\].*got -1/],
    ['a NaN scale', (v) => v.setFloat32(L.scales, NaN, true), /weightScales\[0\].*got NaN/],
    ['an infinite scale', (v) => v.setFloat32(L.scales, Infinity, true), /weightScales\[0\].*got Infinity/],
    ['a subnormal scale (infinite reciprocal)', (v) => v.setFloat32(L.scales, 1e-45, true), /weightScales\[0\]/],
    ['a bias count without a bias', (v) => v.setUint32(8, 0, true), /bias count: 10 values with no bias/],
    ['unknown flag bits', (v) => v.setUint32(8, v.getUint32(8, true) | 0x100, true), /flags: unknown value/],
    ['bias kind 2', (v) => v.setUint32(8, (v.getUint32(8, true) & ~3) | 2, true), /flags/],
    ['a per-channel flag of 2', (v) => v.setUint32(L.perChannel, 2, true), /per-channel flag: must be 0 or 1, got 2/],
    ['n changed (sizes then disagree)', (v) => v.setUint32(L.n, 9, true), /packed weights: .* bytes for k = 13, n = 9/],
    ['k of another group count', (v) => v.setUint32(L.k, 20, true), /k = 20/],
    ['k = 0', (v) => v.setUint32(L.k, 0, true), /k: must be in \[1, 2\^30\], got 0/],
    ['an absurd n (2^40)', (v) => v.setUint32(L.n + 4, 256, true), /n: must be in \[1, 2\^30\], got 1099511627786/],
    ['a bad packed magic', (_v, b) => { b[L.packed] ^= 0xff; }, /packed weights magic/],
    ['a bad version', (v) => v.setUint32(4, 2, true), /version: unsupported version 2/],
    ['a packed padding byte set (checked natively)', (_v, b) => { b[b.length - 1] = 1; }, /packed weight matrix/],
  ])('%s', (_name, fn, message) => {
    expectCode(() => QuantizedLinear.deserialize(edit(fn)), RangeError, CODE, message);
  });

  test('scale and bias counts that do not match n', () => {
    const withScales = (count: number): Uint8Array => {
      const head = good.subarray(0, 16);
      const rest = good.subarray(L.biasCount);
      const out = new Uint8Array(16 + 4 * count + rest.length);
      out.set(head);
      new DataView(out.buffer).setUint32(12, count, true);
      for (let i = 0; i < count; i++) new DataView(out.buffer).setFloat32(16 + 4 * i, 0.5, true);
      out.set(rest, 16 + 4 * count);
      return out;
    };
    expect(QuantizedLinear.deserialize(withScales(1)).weightScales.length).toBe(1); // per tensor is valid
    expectCode(() => QuantizedLinear.deserialize(withScales(3)), RangeError, CODE, /weightScales\.length must be n \(10\) or 1, got 3/);
    const fewerBias = edit((dv) => dv.setUint32(L.biasCount, 9, true));
    expectCode(() => QuantizedLinear.deserialize(fewerBias), RangeError, CODE);
  });

  test('truncated and trailing bytes; absurd counts are refused before anything that size is allocated', () => {
    expectCode(() => QuantizedLinear.deserialize(good.subarray(0, good.length - 1)), RangeError, CODE, /truncated/);
    expectCode(() => QuantizedLinear.deserialize(good.subarray(0, L.packed + 10)), RangeError, CODE, /k: truncated/);
    const trailing = new Uint8Array(good.length + 1);
    trailing.set(good);
    expectCode(() => QuantizedLinear.deserialize(trailing), RangeError, CODE, /trailing bytes/);
    const t0 = process.hrtime.bigint();
    const heap = process.memoryUsage().arrayBuffers;
    expectCode(() => QuantizedLinear.deserialize(edit((v) => v.setUint32(12, 0xffffffff, true))), RangeError, CODE, /weightScales: truncated \(17179869180 bytes needed/);
    expectCode(() => QuantizedLinear.deserialize(edit((v) => v.setUint32(L.biasCount, 0xfffffff0, true))), RangeError, CODE, /bias: truncated/);
    expectCode(() => QuantizedLinear.deserialize(edit((v) => v.setUint32(L.n, 1 << 30, true))), RangeError, CODE, /weightZeroPoints: truncated/);
    expect(process.memoryUsage().arrayBuffers - heap).toBeLessThan(1 << 20);
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(200);
  });

  test("mode 'sparse' with weight zero points is refused as fromInt8 refuses it", () => {
    const bytes = edit((v) => v.setUint32(8, (v.getUint32(8, true) & 3) | (1 << 2), true)); // mode sparse, zps nonzero
    expectCode(() => QuantizedLinear.deserialize(bytes), RangeError, CODE, /weightZeroPoints must be 0 with mode 'sparse'/);
  });

  test('the native parse refuses zero points outside int8 on its own (gemm::deserialize)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../lib/native') as { binding: { PackedLinear: new (...a: unknown[]) => unknown } };
    const packed = Uint8Array.from(good.subarray(L.packed));
    new binding.PackedLinear('bytes', packed, 2);
    new DataView(packed.buffer).setInt32(28, 128, true);
    expectCode(() => new binding.PackedLinear('bytes', packed, 2), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /not a serialized lowbit packed weight matrix/);
  });

  test('the bytes are read once: changing them after deserialize changes nothing', () => {
    const bytes = Uint8Array.from(good);
    const layer = QuantizedLinear.deserialize(bytes);
    const a = new Uint8Array(13).fill(9);
    const want = layer.matmulFloat(a, { scale: 0.1 });
    bytes.fill(0xff);
    expect(layer.matmulFloat(a, { scale: 0.1 })).toEqual(want);
    // a Buffer too (Buffer's slice is a view, not a copy)
    const buf = Buffer.from(good);
    const fromBuf = QuantizedLinear.deserialize(buf);
    buf.fill(0xff);
    expect(fromBuf.matmulFloat(a, { scale: 0.1 })).toEqual(want);
  });
});

describe('deserialize fuzz: 2,000 single-byte mutations and 200 truncations per layer', () => {
  test.each(Object.entries(layers()))('%s', (_name, layer) => {
    const good = layer.serialize();
    const r = rng(good.length * 7 + layer.n);
    const counts = { accepted: 0, refused: 0 };
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from(good);
      const at = Math.floor(r() * b.length);
      b[at] = (b[at] + 1 + Math.floor(r() * 255)) & 0xff; // always a different byte
      counts[outcome(b)]++;
    }
    for (let i = 0; i < 200; i++) {
      const len = Math.floor(r() * good.length);
      expect(outcome(good.slice(0, len))).toBe('refused');
    }
    // the weights' bytes are free to change; headers, scales and bias mostly are not
    expect(counts.accepted).toBeGreaterThan(100);
    expect(counts.refused).toBeGreaterThan(100);
  });
});

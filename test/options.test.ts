// The rules every op of the public API shares (issue 10, "The native boundary"): unknown option keys
// are refused naming the nearest valid key, enum errors show the value received, one `threads`
// rule, one zero-point error code, non-finite input refused, layers that cannot be changed from
// outside after construction, and one weight layout (PyTorch's [out][in]).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode, rng } from './helpers';

const { Conv2d, EmbeddingTable, Linear, QuantizedConv2d, QuantizedLinear, embeddingBag, embeddingBags } = lowbit;

const r = rng(1010);
const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
const ints8 = (n: number) => Int8Array.from({ length: n }, () => Math.floor(r() * 255) - 127);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));

// Small layers and inputs every op below runs on.
const [K, N, M] = [8, 4, 2];
const ql = QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, scale: 0.01, bias: floats(N) });
const a = bytes(M * K);
const xf = floats(M * K);
const geo = { inChannels: 4, outChannels: 4, kernelSize: 1 };
const qc = QuantizedConv2d.fromInt8(ints8(16), { ...geo, scale: 0.01 });
const cx = bytes(4 * 9);
const conv = new Conv2d(floats(16), geo);
const lin = new Linear(floats(K * N), { inFeatures: K, outFeatures: N });
const table = EmbeddingTable.fromFloat32(floats(10 * 4), { dim: 4, format: 'q8' });
const lookup = { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0) };

type Call = [owner: string, fn: (extra: Record<string, unknown>) => unknown, typo: string, nearest: string, name?: string];

// Every function or constructor of the public API that takes an options object, with a misspelling
// of one of its keys and the key it should name.
const calls: Call[] = [
  ['quantize', (e) => lowbit.quantize(xf, { scale: 0.1, zeroPoint: 0, ...e }), 'zeropoint', 'zeroPoint'],
  ['quantize', (e) => lowbit.quantizeAsync(xf, { scale: 0.1, zeroPoint: 0, ...e }), 'dtpye', 'dtype'],
  ['dequantize', (e) => lowbit.dequantize(a, { scale: 0.1, zeroPoint: 0, ...e }), 'scales', 'scale'],
  ['dequantize', (e) => lowbit.dequantizeAsync(a, { scale: 0.1, zeroPoint: 0, ...e }), 'outt', 'out'],
  ['chooseQuantParams', (e) => lowbit.chooseQuantParams(-1, 1, { ...e }), 'symetric', 'symmetric'],
  ['QuantizedLinear.fromInt8', (e) => QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, ...e }), 'zeroPoints', 'zeroPoint'],
  ['QuantizedLinear.fromFloat32', (e) => QuantizedLinear.fromFloat32(floats(K * N), { k: K, n: N, ...e }), 'perchannel', 'perChannel'],
  ['QuantizedLinear.explain', (e) => ql.explain({ m: 1, ...e }), 'thread', 'threads'],
  ['QuantizedLinear.matmulInt32', (e) => ql.matmulInt32(a, { ...e }), 'ldA', 'lda'],
  ['QuantizedLinear.matmulInt32', (e) => ql.matmulInt32Async(a, { ...e }), 'kernal', 'kernel'],
  ['QuantizedLinear.matmulFloat', (e) => ql.matmulFloat(a, { scale: 0.1, ...e }), 'Relu', 'relu'],
  ['QuantizedLinear.matmulFloat', (e) => ql.matmulFloatAsync(a, { scale: 0.1, ...e }), 'zero_point', 'zeroPoint'],
  ['QuantizedLinear.matmulQuantized', (e) => ql.matmulQuantized(a, { scale: 0.1, outScale: 1, ...e }), 'outZeropoint', 'outZeroPoint'],
  ['QuantizedLinear.matmulQuantized', (e) => ql.matmulQuantizedAsync(a, { scale: 0.1, outScale: 1, ...e }), 'qMax', 'qmax'],
  ['QuantizedLinear.forward', (e) => ql.forward(xf, { ...e }), 'perrow', 'perRow'],
  ['QuantizedLinear.forward', (e) => ql.forwardAsync(xf, { ...e }), 'reducerange', 'reduceRange'],
  ['QuantizedConv2d.fromInt8', (e) => QuantizedConv2d.fromInt8(ints8(16), { ...geo, ...e }), 'kernelsize', 'kernelSize'],
  ['QuantizedConv2d.fromFloat32', (e) => QuantizedConv2d.fromFloat32(floats(16), { ...geo, ...e }), 'perchannel', 'perChannel'],
  ['QuantizedConv2d.explain', (e) => qc.explain({ h: 3, w: 3, ...e }), 'narow', 'narrow'],
  ['QuantizedConv2d.outputShape', (e) => qc.outputShape({ h: 3, w: 3, ...e }), 'N', 'n'],
  ['QuantizedConv2d.forward', (e) => qc.forward(cx, { h: 3, w: 3, scale: 0.1, outScale: 1, ...e }), 'outscale', 'outScale'],
  ['QuantizedConv2d.forward', (e) => qc.forwardAsync(cx, { h: 3, w: 3, scale: 0.1, outScale: 1, ...e }), 'dtypes', 'dtype'],
  ['QuantizedConv2d.forwardFloat', (e) => qc.forwardFloat(cx, { h: 3, w: 3, scale: 0.1, ...e }), 'outScale', 'scale'],
  ['QuantizedConv2d.forwardInt32', (e) => qc.forwardInt32(cx, { h: 3, w: 3, ...e }), 'threds', 'threads'],
  ['Conv2d', (e) => new Conv2d(floats(16), { ...geo, ...e }), 'paddng', 'padding'],
  ['Conv2d.forward', (e) => conv.forward(floats(36), { h: 3, w: 3, ...e }), 'output', 'out'],
  ['Conv2d.forward', (e) => conv.forwardAsync(floats(36), { h: 3, w: 3, ...e }), 'thread', 'threads'],
  ['Conv2d.explain', (e) => conv.explain({ h: 3, w: 3, ...e }), 'H', 'h'],
  ['Conv2d.outputShape', (e) => conv.outputShape({ h: 3, w: 3, ...e }), 'batch', 'h'],
  ['pruneWeights', (e) => lowbit.pruneWeights(floats(16), { sparsity: 0.5, rows: 4, ...e }), 'blocks', 'block'],
  ['Linear', (e) => new Linear(floats(K * N), { inFeatures: K, outFeatures: N, ...e }), 'infeatures', 'inFeatures'],
  ['Linear.forward', (e) => lin.forward(xf, { ...e }), 'batches', 'batch'],
  ['Linear.forward', (e) => lin.forwardAsync(xf, { ...e }), 'out_', 'out'],
  ['Linear.explain', (e) => lin.explain({ batch: 1, ...e }), 'bach', 'batch'],
  ['EmbeddingTable.fromBuffer', (e) => EmbeddingTable.fromBuffer(new Uint8Array(24), { dim: 4, format: 'q4', ...e }), 'hugepages', 'hugePages'],
  ['EmbeddingTable.fromFloat32', (e) => EmbeddingTable.fromFloat32(floats(8), { dim: 4, format: 'q8', ...e }), 'Shared', 'shared'],
  ['EmbeddingTable.allocate', (e) => EmbeddingTable.allocate(2, { dim: 4, format: 'q8', ...e }), 'dims', 'dim'],
  ['embeddingBag', (e) => embeddingBag(table, { ...lookup, ...e }), 'offset', 'offsets'],
  ['embeddingBag', (e) => lowbit.embeddingBagAsync(table, { ...lookup, ...e }), 'perSampleWeight', 'perSampleWeights'],
  ['embeddingBags', (e) => embeddingBags([{ table, ...lookup }], { ...e }), 'outputtype', 'outputType'],
  ['embeddingBags', (e) => embeddingBags([{ table, ...lookup, ...e }]), 'length', 'lengths', 'lookups[0]'],
  ['embeddingBags', (e) => lowbit.embeddingBagsAsync([{ table, ...lookup }, { table, ...lookup, ...e }]), 'includeLastOffsets', 'includeLastOffset', 'lookups[1]'],
];

// A Promise form validates before it returns a Promise, or rejects: either way the same error.
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('unknown option keys are refused, naming the nearest valid key', () => {
  test.each(calls.map((c) => [c[0], c[2], c]))('%s: %s', async (_owner, _typo, c) => {
    const [owner, fn, typo, near, name = 'options'] = c as Call;
    await expect(thrown(() => fn({}))).resolves.toBeUndefined(); // the call itself is valid
    const e = (await thrown(() => fn({ [typo]: 1 }))) as Error & { code?: string };
    expect(e?.constructor?.name).toBe('TypeError');
    expect(e.code).toBe('ERR_LOWBIT_UNKNOWN_OPTION');
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(e.message).toMatch(new RegExp(`^${escape(`${name}.${typo} is not an option of ${owner}; did you mean ${near}?`)}`));
  });

  test('the example of the issue, word for word; a key set to undefined counts too', () => {
    expectCode(
      () => QuantizedLinear.fromFloat32(floats(K * N), { k: K, n: N, perchannel: false } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION',
      /^options\.perchannel is not an option of QuantizedLinear\.fromFloat32; did you mean perChannel\? \(options: k, n, layout, bias, perChannel, mode, residual, bits, groupSize, outliers, outlierThreshold\)$/,
    );
    expectCode(() => ql.forward(xf, { thread: undefined } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION', /options\.thread .* did you mean threads\?/);
  });

  test('keys inherited from a prototype are not options; an array or typed array is not an options object', () => {
    const proto = { perchannel: false };
    const o = Object.assign(Object.create(proto) as object, { k: K, n: N }) as lowbit.FromFloat32Options;
    expect(QuantizedLinear.fromFloat32(floats(K * N), o).n).toBe(N);
    expectCode(() => ql.forward(xf, [] as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options must be an object, got Array\(0\)/);
    expectCode(() => ql.forward(xf, new Float32Array(2) as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options must be an object, got Float32Array\(2\)/);
  });

  test("what chooseQuantParams returns is accepted by quantize and dequantize; embeddingBag takes a lookup of embeddingBags as is", () => {
    const p = lowbit.chooseQuantParams(-1, 1, { signed: true });
    const q = lowbit.quantize(xf, p);
    expect(lowbit.dequantize(q, p).length).toBe(xf.length);
    expectCode(() => lowbit.dequantize(new Uint8Array(4), p), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /q is a Uint8Array but options.dtype is 'int8'/);
    const l = { table, ...lookup };
    expect(embeddingBag(table, l)).toEqual(embeddingBags([l]));
    const other = EmbeddingTable.fromFloat32(floats(10 * 4), { dim: 4, format: 'q8' });
    expectCode(() => embeddingBag(other, l), TypeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.table must be absent or the table argument/);
  });
});

describe('enum errors show the value received', () => {
  test.each<[string, () => unknown, RegExp]>([
    ['format', () => EmbeddingTable.fromFloat32(floats(8), { dim: 4, format: 'q3' as never }), /options\.format must be 'f32', 'f16', 'q8', 'q4' or 'q2', got 'q3'/],
    ['format (not a string)', () => EmbeddingTable.fromBuffer(new Uint8Array(8), { dim: 2, format: 8 as never }), /options\.format must be .*, got number 8/],
    ['mode', () => QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, mode: 'spares' as never }), /options\.mode must be 'auto', 'sparse' or 'dense', got 'spares' \(did you mean 'sparse'\?\)/],
    ['conv mode', () => new Conv2d(floats(16), { ...geo, mode: 'fast' as never }), /options\.mode must be 'auto', 'sparse', 'dense' or 'winograd', got 'fast'/],
    ['qconv mode', () => QuantizedConv2d.fromFloat32(floats(16), { ...geo, mode: null as never }), /options\.mode must be .*, got null/],
    ['linear mode', () => new Linear(floats(K * N), { inFeatures: K, outFeatures: N, mode: 'Dense' as never }), /got 'Dense' \(did you mean 'dense'\?\)/],
    ['layout', () => QuantizedLinear.fromFloat32(floats(K * N), { k: K, n: N, layout: 'NK' as never }), /options\.layout must be 'nk' or 'kn', got 'NK'/],
    ['kernel', () => ql.matmulInt32(a, { kernel: 'fast' as never }), /options\.kernel must be 'auto' or 'exact', got 'fast'/],
    ['qconv kernel', () => qc.forwardInt32(cx, { h: 3, w: 3, kernel: 1 as never }), /options\.kernel must be 'auto' or 'exact', got number 1/],
    ['dtype', () => ql.matmulQuantized(a, { scale: 1, outScale: 1, dtype: 'uint16' as never }), /options\.dtype must be 'uint8' or 'int8', got 'uint16'/],
    ['quantize dtype', () => lowbit.quantize(xf, { scale: 1, zeroPoint: 0, dtype: 'u8' as never }), /options\.dtype must be 'uint8' or 'int8', got 'u8'/],
    ['output type', () => embeddingBag(table, { ...lookup, outputType: 'half' as never }), /options\.outputType must be 'float32' or 'float16', got 'half'/],
    ['pooling', () => embeddingBags([{ table, ...lookup, mode: 'max' as never }]), /lookups\[0\]\.mode must be 'sum' or 'mean', got 'max'/],
  ])('%s', (_name, fn, message) => {
    expectCode(fn, RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', message);
  });
});

describe('rowBytes and embeddingBags refuse bad arguments with coded errors', () => {
  test('rowBytes', () => {
    expect(lowbit.rowBytes('q4', 64)).toBe(36);
    expectCode(() => lowbit.rowBytes('q3' as never, 64), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /format must be .*, got 'q3'/);
    expectCode(() => lowbit.rowBytes(64 as never, 'q8' as never), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /format must be .*, got number 64/);
    expectCode(() => lowbit.rowBytes('q8', 0), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /dim must be an integer in \[1, 16777216\], got 0/);
    expectCode(() => lowbit.rowBytes('q8', '64' as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /dim must be a number, got string '64'/);
  });

  test.each<[string, unknown]>([['null', null], ['undefined', undefined], ['a number', 5], ['a string', 'table'], ['an array', []]])('embeddingBags([%s])', (_name, bad) => {
    expectCode(() => embeddingBags([bad] as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /^lookups\[0\] must be an object/);
    expectCode(() => embeddingBags([{ table, ...lookup }, bad] as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /^lookups\[1\] must be an object/);
  });
});

describe('one threads rule, one zero-point code', () => {
  const ops: [string, (threads: unknown) => unknown][] = [
    ['QuantizedLinear.explain', (t) => ql.explain({ m: 1, threads: t as number })],
    ['QuantizedLinear.matmulInt32', (t) => ql.matmulInt32(a, { threads: t as number })],
    ['QuantizedLinear.matmulFloat', (t) => ql.matmulFloat(a, { scale: 1, threads: t as number })],
    ['QuantizedLinear.matmulQuantized', (t) => ql.matmulQuantized(a, { scale: 1, outScale: 1, threads: t as number })],
    ['QuantizedLinear.forward', (t) => ql.forward(xf, { threads: t as number })],
    ['QuantizedConv2d.explain', (t) => qc.explain({ h: 3, w: 3, threads: t as number })],
    ['QuantizedConv2d.forward', (t) => qc.forward(cx, { h: 3, w: 3, scale: 1, outScale: 1, threads: t as number })],
    ['QuantizedConv2d.forwardFloat', (t) => qc.forwardFloat(cx, { h: 3, w: 3, scale: 1, threads: t as number })],
    ['QuantizedConv2d.forwardInt32', (t) => qc.forwardInt32(cx, { h: 3, w: 3, threads: t as number })],
    ['Conv2d.forward', (t) => conv.forward(floats(36), { h: 3, w: 3, threads: t as number })],
    ['Linear.forward', (t) => lin.forward(xf, { threads: t as number })],
    ['embeddingBag', (t) => embeddingBag(table, { ...lookup, threads: t as number })],
    ['embeddingBags', (t) => embeddingBags([{ table, ...lookup }], { threads: t as number })],
  ];
  test.each(ops)('%s: integer in [1, 256], default 1', (_name, fn) => {
    fn(undefined);
    fn(1);
    fn(2);
    for (const bad of [0, 257, 1.5, -1, NaN]) expectCode(() => fn(bad), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', new RegExp(`^options\\.threads must be an integer in \\[1, 256\\], got ${bad}$`));
    expectCode(() => fn('2'), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /^options\.threads must be a number, got string '2'$/);
  });

  test('every zero point out of range is ERR_LOWBIT_INVALID_ZERO_POINT, naming the range and the value', () => {
    const code = 'ERR_LOWBIT_INVALID_ZERO_POINT';
    expectCode(() => QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, zeroPoint: 128 }), RangeError, code, /options\.zeroPoint must be an integer in \[-128, 127\] for int8 weights, got 128/);
    expectCode(() => QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, zeroPoint: Int32Array.of(0, 0, -129, 0) }), RangeError, code, /options\.zeroPoint\[2\] .* got -129/);
    expectCode(() => QuantizedConv2d.fromInt8(ints8(16), { ...geo, zeroPoint: 1.5 }), RangeError, code, /got 1\.5/);
    expectCode(() => ql.matmulInt32(a, { zeroPoint: -1 }), RangeError, code, /\[0, 255\] for an Uint8Array a, got -1/);
    expectCode(() => ql.matmulQuantized(a, { scale: 1, outScale: 1, outZeroPoint: 256 }), RangeError, code, /options\.outZeroPoint must be an integer in \[0, 255\] for uint8 output, got 256/);
    expectCode(() => ql.matmulQuantized(a, { scale: 1, outScale: 1, dtype: 'int8', outZeroPoint: 128 }), RangeError, code, /\[-128, 127\] for int8 output/);
    expectCode(() => qc.forward(cx, { h: 3, w: 3, scale: 1, outScale: 1, outZeroPoint: -1 }), RangeError, code, /options\.outZeroPoint/);
    expectCode(() => qc.forwardInt32(cx, { h: 3, w: 3, zeroPoint: 300 }), RangeError, code, /for an Uint8Array x, got 300/);
    expectCode(() => lowbit.quantize(xf, { scale: 1, zeroPoint: 300 }), RangeError, code, /\[0, 255\] for uint8, got 300/);
    expectCode(() => lowbit.dequantize(new Int8Array(2), { scale: 1, zeroPoint: 128 }), RangeError, code, /\[-128, 127\] for a Int8Array, got 128/);
    expectCode(() => ql.matmulInt32(a, { zeroPoint: '1' as never }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options\.zeroPoint must be a number/);
  });

  test('QuantizedConv2d.forward takes the same output clamp as matmulQuantized (qmin, qmax)', () => {
    const o = { h: 3, w: 3, scale: 0.05, zeroPoint: 100, outScale: 0.01, outZeroPoint: 128 };
    const full = qc.forward(cx, o);
    const clamped = qc.forward(cx, { ...o, qmin: 100, qmax: 150 });
    expect(Array.from(clamped)).toEqual(Array.from(full, (v) => Math.min(150, Math.max(100, v))));
    expectCode(() => qc.forward(cx, { ...o, qmin: 200, qmax: 100 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.qmax must be an integer in \[200, 255\], got 100/);
  });
});

describe('non-finite values are refused', () => {
  test.each([NaN, Infinity, -Infinity])('forward and forwardAsync refuse %s in x, naming the row, and write nothing', async (bad) => {
    const x = floats(3 * K);
    x[K + 5] = bad;
    const out = new Float32Array(3 * N).fill(7);
    const what = Number.isNaN(bad) ? 'NaN' : 'Infinity';
    expectCode(() => ql.forward(x, { out }), RangeError, 'ERR_LOWBIT_NOT_FINITE', new RegExp(`row 1 contains ${what}`));
    expectCode(() => ql.forward(x, { out, perRow: true, threads: 2 }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /row 1/);
    await expect(ql.forwardAsync(x, { out })).rejects.toMatchObject({ code: 'ERR_LOWBIT_NOT_FINITE' });
    expect(out.every((v) => v === 7)).toBe(true);
    // a NaN in the padding between rows (ldx > k) is not part of x's rows
    const padded = new Float32Array(2 * (K + 1));
    padded[K] = NaN;
    expect(ql.forward(padded, { m: 2, ldx: K + 1 }).every(Number.isFinite)).toBe(true);
  });

  test.each([NaN, Infinity])('Conv2d and Linear refuse a bias holding %s, as the quantized layers do', (bad) => {
    const bias = Float32Array.of(0, 1, bad, 2);
    expectCode(() => new Conv2d(floats(16), { ...geo, bias }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /options\.bias\[2\] must be finite/);
    expectCode(() => new Linear(floats(K * N), { inFeatures: K, outFeatures: N, bias }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /options\.bias\[2\]/);
    expectCode(() => QuantizedConv2d.fromFloat32(floats(16), { ...geo, bias }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /options\.bias\[2\]/);
    expectCode(() => QuantizedLinear.fromFloat32(floats(K * N), { k: K, n: N, bias }), RangeError, 'ERR_LOWBIT_NOT_FINITE', /options\.bias\[2\]/);
    expectCode(() => new Conv2d(floats(16), { ...geo, bias: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options\.bias\.length must be outChannels \(4\), got 3/);
  });
});

describe('a layer cannot be changed from outside after construction', () => {
  test('QuantizedLinear: weightScales, weightZeroPoints and bias are copies; the arrays passed in are copied too', () => {
    const scale = Float32Array.of(0.01, 0.02, 0.03, 0.04);
    const zeroPoint = Int32Array.of(1, -2, 3, 0);
    const bias = floats(N);
    const layer = QuantizedLinear.fromInt8(ints8(K * N), { k: K, n: N, scale, zeroPoint, bias });
    const want = { i: layer.matmulInt32(a), f: layer.matmulFloat(a, { scale: 0.1 }), q: layer.matmulQuantized(a, { scale: 0.1, outScale: 0.05 }) };
    scale.fill(5);
    zeroPoint.fill(9);
    bias.fill(100);
    layer.weightScales.fill(7);
    layer.weightZeroPoints.fill(7);
    (layer.bias as Float32Array).fill(7);
    expect(() => {
      (layer as { weightScales: Float32Array }).weightScales = new Float32Array(4);
    }).toThrow(TypeError);
    expect(Array.from(layer.weightScales)).toEqual(Array.from(Float32Array.of(0.01, 0.02, 0.03, 0.04)));
    expect(Array.from(layer.weightZeroPoints)).toEqual([1, -2, 3, 0]);
    expect({ i: layer.matmulInt32(a), f: layer.matmulFloat(a, { scale: 0.1 }), q: layer.matmulQuantized(a, { scale: 0.1, outScale: 0.05 }) }).toEqual(want);
    const fl = QuantizedLinear.fromFloat32(floats(K * N), { k: K, n: N, bias: floats(N) });
    const y = fl.forward(xf);
    fl.weightScales.fill(1000);
    (fl.bias as Float32Array).fill(1000);
    expect(fl.forward(xf)).toEqual(y);
    expect(QuantizedLinear.deserialize(fl.serialize()).forward(xf)).toEqual(y);
  });

  test('QuantizedConv2d: the same, and the geometry arrays are frozen', () => {
    const bias = Int32Array.of(10, -20, 30, 0);
    const layer = QuantizedConv2d.fromInt8(ints8(16), { ...geo, scale: Float32Array.of(0.1, 0.2, 0.3, 0.4), bias });
    const o = { h: 3, w: 3, scale: 0.1, outScale: 0.2 };
    const want = [layer.forward(cx, o), layer.forwardFloat(cx, { h: 3, w: 3, scale: 0.1 })];
    bias.fill(1 << 20);
    layer.weightScales.fill(9);
    (layer.bias as Int32Array).fill(9);
    expect([layer.forward(cx, o), layer.forwardFloat(cx, { h: 3, w: 3, scale: 0.1 })]).toEqual(want);
    expect(Object.isFrozen(layer.kernelSize) && Object.isFrozen(layer.stride) && Object.isFrozen(layer.padding) && Object.isFrozen(layer.dilation)).toBe(true);
    expect(Object.isFrozen(layer)).toBe(true);
  });

  test("Conv2d and Linear: writing the caller's bias array afterwards changes nothing", () => {
    const bias = floats(4);
    const c = new Conv2d(floats(16), { ...geo, bias });
    const l = new Linear(floats(K * N), { inFeatures: K, outFeatures: N, bias: Float32Array.from(bias) });
    const x = floats(36);
    const want = [c.forward(x, { h: 3, w: 3 }), l.forward(xf)];
    bias.fill(1000);
    expect([c.forward(x, { h: 3, w: 3 }), l.forward(xf)]).toEqual(want);
  });

  test("EmbeddingTable: remap is copied at construction and exposed as a copy", () => {
    const remap = Int32Array.of(3, -1, 0, 1);
    const t = EmbeddingTable.fromFloat32(floats(4 * 4), { dim: 4, format: 'f32', remap });
    const want = embeddingBag(t, { indices: Int32Array.of(0, 2), offsets: Int32Array.of(0, 1) });
    remap.fill(2);
    (t.remap as Int32Array).fill(2);
    expect(Array.from(t.remap as Int32Array)).toEqual([3, -1, 0, 1]);
    expect(embeddingBag(t, { indices: Int32Array.of(0, 2), offsets: Int32Array.of(0, 1) })).toEqual(want);
  });
});

describe("one weight layout: PyTorch's [out][in] everywhere", () => {
  test('the same N×K fp32 weights give the same layer through QuantizedLinear, Linear and Conv2d', () => {
    const [k, n, m] = [24, 10, 3];
    const w = floats(n * k, 0.5); // torch.nn.Linear(k, n).weight: n rows of k
    const bias = floats(n);
    const x = floats(m * k);
    const want = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = bias[j];
      for (let p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
      want[i * n + j] = s;
    }
    const close = (y: Float32Array, tol: number) => y.every((v, i) => Math.abs(v - want[i]) <= tol);
    expect(close(new Linear(w, { inFeatures: k, outFeatures: n, bias }).forward(x), 1e-4)).toBe(true);
    const q = QuantizedLinear.fromFloat32(w, { k, n, bias });
    expect(close(q.forward(x, { reduceRange: false }), 0.1)).toBe(true);
    expect(q.forward(x)).toEqual(QuantizedLinear.fromFloat32(w, { k, n, bias, layout: 'nk' }).forward(x));
    const wkn = new Float32Array(k * n);
    for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) wkn[p * n + j] = w[j * k + p];
    expect(QuantizedLinear.fromFloat32(wkn, { k, n, bias, layout: 'kn' }).forward(x)).toEqual(q.forward(x));
    // int8 weights in the same layout: [out][in]
    const w8 = ints8(n * k);
    const qi = QuantizedLinear.fromInt8(w8, { k, n });
    const a8 = bytes(k);
    const c = qi.matmulInt32(a8);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a8[p] * w8[j * k + p];
      expect(c[j]).toBe(s);
    }
  });
});

describe('EmbeddingTable.open checks its option keys', () => {
  test('a misspelled key is refused before the file is mapped', () => {
    const file = path.join(os.tmpdir(), `lowbit-options-${process.pid}.bin`);
    fs.writeFileSync(file, new Uint8Array(24));
    try {
      expect(EmbeddingTable.open(file, { dim: 4, format: 'q4', offset: 0 }).rows).toBe(4);
      expectCode(() => EmbeddingTable.open(file, { dim: 4, format: 'q4', ofset: 0 } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION', /options\.ofset .* did you mean offset\?/);
    } finally {
      fs.unlinkSync(file);
    }
  });
});

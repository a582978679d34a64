// Per-op tests: one-node (or few-node) models built here, run by loadOnnx, against values computed
// in the test from the ONNX operator definitions.
import { loadOnnx, type OnnxTensor } from '../lib';
import { rng } from './helpers';
import { init, maxRelDiff, model, node, value } from './onnx-helpers';

const r = rng(5);
const randn = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
const f32 = (dims: number[], data: Float32Array): OnnxTensor => ({ type: 'float32', dims, data });

function run1(op: string, ins: { name: string; t: OnnxTensor }[], inits: ReturnType<typeof init>[], attrs: Parameters<typeof node>[3] = {}, outType: 'float32' | 'uint8' | 'int32' | 'int8' = 'float32', domain = '') {
  const bytes = model({
    nodes: [node(op, [...ins.map((i) => i.name), ...inits.map((i) => i.name!)], ['y'], attrs, domain)],
    inits,
    inputs: ins.map((i) => value(i.name, i.t.type as 'float32', i.t.dims as number[])),
    outputs: [value('y', outType, [])],
    ms: domain === 'com.microsoft',
  });
  const out = loadOnnx(bytes).run(Object.fromEntries(ins.map((i) => [i.name, i.t]))).y;
  const plain = loadOnnx(bytes, { optimize: false }).run(Object.fromEntries(ins.map((i) => [i.name, i.t]))).y;
  expect(Array.from(plain.data as Float32Array)).toEqual(Array.from(out.data as Float32Array));
  return out;
}

// reference convolution (NCHW, OIHW, symmetric pads)
function refConv(x: Float32Array, [n, c, h, w]: number[], wt: Float32Array, [co, cig, kh, kw]: number[], b: Float32Array | null, s: number, p: number, groups: number) {
  const oh = Math.floor((h + 2 * p - kh) / s) + 1;
  const ow = Math.floor((w + 2 * p - kw) / s) + 1;
  const out = new Float64Array(n * co * oh * ow);
  const cog = co / groups;
  for (let b0 = 0; b0 < n; b0++) for (let o = 0; o < co; o++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
    let acc = b ? b[o] : 0;
    const g = Math.floor(o / cog);
    for (let ci = 0; ci < cig; ci++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const iy = y * s - p + i;
      const ix = xx * s - p + j;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      acc += x[((b0 * c + g * cig + ci) * h + iy) * w + ix] * wt[((o * cig + ci) * kh + i) * kw + j];
    }
    out[((b0 * co + o) * oh + y) * ow + xx] = acc;
  }
  return { out, dims: [n, co, oh, ow] };
}

describe('fp32 ops', () => {
  test('Conv (stride, pads, groups, bias) and Conv+Relu / Conv+Clip fused', () => {
    for (const [c, co, k, s, p, g] of [[3, 8, 3, 1, 1, 1], [4, 6, 1, 2, 0, 2], [8, 8, 3, 2, 1, 8], [2, 4, 7, 2, 3, 1]]) {
      const xd = [2, c, 9, 9];
      const x = randn(2 * c * 81);
      const wd = [co, c / g, k, k];
      const w = randn(co * (c / g) * k * k);
      const b = randn(co);
      const attrs = { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], group: g };
      const y = run1('Conv', [{ name: 'x', t: f32(xd, x) }], [init('w', 'float32', wd, w), init('b', 'float32', [co], b)], attrs);
      const ref = refConv(x, xd, w, wd, b, s, p, g);
      expect(y.dims).toEqual(ref.dims);
      expect(maxRelDiff(y.data as Float32Array, Float32Array.from(ref.out))).toBeLessThan(1e-4);
      // Relu6 as Clip(0, 6) after the conv: fused
      const bytes = model({
        nodes: [node('Conv', ['x', 'w', 'b'], ['c'], attrs), node('Clip', ['c', 'lo', 'hi'], ['y'])],
        inits: [init('w', 'float32', wd, w.map((v) => v * 20)), init('b', 'float32', [co], b), init('lo', 'float32', [], [0]), init('hi', 'float32', [], [6])],
        inputs: [value('x', 'float32', xd)], outputs: [value('y', 'float32', [])],
      });
      const sess = loadOnnx(bytes);
      expect(sess.plan).toEqual(['Conv']);
      const z = sess.run({ x: f32(xd, x) }).y.data as Float32Array;
      const ref6 = refConv(x, xd, w.map((v) => v * 20), wd, b, s, p, g).out.map((v) => Math.min(6, Math.max(0, v)));
      expect(maxRelDiff(z, Float32Array.from(ref6), 0.05)).toBeLessThan(1e-4); // outputs up to ~50: an absolute floor for the near-zero ones
    }
  });

  test('Gemm (transB, alpha, beta) and MatMul with constant and with runtime B', () => {
    const [m, k, n] = [3, 5, 4];
    const a = randn(m * k);
    const b = randn(k * n);
    const c = randn(n);
    const ref = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      ref[i * n + j] = s;
    }
    const bT = new Float32Array(n * k);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bT[j * k + p] = b[p * n + j];
    const g1 = run1('Gemm', [{ name: 'a', t: f32([m, k], a) }], [init('b', 'float32', [n, k], bT), init('c', 'float32', [n], c)], { transB: 1, alpha: { float: 2 }, beta: { float: 0.5 } });
    expect(maxRelDiff(g1.data as Float32Array, ref.map((v, i) => 2 * v + 0.5 * c[i % n]))).toBeLessThan(1e-5);
    const mm = run1('MatMul', [{ name: 'a', t: f32([m, k], a) }], [init('b', 'float32', [k, n], b)]);
    expect(maxRelDiff(mm.data as Float32Array, ref)).toBeLessThan(1e-5);
    const rt = run1('MatMul', [{ name: 'a', t: f32([1, m, k], a) }, { name: 'b', t: f32([1, k, n], b) }], []);
    expect(rt.dims).toEqual([1, m, n]);
    expect(maxRelDiff(rt.data as Float32Array, ref)).toBeLessThan(1e-5);
  });

  test('pools, Softmax, Sigmoid, Transpose, Concat, Reshape, Flatten, Gather, ReduceSum', () => {
    const x = randn(2 * 3 * 4 * 4);
    const xd = [2, 3, 4, 4];
    const mp = run1('MaxPool', [{ name: 'x', t: f32(xd, x) }], [], { kernel_shape: [2, 2], strides: [2, 2] });
    expect(mp.dims).toEqual([2, 3, 2, 2]);
    expect((mp.data as Float32Array)[0]).toBe(Math.max(x[0], x[1], x[4], x[5]));
    const ap = run1('AveragePool', [{ name: 'x', t: f32(xd, x) }], [], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] });
    expect((ap.data as Float32Array)[0]).toBeCloseTo((x[0] + x[1] + x[4] + x[5]) / 4, 6);
    const gp = run1('GlobalAveragePool', [{ name: 'x', t: f32(xd, x) }], []);
    expect(gp.dims).toEqual([2, 3, 1, 1]);
    expect((gp.data as Float32Array)[1]).toBeCloseTo(x.slice(16, 32).reduce((p, v) => p + v, 0) / 16, 6);
    const sm = run1('Softmax', [{ name: 'x', t: f32([4, 24], x.slice(0, 96)) }], [], { axis: 1 });
    expect((sm.data as Float32Array).slice(0, 24).reduce((p, v) => p + v, 0)).toBeCloseTo(1, 5);
    const sg = run1('Sigmoid', [{ name: 'x', t: f32([96], x) }], []);
    expect((sg.data as Float32Array)[3]).toBeCloseTo(1 / (1 + Math.exp(-x[3])), 6);
    const tr = run1('Transpose', [{ name: 'x', t: f32(xd, x) }], [], { perm: [0, 2, 3, 1] });
    expect(tr.dims).toEqual([2, 4, 4, 3]);
    expect((tr.data as Float32Array)[1]).toBe(x[16]);
    const cc = run1('Concat', [{ name: 'a', t: f32([2, 2], Float32Array.of(1, 2, 3, 4)) }, { name: 'b', t: f32([2, 1], Float32Array.of(5, 6)) }], [], { axis: 1 });
    expect(Array.from(cc.data as Float32Array)).toEqual([1, 2, 5, 3, 4, 6]);
    const rs = run1('Reshape', [{ name: 'x', t: f32(xd, x) }], [init('s', 'int64', [2], [0, -1])]);
    expect(rs.dims).toEqual([2, 48]);
    const fl = run1('Flatten', [{ name: 'x', t: f32(xd, x) }], [], { axis: 2 });
    expect(fl.dims).toEqual([6, 16]);
    const ga = run1('Gather', [{ name: 'x', t: f32([4, 3], x.slice(0, 12)) }], [init('i', 'int64', [2], [3, -4])], { axis: 0 });
    expect(Array.from(ga.data as Float32Array)).toEqual([...x.slice(9, 12), ...x.slice(0, 3)]);
    const rsum = run1('ReduceSum', [{ name: 'x', t: f32([2, 3, 2], x.slice(0, 12)) }], [init('ax', 'int64', [1], [1])], { keepdims: 0 });
    expect(rsum.dims).toEqual([2, 2]);
    expect((rsum.data as Float32Array)[0]).toBeCloseTo(x[0] + x[2] + x[4], 6);
  });

  test('BatchNormalization alone and folded into a Conv give the same result', () => {
    const xd = [1, 2, 5, 5];
    const x = randn(50);
    const w = randn(3 * 2 * 9);
    const bn = [init('g', 'float32', [3], [1.5, 0.5, 1]), init('be', 'float32', [3], [0.1, -0.2, 0]), init('mu', 'float32', [3], [0.3, 0, -0.1]), init('var', 'float32', [3], [2, 0.5, 1])];
    const bytes = model({
      nodes: [node('Conv', ['x', 'w'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }), node('BatchNormalization', ['c', 'g', 'be', 'mu', 'var'], ['y'], { epsilon: { float: 1e-5 } })],
      inits: [init('w', 'float32', [3, 2, 3, 3], w), ...bn], inputs: [value('x', 'float32', xd)], outputs: [value('y', 'float32', [])],
    });
    const folded = loadOnnx(bytes);
    expect(folded.plan).toEqual(['Conv']);
    const plain = loadOnnx(bytes, { optimize: false });
    expect(plain.plan).toEqual(['Conv', 'BatchNormalization']);
    expect(maxRelDiff(folded.run({ x: f32(xd, x) }).y.data as Float32Array, plain.run({ x: f32(xd, x) }).y.data as Float32Array)).toBeLessThan(1e-5);
  });
});

describe('quantized ops', () => {
  const u8 = (dims: number[], n: number) => ({ type: 'uint8', dims, data: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)) } as OnnxTensor);
  const s8 = (n: number) => Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128);

  test('QuantizeLinear / DequantizeLinear round half to even and saturate', () => {
    const x = Float32Array.of(-1000, -0.25, 0.25, 0.75, 1.25, 2.5, 1000);
    const q = run1('QuantizeLinear', [{ name: 'x', t: f32([7], x) }], [init('s', 'float32', [], [0.5]), init('z', 'uint8', [], [10])], {}, 'uint8');
    expect(Array.from(q.data as Uint8Array)).toEqual([0, 10, 10, 12, 12, 15, 255]);
    const d = run1('DequantizeLinear', [{ name: 'q', t: q }], [init('s', 'float32', [], [0.5]), init('z', 'uint8', [], [10])]);
    expect(Array.from(d.data as Float32Array)).toEqual([-5, 0, 0, 1, 1, 2.5, 122.5]);
  });

  test('DynamicQuantizeLinear follows the ONNX formula', () => {
    const x = Float32Array.of(0, 2, -3, -2.5, 1.34, 0.5);
    const bytes = model({ nodes: [node('DynamicQuantizeLinear', ['x'], ['y', 's', 'z'])], inputs: [value('x', 'float32', [6])], outputs: [value('y', 'uint8', [6]), value('s', 'float32', []), value('z', 'uint8', [])] });
    const out = loadOnnx(bytes).run({ x: f32([6], x) });
    // the ONNX spec's example
    expect(Array.from(out.y.data as Uint8Array)).toEqual([153, 255, 0, 26, 221, 179]);
    expect((out.s.data as Float32Array)[0]).toBeCloseTo(0.0196078438, 9);
    expect((out.z.data as Uint8Array)[0]).toBe(153);
  });

  test('MatMulInteger and ConvInteger are exact (full-range int8 weights)', () => {
    const [m, k, n] = [3, 37, 5];
    const a = u8([m, k], m * k);
    const w = s8(k * n);
    const mm = run1('MatMulInteger', [{ name: 'a', t: a }], [init('w', 'int8', [k, n], w), init('az', 'uint8', [], [131])], {}, 'int32');
    const want = new Int32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) want[i * n + j] += ((a.data as Uint8Array)[i * k + p] - 131) * w[p * n + j];
    expect(Array.from(mm.data as Int32Array)).toEqual(Array.from(want));
    const x = u8([1, 3, 6, 6], 108);
    const cw = s8(4 * 3 * 9);
    const ci = run1('ConvInteger', [{ name: 'x', t: x }], [init('w', 'int8', [4, 3, 3, 3], cw), init('xz', 'uint8', [], [7])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'int32');
    // padding is the zero point: (x - zp) is 0 there, as the float reference with x - zp
    const ref = refConv(Float32Array.from(x.data as Uint8Array, (v) => v - 7), [1, 3, 6, 6], Float32Array.from(cw), [4, 3, 3, 3], null, 1, 1, 1);
    expect(Array.from(ci.data as Int32Array)).toEqual(Array.from(ref.out));
  });

  test('QLinearConv, QLinearMatMul, QGemm, QLinearAdd requantize as the formula says', () => {
    const x = u8([1, 2, 5, 5], 50);
    const w = s8(3 * 2 * 9).map((v) => v >> 1);
    const bias = Int32Array.of(100, -200, 0);
    const [xs, xz, ws, ys, yz] = [0.02, 120, 0.01, 0.05, 10];
    const q = run1('QLinearConv', [{ name: 'x', t: x }], [
      init('xs', 'float32', [], [xs]), init('xz', 'uint8', [], [xz]), init('w', 'int8', [3, 2, 3, 3], w), init('ws', 'float32', [], [ws]), init('wz', 'int8', [], [0]),
      init('ys', 'float32', [], [ys]), init('yz', 'uint8', [], [yz]), init('b', 'int32', [3], bias),
    ], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'uint8');
    const acc = refConv(Float32Array.from(x.data as Uint8Array, (v) => v - xz), [1, 2, 5, 5], Float32Array.from(w), [3, 2, 3, 3], Float32Array.from(bias), 1, 1, 1).out;
    const mult = Math.fround(Math.fround(xs * ws) / ys);
    const want = Array.from(acc, (v) => Math.min(255, Math.max(0, roundEven(Math.fround(v * mult)) + yz)));
    const got = Array.from(q.data as Uint8Array);
    expect(got.filter((v, i) => v !== want[i]).length).toBe(0);
    // depthwise (groups = channels) with per-channel scales and a weight zero point: small planes
    // take the fp32 depthwise kernel (exact on integer operands), larger ones the int8 grouped path
    for (const hw of [5, 20]) {
      const xd = u8([1, 3, hw, hw], 3 * hw * hw);
      const wd = s8(27).map((v) => v >> 1);
      const ws = [0.01, 0.02, 0.015];
      const dwq = run1('QLinearConv', [{ name: 'x', t: xd }], [
        init('xs', 'float32', [], [xs]), init('xz', 'uint8', [], [xz]), init('w', 'int8', [3, 1, 3, 3], wd), init('ws', 'float32', [3], ws), init('wz', 'int8', [], [3]),
        init('ys', 'float32', [], [ys]), init('yz', 'uint8', [], [yz]), init('b', 'int32', [3], [50, -70, 9]),
      ], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 3 }, 'uint8');
      const accD = refConv(Float32Array.from(xd.data as Uint8Array, (v) => v - xz), [1, 3, hw, hw], Float32Array.from(wd, (v) => v - 3), [3, 1, 3, 3], Float32Array.of(50, -70, 9), 1, 1, 3).out;
      const plane = hw * hw;
      const wantD = Array.from(accD, (v, i) => Math.min(255, Math.max(0, roundEven(Math.fround(v * Math.fround(Math.fround(xs * Math.fround(ws[Math.floor(i / plane)])) / ys))) + yz)));
      expect(Array.from(dwq.data as Uint8Array)).toEqual(wantD);
    }
    // QLinearMatMul
    const [m, k, n] = [2, 8, 3];
    const a = u8([m, k], m * k);
    const b = s8(k * n).map((v) => v >> 1);
    const qm = run1('QLinearMatMul', [{ name: 'a', t: a }], [
      init('as', 'float32', [], [xs]), init('az', 'uint8', [], [xz]), init('b', 'int8', [k, n], b), init('bs', 'float32', [], [ws]), init('bz', 'int8', [], [0]),
      init('ys', 'float32', [], [ys]), init('yz', 'uint8', [], [yz]),
    ], {}, 'uint8');
    const wantM: number[] = [];
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += ((a.data as Uint8Array)[i * k + p] - xz) * b[p * n + j];
      wantM.push(Math.min(255, Math.max(0, roundEven(Math.fround(s * mult)) + yz)));
    }
    expect(Array.from(qm.data as Uint8Array)).toEqual(wantM);
    // QGemm without an output scale: fp32 out = a_scale * b_scale * (acc + C)
    const qg = run1('QGemm', [{ name: 'a', t: a }], [
      init('as', 'float32', [], [xs]), init('az', 'uint8', [], [xz]), init('b', 'int8', [k, n], b), init('bs', 'float32', [], [ws]), init('bz', 'int8', [], [0]),
      init('c', 'int32', [n], [5, 6, 7]),
    ], {}, 'float32', 'com.microsoft');
    let s0 = 5;
    for (let p = 0; p < k; p++) s0 += ((a.data as Uint8Array)[p] - xz) * b[p * n];
    expect((qg.data as Float32Array)[0]).toBeCloseTo(s0 * xs * ws, 6);
    // QLinearAdd (com.microsoft): onnxruntime's formula in fp32
    const a2 = u8([16], 16);
    const b2 = u8([16], 16);
    const addBytes = model({
      nodes: [node('QLinearAdd', ['a', 'as', 'az', 'b', 'bs', 'bz', 'cs', 'cz'], ['y'], {}, 'com.microsoft')],
      inits: [init('as', 'float32', [], [0.03]), init('az', 'uint8', [], [100]), init('bs', 'float32', [], [0.02]), init('bz', 'uint8', [], [90]), init('cs', 'float32', [], [0.04]), init('cz', 'uint8', [], [128])],
      inputs: [value('a', 'uint8', [16]), value('b', 'uint8', [16])], outputs: [value('y', 'uint8', [16])], ms: true,
    });
    const qa = loadOnnx(addBytes).run({ a: a2, b: b2 }).y.data as Uint8Array;
    for (let i = 0; i < 16; i++) {
      const real = 0.03 * ((a2.data as Uint8Array)[i] - 100) + 0.02 * ((b2.data as Uint8Array)[i] - 90);
      expect(Math.abs(qa[i] - Math.min(255, Math.max(0, real / 0.04 + 128)))).toBeLessThanOrEqual(0.5 + 1e-4);
    }
  });
});

function roundEven(v: number): number {
  const r0 = Math.round(v);
  return r0 - v === 0.5 && r0 % 2 !== 0 ? r0 - 1 : r0;
}

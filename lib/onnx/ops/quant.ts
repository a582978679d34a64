/**
 * The quantized ops onnxruntime.quantization writes. The int8 products run on lowbit's exact
 * kernels ({@link QuantizedLinear}, {@link QuantizedConv2d}): weights packed once at load, integer
 * accumulators exact on every CPU, requantization by the layers' fused output pipeline. The
 * scalar conversions (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearAdd,
 * QLinearGlobalAveragePool) follow the ONNX formulas in fp32, element by element.
 */
import type { ConvMode } from '../../conv';
import { QuantizedLinear } from '../../gemm';
import { QuantizedConv2d } from '../../qconv';
import type { GraphNode } from '../proto';
import { attrFloat, attrInt, axisOf, badInput, need, needType, unsupported, type CompileContext, type OpDef, type RunContext, type Step } from '../op';
import type { Tensor } from '../tensor';
import { constantInput, convGeometry, transposed } from './nn';
import { depthwiseStep } from './qdepthwise';

const f = Math.fround;

/** Round half to even (ONNX's rounding for every quantization). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// 1.5 · 2^23: adding it to an fp32 value of magnitude < 2^22 and rounding to fp32 rounds to an
// integer, half to even (the FPU's rounding), several times faster than Math.round and a fix-up
const MAGIC = 12582912;
const LIMIT = 4194304; // 2^22: values past it saturate every 8-bit output anyway

/** roundHalfEven of an fp32 value, clamped to [-2^22, 2^22] first (all 8-bit outputs saturate before). */
function roundFast(v: number): number {
  const c = v < -LIMIT ? -LIMIT : v > LIMIT ? LIMIT : v;
  return f(c + MAGIC) - MAGIC;
}

/** A scalar constant input (a scale or zero point), or null when the input is absent. */
function scalarInput(node: GraphNode, c: CompileContext, i: number, what: string): number | null {
  if (!node.inputs[i]) return null;
  const t = constantInput(node, c, i, what);
  if (t.data.length !== 1) throw unsupported(node, `${what} (input ${i}) must be a single value (per-tensor), got dims [${t.dims}]`);
  return Number(t.data[0]);
}

function needScale(node: GraphNode, v: number | null, what: string): number {
  if (v === null || !(v > 0) || !Number.isFinite(v)) throw badInput(node, `${what} must be a positive finite number, got ${v}`);
  return v;
}

/** Per-tensor or per-axis parameters (scale and zero point) of Q/DQ. */
function qParams(node: GraphNode, inputs: readonly (Tensor | null)[], x: Tensor) {
  const scale = need(node, inputs, 1);
  const zp = inputs[2] ?? null;
  needType(node, scale, ['float32'], 'the scale');
  if (zp && zp.data.length !== scale.data.length) throw badInput(node, 'scale and zero point must have the same length');
  let inner = x.data.length;
  let len = 1;
  if (scale.data.length > 1) {
    const axis = axisOf(node, attrInt(node, 'axis', 1), x.dims.length);
    len = x.dims[axis];
    if (scale.data.length !== len) throw badInput(node, `${scale.data.length} scales for axis ${axis} of size ${len}`);
    inner = x.dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  }
  return { scale: scale.data as Float32Array, zp: zp ? Array.from(zp.data as Uint8Array, Number) : null, zpType: zp?.type ?? 'uint8', inner, len };
}

/** y = saturate(roundHalfEven(x / scale) + zeroPoint), into uint8 or int8. */
export function quantizeInto(x: Float32Array, out: Uint8Array | Int8Array, scale: number, zp: number, from = 0, to = x.length): void {
  // clamped before rounding (the same, the bounds being integers), so the rounding trick's range holds
  const lo = (out instanceof Int8Array ? -128 : 0) - zp;
  const hi = lo + 255;
  for (let i = from; i < to; i++) {
    let v = f(x[i] / scale);
    v = v < lo ? lo : v > hi ? hi : v === v ? v : 0; // NaN -> the zero point, as lowbit's quantize
    out[i] = f(v + MAGIC) - MAGIC + zp;
  }
}

const quantizeLinear: OpDef = {
  attrs: ['axis', 'saturate'],
  compile(node) {
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        const p = qParams(node, inputs, x);
        if (p.zpType !== 'uint8' && p.zpType !== 'int8') throw unsupported(node, `output type ${p.zpType} is not supported (uint8, int8 are)`);
        const out = ctx.output(0, p.zpType, x.dims);
        const d = out.data as Uint8Array;
        const s = x.data as Float32Array;
        for (let c = 0, i = 0; i < s.length; c = (c + 1) % p.len, i += p.inner) quantizeInto(s, d, p.scale[c], p.zp ? p.zp[c] : 0, i, i + p.inner);
        return [out];
      },
    };
  },
};

const dequantizeLinear: OpDef = {
  attrs: ['axis'],
  compile(node) {
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['uint8', 'int8', 'int32'], 'input 0');
        const p = qParams(node, inputs, x);
        const out = ctx.output(0, 'float32', x.dims);
        const d = out.data as Float32Array;
        const s = x.data as Uint8Array;
        for (let c = 0, i = 0; i < s.length; c = (c + 1) % p.len, i += p.inner) {
          const scale = p.scale[c];
          const zp = p.zp ? p.zp[c] : 0;
          for (let j = i; j < i + p.inner; j++) d[j] = f((s[j] - zp) * scale);
        }
        return [out];
      },
    };
  },
};

/** DynamicQuantizeLinear's parameters for data x (the range widened to include 0); null if x holds NaN. */
export function dynamicParams(x: Float32Array): { scale: number; zeroPoint: number } | null {
  let min = 0;
  let max = 0;
  let nan = false;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    else if (v > max) max = v;
    else if (v !== v) nan = true;
  }
  if (nan) return null;
  const scale = max === min ? 1 : f(f(max - min) / 255);
  const zp = roundHalfEven(Math.max(0, Math.min(255, f(0 - f(min / scale)))));
  return { scale, zeroPoint: zp };
}

const dynamicQuantizeLinear: OpDef = {
  attrs: [],
  compile(node) {
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        const s = x.data as Float32Array;
        const p = dynamicParams(s);
        if (p === null) throw badInput(node, 'input holds NaN');
        const y = ctx.output(0, 'uint8', x.dims);
        quantizeInto(s, y.data as Uint8Array, p.scale, p.zeroPoint);
        return [y, { type: 'float32', dims: [], data: Float32Array.of(p.scale) }, { type: 'uint8', dims: [], data: Uint8Array.of(p.zeroPoint) }];
      },
    };
  },
};

/** int8 weights (and their zero points) of a constant input, checked. */
function int8Weights(node: GraphNode, c: CompileContext, i: number): Tensor {
  const w = constantInput(node, c, i, 'the weight');
  if (w.type !== 'int8') throw unsupported(node, `weights of type ${w.type} are not supported (int8 is: quantize with weight_type=QInt8)`);
  return w;
}

/** Weight zero points: one, or one per output channel (per-channel quantization). */
function weightZeroPoints(node: GraphNode, c: CompileContext, i: number, n: number): number | Int32Array {
  if (!node.inputs[i]) return 0;
  const t = constantInput(node, c, i, 'the weight zero point');
  if (t.data.length === 1) return Number(t.data[0]);
  if (t.data.length !== n) throw badInput(node, `${t.data.length} weight zero points for ${n} output channels`);
  return Int32Array.from(t.data as Int8Array);
}

function weightScales(node: GraphNode, c: CompileContext, i: number, n: number): number | Float32Array {
  const t = constantInput(node, c, i, 'the weight scale');
  if (t.data.length === 1) return needScale(node, Number(t.data[0]), 'the weight scale');
  if (t.data.length !== n) throw badInput(node, `${t.data.length} weight scales for ${n} output channels`);
  return new Float32Array(t.data as Float32Array);
}

function int32Bias(node: GraphNode, c: CompileContext, i: number, n: number): Int32Array | undefined {
  if (!node.inputs[i]) return undefined;
  const t = constantInput(node, c, i, 'the bias');
  if (t.type !== 'int32' || t.data.length !== n) throw unsupported(node, `the bias must be ${n} int32 values, got ${t.data.length} ${t.type}`);
  return new Int32Array(t.data as Int32Array);
}

function floatBiasOf(node: GraphNode, c: CompileContext, i: number, n: number): Float32Array | undefined {
  if (!node.inputs[i]) return undefined;
  const t = constantInput(node, c, i, 'the bias');
  if (t.type !== 'float32' || t.data.length !== n) throw unsupported(node, `the bias must be ${n} float32 values, got ${t.data.length} ${t.type}`);
  return new Float32Array(t.data as Float32Array);
}

/**
 * lowbit.DynamicMatMul, what the passes make of onnxruntime's dynamic quantization of a MatMul
 * (MatMulInteger → Cast → Mul by x_scale · w_scale → Add bias → Relu): inputs (xq, x_scale,
 * x_zero_point, W int8 [K, N], w_scale, w_zero_point, bias fp32?), one exact product with the
 * scales, bias and ReLU applied by the layer's fp32 output pipeline.
 */
function dynamicMatMul(mode: () => ConvMode): OpDef {
  return {
    attrs: [],
    foldable: false,
    compile(node, c) {
      const { layer, k, n } = linearOf(node, c, 3, 5, false, 4, 6, mode(), true);
      const relu = node.fused !== undefined;
      const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
        const a = need(node, inputs, 0);
        needType(node, a, ['uint8'], 'A');
        const m = rowsOf(node, a, k);
        const out = ctx.output(0, 'float32', [...a.dims.slice(0, -1), n]);
        const scale = needScale(node, Number(need(node, inputs, 1).data[0]), 'the activation scale');
        return { a: a.data as Uint8Array, m, out, o: { m, zeroPoint: activationZeroPoint(node, inputs, 2), scale, relu, out: out.data as Float32Array, threads: c.threads } };
      };
      return {
        run(inputs, ctx) {
          const p = prepare(inputs, ctx);
          if (p.m > 0) layer.matmulFloat(p.a, p.o);
          return [p.out];
        },
        async runAsync(inputs, ctx) {
          const p = prepare(inputs, ctx);
          if (p.m > 0) await layer.matmulFloatAsync(p.a, p.o);
          return [p.out];
        },
      };
    },
  };
}

function activationZeroPoint(node: GraphNode, inputs: readonly (Tensor | null)[], i: number): number {
  const t = inputs[i];
  if (!t) return 0;
  if (t.data.length !== 1) throw unsupported(node, `the activation zero point (input ${i}) must be a single value`);
  return Number(t.data[0]);
}

function rowsOf(node: GraphNode, x: Tensor, k: number): number {
  if (x.dims.length < 1 || x.dims[x.dims.length - 1] !== k) throw badInput(node, `input dims [${x.dims}] must end in K = ${k}`);
  return x.data.length / k;
}

/** A product A · W on a packed QuantizedLinear; A's rows are all dims but the last. */
function linearOf(node: GraphNode, c: CompileContext, wIndex: number, zpIndex: number, transB: boolean, scaleIndex: number | null, biasIndex: number | null, mode: ConvMode, floatBias = false) {
  const w = int8Weights(node, c, wIndex);
  if (w.dims.length !== 2) throw unsupported(node, `weights must be 2-D, got dims [${w.dims}]`);
  const [k, n] = transB ? [w.dims[1], w.dims[0]] : w.dims;
  const zeroPoint = weightZeroPoints(node, c, zpIndex, n);
  const scale = scaleIndex === null ? 1 : weightScales(node, c, scaleIndex, n);
  const bias = biasIndex === null ? undefined : floatBias ? floatBiasOf(node, c, biasIndex, n) : int32Bias(node, c, biasIndex, n);
  const layer = QuantizedLinear.fromInt8(w.data as Int8Array, { k, n, layout: transB ? 'nk' : 'kn', zeroPoint, scale, bias, mode: zeroPoint === 0 ? mode : 'dense' });
  return { layer, k, n };
}

function matMulInteger(mode: () => ConvMode): OpDef {
  return {
    attrs: [],
    compile(node, c) {
      const { layer, k, n } = linearOf(node, c, 1, 3, false, null, null, mode());
      return {
        run(inputs, ctx) {
          const a = need(node, inputs, 0);
          needType(node, a, ['uint8', 'int8'], 'A');
          const m = rowsOf(node, a, k);
          const out = ctx.output(0, 'int32', [...a.dims.slice(0, -1), n]);
          if (m > 0) layer.matmulInt32(a.data as Uint8Array, { m, zeroPoint: activationZeroPoint(node, inputs, 2), out: out.data as Int32Array, threads: c.threads });
          return [out];
        },
      };
    },
  };
}

/** QLinearMatMul (ONNX) and QGemm (com.microsoft): requantized, or fp32 when QGemm has no y_scale. */
function qlinearMatMul(kind: 'QLinearMatMul' | 'QGemm', mode: () => ConvMode): OpDef {
  return {
    attrs: kind === 'QGemm' ? ['alpha', 'transA', 'transB'] : [],
    compile(node, c) {
      if (kind === 'QGemm' && attrInt(node, 'transA', 0) !== 0) throw unsupported(node, 'transA = 1 is not supported');
      const transB = kind === 'QGemm' && attrInt(node, 'transB', 0) === 1;
      const alpha = kind === 'QGemm' ? attrFloat(node, 'alpha', 1) : 1;
      const { layer, k, n } = linearOf(node, c, 3, 5, transB, 4, kind === 'QGemm' ? 6 : null, mode());
      const yi = kind === 'QGemm' ? 7 : 6;
      const aScale = needScale(node, scalarInput(node, c, 1, 'the A scale'), 'the A scale') * alpha;
      const yScale = node.inputs[yi] ? needScale(node, scalarInput(node, c, yi, 'the output scale'), 'the output scale') : null;
      const yZp = node.inputs[yi + 1] ? constantInput(node, c, yi + 1, 'the output zero point') : null;
      const signed = yZp?.type === 'int8';
      const yZero = yZp ? Number(yZp.data[0]) : 0;
      const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
        const a = need(node, inputs, 0);
        needType(node, a, ['uint8', 'int8'], 'A');
        const m = rowsOf(node, a, k);
        const dims = [...a.dims.slice(0, -1), n];
        const out = yScale === null ? ctx.output(0, 'float32', dims) : ctx.output(0, signed ? 'int8' : 'uint8', dims);
        const common = { m, zeroPoint: activationZeroPoint(node, inputs, 2), scale: aScale, threads: c.threads };
        return { a, m, out, common };
      };
      const call = (p: ReturnType<typeof prepare>, async: boolean): unknown => {
        if (p.m === 0) return undefined;
        if (yScale === null) {
          const o = { ...p.common, out: p.out.data as Float32Array };
          return async ? layer.matmulFloatAsync(p.a.data as Uint8Array, o) : layer.matmulFloat(p.a.data as Uint8Array, o);
        }
        const o = { ...p.common, outScale: yScale, outZeroPoint: yZero, out: p.out.data as Uint8Array };
        return async ? layer.matmulQuantizedAsync(p.a.data as Uint8Array, o) : layer.matmulQuantized(p.a.data as Uint8Array, o);
      };
      return {
        run(inputs, ctx) {
          const p = prepare(inputs, ctx);
          call(p, false);
          return [p.out];
        },
        async runAsync(inputs, ctx) {
          const p = prepare(inputs, ctx);
          await call(p, true);
          return [p.out];
        },
      };
    },
  };
}

/** Input planes (h · w) up to which depthwise QLinearConv runs on the fp32 depthwise kernel. */
const DEPTHWISE_MAX_PLANE = 14 * 14;

/** QLinearConv (requantized output) and ConvInteger (exact int32 output). */
function qconv(kind: 'QLinearConv' | 'ConvInteger', mode: () => ConvMode): OpDef {
  return {
    attrs: ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'],
    compile(node, c) {
      const wi = kind === 'QLinearConv' ? 3 : 1;
      const w = int8Weights(node, c, wi);
      if (w.dims.length !== 4) throw unsupported(node, `only 2-D convolutions are supported, got a weight of rank ${w.dims.length}`);
      const [co, ciPerGroup, kh, kw] = w.dims;
      const g = convGeometry(node, [kh, kw]);
      const groups = attrInt(node, 'group', 1);
      const zeroPoint = weightZeroPoints(node, c, kind === 'QLinearConv' ? 5 : 3, co);
      const scale = kind === 'QLinearConv' ? weightScales(node, c, 4, co) : 1;
      const bias = kind === 'QLinearConv' ? int32Bias(node, c, 8, co) : undefined;
      const xScale = kind === 'QLinearConv' ? needScale(node, scalarInput(node, c, 1, 'the x scale'), 'the x scale') : 1;
      const yScale = kind === 'QLinearConv' ? needScale(node, scalarInput(node, c, 6, 'the y scale'), 'the y scale') : 1;
      const yZpT = kind === 'QLinearConv' && node.inputs[7] ? constantInput(node, c, 7, 'the y zero point') : null;
      const signed = yZpT?.type === 'int8';
      const yZero = yZpT ? Number(yZpT.data[0]) : 0;
      // depthwise layers with small planes: lowbit's fp32 depthwise kernel, exactly (qdepthwise.ts)
      const dw = kind === 'QLinearConv' && ciPerGroup === 1 && groups === co && groups > 1
        ? depthwiseStep(node, {
          weights: w.data as Int8Array,
          geometry: { inChannels: co, outChannels: co, kernelSize: [kh, kw], stride: g.strides, padding: g.pads, dilation: g.dilations, groups: co },
          weightZeroPoint: zeroPoint, weightScale: scale, bias, xScale, yScale, yZero, signed, threads: c.threads,
        })
        : null;
      // measured (96-960 channels, 3x3): the fp32 route wins from about 14x14 down, the int8 grouped path above
      const useDw = (inputs: readonly (Tensor | null)[]) => dw !== null && (inputs[0]?.dims.length ?? 0) === 4 && inputs[0]!.dims[2] * inputs[0]!.dims[3] <= DEPTHWISE_MAX_PLANE;
      const layer = QuantizedConv2d.fromInt8(w.data as Int8Array, {
        inChannels: ciPerGroup * groups, outChannels: co, kernelSize: [kh, kw], stride: g.strides, padding: g.pads, dilation: g.dilations, groups,
        scale, zeroPoint, bias, mode: zeroPoint === 0 && groups === 1 ? mode() : 'dense',
      });
      const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
        const x = need(node, inputs, 0);
        needType(node, x, ['uint8'], 'x');
        if (x.dims.length !== 4 || x.dims[1] !== layer.inChannels) throw badInput(node, `input dims [${x.dims}] must be [n, ${layer.inChannels}, h, w]`);
        const [n, , h, wd] = x.dims;
        const dims = layer.outputShape({ n, h, w: wd });
        const out = ctx.output(0, kind === 'ConvInteger' ? 'int32' : signed ? 'int8' : 'uint8', dims);
        const zp = activationZeroPoint(node, inputs, kind === 'QLinearConv' ? 2 : 2);
        return { x: x.data as Uint8Array, out, shape: { n, h, w: wd, zeroPoint: zp, threads: c.threads } };
      };
      return {
        run(inputs, ctx) {
          if (useDw(inputs)) return dw!.run(inputs, ctx);
          const p = prepare(inputs, ctx);
          if (kind === 'ConvInteger') layer.forwardInt32(p.x, { ...p.shape, out: p.out.data as Int32Array });
          else layer.forward(p.x, { ...p.shape, scale: xScale, outScale: yScale, outZeroPoint: yZero, out: p.out.data as Uint8Array });
          return [p.out];
        },
        async runAsync(inputs, ctx) {
          if (useDw(inputs)) return dw!.runAsync!(inputs, ctx);
          const p = prepare(inputs, ctx);
          if (kind === 'ConvInteger') await layer.forwardInt32Async(p.x, { ...p.shape, out: p.out.data as Int32Array });
          else await layer.forwardAsync(p.x, { ...p.shape, scale: xScale, outScale: yScale, outZeroPoint: yZero, out: p.out.data as Uint8Array });
          return [p.out];
        },
      };
    },
  };
}

/** Reads per-tensor (scale, zero point) pairs at the given input positions. */
function scalePairs(node: GraphNode, c: CompileContext, at: number[]) {
  return at.map((i) => ({
    scale: needScale(node, scalarInput(node, c, i, `input ${i} (a scale)`), `input ${i} (a scale)`),
    zp: node.inputs[i + 1] ? scalarInput(node, c, i + 1, `input ${i + 1} (a zero point)`)! : 0,
    signed: node.inputs[i + 1] ? constantInput(node, c, i + 1, 'a zero point').type === 'int8' : false,
  }));
}

const qlinearAdd: OpDef = {
  attrs: [],
  compile(node, c) {
    const [pa, pb, pc] = scalePairs(node, c, [1, 4, 6]);
    // onnxruntime's formula (its AVX2 kernel): fixed = zc − (za·sa/sc + zb·sb/sc) in fp32, then
    // c = round(a·(sa/sc) + round(b·(sb/sc) + fixed)), each step one fp32 rounding (fused
    // multiply-adds: the products of a byte and an fp32 ratio are exact in a double, so is the sum)
    const ra = f(pa.scale / pc.scale);
    const rb = f(pb.scale / pc.scale);
    const fixed = f(pc.zp - f(f(ra * pa.zp) + f(rb * pb.zp)));
    const lo = pc.signed ? -128 : 0;
    const hi = lo + 255;
    // a·(sa/sc) exact (double) and round(b·(sb/sc) + fixed) for each of the 256 codes (by unsigned byte)
    const ta = new Float64Array(256);
    const tb = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      const code = (signed: boolean) => (signed && v > 127 ? v - 256 : v);
      ta[v] = ra * code(pa.signed);
      tb[v] = f(rb * code(pb.signed) + fixed);
    }
    return {
      run(inputs, ctx) {
        const a = need(node, inputs, 0);
        const b = need(node, inputs, 3);
        if (a.data.length !== b.data.length || a.dims.some((d, i) => d !== b.dims[i])) throw unsupported(node, `broadcasting (A [${a.dims}], B [${b.dims}]) is not supported`);
        const out = ctx.output(0, pc.signed ? 'int8' : 'uint8', a.dims);
        // the bytes as unsigned codes into the tables, whatever the signedness
        const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.length);
        const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.length);
        const d = out.data as Uint8Array;
        for (let i = 0; i < d.length; i++) {
          const q = roundFast(f(ta[x[i]] + tb[y[i]]));
          d[i] = q < lo ? lo : q > hi ? hi : q;
        }
        return [out];
      },
    };
  },
};

const qlinearGlobalAveragePool: OpDef = {
  attrs: ['channels_last'],
  compile(node, c) {
    if (attrInt(node, 'channels_last', 0) !== 0) throw unsupported(node, 'channels_last = 1 is not supported');
    const [px, py] = scalePairs(node, c, [1, 3]);
    const lo = py.signed ? -128 : 0;
    const hi = lo + 255;
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['uint8'], 'x');
        if (x.dims.length < 3) throw badInput(node, `input dims [${x.dims}] must be [n, c, ...]`);
        const [n, ch] = x.dims;
        const size = x.data.length / Math.max(1, n * ch);
        const out = ctx.output(0, py.signed ? 'int8' : 'uint8', [n, ch, ...x.dims.slice(2).map(() => 1)]);
        const scale = f(px.scale / f(py.scale * size));
        const s = x.data as Uint8Array;
        const d = out.data as Uint8Array;
        for (let p = 0; p < n * ch; p++) {
          let acc = 0;
          for (let i = 0; i < size; i++) acc += s[p * size + i];
          acc -= px.zp * size;
          const q = roundHalfEven(f(acc * scale)) + py.zp;
          d[p] = q < lo ? lo : q > hi ? hi : q;
        }
        return [out];
      },
    };
  },
};

/** The quantized ops of the default domain. */
export function quantOps(mode: () => ConvMode): Record<string, OpDef> {
  return {
    QuantizeLinear: quantizeLinear,
    DequantizeLinear: dequantizeLinear,
    DynamicQuantizeLinear: dynamicQuantizeLinear,
    MatMulInteger: matMulInteger(mode),
    QLinearMatMul: qlinearMatMul('QLinearMatMul', mode),
    QLinearConv: qconv('QLinearConv', mode),
    ConvInteger: qconv('ConvInteger', mode),
  };
}

/** The quantized nodes the passes make (domain 'lowbit'). */
export function fusedQuantOps(mode: () => ConvMode): Record<string, OpDef> {
  return { DynamicMatMul: dynamicMatMul(mode) };
}

/** The com.microsoft ops onnxruntime's QOperator quantizer writes. */
export function microsoftOps(mode: () => ConvMode): Record<string, OpDef> {
  return { QGemm: qlinearMatMul('QGemm', mode), QLinearAdd: qlinearAdd, QLinearGlobalAveragePool: qlinearGlobalAveragePool };
}

export { transposed };
export type { Step };

/**
 * Depthwise QLinearConv (groups = channels, MobileNet's 3×3 layers) on lowbit's fp32 convolution:
 * the int8 layer's grouped path runs an im2col + GEMM per channel, while {@link Conv2d} has a direct
 * kernel for it. Exact: the operands are the integers (x − xZero) and (w − wZero), so every product
 * and partial sum is an integer below 2^24 (checked at load from the weights and bias), which fp32
 * holds exactly in any summation order; the int32 accumulators are then requantized with the same
 * fp32 formula as the int8 layers (multiplier fp32(fp32(xScale · wScale) / yScale), round half to even).
 */
import { Conv2d } from '../../conv';
import type { Geometry } from '../../conv-geometry';
import type { GraphNode } from '../proto';
import { badInput, need, needType, type RunContext, type Step } from '../op';
import type { Tensor } from '../tensor';

const f = Math.fround;
const MAGIC = 12582912; // 1.5 · 2^23: fp32 addition rounds to an integer, half to even

/** What the depthwise step needs from the QLinearConv node. */
export interface DepthwiseSpec {
  weights: Int8Array;
  /** The layer's geometry (groups = inChannels = outChannels). */
  geometry: Geometry;
  weightZeroPoint: number | Int32Array;
  weightScale: number | Float32Array;
  bias: Int32Array | undefined;
  xScale: number;
  yScale: number;
  yZero: number;
  signed: boolean;
  threads: number;
}

/** The fp32-kernel step for a depthwise QLinearConv, or null when its sums could exceed 2^24. */
export function depthwiseStep(node: GraphNode, s: DepthwiseSpec): Step | null {
  const ch = s.geometry.outChannels;
  const [kh, kw] = s.geometry.kernelSize;
  const taps = kh * kw;
  const w = new Float32Array(ch * taps);
  let bound = 0;
  for (let c = 0; c < ch; c++) {
    const wz = typeof s.weightZeroPoint === 'number' ? s.weightZeroPoint : s.weightZeroPoint[c];
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      const v = s.weights[c * taps + t] - wz;
      w[c * taps + t] = v;
      sum += Math.abs(v);
    }
    bound = Math.max(bound, sum * 255 + (s.bias ? Math.abs(s.bias[c]) : 0));
  }
  if (bound >= 2 ** 24) return null;
  const conv = new Conv2d(w, { ...s.geometry, bias: s.bias ? Float32Array.from(s.bias) : undefined });
  const mult = Float32Array.from({ length: ch }, (_, c) => f(f(s.xScale * (typeof s.weightScale === 'number' ? s.weightScale : s.weightScale[c])) / s.yScale));
  const lo = (s.signed ? -128 : 0) - s.yZero;
  const hi = lo + 255;
  let xf = new Float32Array(0);
  let acc = new Float32Array(0);
  const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
    const x = need(node, inputs, 0);
    needType(node, x, ['uint8'], 'x');
    if (x.dims.length !== 4 || x.dims[1] !== ch) throw badInput(node, `input dims [${x.dims}] must be [n, ${ch}, h, w]`);
    const zt = inputs[2];
    const xz = zt ? Number(zt.data[0]) : 0;
    const [n, , h, wd] = x.dims;
    const dims = conv.outputShape({ n, h, w: wd });
    const out = ctx.output(0, s.signed ? 'int8' : 'uint8', dims);
    if (xf.length !== x.data.length) xf = new Float32Array(x.data.length);
    const src = x.data as Uint8Array;
    for (let i = 0; i < src.length; i++) xf[i] = src[i] - xz;
    if (acc.length !== out.data.length) acc = new Float32Array(out.data.length);
    return { out, opts: { n, h, w: wd, out: acc, threads: s.threads }, plane: dims[2] * dims[3] };
  };
  const requantize = (out: Tensor, plane: number) => {
    const d = out.data as Uint8Array;
    for (let i = 0, c = 0; i < acc.length; i += plane, c = (c + 1) % ch) {
      const m = mult[c];
      for (let j = i; j < i + plane; j++) {
        let v = f(acc[j] * m);
        v = v < lo ? lo : v > hi ? hi : v;
        d[j] = f(v + MAGIC) - MAGIC + s.yZero;
      }
    }
  };
  return {
    run(inputs, ctx) {
      const p = prepare(inputs, ctx);
      conv.forward(xf, p.opts);
      requantize(p.out, p.plane);
      return [p.out];
    },
    async runAsync(inputs, ctx) {
      const p = prepare(inputs, ctx);
      // the staging buffers are this step's own: the session runs one async call at a time
      await conv.forwardAsync(xf, p.opts);
      requantize(p.out, p.plane);
      return [p.out];
    },
  };
}

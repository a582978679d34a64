/**
 * The fp32 layers on lowbit's kernels: Conv on {@link Conv2d}, Gemm and MatMul with constant
 * weights on {@link Linear} (sparse kernels picked by `mode: 'auto'` where the weights are
 * pruned), ReLU fused into their epilogue; pooling and BatchNormalization (when not folded) in loops.
 */
import { Conv2d, type ConvMode } from '../../conv';
import { Linear } from '../../linear';
import type { Fused, GraphNode } from '../proto';
import {
  attrFloat, attrInt, attrInts, attrString, badInput, need, needType, unsupported, type CompileContext, type OpDef, type RunContext, type Step,
} from '../op';
import type { Tensor } from '../tensor';
import { clampInPlace } from './elementwise';

/** Conv-style geometry from attributes: 2-D only, symmetric pads, no auto_pad but NOTSET/VALID. */
export function convGeometry(node: GraphNode, kernel: readonly number[]) {
  if (kernel.length !== 2) throw unsupported(node, `only 2-D convolutions and pools are supported, got a kernel of rank ${kernel.length}`);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') throw unsupported(node, `auto_pad ${autoPad} is not supported (NOTSET, VALID are; the exporters write explicit pads)`);
  const strides = attrInts(node, 'strides') ?? [1, 1];
  const dilations = attrInts(node, 'dilations') ?? [1, 1];
  const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  if (strides.length !== 2 || dilations.length !== 2 || pads.length !== 4) throw badNodeShape(node, 'strides, dilations and pads must have 2, 2 and 4 values');
  if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw unsupported(node, `asymmetric pads [${pads}] are not supported`);
  for (const v of [...strides, ...dilations]) if (v < 1) throw badNodeShape(node, 'strides and dilations must be >= 1');
  for (const v of pads) if (v < 0) throw badNodeShape(node, 'pads must be >= 0');
  return { strides: strides as [number, number], dilations: dilations as [number, number], pads: [pads[0], pads[1]] as [number, number] };
}

function badNodeShape(node: GraphNode, why: string): Error {
  return unsupported(node, why);
}

/** The constant weight input i, or an unsupported-op error. */
export function constantInput(node: GraphNode, c: CompileContext, i: number, what: string): Tensor {
  const name = node.inputs[i];
  const t = name ? c.constant(name) : null;
  if (t === null) throw unsupported(node, `${what} (input ${i}) must be a constant initializer`);
  return t;
}

/** The session's kernel mode option. */
export interface NnOptions {
  mode: ConvMode;
}

/** Applies the part of a fused activation the kernel's ReLU does not cover. */
export function afterFused(fused: Fused | undefined, d: Float32Array): void {
  if (fused && (fused.max !== Infinity || fused.min !== 0)) clampInPlace(d, fused.min, fused.max);
}

/** Whether the kernel's ReLU flag can take the fused activation's low end. */
export function reluOf(fused: Fused | undefined): boolean {
  return fused !== undefined && fused.min === 0;
}

function convOp(mode: () => ConvMode): OpDef {
  return {
    attrs: ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'],
    compile(node, c) {
      const w = constantInput(node, c, 1, 'the weight');
      needType(node, w, ['float32'], 'the weight');
      if (w.dims.length !== 4) throw unsupported(node, `only 2-D convolutions are supported, got a weight of rank ${w.dims.length}`);
      const [co, ciPerGroup, kh, kw] = w.dims;
      const ks = attrInts(node, 'kernel_shape');
      if (ks && (ks[0] !== kh || ks[1] !== kw)) throw badInput(node, `kernel_shape [${ks}] does not match the weight dims [${w.dims}]`);
      const g = convGeometry(node, [kh, kw]);
      const groups = attrInt(node, 'group', 1);
      const b = node.inputs[2] ? constantInput(node, c, 2, 'the bias') : null;
      if (b && b.data.length !== co) throw badInput(node, `bias has ${b.data.length} values, the weight ${co} output channels`);
      const layer = new Conv2d(w.data as Float32Array, {
        inChannels: ciPerGroup * groups, outChannels: co, kernelSize: [kh, kw], stride: g.strides, padding: g.pads, dilation: g.dilations, groups,
        bias: b ? (b.data as Float32Array) : undefined, relu: reluOf(node.fused), mode: mode(),
      });
      const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        if (x.dims.length !== 4 || x.dims[1] !== layer.inChannels) throw badInput(node, `input dims [${x.dims}] must be [n, ${layer.inChannels}, h, w]`);
        const [n, , h, wd] = x.dims;
        const out = ctx.output(0, 'float32', layer.outputShape({ n, h, w: wd }));
        return { x, opts: { n, h, w: wd, out: out.data as Float32Array, threads: c.threads }, out };
      };
      return {
        run(inputs, ctx) {
          const p = prepare(inputs, ctx);
          layer.forward(p.x.data as Float32Array, p.opts);
          afterFused(node.fused, p.out.data as Float32Array);
          return [p.out];
        },
        async runAsync(inputs, ctx) {
          const p = prepare(inputs, ctx);
          await layer.forwardAsync(p.x.data as Float32Array, p.opts);
          afterFused(node.fused, p.out.data as Float32Array);
          return [p.out];
        },
      };
    },
  };
}

/** A Linear step over the rows of an input [..., K] -> [..., N]. */
export function linearStep(node: GraphNode, layer: Linear, threads: number, rank2: boolean): Step {
  const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
    const x = need(node, inputs, 0);
    needType(node, x, ['float32'], 'input 0');
    const k = layer.inFeatures;
    if (x.dims.length < 1 || x.dims[x.dims.length - 1] !== k || (rank2 && x.dims.length !== 2)) throw badInput(node, `input dims [${x.dims}] must end in ${k}${rank2 ? ' and be 2-D' : ''}`);
    const batch = x.data.length / k;
    const out = ctx.output(0, 'float32', [...x.dims.slice(0, -1), layer.outFeatures]);
    return { x, out, batch };
  };
  return {
    run(inputs, ctx) {
      const p = prepare(inputs, ctx);
      if (p.batch > 0) layer.forward(p.x.data as Float32Array, { batch: p.batch, out: p.out.data as Float32Array, threads });
      afterFused(node.fused, p.out.data as Float32Array);
      return [p.out];
    },
    async runAsync(inputs, ctx) {
      const p = prepare(inputs, ctx);
      if (p.batch > 0) await layer.forwardAsync(p.x.data as Float32Array, { batch: p.batch, out: p.out.data as Float32Array, threads });
      afterFused(node.fused, p.out.data as Float32Array);
      return [p.out];
    },
  };
}

/** Transposes a row-major [r][c] matrix. */
export function transposed<T extends Float32Array | Int8Array | Uint8Array>(m: T, r: number, c: number): T {
  const out = new (m.constructor as new (n: number) => T)(m.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = m[i * c + j];
  return out;
}

function gemmOp(mode: () => ConvMode): OpDef {
  return {
    attrs: ['alpha', 'beta', 'transA', 'transB'],
    compile(node, c) {
      const alpha = attrFloat(node, 'alpha', 1);
      const beta = attrFloat(node, 'beta', 1);
      if (attrInt(node, 'transA', 0) !== 0) throw unsupported(node, 'transA = 1 is not supported');
      const bT = constantInput(node, c, 1, 'B');
      needType(node, bT, ['float32'], 'B');
      if (bT.dims.length !== 2) throw badInput(node, `B must be 2-D, got dims [${bT.dims}]`);
      const transB = attrInt(node, 'transB', 0) === 1;
      const [k, n] = transB ? [bT.dims[1], bT.dims[0]] : bT.dims;
      let w = transB ? (bT.data as Float32Array) : transposed(bT.data as Float32Array, k, n);
      if (alpha !== 1) w = w.map((v) => v * alpha);
      let bias: Float32Array | undefined;
      if (node.inputs[2]) {
        const cT = constantInput(node, c, 2, 'C');
        if (!(cT.data.length === n && (cT.dims.length === 1 || (cT.dims.length === 2 && cT.dims[0] === 1))) && cT.data.length !== 1) {
          throw unsupported(node, `C must be a vector of N = ${n} values (or a scalar), got dims [${cT.dims}]`);
        }
        bias = cT.data.length === 1 ? new Float32Array(n).fill((cT.data[0] as number) * beta) : (cT.data as Float32Array).map((v) => v * beta);
      }
      const layer = new Linear(w, { inFeatures: k, outFeatures: n, bias, relu: reluOf(node.fused), mode: mode() });
      return linearStep(node, layer, c.threads, true);
    },
  };
}

/** Batched product of float tensors [..., M, K] x [..., K, N] (batch dims equal, or B 2-D). */
export function matmulFloat(node: GraphNode, a: Tensor, b: Tensor, ctx: RunContext): Tensor {
  needType(node, a, ['float32'], 'A');
  needType(node, b, ['float32'], 'B');
  if (a.dims.length < 2 || b.dims.length < 2) throw unsupported(node, 'MatMul of 1-D operands is not supported');
  const [m, k] = a.dims.slice(-2);
  const [k2, n] = b.dims.slice(-2);
  if (k !== k2) throw badInput(node, `inner dimensions differ: A [${a.dims}], B [${b.dims}]`);
  const batchA = a.dims.slice(0, -2);
  const batchB = b.dims.slice(0, -2);
  const shared = batchB.length === 0;
  if (!shared && (batchA.length !== batchB.length || batchA.some((d, i) => d !== batchB[i]))) throw unsupported(node, `batch dims must match (A [${a.dims}], B [${b.dims}])`);
  const out = ctx.output(0, 'float32', [...batchA, m, n]);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  const z = out.data as Float32Array;
  const batches = batchA.reduce((p, d) => p * d, 1);
  for (let t = 0; t < batches; t++) {
    const ao = t * m * k;
    const bo = shared ? 0 : t * k * n;
    const co = t * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += x[ao + i * k + p] * y[bo + p * n + j];
        z[co + i * n + j] = s;
      }
    }
  }
  return out;
}

function matmulOp(mode: () => ConvMode): OpDef {
  return {
    attrs: [],
    compile(node, c) {
      const b = node.inputs[1] ? c.constant(node.inputs[1]) : null;
      if (b !== null && b.type === 'float32' && b.dims.length === 2) {
        const [k, n] = b.dims;
        const layer = new Linear(transposed(b.data as Float32Array, k, n), { inFeatures: k, outFeatures: n, relu: reluOf(node.fused), mode: mode() });
        return linearStep(node, layer, c.threads, false);
      }
      if (node.fused) throw unsupported(node, 'internal: activation fused into a MatMul without constant weights');
      return { run: (inputs, ctx) => [matmulFloat(node, need(node, inputs, 0), need(node, inputs, 1), ctx)] };
    },
  };
}

/**
 * lowbit.PairwiseDot, what the passes make of DLRM's interaction (MatMul(T, Transpose(T)) →
 * Flatten → Gather of the lower-triangle positions): inputs (T [batch, F, D], flat indices i·F + j),
 * out [batch, pairs] = <T[b, i], T[b, j]>, only the pairs asked for, over contiguous rows.
 */
const pairwiseDot: OpDef = {
  attrs: [],
  foldable: false,
  compile(node, c) {
    const idx = constantInput(node, c, 1, 'the pair indices');
    needType(node, idx, ['int64', 'int32'], 'the pair indices');
    const flat = Array.from(idx.data as BigInt64Array, Number);
    return {
      run(inputs, ctx) {
        const t = need(node, inputs, 0);
        needType(node, t, ['float32'], 'input 0');
        if (t.dims.length !== 3) throw badInput(node, `input dims [${t.dims}] must be [batch, features, dim]`);
        const [b, f, d] = t.dims;
        const pairs = new Int32Array(2 * flat.length);
        flat.forEach((k0, p) => {
          const k = k0 < 0 ? k0 + f * f : k0;
          if (!(k >= 0 && k < f * f)) throw badInput(node, `pair index ${k0} is out of range for ${f} x ${f}`);
          pairs[2 * p] = Math.floor(k / f) * d;
          pairs[2 * p + 1] = (k % f) * d;
        });
        const out = ctx.output(0, 'float32', [b, flat.length]);
        const s = t.data as Float32Array;
        const z = out.data as Float32Array;
        for (let r = 0; r < b; r++) {
          const base = r * f * d;
          for (let p = 0; p < flat.length; p++) {
            const u = base + pairs[2 * p];
            const v = base + pairs[2 * p + 1];
            // four partial sums: independent chains the CPU overlaps
            let s0 = 0;
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            let q = 0;
            for (; q + 3 < d; q += 4) {
              s0 += s[u + q] * s[v + q];
              s1 += s[u + q + 1] * s[v + q + 1];
              s2 += s[u + q + 2] * s[v + q + 2];
              s3 += s[u + q + 3] * s[v + q + 3];
            }
            for (; q < d; q++) s0 += s[u + q] * s[v + q];
            z[r * flat.length + p] = s0 + s1 + (s2 + s3);
          }
        }
        return [out];
      },
    };
  },
};

/** Max or average pooling over NCHW float32 or uint8 (max only) data. */
function poolOp(kind: 'max' | 'avg'): OpDef {
  return {
    attrs: kind === 'max' ? ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'storage_order', 'strides'] : ['auto_pad', 'ceil_mode', 'count_include_pad', 'kernel_shape', 'pads', 'strides'],
    compile(node) {
      const ks = attrInts(node, 'kernel_shape');
      if (!ks) throw unsupported(node, 'attribute kernel_shape is required');
      const g = convGeometry(node, ks);
      if (attrInt(node, 'ceil_mode', 0) !== 0) throw unsupported(node, 'ceil_mode = 1 is not supported');
      if (attrInt(node, 'storage_order', 0) !== 0) throw unsupported(node, 'storage_order = 1 is not supported');
      const includePad = attrInt(node, 'count_include_pad', 0) === 1;
      const [kh, kw] = ks;
      const [sh, sw] = g.strides;
      const [dh, dw] = g.dilations;
      const [ph, pw] = g.pads;
      return {
        run(inputs, ctx) {
          const x = need(node, inputs, 0);
          needType(node, x, kind === 'max' ? ['float32', 'uint8', 'int8'] : ['float32'], 'input 0');
          if (x.dims.length !== 4) throw badInput(node, `input dims [${x.dims}] must be NCHW`);
          const [n, ch, h, w] = x.dims;
          const oh = Math.floor((h + 2 * ph - ((kh - 1) * dh + 1)) / sh) + 1;
          const ow = Math.floor((w + 2 * pw - ((kw - 1) * dw + 1)) / sw) + 1;
          if (oh < 1 || ow < 1) throw badInput(node, `input ${h}x${w} is smaller than the kernel`);
          const out = ctx.output(0, x.type, [n, ch, oh, ow]);
          const win = { h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw };
          pool(x.data as Float32Array, out.data as Float32Array, n * ch, win, kind === 'max', includePad);
          return [out];
        },
      };
    },
  };
}

interface PoolWindow { h: number; w: number; oh: number; ow: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number }

// For each output position along one axis: the first and last+1 kernel taps inside the input.
function tapRanges(outSize: number, stride: number, pad: number, dil: number, k: number, size: number): Int32Array {
  const r = new Int32Array(2 * outSize);
  for (let o = 0; o < outSize; o++) {
    const i0 = o * stride - pad;
    const lo = i0 >= 0 ? 0 : Math.ceil(-i0 / dil);
    r[2 * o] = lo;
    r[2 * o + 1] = Math.max(lo, Math.min(k, Math.ceil((size - i0) / dil)));
  }
  return r;
}

// Max (or mean) over each window's taps inside the input, plane by plane (padding excluded; the
// mean divides by the window size when includePad)
function pool(s: Float32Array, d: Float32Array, planes: number, g: PoolWindow, max: boolean, includePad: boolean): void {
  const { h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw } = g;
  const ry = tapRanges(oh, sh, ph, dh, kh, h);
  const rx = tapRanges(ow, sw, pw, dw, kw, w);
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    let o = p * oh * ow;
    for (let y = 0; y < oh; y++) {
      const ky0 = ry[2 * y];
      const ky1 = ry[2 * y + 1];
      const iy0 = base + (y * sh - ph) * w;
      // 3x3 max windows wholly inside the input (most of them): the nine taps unrolled
      const full3 = max && kh === 3 && kw === 3 && dh === 1 && dw === 1 && ky0 === 0 && ky1 === 3;
      for (let x = 0; x < ow; x++, o++) {
        const kx0 = rx[2 * x];
        const kx1 = rx[2 * x + 1];
        const ix0 = iy0 + x * sw - pw;
        if (full3 && kx0 === 0 && kx1 === 3) {
          const a = ix0;
          const b = a + w;
          const c = b + w;
          let m = s[a] > s[a + 1] ? s[a] : s[a + 1];
          m = m > s[a + 2] ? m : s[a + 2];
          m = m > s[b] ? m : s[b];
          m = m > s[b + 1] ? m : s[b + 1];
          m = m > s[b + 2] ? m : s[b + 2];
          m = m > s[c] ? m : s[c];
          m = m > s[c + 1] ? m : s[c + 1];
          d[o] = m > s[c + 2] ? m : s[c + 2];
          continue;
        }
        let m = max ? -Infinity : 0;
        for (let i = ky0; i < ky1; i++) {
          const row = ix0 + i * dh * w;
          for (let j = kx0; j < kx1; j++) {
            const v = s[row + j * dw];
            if (max) m = v > m ? v : m;
            else m += v;
          }
        }
        d[o] = max ? m : m / (includePad ? kh * kw : (ky1 - ky0) * (kx1 - kx0));
      }
    }
  }
}

const globalAveragePool: OpDef = {
  attrs: [],
  compile(node) {
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        if (x.dims.length < 3) throw badInput(node, `input dims [${x.dims}] must be [n, c, ...]`);
        const [n, ch] = x.dims;
        const size = x.data.length / Math.max(1, n * ch);
        const out = ctx.output(0, 'float32', [n, ch, ...x.dims.slice(2).map(() => 1)]);
        const s = x.data as Float32Array;
        const d = out.data as Float32Array;
        for (let p = 0; p < n * ch; p++) {
          let acc = 0;
          for (let i = 0; i < size; i++) acc += s[p * size + i];
          d[p] = acc / size;
        }
        return [out];
      },
    };
  },
};

/** BatchNormalization's per-channel scale and shift: y = x · scale + shift. */
export function batchNormCoefficients(node: GraphNode, c: CompileContext): { scale: Float32Array; shift: Float32Array } {
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => constantInput(node, c, i, ['scale', 'B', 'mean', 'var'][i - 1]).data as Float32Array);
  const ch = gamma.length;
  if ([beta, mean, variance].some((t) => t.length !== ch)) throw badInput(node, 'scale, B, mean and var must have the same length');
  const scale = new Float32Array(ch);
  const shift = new Float32Array(ch);
  for (let i = 0; i < ch; i++) {
    scale[i] = gamma[i] / Math.sqrt(variance[i] + eps);
    shift[i] = beta[i] - mean[i] * scale[i];
  }
  return { scale, shift };
}

const batchNorm: OpDef = {
  attrs: ['epsilon', 'momentum', 'training_mode'],
  compile(node, c) {
    if (attrInt(node, 'training_mode', 0) !== 0) throw unsupported(node, 'training_mode = 1 is not supported');
    if (node.outputs.length > 1) throw unsupported(node, 'only the inference form (one output) is supported');
    const { scale, shift } = batchNormCoefficients(node, c);
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        if (x.dims.length < 2 || x.dims[1] !== scale.length) throw badInput(node, `input dims [${x.dims}] must have ${scale.length} channels`);
        const out = ctx.output(0, 'float32', x.dims);
        const inner = x.data.length / (x.dims[0] * scale.length);
        const s = x.data as Float32Array;
        const d = out.data as Float32Array;
        for (let i = 0; i < s.length; i++) {
          const ch = Math.floor(i / inner) % scale.length;
          d[i] = s[i] * scale[ch] + shift[ch];
        }
        return [out];
      },
    };
  },
};

/** The fp32 nodes the passes make (domain 'lowbit'). */
export const FUSED_NN_OPS: Record<string, OpDef> = { PairwiseDot: pairwiseDot };

/** The fp32 layer ops; `mode` is the session's kernel choice for lowbit layers. */
export function nnOps(mode: () => ConvMode): Record<string, OpDef> {
  return {
    Conv: convOp(mode),
    Gemm: gemmOp(mode),
    MatMul: matmulOp(mode),
    MaxPool: poolOp('max'),
    AveragePool: poolOp('avg'),
    GlobalAveragePool: globalAveragePool,
    BatchNormalization: batchNorm,
  };
}

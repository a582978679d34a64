/**
 * int8 2-D convolution (NCHW), exact, with ONNX QLinearConv semantics: uint8 activations, int8
 * weights (per-tensor or per-output-channel scale and zero point), any kernel, stride, padding,
 * dilation and groups. Padding is the input's zero point (the quantized zero). The integer sum
 *
 *     acc[co] = Σ (x − xZeroPoint) · (w − wZeroPoint[co])  (+ int32 bias[co])
 *
 * is exact on every CPU (the GEMM core's int32, native/kernels/gemm/README.md); it is then
 * requantized to uint8/int8 or dequantized to fp32 by the GEMM's documented fp32 pipeline. The
 * kernel: im2col per block of output pixels, lowbit's exact int8 GEMM, transpose into NCHW
 * (native/kernels/conv/int8.h). Depthwise layers (groups = channels, 3×3 or 5×5, stride 1 or
 * 2) run a dedicated kernel, bit-identical (native/kernels/conv/depthwise.h).
 *
 * Pruned 1×1 layers: `mode` (as {@link QuantizedLinear}'s) runs 1×1, stride-1, unpadded, ungrouped
 * layers with symmetric weights on the int8 sparse fully-connected kernel (pixels as the batch),
 * bit-identical to the dense path; `'auto'` asks the same performance model per call.
 *
 * Speed: on AVX2 the GEMM's fast (vpmaddubsw) kernel runs, still exact, when a block's activations
 * span at most 128 values: quantize activations to 7 bits (PyTorch's `reduce_range`, e.g.
 * {@link chooseQuantParams} with `reduceRange: true`) to get it; full-range uint8 activations run
 * the exact int16 kernel (about half the speed). Weights in [−64, 63] take the fast path for any input.
 */
import {
  CONV_GEOMETRY_KEYS, ConvGeometryFields, geometryArray, geometryOf, INPUT_SHAPE_KEYS, inputShapeOf, type ConvGeometryOptions, type ConvInputShape, type Geometry,
} from './conv-geometry';
import { rangeError } from './errors';
import type { LinearMode } from './gemm';
import { binding } from './native';
import {
  exactOnlyOf, floatOutput, inputZeroPoint, KERNEL_KEYS, OUT_INT32, OUT_FLOAT32, outputArray, QUANTIZED_OUTPUT_KEYS, quantizedOutput,
  type KernelOptions, type QuantizedOutputOptions,
} from './output-options';
import { checkArray, checkBool, checkEnum, checkFloatBias, checkOptions, checkThreads, optionKeys } from './validate';
import { checkSparseZeroPoints, checkWeightCount, weightBiasOf, weightScalesOf, weightZeroPointsOf } from './weight-params';

interface NativeQConvLayer {
  readonly byteLength: number;
  readonly fastPath: boolean;
  readonly blockSparsity: number;
  explain(n: number, h: number, w: number, narrow: boolean, threads: number): QConvExplanation;
  forward(
    x: Uint8Array, n: number, h: number, w: number, zeroPoint: number, outType: number, out: ArrayBufferView, scale: number,
    weightScales: Float32Array, outScale: number, outZeroPoint: number, qmin: number, qmax: number,
    bias: Float32Array | Int32Array | null, relu: boolean, threads: number, exactOnly: boolean, async: boolean,
  ): unknown;
  outputShape(n: number, h: number, w: number): [number, number, number, number];
}
interface QConvBinding {
  QConvLayer: new (weights: Int8Array, geometry: Int32Array, zeroPoints: Int32Array, perChannel: boolean, mode: number) => NativeQConvLayer;
  quantizeWeights(w: Float32Array, k: number, n: number, transposed: boolean, perChannel: boolean): { weights: Int8Array; scales: Float32Array };
}
const native = binding as unknown as QConvBinding;

/**
 * Geometry of a {@link QuantizedConv2d} (as Conv2d's; padding is filled with the input zero point).
 */
export type QuantizedConv2dGeometry = ConvGeometryOptions;

/**
 * Which kernel a {@link QuantizedConv2d} runs (as {@link LinearMode}). `'auto'` (default): the int8
 * sparse FC kernel where the layer is 1×1, stride 1, unpadded, ungrouped, its weights have no zero
 * point and the performance model predicts it faster for the call (M = n · pixels), else the dense
 * GEMM path. `'sparse'`: always the sparse kernel (a RangeError on other layers or with weight zero
 * points); only the sparse weights are kept. `'dense'`: always the dense path. Results are
 * bit-identical in every mode. Prune by 1×4 blocks along the input channels, e.g.
 * `pruneWeights(w, { sparsity: 0.9, rows: outChannels, block: [1, 4] })`.
 */
export type QConvMode = LinearMode;

const MODES: readonly QConvMode[] = ['auto', 'sparse', 'dense'];

/** What {@link QuantizedConv2d.explain} returns. */
export interface QConvExplanation {
  /** The kernel a call with this input shape runs. */
  kernel: 'sparse' | 'dense' | 'depthwise';
  /** Fraction of the 1×4 weight blocks (4 consecutive input channels of one output) all zero; 0 for other than 1×1 layers. */
  blockSparsity: number;
  /** The model's prediction for the product of one call on one thread, µs (layers with a sparse side only). */
  predictedSparseUs?: number;
  /** See {@link QConvExplanation.predictedSparseUs}. */
  predictedDenseUs?: number;
  /** Both kernels' times measured on the first call of this shape, µs (auto, where the predictions were within 1.3x). */
  measuredSparseUs?: number;
  /** See {@link QConvExplanation.measuredSparseUs}. */
  measuredDenseUs?: number;
  /** One line: the mode or the predictions and the decision. */
  reason: string;
}

/** Options of {@link QuantizedConv2d.explain}. */
export interface QConvExplainOptions extends QConvInputShape {
  /** Predict for activations spanning at most 128 values (7-bit), the dense GEMM's faster path. Default false. */
  narrow?: boolean;
  /** Threads of the calls to explain (trials are remembered per thread count); default 1. */
  threads?: number;
}

/** Options of {@link QuantizedConv2d.fromFloat32}. */
export interface QConvFromFloat32Options extends QuantizedConv2dGeometry {
  /** Kernel choice; default `'auto'`. See {@link QConvMode}. */
  mode?: QConvMode;
  /** Real-valued bias of outChannels values. */
  bias?: Float32Array;
  /** One weight scale per output channel (default true) or one for the tensor. */
  perChannel?: boolean;
}

/** Options of {@link QuantizedConv2d.fromInt8}. */
export interface QConvFromInt8Options extends QuantizedConv2dGeometry {
  /** Kernel choice; default `'auto'`; `'sparse'` needs every zero point to be 0. See {@link QConvMode}. */
  mode?: QConvMode;
  /** Weight scale: one per tensor, or a Float32Array of outChannels. Default 1. */
  scale?: number | Float32Array;
  /** Weight zero point(s) in [−128, 127]: one, or an Int32Array of outChannels. Default 0. */
  zeroPoint?: number | Int32Array;
  /**
   * Bias of outChannels values: an Int32Array in accumulator units (ONNX QLinearConv's B, scale ·
   * wScale), added to the exact sum; or a Float32Array in real units.
   */
  bias?: Int32Array | Float32Array;
}

/** Input shape of one call (as {@link Conv2d}'s). */
export type QConvInputShape = ConvInputShape;

/** Options every forward form takes (and `threads`, `kernel`: {@link KernelOptions}). */
export interface QConvCommonOptions extends QConvInputShape, KernelOptions {
  /** Zero point of x in [0, 255] (also the padding value); default 0. */
  zeroPoint?: number;
}

/** Options of {@link QuantizedConv2d.forward}: x's parameters and the requantized output ({@link QuantizedOutputOptions}). */
export interface QConvForwardOptions extends QConvCommonOptions, QuantizedOutputOptions {
  /** Scale of x. */
  scale: number;
  /** Output [n, outChannels, oh, ow]; allocated when absent. */
  out?: Uint8Array | Int8Array;
}

/** Options of {@link QuantizedConv2d.forwardFloat}. */
export interface QConvForwardFloatOptions extends QConvCommonOptions {
  /** Scale of x. */
  scale: number;
  /** Apply max(0, y) after the bias. */
  relu?: boolean;
  /** Output [n, outChannels, oh, ow]; allocated when absent. */
  out?: Float32Array;
}

/** Options of {@link QuantizedConv2d.forwardInt32}. */
export interface QConvForwardInt32Options extends QConvCommonOptions {
  /** Output [n, outChannels, oh, ow]; allocated when absent. */
  out?: Int32Array;
}

const SHAPE_KEYS = INPUT_SHAPE_KEYS;
const EXPLAIN_KEYS = [...SHAPE_KEYS, ...optionKeys<Omit<QConvExplainOptions, keyof QConvInputShape>>()('narrow', 'threads')];
const FROM_FLOAT32_KEYS = [...CONV_GEOMETRY_KEYS, ...optionKeys<Omit<QConvFromFloat32Options, keyof ConvGeometryOptions>>()('mode', 'bias', 'perChannel')];
const FROM_INT8_KEYS = [...CONV_GEOMETRY_KEYS, ...optionKeys<Omit<QConvFromInt8Options, keyof ConvGeometryOptions>>()('mode', 'scale', 'zeroPoint', 'bias')];
const COMMON_KEYS = [...SHAPE_KEYS, ...KERNEL_KEYS, ...optionKeys<Omit<QConvCommonOptions, keyof QConvInputShape | keyof KernelOptions>>()('zeroPoint')];
const INT32_KEYS = [...COMMON_KEYS, ...optionKeys<Omit<QConvForwardInt32Options, keyof QConvCommonOptions>>()('out')];
const FLOAT_KEYS = [...COMMON_KEYS, ...optionKeys<Omit<QConvForwardFloatOptions, keyof QConvCommonOptions>>()('scale', 'relu', 'out')];
const QUANTIZED_KEYS = [...COMMON_KEYS, ...QUANTIZED_OUTPUT_KEYS, ...optionKeys<Omit<QConvForwardOptions, keyof QConvCommonOptions | keyof QuantizedOutputOptions>>()('scale')];
const OUT_WHY = 'n * outChannels * oh * ow';

function weightCount(g: Geometry): number {
  return g.outChannels * (g.inChannels / g.groups) * g.kernelSize[0] * g.kernelSize[1];
}


/**
 * An int8 convolution layer (ONNX QLinearConv / ConvInteger), exact, over lowbit's int8 GEMM.
 * @example
 * const conv = QuantizedConv2d.fromFloat32(w, { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1 });
 * const y = conv.forward(x, { h: 56, w: 56, scale: 0.02, zeroPoint: 128, outScale: 0.05, outZeroPoint: 0, relu: true });
 */
export class QuantizedConv2d extends ConvGeometryFields {
  /** The kernel choice this layer was made with. */
  readonly mode: QConvMode;
  readonly #layer: NativeQConvLayer;
  // The layer's own copies: what reaches the kernels, never an array a caller holds.
  readonly #scales: Float32Array;
  readonly #zeroPoints: Int32Array;
  readonly #bias: Int32Array | Float32Array | null;

  private constructor(g: Geometry, w: Int8Array, scales: Float32Array, zps: Int32Array, bias: Int32Array | Float32Array | null, mode: QConvMode) {
    super(g);
    this.#scales = scales;
    this.#zeroPoints = zps;
    this.#bias = bias;
    this.mode = mode;
    if (mode === 'sparse') {
      const [kh, kw] = g.kernelSize;
      if (kh !== 1 || kw !== 1 || g.stride[0] !== 1 || g.stride[1] !== 1 || g.padding[0] !== 0 || g.padding[1] !== 0 || g.groups !== 1) {
        throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT',
          `options.mode 'sparse' needs a 1x1, stride-1, unpadded, ungrouped layer, got kernelSize ${kh}x${kw}, stride ${g.stride.join('x')}, padding ${g.padding.join('x')}, groups ${g.groups}`);
      }
      checkSparseZeroPoints(zps, 'channel');
    }
    const geometry = geometryArray(g);
    this.#layer = new native.QConvLayer(w, geometry, zps, zps.length > 1, MODES.indexOf(mode));
    Object.freeze(this);
  }

  /** Weight scales: 1 value (per tensor) or outChannels. A copy: writing it changes nothing. */
  get weightScales(): Float32Array {
    return this.#scales.slice();
  }

  /** Weight zero points: 1 value or outChannels. A copy. */
  get weightZeroPoints(): Int32Array {
    return this.#zeroPoints.slice();
  }

  /** The bias (Int32Array: accumulator units; Float32Array: real units), or null. A copy. */
  get bias(): Int32Array | Float32Array | null {
    return this.#bias === null ? null : this.#bias.slice();
  }

  /**
   * Quantizes fp32 weights [outChannels][inChannels / groups][kh][kw] to symmetric int8 (scale =
   * max|w| / 127 per output channel by default, zero point 0) and packs them.
   */
  static fromFloat32(weights: Float32Array, options: QConvFromFloat32Options): QuantizedConv2d {
    const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
    const o = checkOptions<QConvFromFloat32Options>(options, 'options', 'QuantizedConv2d.fromFloat32', FROM_FLOAT32_KEYS, 'inChannels, outChannels and kernelSize');
    const g = geometryOf(o);
    const count = weightCount(g);
    checkWeightCount(w.length, count, 'outChannels * inChannels / groups * kh * kw');
    const perChannel = checkBool(o.perChannel, 'options.perChannel', true);
    const bias = checkFloatBias(o.bias, g.outChannels, 'outChannels');
    const mode = checkEnum(o.mode, 'options.mode', MODES, 'auto');
    const q = native.quantizeWeights(w, count / g.outChannels, g.outChannels, true, perChannel);
    return new QuantizedConv2d(g, q.weights, q.scales, Int32Array.of(0), bias, mode);
  }

  /** Packs int8 weights [outChannels][inChannels / groups][kh][kw] with their scale(s) and zero point(s). */
  static fromInt8(weights: Int8Array, options: QConvFromInt8Options): QuantizedConv2d {
    const w = checkArray<Int8Array>(weights, 'weights', [Int8Array]);
    const o = checkOptions<QConvFromInt8Options>(options, 'options', 'QuantizedConv2d.fromInt8', FROM_INT8_KEYS, 'inChannels, outChannels and kernelSize');
    const g = geometryOf(o);
    checkWeightCount(w.length, weightCount(g), 'outChannels * inChannels / groups * kh * kw');
    const mode = checkEnum(o.mode, 'options.mode', MODES, 'auto');
    const n = g.outChannels;
    const scales = weightScalesOf(o.scale, n, 'outChannels');
    const zps = weightZeroPointsOf(o.zeroPoint, n, 'outChannels');
    const bias = weightBiasOf(o.bias, n, 'outChannels');
    return new QuantizedConv2d(g, w, scales, zps, bias, mode);
  }

  /** Bytes of native memory held (reported to V8 as external memory). */
  get byteLength(): number {
    return this.#layer.byteLength;
  }

  /** True when the weights make the fast AVX2 kernel exact for any uint8 input (all weight pairs small). */
  get fastPathForAnyInput(): boolean {
    return this.#layer.fastPath;
  }

  /** Fraction of the 1×4 weight blocks (4 consecutive input channels of one output) that are all zero (1×1 layers; 0 otherwise). */
  get blockSparsity(): number {
    return this.#layer.blockSparsity;
  }

  /**
   * Which kernel a call with this input shape runs on the current ISA, the model's predictions and why.
   * @example
   * conv.explain({ h: 14, w: 14 });   // { kernel: 'sparse', blockSparsity: 0.9, predictedSparseUs: 80, predictedDenseUs: 310, reason: '...' }
   */
  explain(options: QConvExplainOptions): QConvExplanation {
    const o = checkOptions<QConvExplainOptions>(options, 'options', 'QuantizedConv2d.explain', EXPLAIN_KEYS, 'the input shape (h and w)');
    const s = inputShapeOf(o);
    return this.#layer.explain(s.n, s.h, s.w, checkBool(o.narrow, 'options.narrow', false), checkThreads(o.threads));
  }

  /** [n, outChannels, oh, ow] for an input shape. */
  outputShape(shape: QConvInputShape): [number, number, number, number] {
    const s = inputShapeOf(checkOptions<QConvInputShape>(shape, 'options', 'QuantizedConv2d.outputShape', SHAPE_KEYS, 'the input shape (h and w)'));
    return this.#layer.outputShape(s.n, s.h, s.w);
  }

  /**
   * Requantized output: `clamp(roundHalfEven((acc + bias / (scale · wScale)) · (scale · wScale / outScale)) + outZeroPoint)`
   * in fp32 (an Int32Array bias is part of acc). Input x: uint8 [n, inChannels, h, w].
   */
  forward(x: Uint8Array, options: QConvForwardOptions & ({ dtype: 'int8' } | { out: Int8Array })): Int8Array;
  forward(x: Uint8Array, options: QConvForwardOptions): Uint8Array;
  forward(x: Uint8Array, options: QConvForwardOptions): Uint8Array | Int8Array {
    return this.#quantized(x, options, false) as Uint8Array | Int8Array;
  }

  /** {@link QuantizedConv2d.forward} off the main thread. */
  async forwardAsync(x: Uint8Array, options: QConvForwardOptions): Promise<Uint8Array | Int8Array> {
    return this.#quantized(x, options, true) as Promise<Uint8Array | Int8Array>;
  }

  /** fp32 output: `scale · wScale[co] · acc + bias[co]` (fp32, in that order), optional ReLU. */
  forwardFloat(x: Uint8Array, options: QConvForwardFloatOptions): Float32Array {
    return this.#float(x, options, false) as Float32Array;
  }

  /** {@link QuantizedConv2d.forwardFloat} off the main thread. */
  async forwardFloatAsync(x: Uint8Array, options: QConvForwardFloatOptions): Promise<Float32Array> {
    return this.#float(x, options, true) as Promise<Float32Array>;
  }

  /** The exact int32 accumulators `Σ (x − zeroPoint)(w − wZeroPoint)` (ONNX ConvInteger; no bias, no scales). */
  forwardInt32(x: Uint8Array, options: QConvForwardInt32Options): Int32Array {
    return this.#int32(x, options, false) as Int32Array;
  }

  /** {@link QuantizedConv2d.forwardInt32} off the main thread. */
  async forwardInt32Async(x: Uint8Array, options: QConvForwardInt32Options): Promise<Int32Array> {
    return this.#int32(x, options, true) as Promise<Int32Array>;
  }

  #common<T extends QConvCommonOptions>(x: unknown, options: unknown, owner: string, keys: readonly string[], requires: string) {
    const xs = checkArray<Uint8Array>(x, 'x', [Uint8Array]);
    const o = checkOptions<T>(options, 'options', `QuantizedConv2d.${owner}`, keys, requires);
    const s = inputShapeOf(o);
    const need = s.n * this.inChannels * s.h * s.w;
    if (xs.length !== need) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `x.length must be n * inChannels * h * w = ${need}, got ${xs.length}`);
    const shape = this.#layer.outputShape(s.n, s.h, s.w);
    const zeroPoint = inputZeroPoint(o.zeroPoint, false, 'x');
    return { x: xs, o, ...s, size: shape[0] * shape[1] * shape[2] * shape[3], zeroPoint, threads: checkThreads(o.threads), exactOnly: exactOnlyOf(o.kernel) };
  }

  #int32(x: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common<QConvForwardInt32Options>(x, options, 'forwardInt32', INT32_KEYS, 'h and w');
    const out = outputArray<Int32Array>(c.o.out, [Int32Array], c.size, OUT_WHY, (len) => new Int32Array(len));
    return this.#layer.forward(c.x, c.n, c.h, c.w, c.zeroPoint, OUT_INT32, out, 1, this.#scales, 1, 0, 0, 0, null, false, c.threads, c.exactOnly, async);
  }

  #float(x: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common<QConvForwardFloatOptions>(x, options, 'forwardFloat', FLOAT_KEYS, 'h, w and scale');
    const f = floatOutput(c.o, c.size, OUT_WHY);
    return this.#layer.forward(c.x, c.n, c.h, c.w, c.zeroPoint, OUT_FLOAT32, f.out, f.scale, this.#scales, 1, 0, 0, 0, this.#bias, f.relu, c.threads, c.exactOnly, async);
  }

  #quantized(x: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common<QConvForwardOptions>(x, options, 'forward', QUANTIZED_KEYS, 'h, w, scale and outScale');
    const q = quantizedOutput(c.o, c.size, OUT_WHY);
    return this.#layer.forward(
      c.x, c.n, c.h, c.w, c.zeroPoint, q.outType, q.out, q.scale, this.#scales, q.outScale, q.outZeroPoint, q.qmin, q.qmax,
      this.#bias, false, c.threads, c.exactOnly, async,
    );
  }
}


/**
 * fp32 2-D convolution (NCHW) of pruned networks: direct sparse convolution (the zeros of the
 * weights cost nothing), a dense baseline, and a performance model that picks the faster one per
 * layer and input shape. The math and layouts: native/kernels/conv/README.md.
 */
import {
  CONV_GEOMETRY_KEYS, ConvGeometryFields, geometryArray, geometryOf, INPUT_SHAPE_KEYS, inputShapeOf, type ConvGeometryOptions, type ConvInputShape,
} from './conv-geometry';
import { rangeError, typeError } from './errors';
import { binding } from './native';
import { outputArray } from './output-options';
import { checkArray, checkBool, checkEnum, checkFloatBias, checkInt, checkOptions, checkThreads, describe, optionKeys } from './validate';

interface NativeConvLayer {
  readonly nnz: number;
  readonly byteLength: number;
  forward(input: Float32Array, n: number, h: number, w: number, out: Float32Array, threads: number, async: boolean): unknown;
  explain(n: number, h: number, w: number): ConvExplanation;
  outputShape(n: number, h: number, w: number): [number, number, number, number];
}
interface ConvBinding {
  ConvLayer: new (weights: Float32Array, geometry: Int32Array, bias: Float32Array | null, relu: boolean, mode: number, winogradSparsity?: number) => NativeConvLayer;
  pruneMagnitude(w: Float32Array, rows: number, cols: number, sparsity: number, blockRows: number, blockCols: number): Float32Array;
}
const native = binding as unknown as ConvBinding;

/**
 * Which kernel a layer runs: fixed, or `'auto'`: chosen per input shape by the performance model;
 * where its two predictions are within 1.75x of each other (too close to trust it), the first
 * `forward` with that shape times both kernels (2-8 calls each), keeps the faster and returns its output, and
 * later calls with the shape reuse that choice.
 */
export type ConvMode = 'auto' | 'sparse' | 'dense';

/**
 * {@link Conv2d}'s modes: {@link ConvMode}, and `'winograd'`. For 3x3 stride-1 undilated layers
 * `'auto'` also weighs Winograd (F(2x2,3x3) or F(4x4,3x3), whichever the model predicts faster;
 * within 1.3x of dense, the first call times both); `'winograd'` forces it (refused for any other
 * geometry). Winograd's fp32 error is larger than the direct kernels' (the bound:
 * native/kernels/conv/README.md, "Winograd").
 */
export type Conv2dMode = ConvMode | 'winograd';

/** The values of {@link ConvMode}, in the native layers' order. */
export const CONV_MODES: readonly ConvMode[] = ['auto', 'sparse', 'dense'];

/** The values of {@link Conv2dMode}, in the native layer's order. */
export const CONV2D_MODES: readonly Conv2dMode[] = [...CONV_MODES, 'winograd'];

export type { ConvInputShape, Pair } from './conv-geometry';

/** Options of {@link Conv2d}. */
export interface Conv2dOptions extends ConvGeometryOptions {
  /** Bias of outChannels values. */
  bias?: Float32Array;
  /** Fused ReLU. */
  relu?: boolean;
  /** Default `'auto'`. */
  mode?: Conv2dMode;
  /**
   * Sparse Winograd (Li, Park & Tang, "Enabling Sparse Winograd Convolution by Native Pruning"):
   * prune the Winograd-domain weights U = G g Gᵀ to this fraction of zero blocks (one input channel
   * × 16 output channels of one transform coefficient, smallest Σ|u| first) and run a kernel that
   * skips them. The pruned layer computes a different function than its spatial weights (fine-tune
   * for it), so it needs `mode: 'winograd'`. In [0, 1]; default 0 (dense).
   */
  winogradSparsity?: number;
}

/** Options of {@link Conv2d.forward}. */
export interface ConvForwardOptions extends ConvInputShape {
  /** Output [n, outChannels, oh, ow]; allocated when absent. */
  out?: Float32Array;
  /** Threads; default 1 (work is split by nonzeros for the sparse kernel). */
  threads?: number;
}

/** What {@link Conv2d.explain} returns. */
export interface ConvExplanation {
  /** The kernel a call with this shape runs. */
  kernel: 'sparse' | 'dense' | 'winograd' | 'depthwise';
  /** Fraction of zero weights. */
  sparsity: number;
  /** The model's predictions (auto mode only), milliseconds. */
  predictedSparseMs?: number;
  /** The model's predictions (auto mode only), milliseconds. */
  predictedDenseMs?: number;
  /** Times of both kernels measured on the first call with this shape (auto mode, when the model's
   * predictions were too close to call), milliseconds. */
  measuredSparseMs?: number;
  /** See {@link ConvExplanation.measuredSparseMs}; also set when Winograd was timed against dense. */
  measuredDenseMs?: number;
  /** Winograd's predicted time with its faster tile (3x3 stride-1 layers in 'auto' / 'winograd'), milliseconds. */
  predictedWinogradMs?: number;
  /** The Winograd output tile the model picks: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)). */
  winogradTile?: 2 | 4;
  /** Winograd's time measured on the first call when it was too close to dense to call, milliseconds. */
  measuredWinogradMs?: number;
  /** The Winograd-domain block sparsity the layer was pruned to ({@link Conv2dOptions.winogradSparsity}). */
  winogradSparsity?: number;
  /** One line: why this kernel. */
  reason: string;
}

/** Options of {@link pruneWeights}. */
export interface PruneOptions {
  /** Fraction of weights to zero, in [0, 1]. */
  sparsity: number;
  /** Rows of the matrix view (output channels); the rest of the length is columns. */
  rows: number;
  /** Prune whole blocks of [rows, cols] (ranked by Σ|w|); default [1, 1] (unstructured). */
  block?: [number, number];
}

const CONV2D_KEYS = [...CONV_GEOMETRY_KEYS, ...optionKeys<Omit<Conv2dOptions, keyof ConvGeometryOptions>>()('bias', 'relu', 'mode', 'winogradSparsity')];
const FORWARD_KEYS = [...INPUT_SHAPE_KEYS, ...optionKeys<Omit<ConvForwardOptions, keyof ConvInputShape>>()('out', 'threads')];
const PRUNE_KEYS = optionKeys<PruneOptions>()('sparsity', 'rows', 'block');

/**
 * A 2-D convolution layer over fp32 NCHW activations, with sparse and dense kernels, Winograd for
 * 3×3 stride-1 layers, and a dedicated depthwise kernel (groups = channels, 3×3 or 5×5, stride 1
 * or 2; modes 'auto' and 'dense').
 */
export class Conv2d extends ConvGeometryFields {
  /** The kernel choice. */
  readonly mode: Conv2dMode;
  readonly #layer: NativeConvLayer;

  /**
   * Builds a layer from dense fp32 weights [outChannels][inChannels / groups][kh][kw] (PyTorch and
   * ONNX order). Exact zeros are dropped for the sparse kernel.
   */
  constructor(weights: Float32Array, options: Conv2dOptions) {
    const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
    const o = checkOptions<Conv2dOptions>(options, 'options', 'Conv2d', CONV2D_KEYS, 'inChannels, outChannels and kernelSize');
    const g = geometryOf(o);
    super(g);
    const mode = checkEnum(o.mode, 'options.mode', CONV2D_MODES, 'auto');
    this.mode = mode;
    const bias = checkFloatBias(o.bias, g.outChannels, 'outChannels');
    let wsp = 0;
    if (o.winogradSparsity !== undefined) {
      if (typeof o.winogradSparsity !== 'number' || !(o.winogradSparsity >= 0 && o.winogradSparsity <= 1)) {
        throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `options.winogradSparsity must be a number in [0, 1], got ${describe(o.winogradSparsity)}`);
      }
      if (o.winogradSparsity > 0 && mode !== 'winograd') {
        throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.winogradSparsity needs mode 'winograd', got mode '${mode}'`);
      }
      wsp = o.winogradSparsity;
    }
    this.#layer = new native.ConvLayer(w, geometryArray(g), bias, checkBool(o.relu, 'options.relu', false), CONV2D_MODES.indexOf(mode), wsp);
  }

  /** Nonzero weights. */
  get nnz(): number {
    return this.#layer.nnz;
  }

  /** Fraction of zero weights. */
  get sparsity(): number {
    return 1 - this.#layer.nnz / ((this.outChannels * this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1]);
  }

  /** Native memory held (reported to V8). */
  get byteLength(): number {
    return this.#layer.byteLength;
  }

  /** [n, outChannels, oh, ow] for an input shape. */
  outputShape(shape: ConvInputShape): [number, number, number, number] {
    const s = inputShapeOf(checkOptions<ConvInputShape>(shape, 'options', 'Conv2d.outputShape', INPUT_SHAPE_KEYS, 'the input shape (h and w)'));
    return this.#layer.outputShape(s.n, s.h, s.w);
  }

  /** Which kernel runs for this input shape, the model's predictions and why. */
  explain(shape: ConvInputShape): ConvExplanation {
    const s = inputShapeOf(checkOptions<ConvInputShape>(shape, 'options', 'Conv2d.explain', INPUT_SHAPE_KEYS, 'the input shape (h and w)'));
    return this.#layer.explain(s.n, s.h, s.w);
  }

  /** Convolves input [n, inChannels, h, w]; returns [n, outChannels, oh, ow]. */
  forward(input: Float32Array, options: ConvForwardOptions): Float32Array {
    const p = this.#prepare(input, options);
    this.#layer.forward(p.x, p.n, p.h, p.w, p.out, p.threads, false);
    return p.out;
  }

  /** {@link Conv2d.forward} off the main thread. */
  async forwardAsync(input: Float32Array, options: ConvForwardOptions): Promise<Float32Array> {
    const p = this.#prepare(input, options);
    await this.#layer.forward(p.x, p.n, p.h, p.w, p.out, p.threads, true);
    return p.out;
  }

  #prepare(input: unknown, options: ConvForwardOptions) {
    const x = checkArray<Float32Array>(input, 'input', [Float32Array]);
    const o = checkOptions<ConvForwardOptions>(options, 'options', 'Conv2d.forward', FORWARD_KEYS, 'h and w');
    const s = inputShapeOf(o);
    const need = s.n * this.inChannels * s.h * s.w;
    if (x.length !== need) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `input.length must be n * inChannels * h * w = ${need}, got ${x.length}`);
    const [, c, oh, ow] = this.#layer.outputShape(s.n, s.h, s.w);
    const out = outputArray<Float32Array>(o.out, [Float32Array], s.n * c * oh * ow, 'n * outChannels * oh * ow', (len) => new Float32Array(len));
    return { x, ...s, out, threads: checkThreads(o.threads) };
  }
}

/**
 * Magnitude pruning: zeroes the `sparsity` fraction of weights (or blocks) of smallest magnitude,
 * viewing them as a matrix of `rows` (output channels) × the rest. Ties go to the earlier position,
 * so the result is deterministic. Returns a new array.
 */
export function pruneWeights(weights: Float32Array, options: PruneOptions): Float32Array {
  const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
  const o = checkOptions<PruneOptions>(options, 'options', 'pruneWeights', PRUNE_KEYS, 'sparsity and rows');
  if (typeof o.sparsity !== 'number' || !(o.sparsity >= 0 && o.sparsity <= 1)) {
    throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `options.sparsity must be a number in [0, 1], got ${describe(o.sparsity)}`);
  }
  const rows = checkInt(o.rows, 'options.rows', 1, 2 ** 30);
  if (w.length % rows !== 0) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `weights.length (${w.length}) must be a multiple of options.rows (${rows})`);
  const cols = w.length / rows;
  if (o.block !== undefined && (!Array.isArray(o.block) || o.block.length !== 2)) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.block must be [rows, cols], got ${describe(o.block)}`);
  }
  const [br, bc] = o.block === undefined ? [1, 1] : [checkInt(o.block[0], 'options.block[0]', 1, rows), checkInt(o.block[1], 'options.block[1]', 1, cols)];
  return native.pruneMagnitude(w, rows, cols, o.sparsity, br, bc);
}

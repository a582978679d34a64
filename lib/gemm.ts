/**
 * int8 GEMM with fused (re)quantization: {@link QuantizedLinear} packs int8 weights once, then
 * multiplies uint8/int8 activations by them, exactly (the int32 result equals the mathematical sum
 * on every CPU), returning int32, requantized uint8/int8, or fp32 with bias and ReLU. `forward` is
 * a drop-in fp32 Linear layer with dynamic quantization. Pruned (block-sparse) weights run on the
 * int8 sparse fully-connected kernel where a performance model predicts it faster, with the same
 * bit-exact results (`mode`, {@link QuantizedLinear.explain}). The math is in
 * native/kernels/gemm/README.md and native/kernels/sparse_fc/README.md.
 */
import { isLowbitError, rangeError, typeError } from './errors';
import { binding } from './native';
import { resultArray } from './result';
import {
  exactOnlyOf, floatOutput, inputZeroPoint, KERNEL_KEYS, OUT_FLOAT32, OUT_INT32, outputArray, QUANTIZED_OUTPUT_KEYS, quantizedOutput,
  type KernelOptions, type QuantizedOutputOptions,
} from './output-options';
import { checkArray, checkBool, checkEnum, checkFloatBias, checkInt, checkOptions, checkThreads, isTyped, optionKeys } from './validate';
import { checkSparseZeroPoints, checkWeightCount, weightBiasOf, weightScalesOf, weightZeroPointsOf } from './weight-params';

/** Native packed weights (internal). */
interface NativePackedLinear {
  readonly k: number;
  readonly n: number;
  readonly byteLength: number;
  readonly fastPath: boolean;
  readonly residualDensity: number;
  readonly zeroPoints: Int32Array;
  readonly sparseKept: boolean;
  readonly blockSparsity: number;
  explain(m: number, narrow: boolean, threads: number): LinearExplanation;
  serialize(): Uint8Array;
  gemm(
    a: Uint8Array | Int8Array, lda: number, m: number, aZeroPoint: number, outType: number, out: ArrayBufferView, ldc: number,
    aScale: number, weightScales: Float32Array, outScale: number, outZeroPoint: number, qmin: number, qmax: number,
    bias: Float32Array | Int32Array | null, relu: boolean, threads: number, exactOnly: boolean, async: boolean,
  ): unknown;
  dynamic(
    x: Float32Array, ldx: number, m: number, perRow: boolean, reduceRange: boolean, weightScales: Float32Array,
    bias: Float32Array | null, relu: boolean, out: Float32Array, threads: number, async: boolean,
  ): unknown;
}
/** Native packed 4-bit weights (internal, native/napi/gemm_q4.cc): PackedLinear's gemm and dynamic. */
interface NativePackedLinear4 {
  readonly k: number;
  readonly n: number;
  readonly byteLength: number;
  readonly groupSize: number;
  readonly outlierCount: number;
  serialize(): Uint8Array;
  gemm(...args: Parameters<NativePackedLinear['gemm']>): unknown;
  dynamic(...args: Parameters<NativePackedLinear['dynamic']>): unknown;
}
interface GemmBinding {
  PackedLinear: new (...args: unknown[]) => NativePackedLinear;
  PackedLinear4: new (...args: unknown[]) => NativePackedLinear4;
  quantizeWeights(w: Float32Array, k: number, n: number, transposed: boolean, perChannel: boolean): { weights: Int8Array; scales: Float32Array };
}
const native = binding as unknown as GemmBinding;

/**
 * Weight layout: `'nk'` (the default, as everywhere in lowbit) is N×K row-major, PyTorch's
 * `Linear.weight` ([out][in]); `'kn'` is K×N row-major (the transpose, e.g. ONNX MatMul's B).
 */
export type WeightLayout = 'kn' | 'nk';

/**
 * Which kernel a {@link QuantizedLinear} runs. `'auto'` (default): per call, the dense GEMM or the
 * sparse one (1×4 blocks of nonzero weights), whichever a performance model calibrated on this CPU
 * predicts faster for that batch size; the sparse weights are packed only where they can win.
 * `'sparse'`: always the sparse kernel, and only sparse weights are kept (less memory when pruned).
 * `'dense'`: always the dense GEMM. Every mode gives bit-identical results. The sparse kernel needs
 * weights without zero point (all 0, as {@link QuantizedLinear.fromFloat32} makes them).
 */
export type LinearMode = 'auto' | 'sparse' | 'dense';

const MODES: readonly LinearMode[] = ['auto', 'sparse', 'dense'];

/**
 * The residual split of full-range int8 weights (native/kernels/gemm/README.md, "Residual split"):
 * the weights are packed as a dense part whose pairs cannot saturate AVX2's fast vpmaddubsw kernel
 * plus a sparse residual of the few weights that could, added exactly in the same call, so that
 * full-range activations run on the fast kernel with results bit-identical to the exact one.
 * `'auto'` (default): split where the performance model says it pays (on AVX2, residual density at
 * most 4%; ~1% for Gaussian per-channel weights). `'always'`: split whenever a pair could saturate
 * (on every ISA; only AVX2 gains). `'never'`: keep the weights as given.
 */
export type ResidualSplit = 'auto' | 'always' | 'never';

const RESIDUAL_SPLITS: readonly ResidualSplit[] = ['auto', 'always', 'never'];

/** What {@link QuantizedLinear.explain} returns. */
export interface LinearExplanation {
  /** The kernel a call with this many rows runs. */
  kernel: 'sparse' | 'dense';
  /** Fraction of the 1×4 weight blocks (4 consecutive inputs of one output) that are all zero. */
  blockSparsity: number;
  /** The model's prediction for one call on one thread, µs (absent when the weights have zero points). */
  predictedSparseUs?: number;
  /** The model's prediction for one call on one thread, µs (absent when the weights have zero points). */
  predictedDenseUs?: number;
  /**
   * Mode `'auto'`, predictions within 1.3× of each other: what the first call of this batch size
   * measured (both kernels, timed alternately, best of 3-8 calls each; absent before that call).
   * Batch sizes share a measurement by bucket: each M up to 16, then per power of two.
   */
  measuredSparseUs?: number;
  /** See {@link LinearExplanation.measuredSparseUs}. */
  measuredDenseUs?: number;
  /** One line: the mode or the predictions and the decision. */
  reason: string;
}

/** Options of {@link QuantizedLinear.explain}. */
export interface ExplainOptions {
  /** Rows (batch size) of the call to explain. */
  m: number;
  /**
   * Predict for activations spanning at most 128 values (7-bit, as {@link QuantizedLinear.forward}
   * makes by default), which the dense AVX2 kernel multiplies on a faster path. Default false.
   */
  narrow?: boolean;
  /** Threads of the call (auto's measurements are kept per thread count). Default 1. */
  threads?: number;
}

/** Options of {@link QuantizedLinear.fromInt8}. */
export interface FromInt8Options {
  /** Input features (columns of the N×K weight matrix). */
  k: number;
  /** Output features (rows). */
  n: number;
  /** Layout of `weights`; default `'nk'` (PyTorch's [out][in]). */
  layout?: WeightLayout;
  /** Weight scale: one per tensor, or a Float32Array of `n` (per output channel). Default 1. */
  scale?: number | Float32Array;
  /** Weight zero point(s) in [-128, 127]: one, or an Int32Array of `n`. Default 0. */
  zeroPoint?: number | Int32Array;
  /**
   * Bias of `n` values fused into the float and quantized outputs: a Float32Array in real units, or
   * an Int32Array in accumulator units (scale · wScale), added to the exact int32 sum (FBGEMM's
   * int32 bias). {@link QuantizedLinear.forward} takes only a real-valued bias.
   */
  bias?: Float32Array | Int32Array;
  /** Kernel choice; default `'auto'`. `'sparse'` needs every zero point to be 0. See {@link LinearMode}. */
  mode?: LinearMode;
  /** Dense part + sparse residual for the fast kernel; default `'auto'`. See {@link ResidualSplit}. */
  residual?: ResidualSplit;
}

/** 4-bit group sizes along K; 0: one group (one scale) per output channel. */
export type GroupSize = 32 | 64 | 128 | 0;

/** Options of {@link QuantizedLinear.fromFloat32}. */
export interface FromFloat32Options {
  /**
   * Weight bits: 8 (default, symmetric int8) or 4: 4-bit weights with one scale per group of
   * `groupSize` inputs, and the largest-magnitude weights (`outliers`) kept in int8 in a sparse
   * side matrix added in the same call (value-aware quantization). 4-bit layers halve the weight
   * memory and traffic (GEMV at M = 1 is bound by it); they have no int32 output (the group scales
   * apply inside the sum), no sparse mode and no residual split.
   */
  bits?: 8 | 4;
  /** 4-bit only: inputs per scale, 32, 64 or 128, or 0 for one scale per output; default 128. */
  groupSize?: GroupSize;
  /** 4-bit only: fraction of all weights kept as int8 outliers (largest |w| first), in [0, 0.5]; default 0.01. */
  outliers?: number;
  /** 4-bit only: every weight with |w| >= this is an outlier (instead of `outliers`); must be > 0. */
  outlierThreshold?: number;
  /** Input features. */
  k: number;
  /** Output features. */
  n: number;
  /** Layout of `weights`; default `'nk'` (PyTorch's [out][in]). */
  layout?: WeightLayout;
  /** Real-valued bias of `n` values. */
  bias?: Float32Array;
  /** One scale per output channel (default true) or one for the tensor. */
  perChannel?: boolean;
  /** Kernel choice; default `'auto'`. See {@link LinearMode}. Prune first (e.g. `pruneWeights` with `block: [1, 4]`). */
  mode?: LinearMode;
  /** Dense part + sparse residual for the fast kernel; default `'auto'`. See {@link ResidualSplit}. */
  residual?: ResidualSplit;
}

/** Options every product takes (and `threads`, `kernel`: {@link KernelOptions}). */
export interface MatmulCommonOptions extends KernelOptions {
  /** Rows of A; default `a.length / lda`. */
  m?: number;
  /** Distance between rows of A in elements (>= k); default k. */
  lda?: number;
}

/** Options of {@link QuantizedLinear.matmulInt32}. */
export interface MatmulInt32Options extends MatmulCommonOptions {
  /** Zero point of A; default 0. */
  zeroPoint?: number;
  /** Output of m × n int32 values; allocated when absent. */
  out?: Int32Array;
}

/** Options of {@link QuantizedLinear.matmulFloat}. */
export interface MatmulFloatOptions extends MatmulCommonOptions {
  /** Scale of A. */
  scale: number;
  /** Zero point of A; default 0. */
  zeroPoint?: number;
  /** Apply max(0, x) after the bias. */
  relu?: boolean;
  /** Output of m × n floats; allocated when absent. */
  out?: Float32Array;
}

/** Options of {@link QuantizedLinear.matmulQuantized}: A's parameters and the requantized output ({@link QuantizedOutputOptions}). */
export interface MatmulQuantizedOptions extends MatmulCommonOptions, QuantizedOutputOptions {
  /** Scale of A. */
  scale: number;
  /** Zero point of A; default 0. */
  zeroPoint?: number;
  /** Output of m × n values; allocated when absent. */
  out?: Uint8Array | Int8Array;
}

/** Options of {@link QuantizedLinear.forward}. */
export interface ForwardOptions {
  /** Rows of x; default `x.length / ldx`. */
  m?: number;
  /** Distance between rows of x (>= k); default k. */
  ldx?: number;
  /** Quantization parameters per row of x (more accurate) instead of per tensor; default false. */
  perRow?: boolean;
  /**
   * Quantize activations to 7 bits (default true, as PyTorch's fbgemm backend): the fast AVX2
   * kernel is then exact by construction. false: 8 bits, more accurate, the exact int16 kernel.
   */
  reduceRange?: boolean;
  /** Apply max(0, x) after the bias. */
  relu?: boolean;
  /** Output of m × n floats; allocated when absent. */
  out?: Float32Array;
  /** Threads; default 1. */
  threads?: number;
}

const MAGIC = 0x4c51424c; // 'LBQL' little-endian
const VERSION = 1;
const PACKED_MAGIC = 0x3147424c; // 'LBG1': native/kernels/gemm/pack.cc
const PACKED4_MAGIC = 0x3451424c; // 'LBQ4': native/kernels/gemm/q4_pack.cc
const LAYOUTS: readonly WeightLayout[] = ['nk', 'kn'];

const FROM_INT8_KEYS = optionKeys<FromInt8Options>()('k', 'n', 'layout', 'scale', 'zeroPoint', 'bias', 'mode', 'residual');
const FROM_FLOAT32_KEYS = optionKeys<FromFloat32Options>()('k', 'n', 'layout', 'bias', 'perChannel', 'mode', 'residual', 'bits', 'groupSize', 'outliers', 'outlierThreshold');
const GROUP_SIZES: readonly GroupSize[] = [32, 64, 128, 0];

// A 4-bit layer behind PackedLinear's interface: what only int8 weights have answers as for
// dense weights without sparsity or split.
function q4Packed(p: NativePackedLinear4): NativePackedLinear {
  return {
    get k() { return p.k; },
    get n() { return p.n; },
    get byteLength() { return p.byteLength; },
    fastPath: true,
    zeroPoints: Int32Array.of(0),
    sparseKept: false,
    blockSparsity: 0,
    residualDensity: 0,
    explain: () => ({
      kernel: 'dense', blockSparsity: 0,
      reason: `4-bit weights (${p.groupSize ? `groups of ${p.groupSize}` : 'one scale per output'}, ${p.outlierCount} int8 outliers): the 4-bit kernel`,
    }),
    serialize: () => p.serialize(),
    gemm: (...args) => p.gemm(...args),
    dynamic: (...args) => p.dynamic(...args),
  };
}
const EXPLAIN_KEYS = optionKeys<ExplainOptions>()('m', 'narrow', 'threads');
const COMMON_KEYS = [...optionKeys<Omit<MatmulCommonOptions, keyof KernelOptions>>()('m', 'lda'), ...KERNEL_KEYS];
const INT32_KEYS = [...COMMON_KEYS, ...optionKeys<Omit<MatmulInt32Options, keyof MatmulCommonOptions>>()('zeroPoint', 'out')];
const FLOAT_KEYS = [...COMMON_KEYS, ...optionKeys<Omit<MatmulFloatOptions, keyof MatmulCommonOptions>>()('scale', 'zeroPoint', 'relu', 'out')];
const QUANTIZED_KEYS = [...COMMON_KEYS, ...QUANTIZED_OUTPUT_KEYS, ...optionKeys<Omit<MatmulQuantizedOptions, keyof MatmulCommonOptions | keyof QuantizedOutputOptions>>()('scale', 'zeroPoint')];
const FORWARD_KEYS = optionKeys<ForwardOptions>()('m', 'ldx', 'perRow', 'reduceRange', 'relu', 'out', 'threads');

function rows(len: number, stride: number, k: number, m: unknown, arg: string, strideName: string): number {
  if (m === undefined) {
    if (len % stride !== 0 || len === 0) {
      throw rangeError(
        'ERR_LOWBIT_LENGTH_MISMATCH',
        `${arg}.length must be a positive multiple of ${strideName} (${stride}) when options.m is not given, got ${len}`,
      );
    }
    return len / stride;
  }
  const rowsM = checkInt(m, 'options.m', 1, 2 ** 40);
  const need = (rowsM - 1) * stride + k;
  if (len < need) {
    throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${arg}.length must be at least ${need} for m=${rowsM}, ${strideName}=${stride}, k=${k}, got ${len}`);
  }
  return rowsM;
}

/** The shape options of `fromInt8` / `fromFloat32`: k, n, and whether the weights are N×K. */
function shapeOf(o: { k?: unknown; n?: unknown; layout?: unknown }, length: number): { k: number; n: number; transposed: boolean } {
  const k = checkInt(o.k, 'options.k', 1, 2 ** 30);
  const n = checkInt(o.n, 'options.n', 1, 2 ** 30);
  checkWeightCount(length, k * n, 'k * n');
  return { k, n, transposed: checkEnum(o.layout, 'options.layout', LAYOUTS, 'nk') === 'nk' };
}

/** Packed int8 weights of a linear layer (K inputs, N outputs), ready for fast exact products. */
export class QuantizedLinear {
  /** Input features. */
  readonly k: number;
  /** Output features. */
  readonly n: number;
  /** The kernel choice this layer was built with. */
  readonly mode: LinearMode;
  readonly #packed: NativePackedLinear;
  // The layer's own copies: what reaches the kernels, never an array a caller holds.
  readonly #scales: Float32Array;
  readonly #zeroPoints: Int32Array;
  readonly #bias: Float32Array | Int32Array | null;
  readonly #split: number; // index in RESIDUAL_SPLITS, kept for serialize
  readonly #q4: NativePackedLinear4 | null;
  /** Weight bits: 8, or 4 ({@link FromFloat32Options.bits}). */
  readonly bits: 8 | 4;

  private constructor(packed: NativePackedLinear | NativePackedLinear4, scales: Float32Array, zeroPoints: Int32Array, bias: Float32Array | Int32Array | null, mode: LinearMode, split = 0) {
    const q4 = 'groupSize' in packed ? packed : null;
    this.#q4 = q4;
    this.bits = q4 ? 4 : 8;
    packed = q4 ? q4Packed(q4) : (packed as NativePackedLinear);
    this.#packed = packed;
    this.mode = mode;
    this.k = packed.k;
    this.n = packed.n;
    this.#scales = scales;
    this.#zeroPoints = zeroPoints;
    this.#bias = bias;
    this.#split = split;
    Object.freeze(this);
  }

  /** Weight scales: 1 value (per tensor) or n (per output channel). A copy: writing it changes nothing. */
  get weightScales(): Float32Array {
    return this.#scales.slice();
  }

  /** Weight zero points: 1 value or n. A copy. */
  get weightZeroPoints(): Int32Array {
    return this.#zeroPoints.slice();
  }

  /** The bias (Float32Array: real units; Int32Array: accumulator units), or null. A copy. */
  get bias(): Float32Array | Int32Array | null {
    return this.#bias === null ? null : this.#bias.slice();
  }

  /**
   * Packs int8 weights (N×K, PyTorch's [out][in], or K×N with `layout: 'kn'`) with their scale(s)
   * and zero point(s).
   * @example
   * const layer = QuantizedLinear.fromInt8(w, { k: 512, n: 256, scale: 0.01 });   // w: 256 rows of 512
   */
  static fromInt8(weights: Int8Array, options: FromInt8Options): QuantizedLinear {
    const w = checkArray<Int8Array>(weights, 'weights', [Int8Array]);
    const o = checkOptions<FromInt8Options>(options, 'options', 'QuantizedLinear.fromInt8', FROM_INT8_KEYS, 'k and n');
    const { k, n, transposed } = shapeOf(o, w.length);
    const scales = weightScalesOf(o.scale, n, 'n');
    const zps = weightZeroPointsOf(o.zeroPoint, n, 'n');
    const bias = weightBiasOf(o.bias, n, 'n');
    const mode = checkEnum(o.mode, 'options.mode', MODES, 'auto');
    if (mode === 'sparse') checkSparseZeroPoints(zps, 'index');
    const split = RESIDUAL_SPLITS.indexOf(checkEnum(o.residual, 'options.residual', RESIDUAL_SPLITS, 'auto'));
    const packed = new native.PackedLinear('int8', w, k, n, transposed, zps, zps.length > 1, MODES.indexOf(mode), split);
    return new QuantizedLinear(packed, scales, zps, bias, mode, split);
  }

  /**
   * Quantizes fp32 weights (N×K, PyTorch's [out][in], or K×N with `layout: 'kn'`) to symmetric int8
   * (scale = max|w| / 127 per output channel by default) and packs them.
   */
  static fromFloat32(weights: Float32Array, options: FromFloat32Options): QuantizedLinear {
    const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
    const o = checkOptions<FromFloat32Options>(options, 'options', 'QuantizedLinear.fromFloat32', FROM_FLOAT32_KEYS, 'k and n');
    const { k, n, transposed } = shapeOf(o, w.length);
    const perChannel = checkBool(o.perChannel, 'options.perChannel', true);
    const bias = checkFloatBias(o.bias, n, 'n');
    const mode = checkEnum(o.mode, 'options.mode', MODES, 'auto');
    const bits = checkNumberChoice(o.bits, 'options.bits', [8, 4] as const, 8);
    if (bits === 4) {
      if (mode === 'sparse') throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', "options.mode 'sparse' needs 8-bit weights (bits: 8)");
      if (o.residual !== undefined && o.residual !== 'auto') throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', 'options.residual applies to 8-bit weights only');
      const group = checkNumberChoice(o.groupSize, 'options.groupSize', GROUP_SIZES, 128);
      const outliers = o.outliers === undefined ? 0.01 : checkFiniteIn(o.outliers, 'options.outliers', 0, 0.5);
      const threshold = o.outlierThreshold === undefined ? 0 : checkFiniteIn(o.outlierThreshold, 'options.outlierThreshold', Number.MIN_VALUE, Number.MAX_VALUE);
      if (o.outliers !== undefined && o.outlierThreshold !== undefined) {
        throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', 'options.outliers and options.outlierThreshold are exclusive: give one');
      }
      const packed4 = new native.PackedLinear4('float32', w, k, n, transposed, group, outliers, threshold);
      return new QuantizedLinear(packed4, Float32Array.of(1), Int32Array.of(0), bias, mode);
    }
    for (const key of ['groupSize', 'outliers', 'outlierThreshold'] as const) {
      if (o[key] !== undefined) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.${key} applies to 4-bit weights only (bits: 4)`);
    }
    const split = RESIDUAL_SPLITS.indexOf(checkEnum(o.residual, 'options.residual', RESIDUAL_SPLITS, 'auto'));
    const q = native.quantizeWeights(w, k, n, transposed, perChannel);
    const packed = new native.PackedLinear('int8', q.weights, k, n, transposed, Int32Array.of(0), false, MODES.indexOf(mode), split);
    return new QuantizedLinear(packed, q.scales, Int32Array.of(0), bias, mode, split);
  }

  /**
   * Restores an object written by {@link QuantizedLinear.serialize} (on any CPU). Everything
   * {@link QuantizedLinear.fromInt8} checks is checked again (scales, zero points, bias, sizes,
   * mode); bytes that fail throw a RangeError `ERR_LOWBIT_INVALID_SERIALIZATION` naming the field.
   */
  static deserialize(bytes: Uint8Array): QuantizedLinear {
    const b = checkArray<Uint8Array>(bytes, 'bytes', [Uint8Array]);
    // a private copy: the checks below and the native parse read the same bytes
    const r = new SerialReader(new Uint8Array(b)); // a copy even of a Buffer (whose slice is a view)
    if (r.u32('magic') !== MAGIC) throw invalidSerialization('magic: not a serialized QuantizedLinear');
    const version = r.u32('version');
    if (version !== VERSION) throw invalidSerialization(`version: unsupported version ${version}`);
    const flags = r.u32('flags');
    // bits 0-1: bias kind (0 none, 1 float32, 3 int32); bits 2-3: the mode; bits 4-5: the residual
    // split (0 auto, written by every version); no other bits
    const biasKind = flags & 3;
    const modeIndex = (flags >> 2) & 3;
    const split = (flags >> 4) & 3;
    const fourBit = (flags >> 6) & 1; // bit 6: 4-bit weights ('LBQ4', native/kernels/gemm/q4_pack.cc)
    if (flags >>> 7 !== 0 || biasKind === 2 || modeIndex >= MODES.length || split >= RESIDUAL_SPLITS.length || (fourBit && (modeIndex === 1 || split !== 0 || biasKind === 3))) throw invalidSerialization(`flags: unknown value 0x${flags.toString(16)}`);
    const mode = MODES[modeIndex];
    const nScales = r.u32('weightScales count');
    const scales = r.array(nScales, 'weightScales', (off) => r.view.getFloat32(off, true), Float32Array);
    const nBias = r.u32('bias count');
    if (biasKind === 0 && nBias !== 0) throw invalidSerialization(`bias count: ${nBias} values with no bias`);
    const bias = biasKind === 0 ? null
      : biasKind === 1 ? r.array(nBias, 'bias', (off) => r.view.getFloat32(off, true), Float32Array)
      : r.array(nBias, 'bias', (off) => r.view.getInt32(off, true), Int32Array);
    if (fourBit) {
      if (r.u32('packed weights magic') !== PACKED4_MAGIC) throw invalidSerialization('packed weights magic: not lowbit 4-bit weights');
      const packed4 = recoded(() => new native.PackedLinear4('bytes', r.bytes.subarray(r.off - 4)));
      recoded(() => {
        weightScalesOf(scales, 1, '1', 'weightScales');
        weightBiasOf(bias, packed4.n, 'n', 'bias');
      });
      return new QuantizedLinear(packed4, scales, Int32Array.of(0), bias, mode);
    }
    // the packed weights (native/kernels/gemm/pack.cc), checked here first so that errors name fields
    const start = r.off;
    if (r.u32('packed weights magic') !== PACKED_MAGIC) throw invalidSerialization('packed weights magic: not lowbit packed weights');
    const packedVersion = r.u32('packed weights version');
    if (packedVersion !== 1) throw invalidSerialization(`packed weights version: unsupported version ${packedVersion}`);
    const k = r.u64('k');
    const n = r.u64('n');
    const perChannel = r.u32('packed weights per-channel flag');
    if (perChannel > 1) throw invalidSerialization(`packed weights per-channel flag: must be 0 or 1, got ${perChannel}`);
    const zps = r.array(perChannel ? n : 1, 'weightZeroPoints', (off) => r.view.getInt32(off, true), Int32Array);
    const dataBytes = Math.ceil(n / 8) * Math.ceil(k / 4) * 32;
    if (r.left() !== dataBytes) {
      throw invalidSerialization(`packed weights: ${dataBytes} bytes for k = ${k}, n = ${n}, got ${r.left()}${r.left() < dataBytes ? ' (truncated)' : ' (trailing bytes)'}`);
    }
    recoded(() => {
      weightScalesOf(scales, n, 'n', 'weightScales');
      weightZeroPointsOf(zps, n, 'n', 'weightZeroPoints');
      weightBiasOf(bias, n, 'n', 'bias');
      if (mode === 'sparse') checkSparseZeroPoints(zps, 'index', 'weightZeroPoints');
    });
    const packed = recoded(() => new native.PackedLinear('bytes', r.bytes.subarray(start), modeIndex, split));
    return new QuantizedLinear(packed, scales, zps, bias, mode, split);
  }

  /** Portable bytes (the same on every ISA) holding the packed weights, scales and bias. */
  serialize(): Uint8Array {
    const packed = this.#packed.serialize();
    const bias = this.#bias;
    const scales = this.#scales;
    const size = 16 + 4 * scales.length + 4 + (bias ? 4 * bias.length : 0) + packed.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, VERSION, true);
    view.setUint32(8, (bias ? 1 : 0) | (isTyped(bias, Int32Array) ? 2 : 0) | (MODES.indexOf(this.mode) << 2) | (this.#split << 4) | (this.#q4 ? 64 : 0), true);
    view.setUint32(12, scales.length, true);
    let off = 16;
    scales.forEach((s, i) => view.setFloat32(off + 4 * i, s, true));
    off += 4 * scales.length;
    view.setUint32(off, bias ? bias.length : 0, true);
    off += 4;
    if (bias) {
      if (isTyped(bias, Int32Array)) bias.forEach((v, i) => view.setInt32(off + 4 * i, v, true));
      else bias.forEach((v, i) => view.setFloat32(off + 4 * i, v, true));
      off += 4 * bias.length;
    }
    out.set(packed, off);
    return out;
  }

  /** Bytes of native memory held (reported to V8 as external memory). */
  get byteLength(): number {
    return this.#packed.byteLength;
  }

  /** Fraction of the 1×4 weight blocks (4 consecutive inputs of one output) that are all zero. */
  get blockSparsity(): number {
    return this.#packed.blockSparsity;
  }

  /** True when this layer holds packed sparse weights (mode `'sparse'`, or `'auto'` where sparse can win). */
  get sparseKept(): boolean {
    return this.#packed.sparseKept;
  }

  /**
   * Which kernel a call with `m` rows runs on the current ISA, the model's predictions and why.
   * @example
   * layer.explain({ m: 1 });   // { kernel: 'dense', blockSparsity: 0.7, predictedSparseUs: 36, predictedDenseUs: 25, reason: '...' }
   */
  explain(options: ExplainOptions): LinearExplanation {
    const o = checkOptions<ExplainOptions>(options, 'options', 'QuantizedLinear.explain', EXPLAIN_KEYS, 'm');
    const m = checkInt(o.m, 'options.m', 1, 2 ** 40);
    return this.#packed.explain(m, checkBool(o.narrow, 'options.narrow', false), checkThreads(o.threads));
  }

  /**
   * True when the fast AVX2 kernel is exact for any uint8 input: every weight pair is small enough,
   * or the weights were split into a safe dense part and a sparse residual ({@link ResidualSplit}).
   */
  get fastPathForAnyInput(): boolean {
    return this.#packed.fastPath;
  }

  /** 4-bit layers: inputs per scale (32, 64, 128, or 0: one per output); 8-bit layers: undefined. */
  get groupSize(): GroupSize | undefined {
    return this.#q4 ? (this.#q4.groupSize as GroupSize) : undefined;
  }

  /** 4-bit layers: the weights kept as int8 outliers; 8-bit layers: 0. */
  get outlierCount(): number {
    return this.#q4 ? this.#q4.outlierCount : 0;
  }

  /** Fraction of the weights held in the residual of the split ({@link ResidualSplit}); 0 when not split. */
  get residualDensity(): number {
    return this.#packed.residualDensity;
  }

  /** C = (A − zeroPoint) · (W − wZeroPoint) in exact int32 (no scales, no bias). */
  matmulInt32(a: Uint8Array | Int8Array, options?: MatmulInt32Options): Int32Array {
    return this.#int32(a, options, false) as Int32Array;
  }

  /** {@link QuantizedLinear.matmulInt32} off the main thread. */
  async matmulInt32Async(a: Uint8Array | Int8Array, options?: MatmulInt32Options): Promise<Int32Array> {
    return this.#int32(a, options, true) as Promise<Int32Array>;
  }

  /** fp32 output: `scale · wScale[n] · C + bias[n]`, optional ReLU. */
  matmulFloat(a: Uint8Array | Int8Array, options: MatmulFloatOptions): Float32Array {
    return this.#float(a, options, false) as Float32Array;
  }

  /** {@link QuantizedLinear.matmulFloat} off the main thread. */
  async matmulFloatAsync(a: Uint8Array | Int8Array, options: MatmulFloatOptions): Promise<Float32Array> {
    return this.#float(a, options, true) as Promise<Float32Array>;
  }

  /**
   * Requantized output: `clamp(roundHalfEven((C + bias / (scale · wScale)) · scale · wScale / outScale) + outZeroPoint)`.
   */
  matmulQuantized(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions & ({ dtype: 'int8' } | { out: Int8Array })): Int8Array;
  matmulQuantized(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions): Uint8Array;
  matmulQuantized(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions): Uint8Array | Int8Array {
    return this.#quantized(a, options, false) as Uint8Array | Int8Array;
  }

  /** {@link QuantizedLinear.matmulQuantized} off the main thread. */
  matmulQuantizedAsync(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions & ({ dtype: 'int8' } | { out: Int8Array })): Promise<Int8Array>;
  matmulQuantizedAsync(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions): Promise<Uint8Array>;
  async matmulQuantizedAsync(a: Uint8Array | Int8Array, options: MatmulQuantizedOptions): Promise<Uint8Array | Int8Array> {
    return this.#quantized(a, options, true) as Promise<Uint8Array | Int8Array>;
  }

  /**
   * A fp32 Linear layer: `y = x · Wᵀ + bias` (W N×K) with x quantized on the fly (dynamic
   * quantization, parameters from x's range), an exact int8 product, and dequantization.
   * x must be finite: NaN or ±Infinity throws a RangeError `ERR_LOWBIT_NOT_FINITE` naming the row.
   */
  forward(x: Float32Array, options?: ForwardOptions): Float32Array {
    return this.#forward(x, options, false) as Float32Array;
  }

  /** {@link QuantizedLinear.forward} off the main thread. */
  async forwardAsync(x: Float32Array, options?: ForwardOptions): Promise<Float32Array> {
    return this.#forward(x, options, true) as Promise<Float32Array>;
  }

  #common<T extends MatmulCommonOptions & { zeroPoint?: number }>(a: unknown, options: unknown, owner: string, keys: readonly string[], requires?: string) {
    const arr = checkArray<Uint8Array | Int8Array>(a, 'a', [Uint8Array, Int8Array]);
    const o = checkOptions<T>(options, 'options', `QuantizedLinear.${owner}`, keys, requires);
    const lda = o.lda === undefined ? this.k : checkInt(o.lda, 'options.lda', this.k, 2 ** 40);
    const m = rows(arr.length, lda, this.k, o.m, 'a', 'lda');
    const zeroPoint = inputZeroPoint(o.zeroPoint, isTyped(arr, Int8Array), 'a');
    return { a: arr, o, lda, m, zeroPoint, threads: checkThreads(o.threads), exactOnly: exactOnlyOf(o.kernel) };
  }

  #int32(a: unknown, options: unknown, async: boolean): unknown {
    if (this.#q4) {
      throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', 'matmulInt32 is not defined for 4-bit weights (each group\'s scale applies inside the sum): use matmulFloat or matmulQuantized');
    }
    const c = this.#common<MatmulInt32Options>(a, options, 'matmulInt32', INT32_KEYS);
    const out = outputArray<Int32Array>(c.o.out, [Int32Array], c.m * this.n, 'm * n', (len) => resultArray(Int32Array, len, async));
    return this.#packed.gemm(c.a, c.lda, c.m, c.zeroPoint, OUT_INT32, out, this.n, 1, this.#scales, 1, 0, 0, 0, null, false, c.threads, c.exactOnly, async);
  }

  #float(a: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common<MatmulFloatOptions>(a, options, 'matmulFloat', FLOAT_KEYS, 'scale');
    const f = floatOutput(c.o, c.m * this.n, 'm * n', async);
    return this.#packed.gemm(c.a, c.lda, c.m, c.zeroPoint, OUT_FLOAT32, f.out, this.n, f.scale, this.#scales, 1, 0, 0, 0, this.#bias, f.relu, c.threads, c.exactOnly, async);
  }

  #quantized(a: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common<MatmulQuantizedOptions>(a, options, 'matmulQuantized', QUANTIZED_KEYS, 'scale and outScale');
    const q = quantizedOutput(c.o, c.m * this.n, 'm * n', async);
    return this.#packed.gemm(
      c.a, c.lda, c.m, c.zeroPoint, q.outType, q.out, this.n, q.scale, this.#scales, q.outScale, q.outZeroPoint, q.qmin, q.qmax,
      this.#bias, false, c.threads, c.exactOnly, async,
    );
  }

  #forward(x: unknown, options: unknown, async: boolean): unknown {
    const xs = checkArray<Float32Array>(x, 'x', [Float32Array]);
    if (isTyped(this.#bias, Int32Array)) {
      throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', 'forward needs a real-valued (Float32Array) bias: this layer has an int32 bias in accumulator units, which depends on the input scale');
    }
    const o = checkOptions<ForwardOptions>(options, 'options', 'QuantizedLinear.forward', FORWARD_KEYS);
    const ldx = o.ldx === undefined ? this.k : checkInt(o.ldx, 'options.ldx', this.k, 2 ** 40);
    const m = rows(xs.length, ldx, this.k, o.m, 'x', 'ldx');
    const threads = checkThreads(o.threads);
    const out = outputArray<Float32Array>(o.out, [Float32Array], m * this.n, 'm * n', (len) => resultArray(Float32Array, len, async));
    return this.#packed.dynamic(
      xs, ldx, m, checkBool(o.perRow, 'options.perRow', false), checkBool(o.reduceRange, 'options.reduceRange', true),
      this.#scales, this.#bias as Float32Array | null, checkBool(o.relu, 'options.relu', false), out, threads, async,
    );
  }
}

// A number option from a fixed list (bits, groupSize).
function checkNumberChoice<T extends number>(value: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${typeof value}`);
  if (!(allowed as readonly number[]).includes(value)) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `${name} must be one of ${allowed.join(', ')}, got ${value}`);
  return value as T;
}
// A finite number in [lo, hi].
function checkFiniteIn(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number') throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${typeof value}`);
  if (!Number.isFinite(value) || value < lo || value > hi) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `${name} must be a finite number in [${lo}, ${hi}], got ${value}`);
  return value;
}

function invalidSerialization(why: string) {
  return rangeError('ERR_LOWBIT_INVALID_SERIALIZATION', `bytes are not a valid serialized QuantizedLinear: ${why}`);
}

// Runs checks written for the constructors' options, turning their errors into serialization errors.
function recoded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isLowbitError(e)) throw invalidSerialization(e.message);
    throw e;
  }
}

// Little-endian fields read in order; every read checks the bytes left first, so that a count read
// from the bytes is never allocated before it is known to fit in them.
class SerialReader {
  readonly view: DataView;
  off = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  left(): number {
    return this.bytes.length - this.off;
  }
  need(count: number, field: string): void {
    if (count > this.left()) throw invalidSerialization(`${field}: truncated (${count} bytes needed at offset ${this.off}, ${this.left()} left)`);
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  // a size field: at most 2^30, as fromInt8's k and n
  u64(field: string): number {
    this.need(8, field);
    const lo = this.view.getUint32(this.off, true);
    const hi = this.view.getUint32(this.off + 4, true);
    this.off += 8;
    if (hi !== 0 || lo < 1 || lo > 2 ** 30) throw invalidSerialization(`${field}: must be in [1, 2^30], got ${hi * 2 ** 32 + lo}`);
    return lo;
  }
  array<T extends Float32Array | Int32Array>(count: number, field: string, read: (off: number) => number, ctor: new (n: number) => T): T {
    this.need(4 * count, field);
    const out = new ctor(count);
    for (let i = 0; i < count; i++) out[i] = read(this.off + 4 * i);
    this.off += 4 * count;
    return out;
  }
}

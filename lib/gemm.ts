/**
 * int8 GEMM with fused (re)quantization: {@link QuantizedLinear} packs int8 weights once, then
 * multiplies uint8/int8 activations by them, exactly (the int32 result equals the mathematical sum
 * on every CPU), returning int32, requantized uint8/int8, or fp32 with bias and ReLU. `forward` is
 * a drop-in fp32 Linear layer with dynamic quantization. Pruned (block-sparse) weights run on the
 * int8 sparse fully-connected kernel where a performance model predicts it faster, with the same
 * bit-exact results (`mode`, {@link QuantizedLinear.explain}). The math is in
 * native/kernels/gemm/README.md and native/kernels/sparse_fc/README.md.
 */
import { rangeError, typeError } from './errors';
import { binding } from './native';
import { checkArray, checkBool, checkFloatBias, checkInt, checkOptions, checkScale, describe, isTyped } from './validate';

/** Native packed weights (internal). */
interface NativePackedLinear {
  readonly k: number;
  readonly n: number;
  readonly byteLength: number;
  readonly fastPath: boolean;
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
interface GemmBinding {
  PackedLinear: new (...args: unknown[]) => NativePackedLinear;
  quantizeWeights(w: Float32Array, k: number, n: number, transposed: boolean, perChannel: boolean): { weights: Int8Array; scales: Float32Array };
}
const native = binding as unknown as GemmBinding;

/** Weight layout: `'kn'` is K×N row-major; `'nk'` is N×K (PyTorch's `Linear.weight`, [out, in]). */
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
  /** Input features (rows of the K×N weight matrix). */
  k: number;
  /** Output features (columns). */
  n: number;
  /** Layout of `weights`; default `'kn'`. */
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
}

/** Options of {@link QuantizedLinear.fromFloat32}. */
export interface FromFloat32Options {
  /** Input features. */
  k: number;
  /** Output features. */
  n: number;
  /** Layout of `weights`; default `'kn'`. */
  layout?: WeightLayout;
  /** Real-valued bias of `n` values. */
  bias?: Float32Array;
  /** One scale per output channel (default true) or one for the tensor. */
  perChannel?: boolean;
  /** Kernel choice; default `'auto'`. See {@link LinearMode}. Prune first (e.g. `pruneWeights` with `block: [1, 4]`). */
  mode?: LinearMode;
}

/** Options every product takes. */
export interface MatmulCommonOptions {
  /** Rows of A; default `a.length / lda`. */
  m?: number;
  /** Distance between rows of A in elements (>= k); default k. */
  lda?: number;
  /** Threads to split the product across (the caller's included); default 1. */
  threads?: number;
  /** `'exact'` forces the always-exact kernel even where a faster one is proven exact (benchmarks). Default `'auto'`. */
  kernel?: 'auto' | 'exact';
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

/** Options of {@link QuantizedLinear.matmulQuantized}. */
export interface MatmulQuantizedOptions extends MatmulCommonOptions {
  /** Scale of A. */
  scale: number;
  /** Zero point of A; default 0. */
  zeroPoint?: number;
  /** Scale of the output. */
  outScale: number;
  /** Zero point of the output; default 0. */
  outZeroPoint?: number;
  /** Output type; default `'uint8'` (or the type of `out`). */
  dtype?: 'uint8' | 'int8';
  /** Fused ReLU (clamps at the output zero point). */
  relu?: boolean;
  /** Output clamp; default the type's range (combined with relu). */
  qmin?: number;
  /** Output clamp; default the type's range. */
  qmax?: number;
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

function toInt(value: unknown, name: string, lo: number, hi: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  return checkInt(value, name, lo, hi);
}

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

/** Packed int8 weights of a linear layer (K inputs, N outputs), ready for fast exact products. */
export class QuantizedLinear {
  /** Input features. */
  readonly k: number;
  /** Output features. */
  readonly n: number;
  /** Weight scales: 1 value (per tensor) or n (per output channel). */
  readonly weightScales: Float32Array;
  /** Weight zero points: 1 value or n. */
  readonly weightZeroPoints: Int32Array;
  /** The bias (Float32Array: real units; Int32Array: accumulator units), or null. */
  readonly bias: Float32Array | Int32Array | null;
  /** The kernel choice this layer was built with. */
  readonly mode: LinearMode;
  readonly #packed: NativePackedLinear;

  private constructor(packed: NativePackedLinear, scales: Float32Array, zeroPoints: Int32Array, bias: Float32Array | Int32Array | null, mode: LinearMode) {
    this.#packed = packed;
    this.mode = mode;
    this.k = packed.k;
    this.n = packed.n;
    this.weightScales = scales;
    this.weightZeroPoints = zeroPoints;
    this.bias = bias;
    Object.freeze(this);
  }

  /**
   * Packs int8 weights with their scale(s) and zero point(s).
   * @example
   * const layer = QuantizedLinear.fromInt8(w, { k: 512, n: 256, scale: 0.01 });
   */
  static fromInt8(weights: Int8Array, options: FromInt8Options): QuantizedLinear {
    const w = checkArray<Int8Array>(weights, 'weights', [Int8Array]);
    if (options === undefined) throw typeError('ERR_LOWBIT_INVALID_TYPE', 'options must be an object with k and n, got undefined');
    const o = checkOptions<FromInt8Options>(options, 'options');
    const k = checkInt(o.k, 'options.k', 1, 2 ** 30);
    const n = checkInt(o.n, 'options.n', 1, 2 ** 30);
    if (w.length !== k * n) {
      throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `weights.length must be k * n = ${k * n}, got ${w.length}`);
    }
    const transposed = layoutOf(o.layout);
    const scales = scalesOf(o.scale, n);
    let zps: Int32Array;
    if (o.zeroPoint === undefined || typeof o.zeroPoint === 'number') {
      zps = Int32Array.of(toInt(o.zeroPoint, 'options.zeroPoint', -128, 127, 0));
    } else {
      zps = Int32Array.from(checkArray<Int32Array>(o.zeroPoint, 'options.zeroPoint', [Int32Array]));
      if (zps.length !== n && zps.length !== 1) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.zeroPoint.length must be n (${n}) or 1, got ${zps.length}`);
      }
      zps.forEach((z, i) => checkInt(z, `options.zeroPoint[${i}]`, -128, 127));
    }
    const bias = isTyped(o.bias, Int32Array) ? int32BiasOf(o.bias, n) : checkFloatBias(o.bias, n, 'n');
    const mode = modeOf(o.mode);
    const nonzero = zps.findIndex((z) => z !== 0);
    if (mode === 'sparse' && nonzero >= 0) {
      throw rangeError(
        'ERR_LOWBIT_INVALID_ZERO_POINT',
        `options.zeroPoint must be 0 with mode 'sparse' (the sparse kernel needs symmetric weights), got ${zps[nonzero]}` +
          (zps.length > 1 ? ` at index ${nonzero}` : ''),
      );
    }
    const packed = new native.PackedLinear('int8', w, k, n, transposed, zps, zps.length > 1, MODES.indexOf(mode));
    return new QuantizedLinear(packed, scales, zps, bias, mode);
  }

  /**
   * Quantizes fp32 weights (symmetric int8, scale = max|w| / 127 per output channel by default)
   * and packs them.
   */
  static fromFloat32(weights: Float32Array, options: FromFloat32Options): QuantizedLinear {
    const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
    if (options === undefined) throw typeError('ERR_LOWBIT_INVALID_TYPE', 'options must be an object with k and n, got undefined');
    const o = checkOptions<FromFloat32Options>(options, 'options');
    const k = checkInt(o.k, 'options.k', 1, 2 ** 30);
    const n = checkInt(o.n, 'options.n', 1, 2 ** 30);
    if (w.length !== k * n) {
      throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `weights.length must be k * n = ${k * n}, got ${w.length}`);
    }
    const transposed = layoutOf(o.layout);
    const perChannel = checkBool(o.perChannel, 'options.perChannel', true);
    const bias = checkFloatBias(o.bias, n, 'n');
    const mode = modeOf(o.mode);
    const q = native.quantizeWeights(w, k, n, transposed, perChannel);
    const packed = new native.PackedLinear('int8', q.weights, k, n, transposed, Int32Array.of(0), false, MODES.indexOf(mode));
    return new QuantizedLinear(packed, q.scales, Int32Array.of(0), bias, mode);
  }

  /** Restores an object written by {@link QuantizedLinear.serialize} (on any CPU). */
  static deserialize(bytes: Uint8Array): QuantizedLinear {
    const b = checkArray<Uint8Array>(bytes, 'bytes', [Uint8Array]);
    const bad = (why: string) => rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `bytes are not a serialized QuantizedLinear: ${why}`);
    if (b.length < 16) throw bad(`too short (${b.length} bytes)`);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (view.getUint32(0, true) !== MAGIC) throw bad('bad magic');
    if (view.getUint32(4, true) !== VERSION) throw bad(`unsupported version ${view.getUint32(4, true)}`);
    const flags = view.getUint32(8, true);
    // bits 0-1: bias kind; bits 2-3: the mode (0 auto in files written before modes existed)
    const modeIndex = (flags >> 2) & 3;
    if (modeIndex >= MODES.length) throw bad(`unknown mode ${modeIndex}`);
    const mode = MODES[modeIndex];
    const nScales = view.getUint32(12, true);
    let off = 16;
    const take = (count: number): Float32Array => {
      if (off + 4 * count > b.length) throw bad('truncated');
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(off + 4 * i, true);
      off += 4 * count;
      return out;
    };
    const scales = take(nScales);
    scales.forEach((s, i) => checkScale(s, `weightScales[${i}]`));
    if (off + 4 > b.length) throw bad('truncated');
    const nBias = view.getUint32(off, true);
    off += 4;
    let bias: Float32Array | Int32Array | null = null;
    if (flags & 2) {
      if (off + 4 * nBias > b.length) throw bad('truncated');
      bias = Int32Array.from({ length: nBias }, (_, i) => view.getInt32(off + 4 * i, true));
      off += 4 * nBias;
    } else if (flags & 1) {
      bias = take(nBias);
    }
    const packed = new native.PackedLinear('bytes', b.subarray(off), modeIndex);
    if (nScales !== 1 && nScales !== packed.n) throw bad(`${nScales} scales for n = ${packed.n}`);
    if (bias && bias.length !== packed.n) throw bad(`${bias.length} bias values for n = ${packed.n}`);
    return new QuantizedLinear(packed, scales, packed.zeroPoints, bias, mode);
  }

  /** Portable bytes (the same on every ISA) holding the packed weights, scales and bias. */
  serialize(): Uint8Array {
    const packed = this.#packed.serialize();
    const bias = this.bias;
    const size = 16 + 4 * this.weightScales.length + 4 + (bias ? 4 * bias.length : 0) + packed.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, VERSION, true);
    view.setUint32(8, (bias ? 1 : 0) | (isTyped(bias, Int32Array) ? 2 : 0) | (MODES.indexOf(this.mode) << 2), true);
    view.setUint32(12, this.weightScales.length, true);
    let off = 16;
    this.weightScales.forEach((s, i) => view.setFloat32(off + 4 * i, s, true));
    off += 4 * this.weightScales.length;
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
    if (options === undefined) throw typeError('ERR_LOWBIT_INVALID_TYPE', 'options must be an object with m, got undefined');
    const o = checkOptions<ExplainOptions>(options, 'options');
    const m = checkInt(o.m, 'options.m', 1, 2 ** 40);
    const threads = o.threads === undefined ? 1 : checkInt(o.threads, 'options.threads', 1, 256);
    return this.#packed.explain(m, checkBool(o.narrow, 'options.narrow', false), threads);
  }

  /** True when every weight pair is small enough for the fast AVX2 kernel to be exact for any uint8 input. */
  get fastPathForAnyInput(): boolean {
    return this.#packed.fastPath;
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
   * A fp32 Linear layer: `y = x · W + bias` with x quantized on the fly (dynamic quantization,
   * parameters from x's range), an exact int8 product, and dequantization.
   */
  forward(x: Float32Array, options?: ForwardOptions): Float32Array {
    return this.#forward(x, options, false) as Float32Array;
  }

  /** {@link QuantizedLinear.forward} off the main thread. */
  async forwardAsync(x: Float32Array, options?: ForwardOptions): Promise<Float32Array> {
    return this.#forward(x, options, true) as Promise<Float32Array>;
  }

  #common(a: unknown, options: unknown, required: boolean) {
    const arr = checkArray<Uint8Array | Int8Array>(a, 'a', [Uint8Array, Int8Array]);
    if (required && options === undefined) throw typeError('ERR_LOWBIT_INVALID_TYPE', 'options must be an object with scale, got undefined');
    const o = checkOptions<MatmulQuantizedOptions>(options, 'options');
    const lda = toInt(o.lda, 'options.lda', this.k, 2 ** 40, this.k);
    const m = rows(arr.length, lda, this.k, o.m, 'a', 'lda');
    const signed = isTyped(arr, Int8Array);
    const zeroPoint = toInt(o.zeroPoint, 'options.zeroPoint', signed ? -128 : 0, signed ? 127 : 255, 0);
    const threads = toInt(o.threads, 'options.threads', 1, 256, 1);
    if (o.kernel !== undefined && o.kernel !== 'auto' && o.kernel !== 'exact') {
      throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.kernel must be 'auto' or 'exact', got ${describe(o.kernel)}`);
    }
    return { a: arr, o, lda, m, zeroPoint, threads, exactOnly: o.kernel === 'exact' };
  }

  #out<T extends ArrayBufferView & { length: number }>(out: unknown, m: number, ctors: Parameters<typeof checkArray>[2], make: () => T): T {
    if (out === undefined) return make();
    const arr = checkArray<T>(out, 'options.out', ctors);
    if (arr.length !== m * this.n) {
      throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.out.length must be m * n = ${m * this.n}, got ${arr.length}`);
    }
    return arr;
  }

  #int32(a: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common(a, options, false);
    const out = this.#out<Int32Array>(c.o.out, c.m, [Int32Array], () => new Int32Array(c.m * this.n));
    return this.#packed.gemm(c.a, c.lda, c.m, c.zeroPoint, 0, out, this.n, 1, this.weightScales, 1, 0, 0, 0, null, false, c.threads, c.exactOnly, async);
  }

  #float(a: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common(a, options, true);
    const scale = checkScale(c.o.scale, 'options.scale');
    const relu = checkBool((c.o as MatmulFloatOptions).relu, 'options.relu', false);
    const out = this.#out<Float32Array>(c.o.out, c.m, [Float32Array], () => new Float32Array(c.m * this.n));
    return this.#packed.gemm(c.a, c.lda, c.m, c.zeroPoint, 3, out, this.n, scale, this.weightScales, 1, 0, 0, 0, this.bias, relu, c.threads, c.exactOnly, async);
  }

  #quantized(a: unknown, options: unknown, async: boolean): unknown {
    const c = this.#common(a, options, true);
    const o = c.o;
    const scale = checkScale(o.scale, 'options.scale');
    const outScale = checkScale(o.outScale, 'options.outScale');
    if (o.dtype !== undefined && o.dtype !== 'uint8' && o.dtype !== 'int8') {
      throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.dtype must be 'uint8' or 'int8', got ${describe(o.dtype)}`);
    }
    const signedOut = o.out !== undefined ? isTyped(o.out, Int8Array) : o.dtype === 'int8';
    const out = this.#out<Uint8Array | Int8Array>(o.out, c.m, [Uint8Array, Int8Array], () =>
      signedOut ? new Int8Array(c.m * this.n) : new Uint8Array(c.m * this.n),
    );
    if (o.dtype !== undefined && (o.dtype === 'int8') !== isTyped(out, Int8Array)) {
      throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.out is a ${out.constructor.name} but options.dtype is '${o.dtype}'`);
    }
    const lo = signedOut ? -128 : 0;
    const hi = signedOut ? 127 : 255;
    const outZeroPoint = toInt(o.outZeroPoint, 'options.outZeroPoint', lo, hi, 0);
    let qmin = toInt(o.qmin, 'options.qmin', lo, hi, lo);
    const qmax = toInt(o.qmax, 'options.qmax', qmin, hi, hi);
    if (checkBool(o.relu, 'options.relu', false)) qmin = Math.max(qmin, Math.min(outZeroPoint, qmax));
    return this.#packed.gemm(c.a, c.lda, c.m, c.zeroPoint, signedOut ? 2 : 1, out, this.n, scale, this.weightScales, outScale, outZeroPoint, qmin, qmax, this.bias, false, c.threads, c.exactOnly, async);
  }

  #forward(x: unknown, options: unknown, async: boolean): unknown {
    const xs = checkArray<Float32Array>(x, 'x', [Float32Array]);
    if (isTyped(this.bias, Int32Array)) {
      throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', 'forward needs a real-valued (Float32Array) bias: this layer has an int32 bias in accumulator units, which depends on the input scale');
    }
    const o = checkOptions<ForwardOptions>(options, 'options');
    const ldx = toInt(o.ldx, 'options.ldx', this.k, 2 ** 40, this.k);
    const m = rows(xs.length, ldx, this.k, o.m, 'x', 'ldx');
    const threads = toInt(o.threads, 'options.threads', 1, 256, 1);
    const out = this.#out<Float32Array>(o.out, m, [Float32Array], () => new Float32Array(m * this.n));
    return this.#packed.dynamic(
      xs, ldx, m, checkBool(o.perRow, 'options.perRow', false), checkBool(o.reduceRange, 'options.reduceRange', true),
      this.weightScales, this.bias as Float32Array | null, checkBool(o.relu, 'options.relu', false), out, threads, async,
    );
  }
}

function modeOf(mode: unknown): LinearMode {
  if (mode === undefined) return 'auto';
  if (mode === 'auto' || mode === 'sparse' || mode === 'dense') return mode;
  throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.mode must be 'auto', 'sparse' or 'dense', got ${describe(mode)}`);
}

function layoutOf(layout: unknown): boolean {
  if (layout === undefined || layout === 'kn') return false;
  if (layout === 'nk') return true;
  throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.layout must be 'kn' or 'nk', got ${describe(layout)}`);
}

function scalesOf(scale: unknown, n: number): Float32Array {
  if (scale === undefined) return Float32Array.of(1);
  if (typeof scale === 'number') return Float32Array.of(checkScale(scale, 'options.scale'));
  const s = checkArray<Float32Array>(scale, 'options.scale', [Float32Array]);
  if (s.length !== n && s.length !== 1) {
    throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.scale.length must be n (${n}) or 1, got ${s.length}`);
  }
  s.forEach((v, i) => checkScale(v, `options.scale[${i}]`));
  return Float32Array.from(s);
}

function int32BiasOf(bias: unknown, n: number): Int32Array {
  const b = checkArray<Int32Array>(bias, 'options.bias', [Int32Array]);
  if (b.length !== n) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.bias.length must be n (${n}), got ${b.length}`);
  return Int32Array.from(b);
}


/**
 * Per-tensor affine quantization between float32 and 8-bit integers:
 *
 *     q = clamp(roundHalfEven(x * fround(1 / scale)) + zeroPoint, qmin, qmax)   (NaN -> zeroPoint)
 *     x = fround((q - zeroPoint) * scale)
 *
 * Bit-identical on every ISA (see native/kernels/quant/README.md).
 */
import { rangeError, typeError } from './errors';
import { binding } from './native';
import { checkArray, checkBool, checkEnum, checkInt, checkLength, checkOptions, checkScale, checkZeroPoint, describe, isTyped, optionKeys } from './validate';

/** The 8-bit integer types lowbit quantizes to. */
export type QuantDtype = 'uint8' | 'int8';

/** Affine quantization parameters: `real = scale * (q - zeroPoint)`. */
export interface QuantParams {
  /** Step between consecutive quantized values; finite, > 0. */
  scale: number;
  /** The quantized value that represents real 0; an integer in [qmin, qmax]. */
  zeroPoint: number;
  /** Target type; default `'uint8'` (or the type of `out` when given). */
  dtype?: QuantDtype;
  /** Lowest quantized value produced; default the type's minimum (0 or -128). */
  qmin?: number;
  /** Highest quantized value produced; default the type's maximum (255 or 127). */
  qmax?: number;
}

/** Options of {@link quantize}: the parameters, and optionally where to write. */
export interface QuantizeOptions extends QuantParams {
  /** Output array of the same length as the input; a new one is allocated when absent. */
  out?: Uint8Array | Int8Array;
}

/**
 * Options of {@link dequantize}: the {@link QuantParams} (so that what {@link chooseQuantParams}
 * returns can be passed as is) and optionally where to write.
 */
export interface DequantizeOptions extends QuantParams {
  /** As in {@link QuantParams}; must fit the input's type. */
  zeroPoint: number;
  /** As in {@link QuantParams}; when given, must name the input's type. */
  dtype?: QuantDtype;
  /** Output array of the same length as the input; a new one is allocated when absent. */
  out?: Float32Array;
}

/** Options of {@link chooseQuantParams}. */
export interface ChooseQuantParamsOptions {
  /** Quantize to int8 instead of uint8. Default false. */
  signed?: boolean;
  /** Keep the zero point at the middle of the range (0 for int8, 128 for uint8). Default false. */
  symmetric?: boolean;
  /** Use 7 bits ([0, 127] or [-64, 63]), for kernels that must not overflow int16. Default false. */
  reduceRange?: boolean;
}

/** Quantization parameters chosen by {@link chooseQuantParams}, ready to pass to {@link quantize}. */
export interface ChosenQuantParams extends Required<QuantParams> {}

const DTYPES: readonly QuantDtype[] = ['uint8', 'int8'];
const QUANTIZE_KEYS = optionKeys<QuantizeOptions>()('scale', 'zeroPoint', 'dtype', 'qmin', 'qmax', 'out');
const DEQUANTIZE_KEYS = optionKeys<DequantizeOptions>()('scale', 'zeroPoint', 'dtype', 'qmin', 'qmax', 'out');
const CHOOSE_KEYS = optionKeys<ChooseQuantParamsOptions>()('signed', 'symmetric', 'reduceRange');

interface Resolved {
  x: Float32Array;
  out: Uint8Array | Int8Array;
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

function resolveQuantize(x: unknown, options: unknown): Resolved {
  const xs = checkArray<Float32Array>(x, 'x', [Float32Array]);
  const o = checkOptions<QuantizeOptions>(options, 'options', 'quantize', QUANTIZE_KEYS, 'scale and zeroPoint');
  if (o.dtype !== undefined) checkEnum(o.dtype, 'options.dtype', DTYPES);
  let out: Uint8Array | Int8Array;
  if (o.out !== undefined) {
    out = checkArray<Uint8Array | Int8Array>(o.out, 'options.out', [Uint8Array, Int8Array]);
    const outType: QuantDtype = isTyped(out, Int8Array) ? 'int8' : 'uint8';
    if (o.dtype !== undefined && o.dtype !== outType) {
      throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.out is a ${out.constructor.name} but options.dtype is '${o.dtype}'`);
    }
    checkLength('options.out', out.length, xs.length, 'the length of x');
  } else {
    out = o.dtype === 'int8' ? new Int8Array(xs.length) : new Uint8Array(xs.length);
  }
  const signed = isTyped(out, Int8Array);
  const lo = signed ? -128 : 0;
  const hi = signed ? 127 : 255;
  const scale = checkScale(o.scale, 'options.scale');
  const qmin = o.qmin === undefined ? lo : checkInt(o.qmin, 'options.qmin', lo, hi);
  const qmax = o.qmax === undefined ? hi : checkInt(o.qmax, 'options.qmax', qmin, hi);
  const zeroPoint = checkZeroPoint(o.zeroPoint, 'options.zeroPoint', qmin, qmax, undefined, `for ${signed ? 'int8' : 'uint8'}`);
  return { x: xs, out, scale, zeroPoint, qmin, qmax };
}

/**
 * Quantizes float32 values to uint8 or int8.
 * @param x values to quantize (not modified).
 * @param options scale, zero point, type and optional output array.
 * @returns the quantized values (`options.out` when given).
 * @throws TypeError / RangeError with a `code` on bad arguments; nothing is written then.
 * @example
 * const p = lowbit.chooseQuantParams(-1, 1);
 * const q = lowbit.quantize(new Float32Array([0.5, -0.25]), p); // Uint8Array
 */
export function quantize(x: Float32Array, options: QuantizeOptions & ({ dtype: 'int8' } | { out: Int8Array })): Int8Array;
export function quantize(x: Float32Array, options: QuantizeOptions): Uint8Array;
export function quantize(x: Float32Array, options: QuantizeOptions): Uint8Array | Int8Array {
  const r = resolveQuantize(x, options);
  return binding.quantize(r.x, r.out, r.scale, r.zeroPoint, r.qmin, r.qmax, false);
}

/**
 * {@link quantize} off the main thread. The input and output arrays are kept alive until the
 * Promise settles; do not modify or transfer them meanwhile.
 */
export function quantizeAsync(x: Float32Array, options: QuantizeOptions & ({ dtype: 'int8' } | { out: Int8Array })): Promise<Int8Array>;
export function quantizeAsync(x: Float32Array, options: QuantizeOptions): Promise<Uint8Array>;
export async function quantizeAsync(x: Float32Array, options: QuantizeOptions): Promise<Uint8Array | Int8Array> {
  const r = resolveQuantize(x, options);
  return binding.quantize(r.x, r.out, r.scale, r.zeroPoint, r.qmin, r.qmax, true);
}

function resolveDequantize(q: unknown, options: unknown): { q: Uint8Array | Int8Array; out: Float32Array; scale: number; zeroPoint: number } {
  const qs = checkArray<Uint8Array | Int8Array>(q, 'q', [Uint8Array, Int8Array]);
  const o = checkOptions<DequantizeOptions>(options, 'options', 'dequantize', DEQUANTIZE_KEYS, 'scale and zeroPoint');
  const signed = isTyped(qs, Int8Array);
  const scale = checkScale(o.scale, 'options.scale');
  if (o.dtype !== undefined && checkEnum(o.dtype, 'options.dtype', DTYPES) !== (signed ? 'int8' : 'uint8')) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `q is a ${qs.constructor.name} but options.dtype is '${o.dtype}'`);
  }
  const lo = signed ? -128 : 0;
  const hi = signed ? 127 : 255;
  // the clamp does not apply to dequantization; checked as quantize checks it
  const qmin = o.qmin === undefined ? lo : checkInt(o.qmin, 'options.qmin', lo, hi);
  if (o.qmax !== undefined) checkInt(o.qmax, 'options.qmax', qmin, hi);
  const zeroPoint = checkZeroPoint(o.zeroPoint, 'options.zeroPoint', lo, hi, undefined, `for a ${qs.constructor.name}`);
  let out: Float32Array;
  if (o.out !== undefined) {
    out = checkArray<Float32Array>(o.out, 'options.out', [Float32Array]);
    checkLength('options.out', out.length, qs.length, 'the length of q');
  } else {
    out = new Float32Array(qs.length);
  }
  return { q: qs, out, scale, zeroPoint };
}

/**
 * Dequantizes uint8 or int8 values to float32.
 * @param q quantized values (not modified).
 * @param options scale, zero point and optional output array.
 * @returns the real values (`options.out` when given).
 * @throws TypeError / RangeError with a `code` on bad arguments; nothing is written then.
 */
export function dequantize(q: Uint8Array | Int8Array, options: DequantizeOptions): Float32Array {
  const r = resolveDequantize(q, options);
  return binding.dequantize(r.q, r.out, r.scale, r.zeroPoint, false);
}

/** {@link dequantize} off the main thread; the arrays are kept alive until the Promise settles. */
export async function dequantizeAsync(q: Uint8Array | Int8Array, options: DequantizeOptions): Promise<Float32Array> {
  const r = resolveDequantize(q, options);
  return binding.dequantize(r.q, r.out, r.scale, r.zeroPoint, true);
}

/**
 * Chooses scale and zero point for values observed in [min, max] (FBGEMM's rule): the range is
 * widened to include 0 so that 0 is exact; `symmetric` centres the zero point.
 * @throws RangeError `ERR_LOWBIT_INVALID_RANGE` if min or max is not finite or min > max.
 * @example
 * lowbit.chooseQuantParams(0, 2.55) // { scale: 0.01, zeroPoint: 0, qmin: 0, qmax: 255, dtype: 'uint8' }
 */
export function chooseQuantParams(min: number, max: number, options?: ChooseQuantParamsOptions): ChosenQuantParams {
  for (const [name, v] of [['min', min], ['max', max]] as const) {
    if (typeof v !== 'number') throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${describe(v)}`);
    if (!Number.isFinite(Math.fround(v))) {
      throw rangeError('ERR_LOWBIT_INVALID_RANGE', `${name} must be a finite float32 value, got ${v}`);
    }
  }
  if (min > max) throw rangeError('ERR_LOWBIT_INVALID_RANGE', `min must be <= max, got min ${min} > max ${max}`);
  const o = checkOptions<ChooseQuantParamsOptions>(options, 'options', 'chooseQuantParams', CHOOSE_KEYS);
  const signed = checkBool(o.signed, 'options.signed', false);
  const p = binding.chooseQuantParams(
    min, max, signed, checkBool(o.symmetric, 'options.symmetric', false), checkBool(o.reduceRange, 'options.reduceRange', false),
  );
  return { ...p, dtype: signed ? 'int8' : 'uint8' };
}

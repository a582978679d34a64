/**
 * The options schema of the int8 output pipeline, shared by {@link QuantizedLinear} and
 * {@link QuantizedConv2d}: the activation's scale and zero point, the requantized output (scale,
 * zero point, type, clamp, fused ReLU) or the fp32/int32 output array, and the kernel override.
 * One copy of each rule, so both layers accept and refuse the same values with the same errors.
 */
import { rangeError, typeError } from './errors';
import { resultArray } from './result';
import { checkArray, checkBool, checkEnum, checkInt, checkScale, checkZeroPoint, isTyped, optionKeys } from './validate';

/** Options of every int8 product: the kernel override and the thread count. */
export interface KernelOptions {
  /** Threads to split the call across (the caller's included); default 1. Results are identical for any count. */
  threads?: number;
  /** `'exact'` forces the always-exact kernel even where a faster one is proven exact (benchmarks). Default `'auto'`. */
  kernel?: 'auto' | 'exact';
}

/** The requantized output of {@link QuantizedLinear.matmulQuantized} and {@link QuantizedConv2d.forward}. */
export interface QuantizedOutputOptions {
  /** Scale of the output. */
  outScale: number;
  /** Zero point of the output; default 0. */
  outZeroPoint?: number;
  /** Output type; default `'uint8'` (or the type of `out`). */
  dtype?: 'uint8' | 'int8';
  /** Fused ReLU (clamps at the output zero point). */
  relu?: boolean;
  /** Output clamp; default the type's minimum (combined with relu). */
  qmin?: number;
  /** Output clamp; default the type's maximum. */
  qmax?: number;
  /** Output array; allocated when absent. */
  out?: Uint8Array | Int8Array;
}

/** The keys of {@link KernelOptions}. */
export const KERNEL_KEYS = optionKeys<KernelOptions>()('threads', 'kernel');
/** The keys of {@link QuantizedOutputOptions}. */
export const QUANTIZED_OUTPUT_KEYS = optionKeys<QuantizedOutputOptions>()('outScale', 'outZeroPoint', 'dtype', 'relu', 'qmin', 'qmax', 'out');

const KERNELS = ['auto', 'exact'] as const;
const DTYPES = ['uint8', 'int8'] as const;

/** Native output type codes (native/kernels/gemm/gemm.h OutType). */
export const OUT_INT32 = 0;
/** See {@link OUT_INT32}. */
export const OUT_FLOAT32 = 3;

/** True when `options.kernel` asks for the always-exact kernel. */
export function exactOnlyOf(kernel: unknown): boolean {
  return checkEnum(kernel, 'options.kernel', KERNELS, 'auto') === 'exact';
}

/** The zero point of an activation array: in the range of its type (default 0). */
export function inputZeroPoint(value: unknown, signed: boolean, input: string): number {
  return checkZeroPoint(value, 'options.zeroPoint', signed ? -128 : 0, signed ? 127 : 255, 0, `for an ${signed ? 'Int8Array' : 'Uint8Array'} ${input}`);
}

/** `options.out` checked against its types and length (`why` names the length), or `make()` when absent. */
export function outputArray<T extends ArrayBufferView & { length: number }>(
  out: unknown, ctors: Parameters<typeof checkArray>[2], length: number, why: string, make: (length: number) => T,
): T {
  if (out === undefined) return make(length);
  const arr = checkArray<T>(out, 'options.out', ctors);
  if (arr.length !== length) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.out.length must be ${why} = ${length}, got ${arr.length}`);
  return arr;
}

/** The fp32 output: the activation scale, relu, and the output array. */
export function floatOutput(o: { scale?: unknown; relu?: unknown; out?: unknown }, length: number, why: string, async = false) {
  return {
    scale: checkScale(o.scale, 'options.scale'),
    relu: checkBool(o.relu, 'options.relu', false),
    out: outputArray<Float32Array>(o.out, [Float32Array], length, why, (n) => resultArray(Float32Array, n, async)),
  };
}

/** A checked {@link QuantizedOutputOptions}, as the native pipeline takes it. */
export interface ResolvedQuantizedOutput {
  /** The activation's scale. */
  scale: number;
  /** The output array. */
  out: Uint8Array | Int8Array;
  /** Native output type: 1 uint8, 2 int8. */
  outType: 1 | 2;
  /** The output's scale. */
  outScale: number;
  /** The output's zero point. */
  outZeroPoint: number;
  /** The clamp's low end, ReLU folded in. */
  qmin: number;
  /** The clamp's high end. */
  qmax: number;
}

/** Checks the activation scale and the requantized output options for an output of `length` values. */
export function quantizedOutput(o: Partial<QuantizedOutputOptions> & { scale?: unknown }, length: number, why: string, async = false): ResolvedQuantizedOutput {
  const scale = checkScale(o.scale, 'options.scale');
  const outScale = checkScale(o.outScale, 'options.outScale');
  const dtype = o.dtype === undefined ? undefined : checkEnum(o.dtype, 'options.dtype', DTYPES);
  const signed = o.out !== undefined ? isTyped(o.out, Int8Array) : dtype === 'int8';
  const out = outputArray<Uint8Array | Int8Array>(o.out, [Uint8Array, Int8Array], length, why, (n) => (signed ? resultArray(Int8Array, n, async) : resultArray(Uint8Array, n, async)));
  if (dtype !== undefined && (dtype === 'int8') !== isTyped(out, Int8Array)) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.out is a ${out.constructor.name} but options.dtype is '${dtype}'`);
  }
  const lo = signed ? -128 : 0;
  const hi = signed ? 127 : 255;
  const type = signed ? 'int8' : 'uint8';
  const outZeroPoint = checkZeroPoint(o.outZeroPoint, 'options.outZeroPoint', lo, hi, 0, `for ${type} output`);
  let qmin = o.qmin === undefined ? lo : checkInt(o.qmin, 'options.qmin', lo, hi);
  const qmax = o.qmax === undefined ? hi : checkInt(o.qmax, 'options.qmax', qmin, hi);
  if (checkBool(o.relu, 'options.relu', false)) qmin = Math.max(qmin, Math.min(outZeroPoint, qmax));
  return { scale, out, outType: signed ? 2 : 1, outScale, outZeroPoint, qmin, qmax };
}

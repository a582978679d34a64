/**
 * The parameters of int8 weights, checked once here for {@link QuantizedLinear} and
 * {@link QuantizedConv2d}, and by {@link QuantizedLinear.deserialize} (which must accept exactly
 * what the constructors accept): scales, zero points and bias, one value or one per output channel.
 */
import { rangeError } from './errors';
import { checkArray, checkFloatBias, checkScale, checkZeroPoint, isTyped } from './validate';

/**
 * Weight scale(s): one number (or absent: 1), or a Float32Array of 1 or `n` values, each a valid
 * scale. `dim` names n in messages ('n', 'outChannels'). Returns a copy.
 */
export function weightScalesOf(scale: unknown, n: number, dim: string, name = 'options.scale'): Float32Array {
  if (scale === undefined) return Float32Array.of(1);
  if (typeof scale === 'number') return Float32Array.of(checkScale(scale, name));
  const s = checkArray<Float32Array>(scale, name, [Float32Array]);
  if (s.length !== n && s.length !== 1) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${name}.length must be ${dim} (${n}) or 1, got ${s.length}`);
  const copy = Float32Array.from(s);
  copy.forEach((v, i) => checkScale(v, `${name}[${i}]`));
  return copy;
}

/** Weight zero point(s) in [-128, 127]: one number (or absent: 0), or an Int32Array of 1 or `n`. Returns a copy. */
export function weightZeroPointsOf(zeroPoint: unknown, n: number, dim: string, name = 'options.zeroPoint'): Int32Array {
  if (zeroPoint === undefined || typeof zeroPoint === 'number') return Int32Array.of(checkZeroPoint(zeroPoint, name, -128, 127, 0, 'for int8 weights'));
  const z = checkArray<Int32Array>(zeroPoint, name, [Int32Array]);
  if (z.length !== n && z.length !== 1) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${name}.length must be ${dim} (${n}) or 1, got ${z.length}`);
  const copy = Int32Array.from(z);
  copy.forEach((v, i) => checkZeroPoint(v, `${name}[${i}]`, -128, 127, undefined, 'for int8 weights'));
  return copy;
}

/**
 * A bias of `n` values: an Int32Array (accumulator units, any value) or a Float32Array of finite
 * values (real units); null when absent. Returns a copy.
 */
export function weightBiasOf(bias: unknown, n: number, dim: string, name = 'options.bias'): Float32Array | Int32Array | null {
  if (!isTyped(bias, Int32Array)) return checkFloatBias(bias, n, dim, name);
  const b = checkArray<Int32Array>(bias, name, [Int32Array]);
  if (b.length !== n) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${name}.length must be ${dim} (${n}), got ${b.length}`);
  return Int32Array.from(b);
}

/** Mode `'sparse'` needs symmetric weights: every zero point 0 (`ERR_LOWBIT_INVALID_ZERO_POINT`). */
export function checkSparseZeroPoints(zeroPoints: Int32Array, unit: string, name = 'options.zeroPoint'): void {
  const i = zeroPoints.findIndex((z) => z !== 0);
  if (i < 0) return;
  throw rangeError(
    'ERR_LOWBIT_INVALID_ZERO_POINT',
    `${name} must be 0 with mode 'sparse' (the sparse kernel needs symmetric weights), got ${zeroPoints[i]}` + (zeroPoints.length > 1 ? ` at ${unit} ${i}` : ''),
  );
}

/** The fp32 weights of `fromFloat32`: `count` values. */
export function checkWeightCount(length: number, count: number, formula: string): void {
  if (length !== count) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `weights.length must be ${formula} = ${count}, got ${length}`);
}

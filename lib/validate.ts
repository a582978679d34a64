// Argument checks shared by every op. Each names the argument and says what was expected and what
// arrived, and throws a TypeError/RangeError with a code (see errors.ts).
import { rangeError, typeError } from './errors';

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Int8ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor;

/** Describes a value for an error message: its constructor name or its typeof. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'number') return `number ${value}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function isDetached(view: ArrayBufferView): boolean {
  const buffer = view.buffer as ArrayBuffer & { detached?: boolean };
  if (typeof buffer.detached === 'boolean') return buffer.detached;
  // Node < 20: a detached buffer has byteLength 0 and throws on slice.
  if (buffer.byteLength !== 0) return false;
  try {
    buffer.slice(0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * The TypedArray type of a value ('Float32Array', ...) or null. By the internal tag, not
 * instanceof: arrays from another realm (vm contexts, test sandboxes, the addon) still match.
 */
export function typedArrayName(value: unknown): string | null {
  if (!ArrayBuffer.isView(value)) return null;
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return tag === 'DataView' ? null : tag;
}

/** True if `value` is a TypedArray of the constructor's type (cross-realm safe). */
export function isTyped(value: unknown, ctor: TypedArrayCtor): boolean {
  // instanceof first: the common case, and much cheaper than reading the tag
  return value instanceof ctor || (ArrayBuffer.isView(value) && typedArrayName(value) === ctor.name);
}

/** Checks that `value` is an instance of one of `ctors` and not detached; returns it typed. */
export function checkArray<T extends ArrayBufferView>(value: unknown, name: string, ctors: TypedArrayCtor[]): T {
  if (!ctors.some((c) => isTyped(value, c))) {
    const want = ctors.map((c) => c.name).join(' or ');
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a ${want}, got ${describe(value)}`);
  }
  if (isDetached(value as ArrayBufferView)) {
    throw typeError('ERR_LOWBIT_DETACHED', `${name} is backed by a detached ArrayBuffer`);
  }
  return value as T;
}

/** Checks that `actual === expected` for the length of `name`. */
export function checkLength(name: string, actual: number, expected: number, why: string): void {
  if (actual !== expected) {
    throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${name}.length must be ${expected} (${why}), got ${actual}`);
  }
}

/** Checks a quantization scale: a finite number > 0 whose float32 value and reciprocal are finite. */
export function checkScale(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${describe(value)}`);
  }
  const f = Math.fround(value);
  if (!Number.isFinite(f) || !(f > 0) || !Number.isFinite(Math.fround(1 / f))) {
    throw rangeError(
      'ERR_LOWBIT_INVALID_SCALE',
      `${name} must be a finite number > 0 whose float32 reciprocal is finite, got ${value}`,
    );
  }
  return value;
}

/** Checks an integer in [lo, hi]. */
export function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `${name} must be an integer in [${lo}, ${hi}], got ${value}`);
  }
  return value;
}

/** Checks an optional boolean option, returning `fallback` when absent. */
export function checkBool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/** Checks that an options argument is absent or a plain object. */
export function checkOptions<T extends object>(value: unknown, name: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be an object, got ${describe(value)}`);
  }
  return value as Partial<T>;
}

/**
 * Checks an optional real-valued bias: a Float32Array of `n` finite values (`dim` names n in the
 * message, e.g. 'n' or 'outChannels'). Returns a copy, or null when absent.
 */
export function checkFloatBias(bias: unknown, n: number, dim: string): Float32Array | null {
  if (bias === undefined || bias === null) return null;
  const b = checkArray<Float32Array>(bias, 'options.bias', [Float32Array]);
  if (b.length !== n) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.bias.length must be ${dim} (${n}), got ${b.length}`);
  b.forEach((v, i) => {
    if (!Number.isFinite(v)) throw rangeError('ERR_LOWBIT_NOT_FINITE', `options.bias[${i}] must be finite, got ${v}`);
  });
  return Float32Array.from(b);
}

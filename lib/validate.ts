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
  if (typeof value === 'string') return `string ${quote(value)}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** True if the view's buffer was detached (transferred); false for a SharedArrayBuffer. */
export function isDetached(view: ArrayBufferView): boolean {
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

/**
 * The keys of an options type, listed once at run time: `optionKeys<FromInt8Options>()('k', 'n', ...)`.
 * The compiler rejects a list that misses a key of `T` or names one it does not have, so the list
 * {@link checkOptions} accepts cannot drift from the TypeScript interface.
 */
export function optionKeys<T extends object>() {
  return <K extends readonly (keyof T & string)[]>(
    ...keys: K & ([Exclude<keyof T & string, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T & string, K[number]> })
  ): readonly string[] => Object.freeze([...keys]);
}

/**
 * Checks that an options argument is absent or a plain object whose own keys are all in `allowed`.
 * An unknown key (a misspelling such as `perchannel`) throws a TypeError `ERR_LOWBIT_UNKNOWN_OPTION`
 * naming it, the function (`owner`) and the nearest valid key.
 * @param value the options argument.
 * @param name its name in messages (`'options'`, `'lookups[2]'`).
 * @param owner the function or constructor it belongs to, e.g. `'QuantizedLinear.fromFloat32'`.
 * @param allowed the valid keys (see {@link optionKeys}).
 * @param requires for a required argument, what it must hold (`'k and n'`): undefined is then a TypeError.
 */
export function checkOptions<T extends object>(value: unknown, name: string, owner: string, allowed: readonly string[], requires?: string): Partial<T> {
  if (value === undefined) {
    if (requires === undefined) return {};
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be an object with ${requires}, got undefined`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be an object, got ${describe(value)}`);
  }
  // allowed first: the common case costs one short scan per key (this runs on every call)
  for (const key in value) {
    if (!allowed.includes(key) && Object.prototype.hasOwnProperty.call(value, key)) unknownOption(name, key, owner, allowed);
  }
  return value as Partial<T>;
}

function unknownOption(name: string, key: string, owner: string, allowed: readonly string[]): never {
  const near = nearest(key, allowed);
  throw typeError(
    'ERR_LOWBIT_UNKNOWN_OPTION',
    `${name}.${key} is not an option of ${owner}` + (near === null ? ' (it takes no options)' : `; did you mean ${near}? (options: ${allowed.join(', ')})`),
  );
}

/** Levenshtein distance, ignoring case differences at half weight (so `perchannel` is nearest `perChannel`). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const x = a[i - 1];
      const y = b[j - 1];
      const sub = x === y ? 0 : x.toLowerCase() === y.toLowerCase() ? 0.5 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub);
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The entry of `candidates` nearest to `word` (Levenshtein; the first on ties), or null if none. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function quote(s: string): string {
  return `'${s.length > 40 ? `${s.slice(0, 40)}...` : s}'`;
}

/**
 * Checks an enumerated option (a format, mode, layout, kernel, output type, pooling...): one of
 * `allowed`, or `fallback` when absent (`undefined`; with no fallback the option is required).
 * Otherwise a RangeError `ERR_LOWBIT_INVALID_ARGUMENT` listing the values and showing the one received.
 */
export function checkEnum<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  const list = allowed.map((a) => `'${a}'`);
  const want = list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list[0];
  const got = typeof value === 'string' ? quote(value) : describe(value);
  const near = typeof value === 'string' ? nearest(value, allowed) : null;
  throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `${name} must be ${want}, got ${got}` + (near !== null && distance(value as string, near) <= 2 ? ` (did you mean '${near}'?)` : ''));
}

/** The `threads` rule of every op: an integer in [1, 256], default 1 (`ERR_LOWBIT_OUT_OF_RANGE`). */
export function checkThreads(value: unknown): number {
  if (value === undefined) return 1;
  return checkInt(value, 'options.threads', 1, 256);
}

/**
 * Checks a zero point: an integer in [lo, hi] (RangeError `ERR_LOWBIT_INVALID_ZERO_POINT`; a
 * non-number is a TypeError `ERR_LOWBIT_INVALID_TYPE`). `fallback` is returned when absent.
 * `what` ends the range message, e.g. `'for uint8'`.
 */
export function checkZeroPoint(value: unknown, name: string, lo: number, hi: number, fallback?: number, what?: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw rangeError('ERR_LOWBIT_INVALID_ZERO_POINT', `${name} must be an integer in [${lo}, ${hi}]${what ? ` ${what}` : ''}, got ${value}`);
  }
  return value;
}

/**
 * Checks an optional real-valued bias: a Float32Array of `n` finite values (`dim` names n in the
 * message, e.g. 'n' or 'outChannels'). Returns a copy, or null when absent.
 */
export function checkFloatBias(bias: unknown, n: number, dim: string, name = 'options.bias'): Float32Array | null {
  if (bias === undefined || bias === null) return null;
  const b = checkArray<Float32Array>(bias, name, [Float32Array]);
  if (b.length !== n) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${name}.length must be ${dim} (${n}), got ${b.length}`);
  // checked on the copy: the values checked are the values used, whatever another thread writes
  const copy = Float32Array.from(b);
  copy.forEach((v, i) => {
    if (!Number.isFinite(v)) throw rangeError('ERR_LOWBIT_NOT_FINITE', `${name}[${i}] must be finite, got ${v}`);
  });
  return copy;
}

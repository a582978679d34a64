/**
 * Tensors as the ONNX runner passes them around and returns them: onnxruntime-node's shape
 * (`{ type, dims, data }`), so results can be handed on unchanged.
 */
import { rangeError, typeError } from '../errors';
import { describe, typedArrayName } from '../validate';

/** Element types the runner computes with (onnxruntime-node's names). */
export type TensorType = 'float32' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

/** The data array of each {@link TensorType}. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** A dense row-major tensor: what `run` takes in its feeds and returns. */
export interface Tensor {
  /** Element type. */
  readonly type: TensorType;
  /** Dimensions (row-major; [] is a scalar). */
  readonly dims: readonly number[];
  /** The elements (bool tensors hold 0/1 bytes). */
  readonly data: TensorData;
}

/** Most elements one tensor may hold (2^31 - 1: typed arrays and the kernels' int32 sizes). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

const CTORS = {
  float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
} as const;

/** The TypedArray constructor of a type. */
export function ctorOf(type: TensorType): { new (n: number): TensorData; BYTES_PER_ELEMENT: number } {
  return CTORS[type] as unknown as { new (n: number): TensorData; BYTES_PER_ELEMENT: number };
}

/** Elements of a shape; a RangeError (`code`) if a dim is not a non-negative integer or the total is too large. */
export function sizeOf(dims: readonly number[], what: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw rangeError('ERR_LOWBIT_INVALID_MODEL', `${what}: dimension ${d} is not a non-negative integer (dims [${dims.join(', ')}])`);
    n *= d;
    if (n > MAX_ELEMENTS) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `${what}: dims [${dims.join(', ')}] hold more than 2^31 - 1 elements`);
  }
  return n;
}

/** A new zeroed tensor. */
export function alloc(type: TensorType, dims: readonly number[]): Tensor {
  return { type, dims, data: new (ctorOf(type))(sizeOf(dims, 'tensor')) };
}

/** A tensor over existing data (its length must match dims). */
export function tensor(type: TensorType, dims: readonly number[], data: TensorData): Tensor {
  return { type, dims, data };
}

/** The values of an integer tensor (int64/int32/...) as plain numbers (shape arithmetic). */
export function toNumbers(t: Tensor, what: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.data.length; i++) {
    const v = Number(t.data[i]);
    if (!Number.isSafeInteger(v)) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `${what}: value ${String(t.data[i])} is outside the safe integer range`);
    out.push(v);
  }
  return out;
}

/** A 1-D int64 tensor of numbers. */
export function int64Of(values: readonly number[], dims: readonly number[] = [values.length]): Tensor {
  return { type: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

const TYPE_OF_ARRAY: Record<string, TensorType> = {
  Float32Array: 'float32', BigInt64Array: 'int64', Int32Array: 'int32', Uint8Array: 'uint8', Int8Array: 'int8',
};

/**
 * A caller's feed checked: `{ data, dims, type? }` (an onnxruntime-node Tensor matches), the data a
 * TypedArray of the type, dims non-negative integers whose product is the data's length.
 */
export function feedOf(value: unknown, name: string): Tensor {
  if (value === null || typeof value !== 'object') throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds.${name} must be { data, dims, type }, got ${describe(value)}`);
  const v = value as { data?: unknown; dims?: unknown; type?: unknown };
  const arrayName = typedArrayName(v.data);
  const fromArray = arrayName === null ? undefined : TYPE_OF_ARRAY[arrayName];
  if (fromArray === undefined) throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds.${name}.data must be a Float32Array, BigInt64Array, Int32Array, Uint8Array or Int8Array, got ${describe(v.data)}`);
  const type = v.type === undefined ? fromArray : v.type;
  if (type !== fromArray && !(type === 'bool' && fromArray === 'uint8')) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds.${name}.type is ${describe(type)} but its data is a ${arrayName}`);
  }
  if (!Array.isArray(v.dims)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds.${name}.dims must be an array of numbers, got ${describe(v.dims)}`);
  const dims = v.dims.map((d) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `feeds.${name}.dims must be non-negative integers, got [${v.dims as unknown[]}]`);
    return d;
  });
  const data = v.data as TensorData;
  const n = sizeOf(dims, `feeds.${name}`);
  if (data.length !== n) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `feeds.${name}.data.length must be the product of dims [${dims.join(', ')}] = ${n}, got ${data.length}`);
  return { type: type as TensorType, dims, data };
}

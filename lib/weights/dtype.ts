// Element types of weight files (safetensors, .npy) and the TypedArray each comes back as.
// 16-bit and 8-bit floats have no TypedArray in Node: their raw bits come back in a Uint16Array /
// Uint8Array (as lowbit's fp16 tables do) and toFloat32 widens them.
import { rangeError } from '../errors';

/** Element type of a {@link Tensor}. */
export type TensorDtype =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float8_e4m3fn'
  | 'float8_e5m2'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint64'
  | 'uint32'
  | 'uint16'
  | 'uint8'
  | 'bool';

/** The TypedArray a tensor's data comes back as. */
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** A tensor read from a weight file: row-major (C order) data, its element type and its shape. */
export interface Tensor {
  /** Element type. float16 / bfloat16 hold raw bits in a Uint16Array, float8 and bool in a Uint8Array. */
  dtype: TensorDtype;
  /** Dimensions, outermost first ([] for a scalar). */
  shape: number[];
  /** The elements in row-major order; length is the product of `shape`. */
  data: TensorData;
}

type Ctor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData; new (length: number): TensorData; BYTES_PER_ELEMENT: number };

const CTORS: Record<TensorDtype, Ctor> = {
  float64: Float64Array,
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float8_e4m3fn: Uint8Array,
  float8_e5m2: Uint8Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint64: BigUint64Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as unknown as Record<TensorDtype, Ctor>;

/** The dtypes lowbit reads, in a fixed order (for error messages). */
export const TENSOR_DTYPES = Object.keys(CTORS) as TensorDtype[];

/** Bytes per element of a dtype. */
export function dtypeBytes(dtype: TensorDtype): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

/** The TypedArray constructor of a dtype. */
export function dtypeCtor(dtype: TensorDtype): Ctor {
  return CTORS[dtype];
}

/**
 * The element count of `shape`, checked: every dimension a non-negative safe integer and the
 * product (and its byte size) below 2^53, so that a hostile header cannot make lowbit allocate or
 * index with an inexact number. `where` names the tensor for the error.
 */
export function elementCount(shape: readonly unknown[], bytesPerElement: number, where: string): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw rangeError('ERR_LOWBIT_INVALID_FILE', `${where}: shape[${i}] must be a non-negative integer, got ${JSON.stringify(d)}`);
    }
    n *= d;
    if (n * bytesPerElement > Number.MAX_SAFE_INTEGER) {
      throw rangeError('ERR_LOWBIT_INVALID_FILE', `${where}: shape [${shape.join(', ')}] holds more than 2^53 bytes`);
    }
  }
  return n;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function bf16ToFloat(h: number): number {
  U32[0] = h << 16;
  return F32[0];
}

// OCP 8-bit floats as PyTorch defines them: e4m3fn has no infinities and one NaN (S.1111.111);
// e5m2 is IEEE-like (the top half of an fp16).
function e4m3fnToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0xf;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return sign * m * 2 ** -9;
  return sign * (1 + m / 8) * 2 ** (e - 7);
}

function e5m2ToFloat(b: number): number {
  return halfToFloat(b << 8);
}

/**
 * The tensor's values as a Float32Array (a new array; for float32 data, a copy). float64 and
 * 64-bit integers round to the nearest float32; 16/8-bit floats are widened exactly.
 */
export function toFloat32(tensor: Tensor): Float32Array {
  const src = tensor.data;
  const out = new Float32Array(src.length);
  const widen = tensor.dtype === 'float16' ? halfToFloat : tensor.dtype === 'bfloat16' ? bf16ToFloat
    : tensor.dtype === 'float8_e4m3fn' ? e4m3fnToFloat : tensor.dtype === 'float8_e5m2' ? e5m2ToFloat : null;
  if (widen) {
    for (let i = 0; i < src.length; i++) out[i] = widen(src[i] as number);
  } else if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(src as ArrayLike<number>);
  }
  return out;
}

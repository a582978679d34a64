// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the bytes. Read from caller
// memory (tensors are views of it where their offset is aligned to the element size) or from a path
// (the header is read at once, each tensor when asked for; embedding tables are mapped, not read).
// The header is checked as the reference implementation checks it: size at most 100 MB, valid UTF-8
// JSON, known dtypes, shapes whose byte size equals the range, ranges that tile the data exactly.
import { rangeError, typeError } from '../errors';
import { EmbeddingTable, rowBytes, type TableFormat } from '../embedding';
import { checkBool, checkEnum, checkInt, checkOptions, describe, optionKeys } from '../validate';
import { dtypeBytes, dtypeCtor, elementCount, type Tensor, type TensorData, type TensorDtype } from './dtype';
import { byteSource, type ByteSource, type WeightSource } from './source';

/** safetensors dtype names and lowbit's. */
const SAFETENSORS_DTYPES: Record<string, TensorDtype> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', F8_E4M3: 'float8_e4m3fn', F8_E5M2: 'float8_e5m2',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_NAMES = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k])) as Record<TensorDtype, string>;

/** The reference implementation's limit; a larger header is refused before it is read. */
const MAX_HEADER_BYTES = 100_000_000;

/** Where one tensor is in a safetensors file. */
export interface SafetensorsEntry {
  /** Tensor name. */
  name: string;
  /** Element type. */
  dtype: TensorDtype;
  /** Dimensions. */
  shape: number[];
  /** Byte offset of its data from the start of the file (or buffer). */
  byteOffset: number;
  /** Bytes of data. */
  byteLength: number;
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /**
   * Always copy tensor data out of a buffer source (default false: a tensor whose bytes are aligned
   * to its element size is a view of the buffer, so writing one writes the other).
   */
  copy?: boolean;
}

/** Options of {@link SafetensorsFile.embeddingTable}. */
export interface SafetensorsTableOptions {
  /**
   * Row format. 'q8' / 'q4' / 'q2': a uint8 tensor [rows, rowBytes] of prepacked rows, as PyTorch's
   * `embedding_bag_byte_prepack` / `embedding_bag_4bit_prepack` / `embedding_bag_2bit_prepack`
   * return them; 'f32' / 'f16': a float32 / float16 tensor [rows, dim] (or uint8 bytes of them).
   */
  format: TableFormat;
  /** Values per row; default: the largest dim whose row fills the tensor's row bytes. */
  dim?: number;
  /** Pruned tables: original id -> stored row, or -1 (skipped). */
  remap?: Int32Array;
}

const READ_KEYS = optionKeys<ReadSafetensorsOptions>()('copy');
const TABLE_KEYS = optionKeys<SafetensorsTableOptions>()('format', 'dim', 'remap');
const FORMATS: readonly TableFormat[] = ['f32', 'f16', 'q8', 'q4', 'q2'];

function invalid(where: string, message: string): never {
  throw rangeError('ERR_LOWBIT_INVALID_FILE', `${where}: ${message}`);
}

function parseHeader(src: ByteSource, where: string): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  if (src.size < 8) invalid(where, `a safetensors file starts with an 8-byte header length; it holds ${src.size} bytes`);
  const lenBytes = src.read(0, 8, 'the header length');
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) invalid(where, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerBytes = Number(n);
  if (8 + headerBytes > src.size) {
    throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${where}: the header claims ${headerBytes} bytes but only ${src.size - 8} follow the length`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, headerBytes, 'the header')));
  } catch (e) {
    invalid(where, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) invalid(where, 'the header must be a JSON object');
  const dataStart = 8 + headerBytes;
  const dataBytes = src.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    const at = `${where}: tensor ${JSON.stringify(name)}`;
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(where, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') invalid(where, `__metadata__.${k} must be a string, got ${describe(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (value === null || typeof value !== 'object') invalid(at, 'must be an object with dtype, shape and data_offsets');
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const type = typeof dtype === 'string' ? SAFETENSORS_DTYPES[dtype] : undefined;
    if (!type) invalid(at, `dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`);
    if (!Array.isArray(shape)) invalid(at, `shape must be an array, got ${describe(shape)}`);
    const count = elementCount(shape, dtypeBytes(type), at);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      invalid(at, `data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) invalid(at, `data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataBytes) {
      throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${at}: data_offsets end at ${end} but the data holds ${dataBytes} bytes`);
    }
    if (end - begin !== count * dtypeBytes(type)) {
      invalid(at, `shape [${shape.join(', ')}] of ${dtype} needs ${count * dtypeBytes(type)} bytes, data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype: type, shape: shape.slice() as number[], byteOffset: dataStart + begin, byteLength: end - begin });
  }
  // the ranges must tile the data: no overlap (two tensors aliasing bytes) and no hole
  const sorted = entries.slice().sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let next = dataStart;
  for (const e of sorted) {
    if (e.byteOffset !== next) {
      invalid(where, `tensor ${JSON.stringify(e.name)} starts at data offset ${e.byteOffset - dataStart}, expected ${next - dataStart} (tensors must tile the data without overlap or holes)`);
    }
    next = e.byteOffset + e.byteLength;
  }
  if (next !== src.size) invalid(where, `the tensors cover ${next - dataStart} of the ${dataBytes} data bytes`);
  return { entries, metadata };
}

/** A parsed safetensors file: its header, and its tensors on demand. */
export class SafetensorsFile {
  /** The header's `__metadata__` (string to string; empty if absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names, in header order. */
  readonly names: readonly string[];
  readonly #entries: Map<string, SafetensorsEntry>;
  readonly #source: ByteSource;
  readonly #copy: boolean;
  readonly #where: string;

  /** @internal Use {@link readSafetensors}. */
  constructor(source: ByteSource, copy: boolean) {
    this.#source = source;
    this.#copy = copy;
    this.#where = source.path ?? 'safetensors buffer';
    const { entries, metadata } = parseHeader(source, this.#where);
    this.metadata = Object.freeze(metadata);
    this.#entries = new Map(entries.map((e) => [e.name, e]));
    this.names = Object.freeze(entries.map((e) => e.name));
  }

  /** Where a tensor is (dtype, shape, byte range), without reading it. */
  info(name: string): SafetensorsEntry {
    const e = this.#entry(name);
    return { ...e, shape: e.shape.slice() };
  }

  /**
   * One tensor. From a buffer: a view of it (zero copy) when its bytes are aligned to the element
   * size and `copy` is off, else a copy. From a path: read now (the file is opened for this read).
   */
  tensor(name: string): Tensor {
    const e = this.#entry(name);
    const ctor = dtypeCtor(e.dtype);
    const count = e.byteLength / ctor.BYTES_PER_ELEMENT;
    const bytes = this.#source.read(e.byteOffset, e.byteLength, `tensor ${JSON.stringify(name)}`);
    let data: TensorData;
    if (!this.#copy || this.#source.bytes === null) {
      if (bytes.byteOffset % ctor.BYTES_PER_ELEMENT === 0) data = new ctor(bytes.buffer, bytes.byteOffset, count);
      else data = copyOut(ctor, bytes, count);
    } else {
      data = copyOut(ctor, bytes, count);
    }
    return { dtype: e.dtype, shape: e.shape.slice(), data };
  }

  /** Every tensor, by name. */
  tensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const n of this.names) out[n] = this.tensor(n);
    return out;
  }

  /**
   * An embedding table over a tensor, without copying its rows: from a path the rows are mapped
   * (as {@link EmbeddingTable.open}: read only by lowbit's native code, page cache shared between
   * processes), from a buffer they are the buffer's bytes ({@link EmbeddingTable.fromBuffer}).
   */
  embeddingTable(name: string, options: SafetensorsTableOptions): EmbeddingTable {
    const o = checkOptions<SafetensorsTableOptions>(options, 'options', 'SafetensorsFile.embeddingTable', TABLE_KEYS, 'format') as SafetensorsTableOptions;
    const format = checkEnum(o.format, 'options.format', FORMATS);
    const e = this.#entry(name);
    const at = `${this.#where}: tensor ${JSON.stringify(name)}`;
    const elem = format === 'f32' ? 'float32' : format === 'f16' ? 'float16' : 'uint8';
    if (e.dtype !== elem && e.dtype !== 'uint8') {
      throw typeError('ERR_LOWBIT_INVALID_TYPE', `${at} is ${e.dtype}; a ${format} table needs ${elem}${elem === 'uint8' ? '' : ' (or its bytes as uint8)'}`);
    }
    if (e.shape.length !== 2) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `${at} has shape [${e.shape.join(', ')}]; a table is 2-D [rows, row]`);
    const [rows, cols] = e.shape as [number, number];
    const stride = cols * dtypeBytes(e.dtype);
    let dim: number;
    if (o.dim !== undefined) {
      dim = checkInt(o.dim, 'options.dim', 1, 2 ** 24);
      if (rowBytes(format, dim) !== stride) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${at}: rows of ${stride} bytes do not hold ${format} rows of dim ${dim} (${rowBytes(format, dim)} bytes)`);
      }
    } else {
      dim = largestDim(format, stride, at);
    }
    const table = { dim, format, rows, ...(o.remap === undefined ? {} : { remap: o.remap }) };
    if (this.#source.path !== null) return EmbeddingTable.open(this.#source.path, { ...table, offset: e.byteOffset });
    return EmbeddingTable.fromBuffer(this.#source.read(e.byteOffset, e.byteLength, `tensor ${JSON.stringify(name)}`), table);
  }

  #entry(name: string): SafetensorsEntry {
    if (typeof name !== 'string') throw typeError('ERR_LOWBIT_INVALID_TYPE', `name must be a string, got ${describe(name)}`);
    const e = this.#entries.get(name);
    if (!e) {
      const some = this.names.slice(0, 8).map((n) => JSON.stringify(n)).join(', ');
      throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `${this.#where} holds no tensor ${JSON.stringify(name)} (it holds ${this.names.length}: ${some}${this.names.length > 8 ? ', ...' : ''})`);
    }
    return e;
  }
}

function copyOut(ctor: ReturnType<typeof dtypeCtor>, bytes: Uint8Array, count: number): TensorData {
  const out = new ctor(count);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

function largestDim(format: TableFormat, stride: number, at: string): number {
  const perByte = format === 'q4' ? 2 : format === 'q2' ? 4 : 0;
  const guess = format === 'f32' ? stride / 4 : format === 'f16' ? stride / 2 : format === 'q8' ? stride - 8 : (stride - 4) * perByte;
  if (Number.isInteger(guess) && guess >= 1 && guess <= 2 ** 24 && rowBytes(format, guess) === stride) return guess;
  throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${at}: rows of ${stride} bytes are not ${format} rows of any dim`);
}

/**
 * Reads a safetensors file: from a path (header now, tensors on demand) or from bytes in memory.
 * @throws RangeError `ERR_LOWBIT_INVALID_FILE` for a malformed header (unknown dtype, shape and
 *   range that disagree, overlapping ranges...), `ERR_LOWBIT_FILE_TRUNCATED` when the data ends
 *   before the header says, `ERR_LOWBIT_FILE` (with errno, syscall, path) when the file cannot be read.
 */
export function readSafetensors(source: WeightSource, options?: ReadSafetensorsOptions): SafetensorsFile {
  const o = options === undefined ? {} : checkOptions<ReadSafetensorsOptions>(options, 'options', 'readSafetensors', READ_KEYS);
  const copy = checkBool(o.copy, 'options.copy', false);
  return new SafetensorsFile(byteSource(source, 'source'), copy);
}

/**
 * Writes tensors as a safetensors file (bytes to save with fs.writeFileSync). Tensors are laid out
 * by decreasing element size, after a header padded to 8 bytes, so each is aligned to its element
 * size and reads back as a zero-copy view.
 */
export function writeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  if (tensors === null || typeof tensors !== 'object') throw typeError('ERR_LOWBIT_INVALID_TYPE', `tensors must be an object of name -> tensor, got ${describe(tensors)}`);
  const list = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__') throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', 'a tensor cannot be named __metadata__');
    const dtype = checkEnum(t?.dtype, `tensors[${JSON.stringify(name)}].dtype`, Object.keys(DTYPE_NAMES) as TensorDtype[]);
    const ctor = dtypeCtor(dtype);
    const where = `tensors[${JSON.stringify(name)}]`;
    if (!Array.isArray(t.shape)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `${where}.shape must be an array, got ${describe(t.shape)}`);
    const count = elementCount(t.shape, ctor.BYTES_PER_ELEMENT, where);
    if (!ArrayBuffer.isView(t.data) || t.data.constructor !== ctor) {
      throw typeError('ERR_LOWBIT_INVALID_TYPE', `${where}.data must be a ${ctor.name} for ${dtype}, got ${describe(t.data)}`);
    }
    if ((t.data as TensorData).length !== count) {
      throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `${where}.data.length must be ${count} (shape [${t.shape.join(', ')}]), got ${(t.data as TensorData).length}`);
    }
    return { name, dtype, shape: t.shape.slice(), data: t.data as TensorData, size: ctor.BYTES_PER_ELEMENT };
  });
  const order = list.slice().sort((a, b) => b.size - a.size);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw typeError('ERR_LOWBIT_INVALID_TYPE', `metadata.${k} must be a string, got ${describe(v)}`);
    }
    header.__metadata__ = metadata;
  }
  let at = 0;
  for (const t of order) {
    header[t.name] = { dtype: DTYPE_NAMES[t.dtype], shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of order) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

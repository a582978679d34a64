/**
 * Quantized embedding-bag lookups (what DLRM-style recommendation models spend their time on):
 * tables in fp32, fp16 or 8/4/2-bit rowwise-quantized rows, byte-compatible with FBGEMM and
 * PyTorch, held in memory the caller owns (ArrayBuffer or SharedArrayBuffer, never copied) or
 * mapped read-only from a file. Formats and formulas: native/kernels/embedding/README.md.
 */
import { rangeError, typeError } from './errors';
import { binding } from './native';
import { resultArray } from './result';
import { isDetached, checkArray, checkBool, checkEnum, checkInt, checkOptions, checkThreads, describe, isTyped, optionKeys } from './validate';

/** Row formats: fp32, fp16, and rowwise quantized 8-bit (fp32 scale+bias), 4-bit and 2-bit (fp16 scale+bias). */
export type TableFormat = 'f32' | 'f16' | 'q8' | 'q4' | 'q2';
const FORMATS: readonly TableFormat[] = ['f32', 'f16', 'q8', 'q4', 'q2'];

/**
 * Bytes of one row of `dim` values in `format` (FBGEMM/PyTorch layout).
 * @throws RangeError `ERR_LOWBIT_INVALID_ARGUMENT` for an unknown format, `ERR_LOWBIT_OUT_OF_RANGE`
 *   for a dim that is not an integer in [1, 2^24] (TypeError `ERR_LOWBIT_INVALID_TYPE` if not a number).
 */
export function rowBytes(format: TableFormat, dim: number): number {
  checkEnum(format, 'format', FORMATS);
  checkInt(dim, 'dim', 1, 2 ** 24);
  return rowBytesOf(format, dim);
}

function rowBytesOf(format: TableFormat, dim: number): number {
  switch (format) {
    case 'f32': return 4 * dim;
    case 'f16': return 2 * dim;
    case 'q8': return dim + 8;
    case 'q4': return Math.ceil(dim / 2) + 4;
    case 'q2': return Math.ceil(dim / 4) + 4;
  }
}

interface NativeMapped {
  readonly byteLength: number;
  close(): void;
}
interface EmbeddingBinding {
  MappedFile: new (path: string) => NativeMapped;
  embeddingBags(lookups: unknown[][], threads: number, async: boolean): unknown;
  quantizeTable(values: Float32Array, rows: number, dim: number, format: number, out: Uint8Array, nbins?: number, ratio?: number): Uint8Array;
  allocateTable(bytes: number): ArrayBuffer;
  adviseHugePages(bytes: Uint8Array): HugePages;
  dequantizeTable(table: Uint8Array | NativeMapped, offset: number, rows: number, dim: number, rowStride: number, format: number): Float32Array;
}
const native = binding as unknown as EmbeddingBinding;

/** Options describing a table's rows. */
export interface TableOptions {
  /** Values per row (D). */
  dim: number;
  /** Row format. */
  format: TableFormat;
  /** Rows; default: all the bytes hold (which must then be a whole number of rows). A mapped file (`open`) may hold more bytes after them; a buffer must hold exactly rows * rowStride. */
  rows?: number;
  /** Bytes between rows; default {@link rowBytes}(format, dim). */
  rowStride?: number;
  /** Pruned tables: original id -> stored row, or -1 (skipped). Ids are then < remap.length. */
  remap?: Int32Array;
}

/**
 * What {@link EmbeddingTable.fromBuffer} with `hugePages: true` obtained for the caller's bytes:
 * `'collapsed'`: the 2 MiB-aligned interior of the buffer now sits in 2 MiB pages (Linux >= 6.1,
 * MADV_COLLAPSE); `'advised'`: marked for 2 MiB pages (MADV_HUGEPAGE), which the kernel may apply
 * later, in the background, if its THP setting allows; `'unsupported'`: nothing done (not Linux,
 * the kernel refused, or the buffer holds no whole aligned 2 MiB range, i.e. under ~4 MiB).
 */
export type HugePages = 'collapsed' | 'advised' | 'unsupported';

/** Options of {@link EmbeddingTable.fromBuffer}. */
export interface FromBufferOptions extends TableOptions {
  /**
   * Move the buffer's rows into 2 MiB pages now (Linux; default false). Random lookups in a table
   * much larger than the caches then miss the TLB far less: measured on Zen 3, warm q8 lookups
   * D = 128 57 -> 83 Mrows/s, D = 256 32 -> 44. The bytes are never changed, but the call copies
   * them page by page, once, on this thread: 0.36-0.8 s for 275-519 MiB. Pages of the buffer not
   * yet touched become resident. The result is in {@link EmbeddingTable.hugePages}.
   */
  hugePages?: boolean;
}

/** Options of {@link EmbeddingTable.open}. */
export interface OpenOptions extends TableOptions {
  /** Byte offset of row 0 in the file; default 0. */
  offset?: number;
}

/**
 * The range search of {@link FromFloat32TableOptions.optimizedQParams}: PyTorch's
 * `embedding_bag_4bit_prepack(w, optimized_qparams=True, nbins, ratio)`.
 */
export interface OptimizedQParams {
  /** Steps the row's [min, max] is cut into; default 200 (PyTorch's). An integer in [1, 2^20]. */
  nbins?: number;
  /** Fraction of the range the search may cut off; default 0.16 (PyTorch's). In [0, 1]. */
  ratio?: number;
}

/** Options of {@link EmbeddingTable.fromFloat32}. */
export interface FromFloat32TableOptions extends Pick<TableOptions, 'dim' | 'format' | 'remap'> {
  /** Put the rows in a SharedArrayBuffer (to hand to worker_threads); default false. */
  shared?: boolean;
  /**
   * q4 / q2 only: choose each row's range to minimize its L2 quantization error (PyTorch's and
   * FBGEMM's greedy search, byte for byte what `embedding_bag_4bit_prepack(w, True)` /
   * `embedding_bag_2bit_prepack(w, True)` write) instead of the row's [min, max]. `true` uses
   * PyTorch's defaults (nbins 200, ratio 0.16). Costs ~2 x 30 passes over each row when the table
   * is built; lookups are unchanged. Default false.
   */
  optimizedQParams?: boolean | OptimizedQParams;
  /**
   * Mixed precision (q4 / q2 tables): keep the most looked-up rows in fp32 or fp16. See
   * {@link HotRowsOptions}. The result is one table, looked up by one call as any other.
   */
  hot?: HotRowsOptions;
}

/**
 * The hot rows of a mixed-precision table ({@link FromFloat32TableOptions.hot}): the `rows` ids
 * with the highest `counts` (ties: the lower id) are kept as `format` rows, the others quantized.
 * A lookup reads each row in its own format, in index order, exactly as a lookup in an f32/f16 or
 * q4/q2 table of that row would (native/kernels/embedding/README.md, "Mixed precision").
 * Memory: the q4/q2 rows of every id (the same bytes as a plain table), `rows` × 4·dim (f32) or
 * 2·dim (f16) bytes, and a hot index of 1.5 bits per id.
 */
export interface HotRowsOptions {
  /** Access count (or any frequency) per id: rows entries, finite numbers >= 0. */
  counts: ArrayLike<number>;
  /** How many ids to keep hot, in [0, min(ids, 2^24)]; 0 gives a plain table. */
  rows: number;
  /** Format of the hot rows; default `'f32'`. */
  format?: 'f32' | 'f16';
}

/** Options of {@link EmbeddingTable.allocate}. */
export type AllocateOptions = Pick<TableOptions, 'dim' | 'format' | 'remap'>;

const TABLE_KEYS = optionKeys<TableOptions>()('dim', 'format', 'rows', 'rowStride', 'remap');
const FROM_BUFFER_KEYS = [...TABLE_KEYS, ...optionKeys<Omit<FromBufferOptions, keyof TableOptions>>()('hugePages')];
const FROM_FLOAT32_KEYS = optionKeys<FromFloat32TableOptions>()('dim', 'format', 'remap', 'shared', 'optimizedQParams', 'hot');
const OPTIMIZED_KEYS = optionKeys<OptimizedQParams>()('nbins', 'ratio');
const HOT_KEYS = optionKeys<HotRowsOptions>()('counts', 'rows', 'format');
/** The options {@link EmbeddingTable.open} takes (for its checkOptions call). */
export const OPEN_KEYS = [...TABLE_KEYS, ...optionKeys<Omit<OpenOptions, keyof TableOptions>>()('offset')];
/** The options {@link EmbeddingTable.allocate} takes (for its checkOptions call). */
export const ALLOCATE_KEYS = optionKeys<AllocateOptions>()('dim', 'format', 'remap');

/** An embedding table: rows of one format, in caller memory or a read-only file mapping. */
export class EmbeddingTable {
  /** Rows stored. */
  readonly rows: number;
  /** Values per row. */
  readonly dim: number;
  /** Row format. */
  readonly format: TableFormat;
  /** Bytes between rows. */
  readonly rowStride: number;
  readonly #remap: Int32Array | null;
  readonly #source: Uint8Array | NativeMapped;
  readonly #offset: number;
  #closed = false;
  #hugePages: HugePages | null = null;
  // mixed precision: the hot rows (private: never handed out), their format and their ids
  #hot: Uint8Array | null = null;
  #hotIndex: Uint8Array | null = null;
  #hotFormat: 'f32' | 'f16' = 'f32';
  #hotIds: Int32Array | null = null;

  // inFile: the rows start at `offset` in a larger file (open), so bytes past rows * rowStride are
  // the file's other contents; a buffer (fromBuffer) must hold exactly the rows.
  private constructor(source: Uint8Array | NativeMapped, offset: number, bytes: number, o: TableOptions, inFile = false) {
    const dim = checkInt(o.dim, 'options.dim', 1, 2 ** 24);
    const minStride = rowBytesOf(checkEnum(o.format, 'options.format', FORMATS), dim);
    const stride = o.rowStride === undefined ? minStride : checkInt(o.rowStride, 'options.rowStride', minStride, 2 ** 40);
    let rows: number;
    if (o.rows === undefined) {
      if (bytes % stride !== 0) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `table byte length ${bytes} is not a whole number of ${stride}-byte rows (give options.rows)`);
      }
      rows = bytes / stride;
    } else {
      rows = checkInt(o.rows, 'options.rows', 0, 2 ** 48);
      if (inFile ? rows * stride > bytes : rows * stride !== bytes) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `table byte length must be ${inFile ? 'at least ' : ''}rows * rowStride = ${rows * stride}, got ${bytes}`);
      }
    }
    this.rows = rows;
    this.dim = dim;
    this.format = o.format;
    this.rowStride = stride;
    // a private copy: the ids a lookup maps are the ones checked, whatever the caller writes later
    this.#remap = o.remap === undefined ? null : new Int32Array(checkArray<Int32Array>(o.remap, 'options.remap', [Int32Array]));
    this.#source = source;
    this.#offset = offset;
  }

  /** For a mixed-precision table, the ids kept hot (a copy, ascending), or null. */
  get hotIds(): Int32Array | null {
    return this.#hotIds === null ? null : this.#hotIds.slice();
  }

  /** For a mixed-precision table, the format of its hot rows, or null. */
  get hotFormat(): 'f32' | 'f16' | null {
    return this.#hot === null ? null : this.#hotFormat;
  }

  /** The remap of a pruned table (a copy: writing it changes nothing), or null. */
  get remap(): Int32Array | null {
    return this.#remap === null ? null : this.#remap.slice();
  }

  /**
   * Wraps rows already in memory (an ArrayBuffer, a SharedArrayBuffer shared with worker_threads,
   * or a view of one). Nothing is copied: the table reads the caller's bytes.
   */
  static fromBuffer(buffer: ArrayBufferLike | ArrayBufferView, options: FromBufferOptions): EmbeddingTable {
    let bytes: Uint8Array;
    const backing = ArrayBuffer.isView(buffer) ? buffer.buffer : buffer;
    if ((backing as ArrayBuffer & { detached?: boolean })?.detached === true || (ArrayBuffer.isView(buffer) && isDetached(buffer))) {
      throw typeError('ERR_LOWBIT_DETACHED', 'buffer is a detached ArrayBuffer (or a view of one)');
    }
    if (ArrayBuffer.isView(buffer)) bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    else if (['[object ArrayBuffer]', '[object SharedArrayBuffer]'].includes(Object.prototype.toString.call(buffer))) bytes = new Uint8Array(buffer as ArrayBufferLike);
    else throw typeError('ERR_LOWBIT_INVALID_TYPE', `buffer must be an ArrayBuffer, SharedArrayBuffer or a view of one, got ${describe(buffer)}`);
    const o = checkOptions<FromBufferOptions>(options, 'options', 'EmbeddingTable.fromBuffer', FROM_BUFFER_KEYS, 'dim and format') as FromBufferOptions;
    const huge = checkBool(o.hugePages, 'options.hugePages', false);
    const table = new EmbeddingTable(bytes, 0, bytes.byteLength, o);
    // after every check: a refused call does not touch the caller's pages
    if (huge) table.#hugePages = native.adviseHugePages(bytes);
    return table;
  }

  /**
   * For a table made by {@link EmbeddingTable.fromBuffer} with `hugePages: true`, what the kernel
   * gave (see {@link HugePages}); null otherwise (tables lowbit allocates get 2 MiB pages
   * requested on their own mapping).
   */
  get hugePages(): HugePages | null {
    return this.#hugePages;
  }

  /**
   * Quantizes fp32 rows [rows, dim] into a new table of `format` (FBGEMM's rowwise formulas).
   * `shared: true` puts the rows in a SharedArrayBuffer (to hand to worker_threads).
   */
  static fromFloat32(values: Float32Array, options: FromFloat32TableOptions): EmbeddingTable {
    const v = checkArray<Float32Array>(values, 'values', [Float32Array]);
    const o = checkOptions<FromFloat32TableOptions>(options, 'options', 'EmbeddingTable.fromFloat32', FROM_FLOAT32_KEYS, 'dim and format');
    const dim = checkInt(o.dim, 'options.dim', 1, 2 ** 24);
    if (v.length % dim !== 0) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `values.length must be a multiple of dim (${dim}), got ${v.length}`);
    const format = checkEnum(o.format, 'options.format', FORMATS);
    const rowCount = v.length / dim;
    const bytes = rowCount * rowBytesOf(format, dim);
    const shared = checkBool(o.shared, 'options.shared', false);
    const search = optimizedSearch(o.optimizedQParams, format);
    const hot = o.hot === undefined ? null : hotIdsOf(o.hot, format, rowCount, o.remap !== undefined);
    const rows = new Uint8Array(shared ? new SharedArrayBuffer(bytes) : native.allocateTable(bytes));
    if (search === null) native.quantizeTable(v, rowCount, dim, FORMATS.indexOf(format), rows);
    else native.quantizeTable(v, rowCount, dim, FORMATS.indexOf(format), rows, search.nbins, search.ratio);
    const table = new EmbeddingTable(rows, 0, rows.byteLength, { dim, format, remap: o.remap });
    if (hot !== null && hot.ids.length > 0) table.#makeHot(v, hot.ids, hot.format, shared);
    return table;
  }

  // Makes the rows of `ids` hot: their values in `format` in a private buffer, and the hot index
  // (native/kernels/embedding/embedding.h, Table::hot_index: per 64 ids a u64 of hot bits and a
  // u32 count of the hot ids before them). The quantized rows are left as they are.
  #makeHot(values: Float32Array, ids: Int32Array, format: 'f32' | 'f16', shared: boolean): void {
    const dim = this.dim;
    ids.sort();
    const gathered = new Float32Array(ids.length * dim);
    ids.forEach((id, slot) => gathered.set(values.subarray(id * dim, (id + 1) * dim), slot * dim));
    const hotBytes = ids.length * rowBytesOf(format, dim);
    const hot = new Uint8Array(shared ? new SharedArrayBuffer(hotBytes) : native.allocateTable(hotBytes));
    native.quantizeTable(gathered, ids.length, dim, FORMATS.indexOf(format), hot);
    const groups = Math.ceil(this.rows / 64);
    const index = new Uint8Array(shared ? new SharedArrayBuffer(12 * groups) : new ArrayBuffer(12 * groups));
    for (const id of ids) index[12 * Math.floor(id / 64) + ((id % 64) >> 3)] |= 1 << (id % 8);
    const dv = new DataView(index.buffer);
    let before = 0;
    for (let g = 0; g < groups; g++) {
      dv.setUint32(12 * g + 8, before, true);
      for (let k = 0; k < 8; k++) for (let v = index[12 * g + k]; v; v &= v - 1) before++;
    }
    this.#hotIndex = index;
    this.#hot = hot;
    this.#hotFormat = format;
    this.#hotIds = ids;
  }

  /**
   * A zeroed table of `rows` rows that lowbit allocates (on Linux with a 2 MiB-page hint, which
   * makes random lookups in tables much larger than the caches markedly faster); fill it through
   * {@link EmbeddingTable.bytes}, e.g. by reading a file of rows into it.
   */
  static allocate(rows: number, options: { dim: number; format: TableFormat; remap?: Int32Array }): EmbeddingTable {
    const o = requireOptions(options, 'EmbeddingTable.allocate', ALLOCATE_KEYS);
    const n = checkInt(rows, 'rows', 0, 2 ** 48);
    const dim = checkInt(o.dim, 'options.dim', 1, 2 ** 24);
    if (!FORMATS.includes(o.format)) {
      throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.format must be one of ${FORMATS.join(', ')}, got ${describe(o.format)}`);
    }
    const bytes = new Uint8Array(native.allocateTable(n * rowBytes(o.format, dim)));
    return new EmbeddingTable(bytes, 0, bytes.byteLength, { dim, format: o.format, remap: o.remap, rows: n });
  }

  /**
   * Maps a file of rows read-only (nothing is read or copied until lookups touch rows), so a
   * table larger than the JS heap, or than RAM, can serve lookups. `close()` unmaps it.
   *
   * Only regular files open: a missing or unreadable file, a directory, a FIFO or a device throws
   * a `RangeError` with code `ERR_LOWBIT_FILE` and Node's `errno` (e.g. `'ENOENT'`), `syscall` and
   * `path`. If another program truncates the file while it is mapped, a lookup (or
   * {@link EmbeddingTable.toFloat32}) that reads a row past the new end fails with
   * `ERR_LOWBIT_FILE_TRUNCATED` instead of the process dying of SIGBUS (rows still inside the
   * file keep working); its output may then hold partial results.
   */
  static open(path: string, options: OpenOptions): EmbeddingTable {
    if (typeof path !== 'string') throw typeError('ERR_LOWBIT_INVALID_TYPE', `path must be a string, got ${describe(path)}`);
    const o = requireOptions(options, 'EmbeddingTable.open', OPEN_KEYS) as OpenOptions;
    const offset = o.offset === undefined ? 0 : checkInt(o.offset, 'options.offset', 0, 2 ** 53);
    // the file is opened (without blocking: a FIFO is refused, not waited on) and checked to be a
    // regular file natively; errors are ERR_LOWBIT_FILE with errno, syscall and path
    const mapped = new native.MappedFile(path);
    try {
      const size = mapped.byteLength;
      if (offset > size) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `options.offset ${offset} is past the end of ${path} (${size} bytes)`);
      return new EmbeddingTable(mapped, offset, size - offset, o, true);
    } catch (e) {
      mapped.close();
      throw e;
    }
  }

  /** The rows' bytes (for tables in memory; null for mapped files). Writing them changes the table. */
  get bytes(): Uint8Array | null {
    return isTyped(this.#source, Uint8Array) ? (this.#source as Uint8Array) : null;
  }

  /** Releases a file mapping now (calls already running keep it until they finish). */
  close(): void {
    if (!isTyped(this.#source, Uint8Array)) (this.#source as NativeMapped).close();
    this.#closed = true;
  }

  /** Dequantizes every row to fp32 [rows, dim]. */
  toFloat32(): Float32Array {
    const y = native.dequantizeTable(this.#source, this.#offset, this.rows, this.dim, this.rowStride, FORMATS.indexOf(this.format));
    if (this.#hot !== null && this.#hotIds !== null) {
      const dim = this.dim;
      const hot = native.dequantizeTable(this.#hot, 0, this.#hotIds.length, dim, rowBytesOf(this.#hotFormat, dim), FORMATS.indexOf(this.#hotFormat));
      this.#hotIds.forEach((id, slot) => y.set(hot.subarray(slot * dim, (slot + 1) * dim), id * dim));
    }
    return y;
  }

  /** @internal The fields of a native lookup request for this table. */
  _request(): {
    table: Uint8Array | NativeMapped; tableOffset: number; rows: number; dim: number; rowStride: number; format: number; remap: Int32Array | null;
    hot: Uint8Array | null; hotRows: number; hotFormat: number; hotIndex: Uint8Array | null;
  } {
    if (this.#closed) throw rangeError('ERR_LOWBIT_CLOSED', 'the table was closed');
    return { table: this.#source, tableOffset: this.#offset, rows: this.rows, dim: this.dim, rowStride: this.rowStride, format: FORMATS.indexOf(this.format), remap: this.#remap,
      hot: this.#hot, hotRows: this.#hotIds?.length ?? 0, hotFormat: this.#hotFormat === 'f16' ? 1 : 0, hotIndex: this.#hotIndex,
    };
  }
}

// options.hot of fromFloat32: the ids to keep hot (by slot) and their format.
function hotIdsOf(value: unknown, format: TableFormat, ids: number, pruned: boolean): { ids: Int32Array; format: 'f32' | 'f16' } {
  const o = checkOptions<HotRowsOptions>(value, 'options.hot', 'EmbeddingTable.fromFloat32', HOT_KEYS, 'counts and rows') as HotRowsOptions;
  if (format !== 'q4' && format !== 'q2') throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.hot applies to formats 'q4' and 'q2', got format '${format}'`);
  if (pruned) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', 'options.hot and options.remap cannot be combined');
  const hotFormat = checkEnum(o.format, 'options.hot.format', ['f32', 'f16'] as const, 'f32');
  const n = checkInt(o.rows, 'options.hot.rows', 0, Math.min(ids, 2 ** 24));
  const counts = o.counts;
  if (counts === null || typeof counts !== 'object' || typeof (counts as ArrayLike<number>).length !== 'number') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.hot.counts must be an array or typed array of numbers, got ${describe(counts)}`);
  }
  if (counts.length !== ids) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.hot.counts.length must be the number of rows (${ids}), got ${counts.length}`);
  const c = Float64Array.from(counts);
  for (let i = 0; i < c.length; i++) {
    if (!(c[i] >= 0 && Number.isFinite(c[i]))) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `options.hot.counts[${i}] must be a finite number >= 0, got ${counts[i]}`);
  }
  const order = Int32Array.from({ length: ids }, (_, i) => i).sort((a, b) => c[b] - c[a] || a - b);
  return { ids: order.slice(0, n), format: hotFormat };
}

// options.optimizedQParams of fromFloat32: null (plain [min, max]) or the search's parameters.
function optimizedSearch(value: unknown, format: TableFormat): { nbins: number; ratio: number } | null {
  if (value === undefined || value === false) return null;
  if (value !== true) checkOptions<OptimizedQParams>(value, 'options.optimizedQParams', 'EmbeddingTable.fromFloat32', OPTIMIZED_KEYS);
  if (format !== 'q4' && format !== 'q2') {
    throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.optimizedQParams applies to formats 'q4' and 'q2', got format '${format}'`);
  }
  const o = value === true ? {} : (value as OptimizedQParams);
  const nbins = o.nbins === undefined ? 200 : checkInt(o.nbins, 'options.optimizedQParams.nbins', 1, 2 ** 20);
  let ratio = 0.16;
  if (o.ratio !== undefined) {
    if (typeof o.ratio !== 'number') throw typeError('ERR_LOWBIT_INVALID_TYPE', `options.optimizedQParams.ratio must be a number, got ${describe(o.ratio)}`);
    if (!(o.ratio >= 0 && o.ratio <= 1)) throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `options.optimizedQParams.ratio must be in [0, 1], got ${o.ratio}`);
    ratio = o.ratio;
  }
  return { nbins, ratio };
}

// The options of open and allocate, each with its own key list.
function requireOptions(options: unknown, owner: string, keys: readonly string[]): TableOptions {
  return checkOptions<TableOptions>(options, 'options', owner, keys, 'dim and format') as TableOptions;
}

/** One table's lookups for a batch. */
export interface EmbeddingBagLookup {
  /** The table. */
  table: EmbeddingTable;
  /** Row ids, Int32Array or BigInt64Array. */
  indices: Int32Array | BigInt64Array;
  /** Start of each bag in `indices` (PyTorch style; Int32Array or BigInt64Array). Give this or `lengths`. */
  offsets?: Int32Array | BigInt64Array;
  /** `offsets` has one more entry, equal to indices.length (PyTorch's include_last_offset). */
  includeLastOffset?: boolean;
  /** Number of ids per bag (instead of offsets). */
  lengths?: Int32Array | BigInt64Array;
  /** One weight per index (per_sample_weights). */
  perSampleWeights?: Float32Array;
  /** Pooling; default `'sum'`. `'mean'` divides by the bag length (pruned ids included); empty bags give zeros. */
  mode?: 'sum' | 'mean';
}

/**
 * Element type of a lookup's output. `'float32'` (default): a Float32Array. `'float16'`: a
 * Uint16Array of IEEE binary16 bits (Node has no Float16Array yet), each the fp32 result rounded to
 * nearest even, so it equals the fp32 output converted; overflow gives ±Infinity, tiny values
 * subnormals or ±0. Half the bytes to write and to hand on (e.g. to an fp16 model input).
 */
export type EmbeddingOutputType = 'float32' | 'float16';

/** Options of {@link embeddingBag} with fp32 output (the default). */
export interface EmbeddingBagOptions extends Omit<EmbeddingBagLookup, 'table'> {
  /** The table argument again, if present (so that a lookup of {@link embeddingBags} can be passed as is); another table is refused. */
  table?: EmbeddingTable;
  /** Output of bags × dim floats; allocated when absent. */
  out?: Float32Array;
  /** Output type; default `'float32'`. */
  outputType?: 'float32';
  /** Threads; default 1. */
  threads?: number;
}

/** Options of {@link embeddingBag} with fp16 output: a Uint16Array of binary16 bits. */
export interface EmbeddingBagF16Options extends Omit<EmbeddingBagLookup, 'table'> {
  /** See {@link EmbeddingBagOptions.table}. */
  table?: EmbeddingTable;
  /** Output of bags × dim binary16 values; allocated when absent. */
  out?: Uint16Array;
  /** `'float16'`: see {@link EmbeddingOutputType}. */
  outputType: 'float16';
  /** Threads; default 1. */
  threads?: number;
}

/** Options of {@link embeddingBags} with fp32 output (the default). */
export interface EmbeddingBagsOptions {
  /** Output [bags, Σ dim] (each bag's rows of every table side by side, DLRM style); allocated when absent. */
  out?: Float32Array;
  /** Output type; default `'float32'`. */
  outputType?: 'float32';
  /** Threads; default 1. */
  threads?: number;
}

/** Options of {@link embeddingBags} with fp16 output: a Uint16Array of binary16 bits. */
export interface EmbeddingBagsF16Options {
  /** Output [bags, Σ dim] of binary16 values; allocated when absent. */
  out?: Uint16Array;
  /** `'float16'`: see {@link EmbeddingOutputType}. */
  outputType: 'float16';
  /** Threads; default 1. */
  threads?: number;
}

type Output = Float32Array | Uint16Array;

const OUTPUT_TYPES: readonly EmbeddingOutputType[] = ['float32', 'float16'];
const POOLING: readonly NonNullable<EmbeddingBagLookup['mode']>[] = ['sum', 'mean'];
const LOOKUP_KEYS = optionKeys<EmbeddingBagLookup>()('table', 'indices', 'offsets', 'includeLastOffset', 'lengths', 'perSampleWeights', 'mode');
const BAGS_KEYS = optionKeys<EmbeddingBagsOptions>()('out', 'outputType', 'threads');
const BAG_KEYS = [...LOOKUP_KEYS, ...BAGS_KEYS];

// The output array: options.out checked against the output type and length, or a new one.
function outputArray(o: { out?: Output; outputType?: EmbeddingOutputType }, length: number, what: string, async: boolean): Output {
  const type = checkEnum(o.outputType, 'options.outputType', OUTPUT_TYPES, 'float32');
  const ctor = type === 'float16' ? Uint16Array : Float32Array;
  if (o.out === undefined) return async ? resultArray<Output>(ctor, length, true) : freshOutput(ctor, length);
  const out = checkArray<Output>(o.out, `options.out (outputType '${type}')`, [ctor]);
  if (out.length !== length) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `options.out.length must be ${what} = ${length}, got ${out.length}`);
  return out;
}

// Results below this size: `new Float32Array` (V8 may place them on its heap; zeroing is free).
const UNINITIALIZED_MIN_BYTES = 1024;

// The result of a sync call without `out`. The kernel writes every element (each bag's row, zeros
// for an empty bag), so it need not be zeroed first: Buffer.allocUnsafeSlow gives an ArrayBuffer of
// its own (never a slice of Node's shared pool), uninitialized. Measured (2-core Zen 3, 128 KiB,
// pages touched as the kernel does): 12-58 us against 40-85 us for a zeroed Float32Array; what is
// left is the page faults of memory V8 frees only at its next GC (PyTorch reuses its previous
// output's memory at once: refcounting), which no allocator can avoid without knowing the previous
// result is dead; pass `out` to reuse an array. If the call throws, the array is never returned.
function freshOutput(ctor: typeof Float32Array | typeof Uint16Array, length: number): Output {
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  return bytes >= UNINITIALIZED_MIN_BYTES ? new ctor(Buffer.allocUnsafeSlow(bytes).buffer, 0, length) : new ctor(length);
}

// Builds the native request of one lookup. Names for messages are built only when an error is
// thrown: this runs on every call, and online serving makes many small calls.
function lookupRequest(l: EmbeddingBagLookup, where: string, out: Output, outOffset: number, outStride: number) {
  if (!(l.table instanceof EmbeddingTable)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `${where}.table must be an EmbeddingTable, got ${describe(l.table)}`);
  const indices = isTyped(l.indices, Int32Array) || isTyped(l.indices, BigInt64Array) ? l.indices : checkArray<Int32Array>(l.indices, `${where}.indices`, [Int32Array, BigInt64Array]);
  if ((l.offsets === undefined) === (l.lengths === undefined)) {
    throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', `${where} must have exactly one of offsets and lengths`);
  }
  const includeLast = l.includeLastOffset === undefined ? false : checkBool(l.includeLastOffset, `${where}.includeLastOffset`, false);
  if (l.lengths !== undefined && includeLast) throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', `${where}.includeLastOffset applies to offsets, not lengths`);
  const bounds = l.offsets ?? l.lengths;
  const offsets = isTyped(bounds, Int32Array) || isTyped(bounds, BigInt64Array) ? bounds : checkArray<Int32Array>(bounds, `${where}.${l.offsets ? 'offsets' : 'lengths'}`, [Int32Array, BigInt64Array]);
  const weights = l.perSampleWeights === undefined ? null : checkArray<Float32Array>(l.perSampleWeights, `${where}.perSampleWeights`, [Float32Array]);
  if (l.mode !== undefined && l.mode !== 'sum' && l.mode !== 'mean') checkEnum(l.mode, `${where}.mode`, POOLING);
  const t = l.table._request();
  // Positional, in the order native/napi/embedding.cc reads (no property names to intern per call).
  // Detached buffers are caught natively (ERR_LOWBIT_DETACHED) before anything is read.
  return [
    t.table, t.tableOffset, t.rows, t.dim, t.rowStride, t.format, t.remap,
    indices, offsets, l.lengths !== undefined ? 2 : includeLast ? 1 : 0, weights, l.mode === 'mean' ? 1 : 0,
    out, outOffset, outStride, t.hot, t.hotRows, t.hotFormat, t.hotIndex,
  ];
}

function bagCount(l: EmbeddingBagLookup, where = 'lookup'): number {
  const bounds = l.offsets ?? l.lengths;
  // a detached array reads as empty: say so before its length is taken for the bag count
  if (ArrayBuffer.isView(bounds) && isDetached(bounds)) {
    throw typeError('ERR_LOWBIT_DETACHED', `${where}.${l.offsets ? 'offsets' : 'lengths'} is backed by a detached ArrayBuffer`);
  }
  const n = bounds?.length ?? 0;
  return l.offsets !== undefined && l.includeLastOffset ? n - 1 : n;
}

function prepareOne(table: EmbeddingTable, options: EmbeddingBagOptions | EmbeddingBagF16Options, async: boolean) {
  const o = checkOptions<EmbeddingBagOptions | EmbeddingBagF16Options>(options, 'options', 'embeddingBag', BAG_KEYS, 'indices and offsets or lengths') as EmbeddingBagOptions | EmbeddingBagF16Options;
  if (!(table instanceof EmbeddingTable)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `table must be an EmbeddingTable, got ${describe(table)}`);
  if (o.table !== undefined && o.table !== table) throw typeError('ERR_LOWBIT_INVALID_ARGUMENT', 'options.table must be absent or the table argument, got another table');
  const lookup: EmbeddingBagLookup = {
    table, indices: o.indices, offsets: o.offsets, lengths: o.lengths, includeLastOffset: o.includeLastOffset,
    perSampleWeights: o.perSampleWeights, mode: o.mode,
  };
  const bags = Math.max(0, bagCount(lookup));
  const out = outputArray(o, bags * table.dim, 'bags * dim', async);
  return { req: [lookupRequest(lookup, 'lookup', out, 0, table.dim)], out, threads: checkThreads(o.threads) };
}

/**
 * Sums (or averages) the rows of each bag: out[b] = Σ_{i in bag b} w_i · row(indices[i]).
 * Bad input (an index out of range or negative, offsets not non-decreasing or not ending at the
 * index count, lengths not summing to it) throws a RangeError naming the bag and position, and
 * writes nothing.
 * @returns bags × dim values (`options.out` when given): a Float32Array, or with
 *   `outputType: 'float16'` a Uint16Array of binary16 bits.
 */
export function embeddingBag(table: EmbeddingTable, options: EmbeddingBagF16Options): Uint16Array;
export function embeddingBag(table: EmbeddingTable, options: EmbeddingBagOptions): Float32Array;
export function embeddingBag(table: EmbeddingTable, options: EmbeddingBagOptions | EmbeddingBagF16Options): Float32Array | Uint16Array {
  const p = prepareOne(table, options, false);
  native.embeddingBags(p.req, p.threads, false);
  return p.out;
}

/** {@link embeddingBag} off the main thread (validation happens before it returns). */
export async function embeddingBagAsync(table: EmbeddingTable, options: EmbeddingBagF16Options): Promise<Uint16Array>;
export async function embeddingBagAsync(table: EmbeddingTable, options: EmbeddingBagOptions): Promise<Float32Array>;
export async function embeddingBagAsync(table: EmbeddingTable, options: EmbeddingBagOptions | EmbeddingBagF16Options): Promise<Float32Array | Uint16Array> {
  const p = prepareOne(table, options, true);
  await native.embeddingBags(p.req, p.threads, true);
  return p.out;
}

function prepareMany(lookups: EmbeddingBagLookup[], options: EmbeddingBagsOptions | EmbeddingBagsF16Options | undefined, async: boolean) {
  if (!Array.isArray(lookups) || lookups.length === 0) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `lookups must be a non-empty array, got ${describe(lookups)}`);
  }
  const o = checkOptions<EmbeddingBagsOptions | EmbeddingBagsF16Options>(options, 'options', 'embeddingBags', BAGS_KEYS);
  // each lookup is an options object of its own: checked (keys too) before any is read
  lookups.forEach((l, i) => checkOptions<EmbeddingBagLookup>(l, `lookups[${i}]`, 'embeddingBags', LOOKUP_KEYS, 'table, indices and offsets or lengths'));
  const bags = bagCount(lookups[0], 'lookups[0]');
  let width = 0;
  lookups.forEach((l, i) => {
    if (!(l.table instanceof EmbeddingTable)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `lookups[${i}].table must be an EmbeddingTable, got ${describe(l.table)}`);
    if (bagCount(l, `lookups[${i}]`) !== bags) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `lookups[${i}] has ${bagCount(l)} bags, lookups[0] has ${bags}: every table must see the same batch`);
    width += l.table.dim;
  });
  const out = outputArray(o, Math.max(0, bags) * width, 'bags * Σ dim', async);
  let col = 0;
  const req = lookups.map((l, i) => {
    const r = lookupRequest(l, `lookups[${i}]`, out, col, width);
    col += l.table.dim;
    return r;
  });
  return { req, out, threads: checkThreads(o.threads) };
}

/**
 * The lookups of many tables for one batch in one native call (a DLRM request touches tens of
 * tables): out is [bags, Σ dim], bag b's pooled rows of lookups[0], lookups[1], ... side by side.
 * Every lookup is validated before anything is written. With `outputType: 'float16'` the result
 * is a Uint16Array of binary16 bits.
 */
export function embeddingBags(lookups: EmbeddingBagLookup[], options: EmbeddingBagsF16Options): Uint16Array;
export function embeddingBags(lookups: EmbeddingBagLookup[], options?: EmbeddingBagsOptions): Float32Array;
export function embeddingBags(lookups: EmbeddingBagLookup[], options?: EmbeddingBagsOptions | EmbeddingBagsF16Options): Float32Array | Uint16Array {
  const p = prepareMany(lookups, options, false);
  native.embeddingBags(p.req, p.threads, false);
  return p.out;
}

/** {@link embeddingBags} off the main thread. */
export async function embeddingBagsAsync(lookups: EmbeddingBagLookup[], options: EmbeddingBagsF16Options): Promise<Uint16Array>;
export async function embeddingBagsAsync(lookups: EmbeddingBagLookup[], options?: EmbeddingBagsOptions): Promise<Float32Array>;
export async function embeddingBagsAsync(lookups: EmbeddingBagLookup[], options?: EmbeddingBagsOptions | EmbeddingBagsF16Options): Promise<Float32Array | Uint16Array> {
  const p = prepareMany(lookups, options, true);
  await native.embeddingBags(p.req, p.threads, true);
  return p.out;
}

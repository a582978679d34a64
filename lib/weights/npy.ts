// NumPy's .npy format (numpy.lib.format, versions 1.0-3.0): magic "\x93NUMPY", version, header
// length, then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces, then the data. The dict is parsed by a strict reader of exactly that grammar
// (no npm package validates it against hostile input); big-endian data is byte-swapped and
// Fortran-order arrays are transposed, so every tensor comes back little-endian, row-major.
import { rangeError, typeError } from '../errors';
import { describe } from '../validate';
import { dtypeBytes, dtypeCtor, elementCount, type Tensor, type TensorData, type TensorDtype } from './dtype';
import { byteSource, type WeightSource } from './source';

const NPY_DTYPES: Record<string, TensorDtype> = {
  f8: 'float64', f4: 'float32', f2: 'float16', i8: 'int64', i4: 'int32', i2: 'int16', i1: 'int8',
  u8: 'uint64', u4: 'uint32', u2: 'uint16', u1: 'uint8', b1: 'bool',
};
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER_BYTES = 1 << 20;

function invalid(where: string, message: string): never {
  throw rangeError('ERR_LOWBIT_INVALID_FILE', `${where}: ${message}`);
}

type PyValue = string | number | boolean | PyValue[];

// The header grammar numpy writes and reads: a dict of string keys; values are strings, True/False,
// non-negative integers or tuples of them. Anything else is refused (numpy itself uses
// ast.literal_eval, which also accepts nothing executable).
function parseDict(text: string, where: string): Map<string, PyValue> {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const fail = (what: string): never => invalid(where, `bad header at character ${i}: ${what} in ${JSON.stringify(text.slice(0, 120))}`);
  const value = (depth: number): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      if (s.includes('\\')) fail('escapes are not supported');
      i = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      if (depth > 4) fail('nesting too deep');
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return items;
        }
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected , or ${close}`);
      }
    }
    const m = /^(True|False|[0-9]+L?)/.exec(text.slice(i, i + 32));
    if (!m) return fail('expected a string, a number, True/False or a tuple');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    const n = Number(m[0].replace('L', ''));
    if (!Number.isSafeInteger(n)) fail(`integer ${m[0]} is too large`);
    return n;
  };
  const out = new Map<string, PyValue>();
  ws();
  if (text[i] !== '{') fail('expected {');
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') {
      i++;
      break;
    }
    const k = value(0);
    if (typeof k !== 'string') fail('keys must be strings');
    ws();
    if (text[i] !== ':') fail('expected :');
    i++;
    if (out.has(k as string)) fail(`key ${k} repeats`);
    out.set(k as string, value(0));
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail('expected , or }');
  }
  ws();
  if (i !== text.length) fail('text after the dict');
  return out;
}

function byteSwap(bytes: Uint8Array, size: number): void {
  for (let p = 0; p < bytes.length; p += size) {
    for (let a = p, b = p + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

// Fortran order to C order: element (i0, ..., ik) sits at sum(i_j * prod(shape[<j])) in the source.
function transposeFromFortran(src: TensorData, shape: number[], ctor: ReturnType<typeof dtypeCtor>): TensorData {
  const n = src.length;
  const out = new ctor(n) as TensorData & { [i: number]: number | bigint };
  const k = shape.length;
  const fstride = new Array<number>(k);
  let s = 1;
  for (let j = 0; j < k; j++) {
    fstride[j] = s;
    s *= shape[j]!;
  }
  const idx = new Array<number>(k).fill(0);
  let from = 0;
  const srcAny = src as unknown as { [i: number]: number | bigint };
  for (let c = 0; c < n; c++) {
    out[c] = srcAny[from]!;
    // advance the C-order index (last dimension fastest), keeping the Fortran offset in step
    for (let j = k - 1; j >= 0; j--) {
      idx[j]!++;
      from += fstride[j]!;
      if (idx[j]! < shape[j]!) break;
      from -= fstride[j]! * shape[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

/**
 * Reads a NumPy .npy array (a path or its bytes) as a row-major little-endian tensor. Data is
 * always copied (an .npy header leaves the data at an offset of its own choosing).
 * @throws RangeError `ERR_LOWBIT_INVALID_FILE` for a malformed header or an unsupported dtype (object,
 *   structured, complex, datetime and string arrays), `ERR_LOWBIT_FILE_TRUNCATED` when the data is
 *   shorter than the shape needs, `ERR_LOWBIT_FILE` when the file cannot be read.
 */
export function readNpy(source: WeightSource): Tensor {
  const src = byteSource(source, 'source');
  const where = src.path ?? 'npy buffer';
  if (src.size < 10) invalid(where, `an .npy file starts with a 10-byte preamble; it holds ${src.size} bytes`);
  const pre = src.read(0, Math.min(src.size, 12), 'the preamble');
  if (!MAGIC.every((b, i) => pre[i] === b)) invalid(where, 'not an .npy file (no \\x93NUMPY magic)');
  const major = pre[6]!;
  if (major < 1 || major > 3) invalid(where, `.npy version ${major}.${pre[7]} is not supported (1.0 to 3.0 are)`);
  const wide = major >= 2;
  if (wide && src.size < 12) invalid(where, 'the preamble of a version 2/3 file is 12 bytes');
  const dv = new DataView(pre.buffer, pre.byteOffset, pre.byteLength);
  const headerLen = wide ? dv.getUint32(8, true) : dv.getUint16(8, true);
  const headerStart = wide ? 12 : 10;
  if (headerLen > MAX_HEADER_BYTES) invalid(where, `header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (headerStart + headerLen > src.size) {
    throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${where}: the header claims ${headerLen} bytes, the file ends first`);
  }
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(src.read(headerStart, headerLen, 'the header'));
  } catch (e) {
    invalid(where, `the header is not valid text (${(e as Error).message})`);
  }
  const dict = parseDict(text.trimEnd(), where);
  for (const k of dict.keys()) if (!['descr', 'fortran_order', 'shape'].includes(k)) invalid(where, `unknown header key ${JSON.stringify(k)}`);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shapeV = dict.get('shape');
  if (typeof descr !== 'string') invalid(where, `descr must be a type string such as '<f4', got ${describe(descr)}`);
  if (typeof fortran !== 'boolean') invalid(where, `fortran_order must be True or False, got ${describe(fortran)}`);
  if (!Array.isArray(shapeV)) invalid(where, `shape must be a tuple, got ${describe(shapeV)}`);
  const m = /^([<>|=])([fiub][1248])$/.exec(descr);
  const dtype = m ? NPY_DTYPES[m[2]!] : undefined;
  if (!m || !dtype) invalid(where, `dtype ${JSON.stringify(descr)} is not supported (${Object.keys(NPY_DTYPES).map((d) => `<${d}`).join(', ')} are)`);
  const shape = shapeV as number[];
  const size = dtypeBytes(dtype);
  const count = elementCount(shape, size, where);
  const dataStart = headerStart + headerLen;
  if (dataStart + count * size > src.size) {
    throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${where}: shape [${shape.join(', ')}] of ${descr} needs ${count * size} bytes of data, the file holds ${src.size - dataStart}`);
  }
  const ctor = dtypeCtor(dtype);
  let data = new ctor(count);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  bytes.set(src.read(dataStart, count * size, 'the data'));
  if (m[1] === '>' && size > 1) byteSwap(bytes, size);
  if (fortran && shape.length > 1) data = transposeFromFortran(data, shape, ctor);
  return { dtype, shape: shape.slice(), data };
}

const NPY_DESCR = Object.fromEntries(Object.entries(NPY_DTYPES).map(([k, v]) => [v, k === 'b1' || k.endsWith('1') ? `|${k}` : `<${k}`])) as Partial<Record<TensorDtype, string>>;

/** Writes a tensor as .npy bytes (version 1.0, C order, little-endian), for numpy.load. */
export function writeNpy(tensor: Tensor): Uint8Array {
  const descr = NPY_DESCR[tensor?.dtype];
  if (!descr) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `tensor.dtype ${describe(tensor?.dtype)} has no .npy type (supported: ${Object.keys(NPY_DESCR).join(', ')})`);
  const ctor = dtypeCtor(tensor.dtype);
  if (!Array.isArray(tensor.shape)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `tensor.shape must be an array, got ${describe(tensor.shape)}`);
  const count = elementCount(tensor.shape, ctor.BYTES_PER_ELEMENT, 'tensor');
  if (!ArrayBuffer.isView(tensor.data) || tensor.data.constructor !== ctor || tensor.data.length !== count) {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `tensor.data must be a ${ctor.name} of ${count} elements, got ${describe(tensor.data)}`);
  }
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + tensor.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), 10 + header.length);
  return out;
}

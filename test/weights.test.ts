// Weight files: safetensors and .npy written by PyTorch, safetensors and NumPy (committed fixtures,
// scripts/weights/make_fixtures.py), round trips of lowbit's writers, and hostile files.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lowbit from '../lib';
import { expectCode } from './helpers';

const { readSafetensors, writeSafetensors, readNpy, writeNpy, toFloat32, embeddingBag } = lowbit;
const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'weights');
const fixture = (name: string) => path.join(FIXTURES, name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-weights-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Expected = Record<string, { shape: number[]; values: number[]; bits?: number[] }> & {
  bags: { indices: number[]; offsets: number[]; q8: number[]; q4: number[] };
};
const expected = JSON.parse(fs.readFileSync(fixture('torch.expected.json'), 'utf8')) as Expected;

// A safetensors file from a header object and data bytes, for the hostile cases.
function rawSafetensors(header: unknown, data: Uint8Array | number = 0, headerText?: string): Uint8Array {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

describe('safetensors written by PyTorch', () => {
  for (const [label, source] of [['path', fixture('torch.safetensors')], ['buffer', fs.readFileSync(fixture('torch.safetensors'))]] as const) {
    test(`from a ${label}: every tensor's dtype, shape and values`, () => {
      const f = readSafetensors(source);
      expect(f.metadata).toEqual({ format: 'pt', seed: '7' });
      expect([...f.names].sort()).toEqual(Object.keys(expected).filter((k) => k !== 'bags').concat(['emb.q4', 'emb.q8']).sort());
      const dtypes: Record<string, string> = {
        '0.weight': 'float32', f16: 'float16', bf16: 'bfloat16', f64: 'float64', i64: 'int64', i32: 'int32', i16: 'int16',
        i8: 'int8', u8: 'uint8', bool: 'bool', f8e4m3: 'float8_e4m3fn', f8e5m2: 'float8_e5m2', 'emb.q8': 'uint8',
      };
      for (const [name, dtype] of Object.entries(dtypes)) expect(f.tensor(name).dtype).toBe(dtype);
      for (const [name, entry] of Object.entries(expected)) {
        if (name === 'bags') continue;
        const e = entry as { shape: number[]; values: number[]; bits?: number[] };
        const t = f.tensor(name);
        expect(t.shape).toEqual(e.shape);
        expect(Array.from(toFloat32(t))).toEqual(e.values.map(Math.fround));
        if (e.bits) expect(Array.from(t.data as Uint16Array)).toEqual(e.bits.map((b) => b & 0xffff));
      }
      expect(f.tensor('i64').data).toEqual(BigInt64Array.from([-3n, -2n, -1n, 0n, 1n, 2n]));
      expect(f.tensor('scalar').shape).toEqual([]);
      expect(f.tensor('empty').data.length).toBe(0);
    });

    test(`from a ${label}: PyTorch's prepacked tables give PyTorch's bags`, () => {
      const f = readSafetensors(source);
      const indices = BigInt64Array.from(expected.bags.indices, BigInt);
      const offsets = BigInt64Array.from(expected.bags.offsets, BigInt);
      for (const format of ['q8', 'q4'] as const) {
        const table = f.embeddingTable(`emb.${format}`, { format });
        expect(table.dim).toBe(16);
        expect(table.rows).toBe(50);
        expect(Array.from(embeddingBag(table, { indices, offsets }))).toEqual(expected.bags[format].map(Math.fround));
        table.close();
      }
      const f32 = f.embeddingTable('emb.f32', { format: 'f32' });
      expect(Array.from(f32.toFloat32())).toEqual(Array.from(toFloat32(f.tensor('emb.f32'))));
    });
  }

  test('a path maps tables (no bytes in JS memory); a buffer is viewed, not copied', () => {
    expect(readSafetensors(fixture('torch.safetensors')).embeddingTable('emb.q8', { format: 'q8' }).bytes).toBeNull();
    const buf = fs.readFileSync(fixture('torch.safetensors'));
    const t = readSafetensors(buf).embeddingTable('emb.q8', { format: 'q8' });
    expect(t.bytes!.buffer).toBe(buf.buffer);
  });

  test('table options are checked: format, dim, dtype and shape', () => {
    const f = readSafetensors(fixture('torch.safetensors'));
    expectCode(() => f.embeddingTable('emb.q8', { format: 'q9' as 'q8' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /q9/);
    expectCode(() => f.embeddingTable('emb.q8', { format: 'q8', dim: 15 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /dim 15/);
    expectCode(() => f.embeddingTable('i32', { format: 'q8' }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /int32/);
    expectCode(() => f.embeddingTable('u8', { format: 'q8' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /2-D/);
    expectCode(() => f.embeddingTable('emb.q8', { format: 'q8', dims: 16 } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION', /dim/);
    expectCode(() => f.tensor('nope'), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /no tensor "nope"/);
  });
});

describe('writeSafetensors', () => {
  const tensors: Record<string, lowbit.Tensor> = {
    a: { dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 2, 3]) },
    b: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1.5, -2, 0, 3]) },
    c: { dtype: 'int64', shape: [1], data: BigInt64Array.from([-5n]) },
    d: { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) },
  };

  test('round trip, every tensor aligned (zero-copy views on read)', () => {
    const bytes = writeSafetensors(tensors, { by: 'lowbit' });
    const f = readSafetensors(bytes);
    expect(f.metadata).toEqual({ by: 'lowbit' });
    for (const [name, t] of Object.entries(tensors)) {
      const r = f.tensor(name);
      expect(r).toEqual(t);
      expect(r.data.buffer).toBe(bytes.buffer);
    }
    expect(toFloat32(f.tensor('d'))).toEqual(Float32Array.from([1, -2]));
    const copy = readSafetensors(bytes, { copy: true }).tensor('b');
    expect(copy.data.buffer).not.toBe(bytes.buffer);
    expect(copy).toEqual(tensors.b);
  });

  test('a misaligned tensor in a buffer is copied, not viewed misaligned', () => {
    const bytes = writeSafetensors(tensors);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect(readSafetensors(shifted).tensor('b')).toEqual(tensors.b);
  });

  test('Python reads what lowbit writes (when python3 with safetensors is here)', () => {
    const file = path.join(tmp, 'w.safetensors');
    fs.writeFileSync(file, writeSafetensors(tensors));
    let out: string;
    try {
      out = execFileSync('python3', ['-c', 'import sys, safetensors.numpy as s; d = s.load_file(sys.argv[1]); print(sorted((k, v.dtype.name, list(v.shape), v.tolist()) for k, v in d.items() if k != "d"))', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return; // no python3 / safetensors: the PyTorch-written fixtures above cover the reading side
    }
    expect(out.trim()).toBe("[('a', 'uint8', [3], [1, 2, 3]), ('b', 'float32', [2, 2], [[1.5, -2.0], [0.0, 3.0]]), ('c', 'int64', [1], [-5])]");
  });

  test('bad tensors are refused', () => {
    expectCode(() => writeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /must be 3/);
    expectCode(() => writeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Float64Array(2) } as never }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /Float32Array/);
    expectCode(() => writeSafetensors({ a: { dtype: 'float33', shape: [2], data: new Float32Array(2) } as never }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /float33/);
    expectCode(() => writeSafetensors({ a: { dtype: 'float32', shape: [-2], data: new Float32Array(2) } }), RangeError, 'ERR_LOWBIT_INVALID_FILE', /shape\[0\]/);
  });
});

describe('hostile safetensors files', () => {
  const good = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['empty file', new Uint8Array(0), 'ERR_LOWBIT_INVALID_FILE', /8-byte header length/],
    ['header length past the end', rawSafetensors(good, 8).subarray(0, 20), 'ERR_LOWBIT_FILE_TRUNCATED', /header claims/],
    ['header length 2^63', (() => { const b = rawSafetensors(good, 8); new DataView(b.buffer).setBigUint64(0, 1n << 63n, true); return b; })(), 'ERR_LOWBIT_INVALID_FILE', /exceeds the limit/],
    ['header not JSON', rawSafetensors(null, 8, '{"t": '), 'ERR_LOWBIT_INVALID_FILE', /not valid UTF-8 JSON/],
    ['header not UTF-8', rawSafetensors(null, 0, '{}').map((b, i) => (i === 9 ? 0xff : b)), 'ERR_LOWBIT_INVALID_FILE', /UTF-8/],
    ['header an array', rawSafetensors([1, 2]), 'ERR_LOWBIT_INVALID_FILE', /JSON object/],
    ['unknown dtype', rawSafetensors({ t: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /F33/],
    ['negative dim', rawSafetensors({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /shape\[0\]/],
    ['fractional dim', rawSafetensors({ t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /shape\[0\]/],
    ['huge dims', rawSafetensors({ t: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /2\^53/],
    ['shape and range disagree', rawSafetensors({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /needs 12 bytes/],
    ['range past the data', rawSafetensors({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), 'ERR_LOWBIT_FILE_TRUNCATED', /data holds 8/],
    ['range reversed', rawSafetensors({ t: { dtype: 'U8', shape: [0], data_offsets: [8, 0] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /end before/],
    ['offsets not integers', rawSafetensors({ t: { dtype: 'U8', shape: [8], data_offsets: ['0', 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /data_offsets/],
    ['overlapping tensors', rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /tile the data/],
    ['a hole in the data', rawSafetensors({ t: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), 'ERR_LOWBIT_INVALID_FILE', /tile the data/],
    ['bytes after the last tensor', rawSafetensors(good, 12), 'ERR_LOWBIT_INVALID_FILE', /cover 8 of the 12/],
    ['metadata not strings', rawSafetensors({ __metadata__: { a: 1 } }), 'ERR_LOWBIT_INVALID_FILE', /__metadata__.a/],
    ['entry not an object', rawSafetensors({ t: 5 }), 'ERR_LOWBIT_INVALID_FILE', /dtype, shape and data_offsets/],
  ];
  for (const [label, bytes, code, message] of cases) {
    test(`${label}: ${code}, from a buffer and from a file`, () => {
      expectCode(() => readSafetensors(bytes), RangeError, code, message);
      const file = path.join(tmp, `${label.replace(/\W+/g, '_')}.safetensors`);
      fs.writeFileSync(file, bytes);
      expectCode(() => readSafetensors(file), RangeError, code, message);
    });
  }

  test('random corruption of a real file never crashes: a coded error or a well-formed result', () => {
    const base = fs.readFileSync(fixture('torch.safetensors'));
    let seed = 12345;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let trial = 0; trial < 300; trial++) {
      const b = Uint8Array.from(base);
      const flips = 1 + (next() % 4);
      for (let k = 0; k < flips; k++) b[next() % Math.min(b.length, trial % 2 ? 400 : b.length)] = next() & 0xff;
      const cut = trial % 5 === 0 ? b.subarray(0, next() % b.length) : b;
      try {
        const f = readSafetensors(cut);
        for (const n of f.names) f.tensor(n);
      } catch (e) {
        expect(String((e as { code?: string }).code)).toMatch(/^ERR_LOWBIT_(INVALID_FILE|FILE_TRUNCATED)$/);
      }
    }
  });

  test('a file truncated after it was read gives ERR_LOWBIT_FILE_TRUNCATED for the tensors past the end', () => {
    const file = path.join(tmp, 'shrinks.safetensors');
    fs.copyFileSync(fixture('torch.safetensors'), file);
    const f = readSafetensors(file);
    fs.truncateSync(file, 200);
    const last = [...f.names].sort((a, b) => f.info(b).byteOffset - f.info(a).byteOffset)[0]!;
    expectCode(() => f.tensor(last), RangeError, 'ERR_LOWBIT_FILE_TRUNCATED', /now holds 200/);
  });

  test('missing files, directories and FIFOs: ERR_LOWBIT_FILE with errno', () => {
    for (const [p, errno] of [[path.join(tmp, 'missing'), 'ENOENT'], [tmp, 'EISDIR']] as const) {
      let err: { code?: string; errno?: string; path?: string } = {};
      try {
        readSafetensors(p);
      } catch (e) {
        err = e as typeof err;
      }
      expect([err.code, err.errno, err.path]).toEqual(['ERR_LOWBIT_FILE', errno, p]);
    }
    const fifo = path.join(tmp, 'fifo');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      return;
    }
    expectCode(() => readSafetensors(fifo), RangeError, 'ERR_LOWBIT_FILE', /FIFO/);
  });

  test('wrong argument types', () => {
    expectCode(() => readSafetensors(5 as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /source must be a path/);
    expectCode(() => readSafetensors(new Uint8Array(8), { copies: true } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION', /copy/);
    const ab = new ArrayBuffer(16);
    structuredClone(ab, { transfer: [ab] });
    expectCode(() => readSafetensors(ab), TypeError, 'ERR_LOWBIT_DETACHED', /detached/);
  });
});

describe('.npy written by NumPy', () => {
  const c = (JSON.parse(fs.readFileSync(fixture('npy.expected.json'), 'utf8')) as { c_f32: number[] }).c_f32.map(Math.fround);
  test('C order, Fortran order (transposed to C), big-endian (swapped), versions 1-3', () => {
    expect(readNpy(fixture('c_f32.npy'))).toEqual({ dtype: 'float32', shape: [3, 4, 2], data: Float32Array.from(c) });
    expect(readNpy(fixture('fortran_f32.npy'))).toEqual({ dtype: 'float32', shape: [3, 4, 2], data: Float32Array.from(c) });
    expect(readNpy(fixture('big_endian_i32.npy'))).toEqual({ dtype: 'int32', shape: [3, 4], data: Int32Array.from({ length: 12 }, (_, i) => i - 6) });
    expect(readNpy(fs.readFileSync(fixture('u8_1d.npy')))).toEqual({ dtype: 'uint8', shape: [7], data: Uint8Array.from([0, 1, 2, 3, 4, 5, 6]) });
    expect(readNpy(fixture('scalar_f64.npy'))).toEqual({ dtype: 'float64', shape: [], data: Float64Array.from([-0.125]) });
    expect(readNpy(fixture('v2_i8.npy'))).toEqual({ dtype: 'int8', shape: [2, 4], data: Int8Array.from([-4, -3, -2, -1, 0, 1, 2, 3]) });
    const h = readNpy(fixture('v3_f16.npy'));
    expect([h.dtype, h.shape, Array.from(toFloat32(h))]).toEqual(['float16', [3], [1.5, -2, 65504]]);
  });

  test('round trip through writeNpy, and NumPy reads it (when python3 with numpy is here)', () => {
    const t: lowbit.Tensor = { dtype: 'int16', shape: [2, 3], data: Int16Array.from([1, -2, 3, -4, 5, -32768]) };
    const bytes = writeNpy(t);
    expect(readNpy(bytes)).toEqual(t);
    expect((bytes.length - 128 >= 0 ? 128 : 64) % 64).toBe(0);
    const file = path.join(tmp, 'w.npy');
    fs.writeFileSync(file, bytes);
    let out: string;
    try {
      out = execFileSync('python3', ['-c', 'import sys, numpy as np; a = np.load(sys.argv[1]); print(a.dtype.name, a.shape, a.tolist())', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return;
    }
    expect(out.trim()).toBe('int16 (2, 3) [[1, -2, 3], [-4, 5, -32768]]');
  });

  const header = (dict: string, data = 0, version = 1) => {
    const h = Buffer.from(dict + '\n', 'latin1');
    const pre = version === 1 ? 10 : 12;
    const out = new Uint8Array(pre + h.length + data);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    if (version === 1) new DataView(out.buffer).setUint16(8, h.length, true);
    else new DataView(out.buffer).setUint32(8, h.length, true);
    out.set(h, pre);
    return out;
  };
  const bad: [string, Uint8Array, string, RegExp][] = [
    ['no magic', new Uint8Array(16), 'ERR_LOWBIT_INVALID_FILE', /magic/],
    ['version 9', header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 9), 'ERR_LOWBIT_INVALID_FILE', /version 9/],
    ['object dtype', header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8), 'ERR_LOWBIT_INVALID_FILE', /not supported/],
    ['complex dtype', header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8), 'ERR_LOWBIT_INVALID_FILE', /not supported/],
    ['structured dtype', header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4), 'ERR_LOWBIT_INVALID_FILE', /descr/],
    ['code in the header', header("{'descr': __import__('os'), 'fortran_order': False, 'shape': (1,), }", 4), 'ERR_LOWBIT_INVALID_FILE', /bad header/],
    ['negative dim', header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4), 'ERR_LOWBIT_INVALID_FILE', /bad header/],
    ['huge dims', header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 4), 'ERR_LOWBIT_INVALID_FILE', /2\^53/],
    ['data short', header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8), 'ERR_LOWBIT_FILE_TRUNCATED', /needs 12 bytes/],
    ['header past the end', header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }").subarray(0, 30), 'ERR_LOWBIT_FILE_TRUNCATED', /header claims/],
    ['repeated key', header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4), 'ERR_LOWBIT_INVALID_FILE', /repeats/],
    ['unknown key', header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", 4), 'ERR_LOWBIT_INVALID_FILE', /unknown header key/],
    ['unterminated', header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", 4), 'ERR_LOWBIT_INVALID_FILE', /bad header/],
    ['fortran_order not bool', header("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4), 'ERR_LOWBIT_INVALID_FILE', /True or False/],
  ];
  for (const [label, bytes, code, message] of bad) {
    test(`hostile .npy: ${label}`, () => expectCode(() => readNpy(bytes), RangeError, code, message));
  }
});

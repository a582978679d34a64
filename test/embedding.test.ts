import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { EmbeddingTable, embeddingBag, embeddingBags } = lowbit;

function table(rows: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * dim }, () => r() * 2 - 1);
}

// Independent reference over the dequantized rows (fp64 accumulation): kernels use fp32 FMA order,
// so compare within a tolerance here; bit-exactness across ISAs is checked separately.
function refBag(values: Float32Array, dim: number, indices: number[], offsets: number[], weights: Float32Array | null, mean: boolean, remap?: Int32Array): Float32Array {
  const out = new Float32Array(offsets.length * dim);
  for (let b = 0; b < offsets.length; b++) {
    const end = b + 1 < offsets.length ? offsets[b + 1] : indices.length;
    for (let p = offsets[b]; p < end; p++) {
      const row = remap ? remap[indices[p]] : indices[p];
      if (row < 0) continue;
      const w = weights ? weights[p] : 1;
      for (let d = 0; d < dim; d++) out[b * dim + d] += w * values[row * dim + d];
    }
    const len = end - offsets[b];
    if (mean && len > 0) for (let d = 0; d < dim; d++) out[b * dim + d] *= 1 / len;
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('embedding bag', () => {
  const rows = 1000;
  const r = rng(1);
  const indicesArr = Array.from({ length: 300 }, () => Math.floor(r() * rows));
  const offsetsArr = [0, 0, 1, 17, 100, 100, 230, 299]; // empty and single-row bags included
  const weights = Float32Array.from({ length: 300 }, () => r() * 2);

  for (const format of ['f32', 'f16', 'q8', 'q4', 'q2'] as const) {
    for (const dim of [1, 3, 16, 33, 64, 130]) {
      test(`${format} D=${dim}: matches the dequantized table, identical on every ISA`, () => {
        const values = table(rows, dim, dim);
        const t = EmbeddingTable.fromFloat32(values, { dim, format });
        expect(t.rows).toBe(rows);
        expect(t.bytes!.length).toBe(rows * lowbit.rowBytes(format, dim));
        const deq = t.toFloat32();
        const tol = 1e-4 * 300;
        for (const [idxType, offType] of [[Int32Array, BigInt64Array], [BigInt64Array, Int32Array]] as const) {
          const indices = idxType === Int32Array ? Int32Array.from(indicesArr) : BigInt64Array.from(indicesArr, BigInt);
          const offsets = offType === Int32Array ? Int32Array.from(offsetsArr) : BigInt64Array.from(offsetsArr, BigInt);
          const results: Float32Array[] = [];
          forEachIsa(() => {
            const sum = embeddingBag(t, { indices, offsets });
            const mean = embeddingBag(t, { indices, offsets, mode: 'mean', perSampleWeights: weights });
            expect(maxDiff(sum, refBag(deq, dim, indicesArr, offsetsArr, null, false))).toBeLessThan(tol);
            expect(maxDiff(mean, refBag(deq, dim, indicesArr, offsetsArr, weights, true))).toBeLessThan(tol);
            results.push(sum, mean);
          });
          for (let i = 2; i < results.length; i++) expect(Buffer.from(results[i].buffer).equals(Buffer.from(results[i % 2].buffer))).toBe(true);
        }
      });
    }
  }

  test('lengths and include-last-offset forms agree with offsets', () => {
    const t = EmbeddingTable.fromFloat32(table(rows, 8, 2), { dim: 8, format: 'q8' });
    const indices = Int32Array.from(indicesArr);
    const a = embeddingBag(t, { indices, offsets: Int32Array.from(offsetsArr) });
    const lengths = Int32Array.from(offsetsArr.map((o, i) => (i + 1 < offsetsArr.length ? offsetsArr[i + 1] : 300) - o));
    expect(embeddingBag(t, { indices, lengths })).toEqual(a);
    expect(embeddingBag(t, { indices, offsets: Int32Array.from([...offsetsArr, 300]), includeLastOffset: true })).toEqual(a);
    expect(embeddingBag(t, { indices, offsets: Int32Array.from(offsetsArr), threads: 2 })).toEqual(a);
  });

  test('pruned tables skip rows mapped to -1', () => {
    const values = table(10, 4, 3);
    const remap = Int32Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? -1 : i % 10));
    const t = EmbeddingTable.fromFloat32(values, { dim: 4, format: 'f32', remap });
    const ids = [0, 1, 2, 3, 39, 38];
    const got = embeddingBag(t, { indices: Int32Array.from(ids), offsets: Int32Array.of(0, 3), mode: 'mean' });
    expect(maxDiff(got, refBag(values, 4, ids, [0, 3], null, true, remap))).toBeLessThan(1e-6);
  });

  test('many tables in one call: [bags, Σ dim] side by side', async () => {
    const t1 = EmbeddingTable.fromFloat32(table(50, 4, 4), { dim: 4, format: 'q8' });
    const t2 = EmbeddingTable.fromFloat32(table(70, 6, 5), { dim: 6, format: 'q4' });
    const l1 = { table: t1, indices: Int32Array.of(1, 2, 3, 49), offsets: Int32Array.of(0, 2) };
    const l2 = { table: t2, indices: BigInt64Array.of(5n, 69n), lengths: Int32Array.of(0, 2), mode: 'mean' as const };
    const all = embeddingBags([l1, l2]);
    const a = embeddingBag(t1, l1);
    const b = embeddingBag(t2, l2);
    expect(Array.from(all)).toEqual([...a.subarray(0, 4), ...b.subarray(0, 6), ...a.subarray(4), ...b.subarray(6)]);
    expect(await lowbit.embeddingBagsAsync([l1, l2], { threads: 2 })).toEqual(all);
    expect(await lowbit.embeddingBagAsync(t1, l1)).toEqual(a);
  });

  test('tables in caller memory are not copied (SharedArrayBuffer, views)', () => {
    const t = EmbeddingTable.fromFloat32(table(20, 8, 6), { dim: 8, format: 'f32', shared: true });
    expect(t.bytes!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const view = EmbeddingTable.fromBuffer(t.bytes!.buffer, { dim: 8, format: 'f32' });
    const before = embeddingBag(view, { indices: Int32Array.of(3), offsets: Int32Array.of(0) });
    new Float32Array(t.bytes!.buffer)[3 * 8] += 1; // writing the caller's bytes changes the lookups
    const after = embeddingBag(view, { indices: Int32Array.of(3), offsets: Int32Array.of(0) });
    expect(after[0]).toBeCloseTo(before[0] + 1, 5);
  });

  test('allocate() gives a zeroed table lowbit owns, filled through bytes', () => {
    const t = EmbeddingTable.allocate(100000, { dim: 16, format: 'q8' });
    expect(t.rows).toBe(100000);
    expect(t.bytes!.length).toBe(100000 * 24);
    expect(t.bytes!.every((v) => v === 0)).toBe(true);
    const src = EmbeddingTable.fromFloat32(table(100000, 16, 9), { dim: 16, format: 'q8' });
    t.bytes!.set(src.bytes!);
    const opts = { indices: Int32Array.of(0, 99999, 5), offsets: Int32Array.of(0, 2) };
    expect(embeddingBag(t, opts)).toEqual(embeddingBag(src, opts));
    expectCode(() => EmbeddingTable.allocate(-1, { dim: 16, format: 'q8' }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /rows/);
  });

  test('a table opened from a file serves lookups; close() releases it', () => {
    const values = table(300, 16, 7);
    const t = EmbeddingTable.fromFloat32(values, { dim: 16, format: 'q4' });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-')), 'table.bin');
    const header = Buffer.alloc(64, 0xee);
    fs.writeFileSync(file, Buffer.concat([header, Buffer.from(t.bytes!)]));
    const mapped = EmbeddingTable.open(file, { dim: 16, format: 'q4', offset: 64 });
    expect(mapped.rows).toBe(300);
    expect(mapped.bytes).toBeNull();
    const opts = { indices: Int32Array.of(0, 299, 150), offsets: Int32Array.of(0, 1) };
    expect(embeddingBag(mapped, opts)).toEqual(embeddingBag(t, opts));
    expect(mapped.toFloat32()).toEqual(t.toFloat32());
    mapped.close();
    expectCode(() => embeddingBag(mapped, opts), RangeError, 'ERR_LOWBIT_CLOSED');
    expectCode(() => EmbeddingTable.open(file, { dim: 16, format: 'q4', offset: 1 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => EmbeddingTable.open(file + '.missing', { dim: 16, format: 'q4' }), RangeError, 'ERR_LOWBIT_FILE', /cannot open .*ENOENT/);
    let missing: { errno?: string; syscall?: string; path?: string } = {};
    try {
      EmbeddingTable.open(file + '.missing', { dim: 16, format: 'q4' });
    } catch (e) {
      missing = e as typeof missing;
    }
    expect([missing.errno, missing.syscall, missing.path]).toEqual(['ENOENT', 'open', file + '.missing']);
    expectCode(() => EmbeddingTable.open(path.dirname(file), { dim: 16, format: 'q4' }), RangeError, 'ERR_LOWBIT_FILE', /is a directory/);
    expectCode(() => EmbeddingTable.open('/dev/zero', { dim: 16, format: 'q4' }), RangeError, 'ERR_LOWBIT_FILE', /not a regular file/);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('embedding bag: bad input leaves the output untouched', () => {
  const t = EmbeddingTable.fromFloat32(table(10, 4, 8), { dim: 4, format: 'q8' });
  const out = new Float32Array(8);
  const untouched = () => expect(Array.from(out)).toEqual(new Array(8).fill(42));
  beforeEach(() => out.fill(42));

  test('indices out of range or negative name the bag and position', () => {
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2, 10), offsets: Int32Array.of(0, 2), out }), RangeError, 'ERR_LOWBIT_INDEX_OUT_OF_RANGE', /bag 1, position 2, value 10/);
    untouched();
    expectCode(() => embeddingBag(t, { indices: BigInt64Array.of(-1n), offsets: Int32Array.of(0, 1), out }), RangeError, 'ERR_LOWBIT_INDEX_OUT_OF_RANGE', /bag 0, position 0/);
    untouched();
  });

  test('offsets and lengths', () => {
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(1, 2), out }), RangeError, 'ERR_LOWBIT_INVALID_OFFSETS');
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0, 3), out }), RangeError, 'ERR_LOWBIT_INVALID_OFFSETS');
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2), lengths: Int32Array.of(1, 2), out }), RangeError, 'ERR_LOWBIT_INVALID_OFFSETS');
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2), lengths: Int32Array.of(-1, 3), out }), RangeError, 'ERR_LOWBIT_INVALID_OFFSETS');
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0, 1, 1), includeLastOffset: true, out }), RangeError, 'ERR_LOWBIT_INVALID_OFFSETS');
    untouched();
  });

  test('types, lengths and the table buffer', () => {
    expectCode(() => embeddingBag(t, { indices: new Float64Array(2) as unknown as Int32Array, offsets: Int32Array.of(0, 1), out }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /indices/);
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1), offsets: Int32Array.of(0), perSampleWeights: new Float32Array(2) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /perSampleWeights/);
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1), offsets: Int32Array.of(0), out: new Float32Array(5) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1) } as lowbit.EmbeddingBagOptions), TypeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /offsets and lengths/);
    expectCode(() => EmbeddingTable.fromBuffer(new Uint8Array(13), { dim: 4, format: 'q8' }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /12-byte rows/);
    expectCode(() => EmbeddingTable.fromBuffer(new Uint8Array(24), { dim: 4, format: 'q3' as 'q8' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /format/);
    expectCode(() => EmbeddingTable.fromBuffer(new Uint8Array(24), { dim: 4, format: 'q8', rows: 3 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /rows \* rowStride = 36/);
    expectCode(() => embeddingBags([{ table: t, indices: Int32Array.of(1), offsets: Int32Array.of(0) }, { table: t, indices: Int32Array.of(1), offsets: Int32Array.of(0, 1) }]), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /same batch/);
  });

  test('a bad second table stops the whole multi-table call before any write', () => {
    const big = new Float32Array(2 * 8).fill(42);
    expectCode(
      () => embeddingBags([{ table: t, indices: Int32Array.of(1, 2), offsets: Int32Array.of(0, 1) }, { table: t, indices: Int32Array.of(1, 99), offsets: Int32Array.of(0, 1) }], { out: big }),
      RangeError, 'ERR_LOWBIT_INDEX_OUT_OF_RANGE', /lookups\[1\].*bag 1, position 1/,
    );
    expect(big.every((v) => v === 42)).toBe(true);
  });
});

describe('embedding bag: the default result (uninitialized memory the kernel fills)', () => {
  test('every element is written: equal to a result into a NaN-filled out, empty bags are zeros, own buffer', () => {
    const dims = [3, 64, 100];
    for (const dim of dims) {
      const t = EmbeddingTable.fromFloat32(table(50, dim, dim), { dim, format: 'q4' });
      const r = rng(dim);
      for (let call = 0; call < 40; call++) {
        // dirty the allocator: results of other sizes, dropped
        embeddingBag(t, { indices: Int32Array.of(1, 2, 3), offsets: Int32Array.of(0, 1, 2, 3, 3) });
        const bags = 8 + (call % 5) * 20;
        const lengths = Int32Array.from({ length: bags }, () => (r() < 0.3 ? 0 : Math.floor(r() * 5)));
        const n = lengths.reduce((a, b) => a + b, 0);
        const indices = Int32Array.from({ length: n }, () => Math.floor(r() * 50));
        const got = embeddingBag(t, { indices, lengths });
        const want = new Float32Array(bags * dim).fill(NaN);
        embeddingBag(t, { indices, lengths, out: want });
        expect(got.length).toBe(bags * dim);
        expect(got.byteOffset).toBe(0);
        expect(got.buffer.byteLength).toBe(bags * dim * 4);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
        const half = embeddingBags([{ table: t, indices, lengths }, { table: t, indices, lengths }], { outputType: 'float16' });
        expect(half.buffer.byteLength).toBe(bags * dim * 4);
        for (let b = 0; b < bags; b++) if (lengths[b] === 0) for (let d = 0; d < 2 * dim; d++) expect(half[b * 2 * dim + d]).toBe(0);
      }
    }
  });
});

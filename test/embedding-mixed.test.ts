// Mixed-precision tables: hot rows (chosen by access counts) in f32 / f16, the rest q4 / q2, one
// table, one lookup. Each row must read exactly as in a table of its own format: bags of only hot
// rows equal the f32/f16 table's bits, bags of only cold rows the q4/q2 table's; mixed bags agree
// with a float64 oracle over the rows' own dequantized values, and every ISA gives the same bits.
import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { EmbeddingTable, embeddingBag, embeddingBags } = lowbit;

function values(rows: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * dim }, () => (r() * 2 - 1) * (r() < 0.1 ? 8 : 1));
}
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('mixed-precision tables', () => {
  const rows = 300;
  for (const format of ['q4', 'q2'] as const) {
    for (const hotFormat of ['f32', 'f16'] as const) {
      for (const dim of [5, 64, 100]) {
        test(`${format} + ${hotFormat} hot rows, D=${dim}`, () => {
          const v = values(rows, dim, dim + rows);
          const counts = Float64Array.from({ length: rows }, (_, i) => 1 / (1 + ((i * 37) % rows))); // a permuted Zipf
          const hotN = 40;
          const t = EmbeddingTable.fromFloat32(v, { dim, format, hot: { counts, rows: hotN, format: hotFormat } });
          const hot = t.hotIds!;
          expect(hot.length).toBe(hotN);
          expect(t.hotFormat).toBe(hotFormat);
          // the hottest ids, by count then id
          const order = Array.from({ length: rows }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
          expect(Array.from(hot)).toEqual(order.slice(0, hotN).sort((a, b) => a - b));
          const isHot = new Set(hot);
          const cold = Array.from({ length: rows }, (_, i) => i).filter((i) => !isHot.has(i));
          const plain = EmbeddingTable.fromFloat32(v, { dim, format });
          const full = EmbeddingTable.fromFloat32(v, { dim, format: hotFormat });
          const r = rng(dim);
          const pick = (ids: number[], n: number) => Int32Array.from({ length: n }, () => ids[Math.floor(r() * ids.length)]);
          const offsets = Int32Array.of(0, 7, 7, 20);
          const w = Float32Array.from({ length: 33 }, () => r() * 2 - 1);
          for (const weights of [undefined, w]) {
            const hotIdx = pick(Array.from(hot), 33), coldIdx = pick(cold, 33);
            expect(bits(embeddingBag(t, { indices: hotIdx, offsets, perSampleWeights: weights }))).toEqual(bits(embeddingBag(full, { indices: hotIdx, offsets, perSampleWeights: weights })));
            expect(bits(embeddingBag(t, { indices: coldIdx, offsets, perSampleWeights: weights }))).toEqual(bits(embeddingBag(plain, { indices: coldIdx, offsets, perSampleWeights: weights })));
          }
          // mixed bags: a float64 oracle over each row's own values (toFloat32 gives them)
          const own = t.toFloat32();
          const fullF = full.toFloat32(), plainF = plain.toFloat32();
          for (const id of [hot[0], cold[0]]) {
            const want = isHot.has(id) ? fullF : plainF;
            expect(bits(own.subarray(id * dim, (id + 1) * dim))).toEqual(bits(want.subarray(id * dim, (id + 1) * dim)));
          }
          const idx = pick(Array.from({ length: rows }, (_, i) => i), 33);
          const out = embeddingBag(t, { indices: idx, offsets, perSampleWeights: w, mode: 'mean' });
          for (let b = 0; b < 4; b++) {
            const end = b + 1 < 4 ? offsets[b + 1] : 33;
            for (let d = 0; d < dim; d++) {
              let s = 0, mag = 0;
              for (let p = offsets[b]; p < end; p++) {
                s += w[p] * own[idx[p] * dim + d];
                mag += Math.abs(w[p] * own[idx[p] * dim + d]);
              }
              if (end > offsets[b]) s /= end - offsets[b];
              expect(Math.abs(out[b * dim + d] - s)).toBeLessThanOrEqual(1e-5 * (mag + 1));
            }
          }
          // same bits on every ISA, alone and inside a multi-table call
          const results: Buffer[] = [];
          forEachIsa(() => {
            results.push(bits(embeddingBag(t, { indices: idx, offsets, perSampleWeights: w })));
            const both = embeddingBags([{ table: plain, indices: idx, offsets }, { table: t, indices: idx, offsets, perSampleWeights: w }]);
            const mine = new Float32Array(4 * dim);
            for (let b = 0; b < 4; b++) mine.set(both.subarray(b * 2 * dim + dim, (b + 1) * 2 * dim), b * dim);
            expect(bits(mine)).toEqual(results[results.length - 1]);
          });
          for (const x of results) expect(x).toEqual(results[0]);
        });
      }
    }
  }

  test('async lookups and a hot-rows count of 0', async () => {
    const v = values(50, 8, 3);
    const counts = Array.from({ length: 50 }, (_, i) => 50 - i);
    const t = EmbeddingTable.fromFloat32(v, { dim: 8, format: 'q4', hot: { counts, rows: 10 } });
    const indices = Int32Array.of(0, 1, 30, 9, 49);
    const offsets = Int32Array.of(0, 2);
    expect(bits(await lowbit.embeddingBagAsync(t, { indices, offsets }))).toEqual(bits(embeddingBag(t, { indices, offsets })));
    const none = EmbeddingTable.fromFloat32(v, { dim: 8, format: 'q4', hot: { counts, rows: 0 } });
    expect(none.hotIds).toBeNull();
    expect(bits(none.bytes!)).toEqual(bits(EmbeddingTable.fromFloat32(v, { dim: 8, format: 'q4' }).bytes!));
  });

  test('options are checked', () => {
    const v = values(10, 4, 1);
    const counts = new Array(10).fill(1);
    const mk = (hot: unknown, format: 'q4' | 'q8' = 'q4', extra = {}) => () => EmbeddingTable.fromFloat32(v, { dim: 4, format, hot: hot as lowbit.HotRowsOptions, ...extra });
    expectCode(mk({ counts, rows: 2 }, 'q8'), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /applies to formats 'q4' and 'q2'/);
    expectCode(mk({ counts, rows: 11 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /options\.hot\.rows/);
    expectCode(mk({ counts: counts.slice(1), rows: 2 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /counts\.length/);
    expectCode(mk({ counts: [...counts.slice(1), NaN], rows: 2 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /counts\[9\]/);
    expectCode(mk({ counts, rows: 2, format: 'q8' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /options\.hot\.format/);
    expectCode(mk({ counts, rows: 2, fromat: 'f16' }), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION', /did you mean format/);
    expectCode(mk({ counts, rows: 2 }, 'q4', { remap: Int32Array.of(0, 1) }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /remap/);
    expectCode(mk({ rows: 2 }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /counts/);
  });

  test('the quantized rows stay the plain table\'s bytes (hot-ness lives in a private index)', () => {
    const v = values(200, 6, 5);
    const t = EmbeddingTable.fromFloat32(v, { dim: 6, format: 'q2', hot: { counts: Array.from({ length: 200 }, (_, i) => i % 7), rows: 30 } });
    expect(bits(t.bytes!)).toEqual(bits(EmbeddingTable.fromFloat32(v, { dim: 6, format: 'q2' }).bytes!));
    // rewriting a hot id's quantized row changes nothing: it is not read
    const id = t.hotIds![0];
    const before = embeddingBag(t, { indices: Int32Array.of(id), offsets: Int32Array.of(0) });
    t.bytes!.fill(0xff, id * t.rowStride, (id + 1) * t.rowStride);
    expect(bits(embeddingBag(t, { indices: Int32Array.of(id), offsets: Int32Array.of(0) }))).toEqual(bits(before));
  });

});

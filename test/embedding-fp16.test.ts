// fp16 output of embeddingBag(s): Uint16Array of binary16 bits equal to the fp32 output rounded to
// nearest even, on every ISA; the output type is validated like every other argument.
import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { EmbeddingTable, embeddingBag, embeddingBags } = lowbit;

// binary32 -> binary16 bits, round to nearest even, written from the definition (not from the
// kernel's bit tricks): ulp = 2^(e - 10) with e the exponent (at least -14, the subnormal range),
// n = |x| / ulp rounded half to even; bits = (e + 15) << 10 + n - 1024 covers normals, subnormals
// and the carry into the next binade. |x| >= 65520 overflows to Infinity.
function toHalf(x: number): number {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a >= 65520) return sign | 0x7c00;
  if (a === 0) return sign;
  let e = Math.max(-14, Math.floor(Math.log2(a)));
  while (e > -14 && 2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const q = a / 2 ** (e - 10); // exact: a has 24 significant bits
  let n = Math.floor(q);
  const frac = q - n;
  if (frac > 0.5 || (frac === 0.5 && n % 2 === 1)) n++;
  return sign | (((e + 15) << 10) + n - 1024);
}

function table(rows: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * dim }, () => (r() * 2 - 1) * (r() < 0.1 ? 3000 : 1));
}

function expectHalfOf(f16: Uint16Array, f32: Float32Array): void {
  expect(f16.length).toBe(f32.length);
  const want = Uint16Array.from(f32, toHalf);
  for (let i = 0; i < f16.length; i++) {
    if (f16[i] !== want[i]) throw new Error(`element ${i}: fp32 ${f32[i]} -> ${want[i].toString(16)}, got ${f16[i].toString(16)}`);
  }
}

describe('embedding bag: fp16 output', () => {
  const rows = 500;
  const r = rng(11);
  const indices = Int32Array.from({ length: 200 }, () => Math.floor(r() * rows));
  const offsets = Int32Array.of(0, 0, 1, 17, 100, 100, 150, 199);
  const weights = Float32Array.from({ length: 200 }, () => r() * 4 - 2);

  for (const format of ['f32', 'f16', 'q8', 'q4', 'q2'] as const) {
    for (const dim of [1, 7, 33, 64, 130, 300]) {
      test(`${format} D=${dim}: the fp32 output rounded to nearest even, on every ISA`, () => {
        const t = EmbeddingTable.fromFloat32(table(rows, dim, dim), { dim, format });
        const results: Uint16Array[] = [];
        forEachIsa(() => {
          for (const extra of [{}, { mode: 'mean' as const, perSampleWeights: weights }]) {
            const f32 = embeddingBag(t, { indices, offsets, ...extra });
            const f16 = embeddingBag(t, { indices, offsets, ...extra, outputType: 'float16' });
            expect(f16).toBeInstanceOf(Uint16Array);
            expectHalfOf(f16, f32);
            results.push(f16);
          }
        });
        for (let i = 2; i < results.length; i++) expect(results[i]).toEqual(results[i % 2]);
      });
    }
  }

  test('conversion edge cases: ties, overflow to Infinity, subnormals, signed zero', () => {
    const special = [1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, -65520, 1e10, -1e10, Infinity, -Infinity,
      2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 1.5 * 2 ** -24, 2.5 * 2 ** -24, -1.5 * 2 ** -24, 1023.5 * 2 ** -24,
      2 ** -14, 1e-30, -1e-30, 0.1, -0.3333333, Math.PI];
    const dim = special.length;
    const t = EmbeddingTable.fromFloat32(Float32Array.from(special), { dim, format: 'f32' });
    forEachIsa(() => {
      const f16 = embeddingBag(t, { indices: Int32Array.of(0), offsets: Int32Array.of(0), outputType: 'float16' });
      expect(Array.from(f16)).toEqual(special.map(toHalf));
      expect(f16[special.indexOf(65520)]).toBe(0x7c00);
      expect(f16[special.indexOf(2 ** -25)]).toBe(0);
      expect(f16[special.indexOf(1.5 * 2 ** -24)]).toBe(2);
    });
  });

  test('many tables, threads, async forms and a caller output', async () => {
    const t1 = EmbeddingTable.fromFloat32(table(50, 4, 4), { dim: 4, format: 'q8' });
    const t2 = EmbeddingTable.fromFloat32(table(70, 19, 5), { dim: 19, format: 'q4' });
    const l1 = { table: t1, indices: Int32Array.of(1, 2, 3, 49), offsets: Int32Array.of(0, 2) };
    const l2 = { table: t2, indices: BigInt64Array.of(5n, 69n), lengths: Int32Array.of(0, 2), mode: 'mean' as const };
    const f32 = embeddingBags([l1, l2]);
    const out = new Uint16Array(2 * 23);
    const f16 = embeddingBags([l1, l2], { outputType: 'float16', out, threads: 2 });
    expect(f16).toBe(out);
    expectHalfOf(f16, f32);
    expect(await lowbit.embeddingBagsAsync([l1, l2], { outputType: 'float16' })).toEqual(f16);
    const one = await lowbit.embeddingBagAsync(t2, { ...l2, outputType: 'float16' });
    expectHalfOf(one, embeddingBag(t2, l2));
  });

  test('bad output type or array: TypeError / RangeError, nothing written', () => {
    const t = EmbeddingTable.fromFloat32(table(10, 4, 8), { dim: 4, format: 'q8' });
    const ok = { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0, 1) };
    expectCode(() => embeddingBag(t, { ...ok, outputType: 'float64' as 'float16' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /outputType must be 'float32' or 'float16', got 'float64'/);
    expectCode(() => embeddingBag(t, { ...ok, outputType: 'float16', out: new Float32Array(8) as unknown as Uint16Array }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options.out \(outputType 'float16'\) must be a Uint16Array, got Float32Array\(8\)/);
    expectCode(() => embeddingBag(t, { ...ok, out: new Uint16Array(8) as unknown as Float32Array }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /must be a Float32Array, got Uint16Array/);
    expectCode(() => embeddingBag(t, { ...ok, outputType: 'float16', out: new Uint16Array(7) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /bags \* dim = 8, got 7/);
    expectCode(() => embeddingBags([{ table: t, ...ok }], { outputType: 'float16', out: new Uint16Array(9) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /Σ dim = 8, got 9/);
    const out = new Uint16Array(8).fill(0xabcd);
    expectCode(() => embeddingBag(t, { indices: Int32Array.of(1, 10), offsets: Int32Array.of(0, 1), outputType: 'float16', out }), RangeError, 'ERR_LOWBIT_INDEX_OUT_OF_RANGE', /bag 1, position 1/);
    expect(out.every((v) => v === 0xabcd)).toBe(true);
  });
});

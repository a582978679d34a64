// EmbeddingTable.fromBuffer(..., { hugePages: true }): 2 MiB pages under a caller's buffer. The bytes
// and the lookups must not change; the option is validated; the outcome is reported.
import * as lowbit from '../lib';
import { expectCode, rng } from './helpers';

const { EmbeddingTable, embeddingBag } = lowbit;

describe('EmbeddingTable.fromBuffer hugePages', () => {
  const dim = 128;
  const rows = 100000; // 13.6 MB of q8 rows: several whole 2 MiB pages inside
  const src = EmbeddingTable.fromFloat32(Float32Array.from({ length: 1000 * dim }, rng(3)), { dim, format: 'q8' });
  const r = rng(4);
  const indices = Int32Array.from({ length: 2000 }, () => Math.floor(r() * rows));
  const offsets = Int32Array.from({ length: 100 }, (_, i) => i * 20);

  function fill(buffer: ArrayBufferLike): Uint8Array {
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < rows; i += 1000) bytes.set(src.bytes!, i * (dim + 8));
    return bytes;
  }

  for (const kind of ['ArrayBuffer', 'SharedArrayBuffer'] as const) {
    test(`${kind}: bytes and lookups unchanged, outcome reported`, () => {
      const buffer = kind === 'ArrayBuffer' ? new ArrayBuffer(rows * (dim + 8)) : new SharedArrayBuffer(rows * (dim + 8));
      const bytes = fill(buffer);
      const copy = Uint8Array.from(bytes);
      const plain = EmbeddingTable.fromBuffer(buffer, { dim, format: 'q8' });
      expect(plain.hugePages).toBeNull();
      const before = embeddingBag(plain, { indices, offsets });
      const huge = EmbeddingTable.fromBuffer(buffer, { dim, format: 'q8', hugePages: true });
      expect(['collapsed', 'advised', 'unsupported']).toContain(huge.hugePages);
      if (process.platform === 'linux') expect(['collapsed', 'advised']).toContain(huge.hugePages);
      expect(Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), Buffer.from(copy))).toBe(0);
      expect(embeddingBag(huge, { indices, offsets })).toEqual(before);
      expect(embeddingBag(plain, { indices, offsets })).toEqual(before);
    });
  }

  test('a view of a buffer, and buffers without a whole 2 MiB page', () => {
    const buffer = new ArrayBuffer(rows * (dim + 8) + 5);
    fill(buffer);
    const view = new Uint8Array(buffer, 5, rows * (dim + 8) - 5 - (dim + 8) + 5);
    const t = EmbeddingTable.fromBuffer(view, { dim, format: 'q8', hugePages: true, rows: rows - 1 });
    expect(['collapsed', 'advised', 'unsupported']).toContain(t.hugePages);
    const small = EmbeddingTable.fromBuffer(new Uint8Array(136 * 1000), { dim, format: 'q8', hugePages: true });
    expect(small.hugePages).toBe('unsupported');
    expect(embeddingBag(small, { indices: Int32Array.of(0, 999), offsets: Int32Array.of(0) })).toEqual(new Float32Array(dim));
  });

  test('the option is validated before anything is done', () => {
    expectCode(() => EmbeddingTable.fromBuffer(new Uint8Array(136), { dim, format: 'q8', hugePages: 'yes' as unknown as boolean }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /options.hugePages must be a boolean, got string/);
    expectCode(() => EmbeddingTable.fromBuffer(new Uint8Array(137), { dim, format: 'q8', hugePages: true }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
  });
});

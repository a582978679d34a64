// Byte compatibility with PyTorch (FBGEMM's prepack, AVX2 build): tables quantized by
// torch.ops.quantized.embedding_bag_{byte,4bit,2bit}_prepack (with optimized_qparams too) and
// lookups by the *_rowwise_offsets ops on PyTorch's own bytes, committed as fixtures by
// scripts/embedding-fixtures.py (no torch needed here).
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { forEachIsa } from './helpers';

const { EmbeddingTable, embeddingBag } = lowbit;

// dist-test/test -> the repository's test/fixtures
const DIR = path.join(__dirname, '..', '..', 'test', 'fixtures', 'embedding');

interface TableCase { name: string; format: 'q8' | 'q4' | 'q2'; dim: number; rows: number; optimizedQParams: boolean }
interface LookupCase { name: string; table: string; indices: number[]; offsets: number[]; mode: 'sum' | 'mean'; perSampleWeights: number[] | null }
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as { tables: TableCase[]; lookups: LookupCase[] };

function bytes(file: string): Uint8Array {
  const b = fs.readFileSync(path.join(DIR, file));
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
const floats = (file: string) => new Float32Array(bytes(file).buffer);

// The first differing byte, as a readable message (or null).
function firstDiff(got: Uint8Array, want: Uint8Array, rowBytes: number): string | null {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) return `row ${Math.floor(i / rowBytes)} byte ${i % rowBytes}: ${got[i]} vs PyTorch ${want[i]}`;
  }
  return null;
}

describe('PyTorch byte compatibility (committed fixtures)', () => {
  test('the fixtures hold signed-zero rows and optimized-qparams tables', () => {
    expect(manifest.tables.length).toBeGreaterThanOrEqual(20);
    expect(manifest.tables.some((t) => t.optimizedQParams && t.format === 'q2')).toBe(true);
    // the case the FBGEMM sign rule is about: some stored q8 bias is -0.0 and some +0.0
    const t = manifest.tables.find((c) => c.format === 'q8' && c.dim === 13)!;
    const p = bytes(`${t.name}.packed`);
    const bias = (r: number) => new DataView(p.buffer).getUint32(r * (t.dim + 8) + t.dim + 4, true);
    const biases = Array.from({ length: t.rows }, (_, r) => bias(r));
    expect(biases).toContain(0x80000000);
    expect(biases).toContain(0);
  });

  for (const c of manifest.tables) {
    test(`fromFloat32 ${c.name} writes PyTorch's bytes`, () => {
      const values = floats(`${c.name}.f32`);
      const t = EmbeddingTable.fromFloat32(values, { dim: c.dim, format: c.format, ...(c.optimizedQParams ? { optimizedQParams: true } : {}) });
      expect(firstDiff(t.bytes!, bytes(`${c.name}.packed`), t.rowStride)).toBeNull();
    });
  }

  test('optimizedQParams with explicit defaults equals optimizedQParams: true', () => {
    const c = manifest.tables.find((t) => t.optimizedQParams && t.format === 'q4')!;
    const values = floats(`${c.name}.f32`);
    const a = EmbeddingTable.fromFloat32(values, { dim: c.dim, format: c.format, optimizedQParams: { nbins: 200, ratio: 0.16 } });
    expect(firstDiff(a.bytes!, bytes(`${c.name}.packed`), a.rowStride)).toBeNull();
    // another search gives other bytes, still a valid table
    const b = EmbeddingTable.fromFloat32(values, { dim: c.dim, format: c.format, optimizedQParams: { nbins: 50, ratio: 0.5 } });
    expect(b.bytes!.length).toBe(a.bytes!.length);
  });

  test('optimizedQParams lowers the L2 error of q4 and q2 rows', () => {
    for (const c of manifest.tables.filter((t) => t.optimizedQParams)) {
      const values = floats(`${c.name}.f32`);
      const err = (t: lowbit.EmbeddingTable) => {
        const y = t.toFloat32();
        let s = 0;
        for (let i = 0; i < y.length; i++) s += (y[i] - values[i]) ** 2;
        return s;
      };
      const plain = err(EmbeddingTable.fromFloat32(values, { dim: c.dim, format: c.format }));
      const opt = err(EmbeddingTable.fromFloat32(values, { dim: c.dim, format: c.format, optimizedQParams: true }));
      expect(opt).toBeLessThanOrEqual(plain);
    }
  });

  test('optimizedQParams is refused for q8 / f32 / f16 and checked', () => {
    const v = new Float32Array(16);
    for (const format of ['q8', 'f32', 'f16'] as const) {
      expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format, optimizedQParams: true })).toThrow(/applies to formats 'q4' and 'q2'/);
    }
    expect(EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q8', optimizedQParams: false }).rows).toBe(4);
    expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q4', optimizedQParams: { nbins: 0 } })).toThrow(RangeError);
    expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q4', optimizedQParams: { ratio: 2 } })).toThrow(RangeError);
    expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q4', optimizedQParams: { ratio: NaN } })).toThrow(RangeError);
    expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q4', optimizedQParams: { bins: 3 } as never })).toThrow(/did you mean nbins/);
    expect(() => EmbeddingTable.fromFloat32(v, { dim: 4, format: 'q4', optimizedQParams: 'yes' as never })).toThrow(TypeError);
  });

  for (const l of manifest.lookups) {
    test(`lookup ${l.name} equals PyTorch's output bit for bit on every ISA`, () => {
      const c = manifest.tables.find((t) => t.name === l.table)!;
      const t = EmbeddingTable.fromBuffer(bytes(`${c.name}.packed`), { dim: c.dim, format: c.format });
      const want = new Uint32Array(bytes(`${l.name}.out`).buffer);
      forEachIsa((isa) => {
        const out = embeddingBag(t, {
          indices: Int32Array.from(l.indices), offsets: Int32Array.from(l.offsets), mode: l.mode,
          ...(l.perSampleWeights ? { perSampleWeights: new Float32Array(Uint32Array.from(l.perSampleWeights).buffer) } : {}),
        });
        const got = new Uint32Array(out.buffer, out.byteOffset, out.length);
        let bad = -1;
        for (let i = 0; i < want.length && bad < 0; i++) if (got[i] !== want[i]) bad = i;
        expect(`${isa}: ${bad < 0 ? 'equal' : `element ${bad}: ${got[bad].toString(16)} vs ${want[bad].toString(16)}`}`).toBe(`${isa}: equal`);
      });
    });
  }
});

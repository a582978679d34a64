// Class 6: QuantizedLinear.deserialize of mutated serializations: every single-byte mutation (of a
// few kinds, sampled down to at most MAX per layer) and every truncation of valid serializations
// of layers of each kind. Contract: no crash; a coded error, or a layer that is valid (everything
// fromInt8 checks holds: scales finite and > 0, zero points in [-128, 127], a finite bias, matching
// lengths) and works (every product and forward returns or throws a coded error, sync and async).
import type { CaseDef } from './cases';
import { CaseResult, Settled, describeError, isCoded, lowbit, rng, settle, settleSync } from './common';

const MAX = 2500;

function makeLayer(lb: any, name: string): any {
  const r = rng(17);
  const i8 = (n: number, zeros = 0) => Int8Array.from({ length: n }, () => (r() < zeros ? 0 : Math.floor(r() * 255) - 127));
  const f32 = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  switch (name) {
    case 'dense per-channel zero points, float bias':
      return lb.QuantizedLinear.fromInt8(i8(256), { k: 16, n: 16, scale: Float32Array.from({ length: 16 }, () => 0.01 + r() * 0.01), zeroPoint: Int32Array.from({ length: 16 }, (_, i) => i - 8), bias: f32(16), mode: 'dense' });
    case 'dense per-tensor, int32 bias':
      return lb.QuantizedLinear.fromInt8(i8(256), { k: 16, n: 16, scale: 0.02, zeroPoint: 3, bias: Int32Array.from({ length: 16 }, (_, i) => i * 100 - 800), mode: 'dense' });
    case 'sparse, float bias': {
      const w = new Int8Array(32 * 32);
      for (let i = 0; i < w.length; i += 4) if (r() < 0.25) for (let j = 0; j < 4; j++) w[i + j] = Math.floor(r() * 255) - 127;
      return lb.QuantizedLinear.fromInt8(w, { k: 32, n: 32, scale: Float32Array.from({ length: 32 }, () => 0.01), bias: f32(32), mode: 'sparse' });
    }
    case 'auto fromFloat32 pruned': {
      const w = lb.pruneWeights(f32(32 * 32), { sparsity: 0.8, rows: 32, block: [1, 4] });
      return lb.QuantizedLinear.fromFloat32(w, { k: 32, n: 32, bias: f32(32), mode: 'auto' });
    }
    case 'k=n=1, no bias':
      return lb.QuantizedLinear.fromInt8(Int8Array.of(-7), { k: 1, n: 1, scale: 0.5 });
    case 'dense k=n=33, no bias':
      return lb.QuantizedLinear.fromInt8(i8(33 * 33), { k: 33, n: 33, scale: Float32Array.from({ length: 33 }, () => 0.01), mode: 'dense' });
    case 'residual split, per-channel zero points':
      return lb.QuantizedLinear.fromInt8(i8(256), { k: 16, n: 16, scale: 0.01, zeroPoint: Int32Array.from({ length: 16 }, (_, i) => i - 8), mode: 'dense', residual: 'always' });
    case '4-bit group 32, outliers, float bias':
      return lb.QuantizedLinear.fromFloat32(f32(64 * 16), { k: 64, n: 16, bits: 4, groupSize: 32, outliers: 0.05, bias: f32(16) });
    case '4-bit per channel k=n=33, no bias':
      return lb.QuantizedLinear.fromFloat32(f32(33 * 33), { k: 33, n: 33, bits: 4, groupSize: 0 });
    default:
      throw new Error(`unknown layer ${name}`);
  }
}

/** What fromInt8 would refuse in a layer, or null. */
function invalidity(layer: any): string | null {
  const { k, n } = layer;
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < 1) return `k ${k}, n ${n}`;
  const s: Float32Array = layer.weightScales;
  if (s.length !== 1 && s.length !== n) return `${s.length} scales for n ${n}`;
  for (const v of s) if (!(Number.isFinite(v) && v > 0 && Number.isFinite(Math.fround(1 / v)))) return `weight scale ${v}`;
  const z: Int32Array = layer.weightZeroPoints;
  if (z.length !== 1 && z.length !== n) return `${z.length} zero points for n ${n}`;
  for (const v of z) if (!(Number.isInteger(v) && v >= -128 && v <= 127)) return `weight zero point ${v}`;
  const b = layer.bias;
  if (b) {
    if (b.length !== n) return `${b.length} bias values for n ${n}`;
    for (const v of b) if (!Number.isFinite(v)) return `bias ${v}`;
  }
  if (layer.mode === 'sparse' && Array.from(z).some((v) => v !== 0)) return 'mode sparse with nonzero zero points';
  return null;
}

export async function runDeserialize(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const { layer: name } = c.params as { layer: string };
  const good: Uint8Array = makeLayer(lb, name).serialize();
  res.notes.bytes = good.length;
  const variants: Uint8Array[] = [];
  if (c.variant === 'truncations') {
    for (let len = 0; len < good.length; len++) variants.push(good.slice(0, len));
  } else {
    const all: [number, number][] = [];
    for (let p = 0; p < good.length; p++) {
      const vals = new Set([good[p] ^ 0xff, good[p] ^ 0x01, good[p] ^ 0x80, good[p] ^ 0x40, 0x00, 0xff, 0x7f, 0x80]);
      vals.delete(good[p]);
      for (const v of vals) all.push([p, v]);
    }
    // every position is mutated; the values are sampled where there are more than MAX
    const r = rng(23);
    const keep = all.length <= MAX ? all : all.filter(() => r() < MAX / all.length);
    for (const [p, v] of keep) {
      const m = good.slice();
      m[p] = v;
      variants.push(m);
    }
  }
  res.notes.tried = variants.length;
  const counts = { rejected: 0, accepted: 0, acceptedInvalid: 0 };
  const codes: Record<string, number> = {};
  const firstInvalid: string[] = [];
  const check = (what: string, s: Settled) => {
    if (!s.ok && !isCoded(s.error) && res.violations.length < 8) res.violations.push(`${what}: uncoded ${describeError(s.error)}`);
  };
  for (let i = 0; i < variants.length; i++) {
    const bytes = variants[i];
    // progress to stderr: a crash report then names the input that caused it
    if (i % 50 === 0) process.stderr.write(`variant ${i}\n`);
    const d = settleSync(() => lb.QuantizedLinear.deserialize(bytes));
    if (!d.ok) {
      counts.rejected++;
      if (!isCoded(d.error)) {
        if (res.violations.length < 8) res.violations.push(`variant ${i}: deserialize threw uncoded ${describeError(d.error)}`);
      } else {
        const code = String((d.error as { code: string }).code);
        codes[code] = (codes[code] ?? 0) + 1;
      }
      continue;
    }
    counts.accepted++;
    const layer = d.value;
    const bad = invalidity(layer);
    if (bad) {
      counts.acceptedInvalid++;
      if (firstInvalid.length < 5) firstInvalid.push(`variant ${i} (${c.variant === 'truncations' ? `length ${bytes.length}` : `byte ${bytes.findIndex((b, j) => b !== good[j])}`}): ${bad}`);
    }
    // it must work, or refuse with a coded error
    process.stderr.write(`variant ${i}: accepted, exercising\n`);
    const k = Number.isInteger(layer.k) && layer.k > 0 && layer.k < 4096 ? layer.k : 1;
    const a = new Uint8Array(2 * k).fill(9);
    const x = new Float32Array(2 * k).fill(0.25);
    check(`variant ${i} matmulInt32`, settleSync(() => layer.matmulInt32(a)));
    check(`variant ${i} matmulFloat`, settleSync(() => layer.matmulFloat(a, { scale: 0.1, zeroPoint: 3 })));
    check(`variant ${i} matmulQuantized`, settleSync(() => layer.matmulQuantized(a, { scale: 0.1, outScale: 0.5 })));
    check(`variant ${i} forward`, settleSync(() => layer.forward(x)));
    check(`variant ${i} explain`, settleSync(() => layer.explain({ m: 2 })));
    check(`variant ${i} matmulInt32Async`, await settle(() => layer.matmulInt32Async(a)));
    check(`variant ${i} forwardAsync`, await settle(() => layer.forwardAsync(x)));
    const again = settleSync(() => lb.QuantizedLinear.deserialize(layer.serialize()));
    check(`variant ${i} serialize + deserialize`, again);
  }
  res.notes.outcomes = { ...counts, codes };
  if (counts.acceptedInvalid) {
    res.violations.push(`${counts.acceptedInvalid} of ${variants.length} accepted a layer fromInt8 refuses, e.g. ${firstInvalid.join('; ')}`);
  }
}

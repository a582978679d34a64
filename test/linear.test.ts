import * as lowbit from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

const { Linear, pruneWeights } = lowbit;

// y = act(x Wᵀ + b) in double, and the per-output error scale |b| + Σ|w x|.
function refLinear(x: Float32Array, batch: number, w: Float32Array, K: number, N: number, bias: Float32Array | null, relu: boolean) {
  const out = new Float64Array(batch * N);
  const scale = new Float64Array(batch * N);
  for (let b = 0; b < batch; b++) for (let n = 0; n < N; n++) {
    let s = bias ? bias[n] : 0;
    let a = Math.abs(s);
    for (let k = 0; k < K; k++) {
      const v = w[n * K + k] * x[b * K + k];
      s += v;
      a += Math.abs(v);
    }
    out[b * N + n] = relu ? Math.max(0, s) : s;
    scale[b * N + n] = a;
  }
  return { out, scale };
}

describe('Linear (fp32, sparse and dense)', () => {
  test('every mode matches the oracle within the fp32 tolerance, batch-major in and out, on every ISA', async () => {
    const r = rng(23);
    for (const [K, N, batch, sparsity] of [[37, 19, 1, 0.9], [64, 40, 7, 0.5], [130, 24, 33, 0.95], [8, 3, 100, 0], [16, 16, 5, 1]]) {
      const w = pruneWeights(Float32Array.from({ length: N * K }, () => r() * 2 - 1), { sparsity, rows: N });
      const bias = Float32Array.from({ length: N }, () => r() - 0.5);
      const x = Float32Array.from({ length: batch * K }, () => r() * 2 - 1);
      const ref = refLinear(x, batch, w, K, N, bias, true);
      const x0 = x.slice();
      const check = (y: Float32Array, tag: object) => {
        expect(y.length).toBe(batch * N);
        let bad = -1;
        for (let i = 0; i < y.length && bad < 0; i++) if (Math.abs(y[i] - ref.out[i]) > (K + 2) * 2 ** -23 * ref.scale[i]) bad = i;
        expect({ ...tag, bad }).toEqual({ ...tag, bad: -1 });
      };
      forEachIsa((isa) => {
        for (const mode of ['sparse', 'dense', 'auto'] as const) {
          const layer = new Linear(w, { inFeatures: K, outFeatures: N, bias, relu: true, mode });
          for (const threads of [1, 3]) {
            const y = threads === 1 ? layer.forward(x) : layer.forward(x, { batch, threads });
            check(y, { isa, mode, K, N, batch, threads });
          }
        }
      });
      for (const mode of ['sparse', 'dense'] as const) {
        check(await new Linear(w, { inFeatures: K, outFeatures: N, bias, relu: true, mode }).forwardAsync(x, { threads: 2 }), { mode, async: true });
      }
      expect(x).toEqual(x0);
    }
  });

  test('sparsity, explain, out buffer', () => {
    const w = pruneWeights(Float32Array.from({ length: 64 * 256 }, (_, i) => Math.sin(i)), { sparsity: 0.97, rows: 64 });
    const layer = new Linear(w, { inFeatures: 256, outFeatures: 64 });
    expect(layer.sparsity).toBeCloseTo(0.97, 3);
    expect(layer.nnz).toBe(w.length - w.filter((v) => v === 0).length);
    expect(layer.explain({ batch: 64 }).kernel).toBe('sparse');
    expect(new Linear(w, { inFeatures: 256, outFeatures: 64, mode: 'dense' }).explain({ batch: 8 }).reason).toMatch(/requested/);
    const out = new Float32Array(2 * 64);
    expect(layer.forward(new Float32Array(2 * 256).fill(1), { out })).toBe(out);
  });

  test('bad input throws with a code and leaves the output untouched', () => {
    const w = new Float32Array(4 * 6).fill(1);
    expectCode(() => new Linear(w, { inFeatures: 6, outFeatures: 5 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /weights\.length/);
    expectCode(() => new Linear(new Int8Array(24) as unknown as Float32Array, { inFeatures: 6, outFeatures: 4 }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /weights/);
    expectCode(() => new Linear(w, { inFeatures: 0, outFeatures: 4 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /inFeatures/);
    expectCode(() => new Linear(w, { inFeatures: 6, outFeatures: 4, mode: 'fast' as 'auto' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /mode/);
    expectCode(() => new Linear(w, { inFeatures: 6, outFeatures: 4, bias: new Float32Array(3) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /bias/);
    const layer = new Linear(w, { inFeatures: 6, outFeatures: 4 });
    const out = new Float32Array(8).fill(7);
    expectCode(() => layer.forward(new Float32Array(13), { out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /multiple of inFeatures/);
    expectCode(() => layer.forward(new Float32Array(12), { batch: 3, out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /batch \* inFeatures/);
    expectCode(() => layer.forward(new Float32Array(12), { out: new Float32Array(9) }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /out\.length/);
    expectCode(() => layer.forward(new Float32Array(12), { out, threads: 0 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /threads/);
    expect(out.every((v) => v === 7)).toBe(true);
  });
});

// Winograd through Conv2d: mode 'winograd' on every ISA against a double-precision oracle within
// the bound of native/kernels/conv/README.md ("Winograd"), thread splits and the Promise form give
// the same bits, 'auto' picks it for a dense 3x3 stride-1 layer and explains why, bad input.
import { Conv2d } from '../lib';
import { expectCode, forEachIsa, rng } from './helpers';

interface Geo { cin: number; cout: number; p: number; groups: number }

// F(2x2,3x3) and F(4x4,3x3) transforms (Lavin & Gray), for the error scale only.
const MATS: Record<number, { BT: number[][]; G: number[][]; AT: number[][] }> = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
};

// The exact convolution (double) and the bound's error scale E per output (README, "Winograd").
function oracle(x: Float32Array, n: number, h: number, w: number, wt: Float32Array, bias: Float32Array, g: Geo, relu: boolean, m: number) {
  const oh = h + 2 * g.p - 2, ow = w + 2 * g.p - 2, cig = g.cin / g.groups, cog = g.cout / g.groups, A = m + 2;
  const { BT, G, AT } = MATS[m];
  const X = (b: number, c: number, y: number, xx: number) => (y < 0 || y >= h || xx < 0 || xx >= w ? 0 : x[((b * g.cin + c) * h + y) * w + xx]);
  const out = new Float64Array(n * g.cout * oh * ow), scale = new Float64Array(out.length);
  // |G| |g| |G|^T per (co, ci) and |B^T| |d| |B| per (image, channel, tile)
  const U: Float64Array[] = [], V: Float64Array[] = [];
  for (let co = 0; co < g.cout; co++) {
    for (let ci = 0; ci < cig; ci++) {
      const u = new Float64Array(A * A);
      for (let i = 0; i < A; i++) {
        for (let j = 0; j < A; j++) for (let a = 0; a < 3; a++) for (let c = 0; c < 3; c++) u[i * A + j] += Math.abs(G[i][a] * wt[((co * cig + ci) * 3 + a) * 3 + c] * G[j][c]);
      }
      U.push(u);
    }
  }
  const tiles = Math.ceil(oh / m) * Math.ceil(ow / m);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < g.cin; ch++) {
      for (let oy0 = 0; oy0 < oh; oy0 += m) {
        for (let ox0 = 0; ox0 < ow; ox0 += m) {
          const v = new Float64Array(A * A);
          for (let i = 0; i < A; i++) {
            for (let j = 0; j < A; j++) for (let a = 0; a < A; a++) for (let c = 0; c < A; c++) v[i * A + j] += Math.abs(BT[i][a] * BT[j][c] * X(b, ch, oy0 + a - g.p, ox0 + c - g.p));
          }
          V.push(v);
        }
      }
    }
  }
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < g.cout; co++) {
      const gi = Math.floor(co / cog);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let s = bias[co];
          for (let ci = 0; ci < cig; ci++) {
            for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) s += wt[((co * cig + ci) * 3 + ky) * 3 + kx] * X(b, gi * cig + ci, oy - g.p + ky, ox - g.p + kx);
          }
          out[((b * g.cout + co) * oh + oy) * ow + ox] = relu && s < 0 ? 0 : s;
        }
      }
      for (let oy0 = 0, t = 0; oy0 < oh; oy0 += m) {
        for (let ox0 = 0; ox0 < ow; ox0 += m, t++) {
          const M = new Float64Array(A * A);
          for (let ci = 0; ci < cig; ci++) {
            const u = U[co * cig + ci], v = V[(b * g.cin + gi * cig + ci) * tiles + t];
            for (let k = 0; k < A * A; k++) M[k] += u[k] * v[k];
          }
          for (let i = 0; i < m && oy0 + i < oh; i++) {
            for (let j = 0; j < m && ox0 + j < ow; j++) {
              let s = Math.abs(bias[co]);
              for (let a = 0; a < A; a++) for (let c = 0; c < A; c++) s += Math.abs(AT[i][a] * AT[j][c]) * M[a * A + c];
              scale[((b * g.cout + co) * oh + oy0 + i) * ow + ox0 + j] = s;
            }
          }
        }
      }
    }
  }
  return { out, scale };
}

describe('Conv2d Winograd', () => {
  test('mode winograd matches the oracle within the documented bound on every ISA', () => {
    const cases: Array<Geo & { n: number; h: number; w: number; relu: boolean }> = [
      { cin: 3, cout: 5, p: 1, groups: 1, n: 1, h: 7, w: 9, relu: false },
      { cin: 16, cout: 24, p: 1, groups: 2, n: 2, h: 10, w: 11, relu: true },
      { cin: 9, cout: 18, p: 0, groups: 1, n: 1, h: 12, w: 10, relu: false },
      { cin: 8, cout: 8, p: 2, groups: 1, n: 1, h: 5, w: 6, relu: true },
      { cin: 40, cout: 36, p: 1, groups: 1, n: 1, h: 14, w: 14, relu: false },
    ];
    const r = rng(13);
    for (const c of cases) {
      const wt = Float32Array.from({ length: c.cout * (c.cin / c.groups) * 9 }, () => r() * 2 - 1);
      const bias = Float32Array.from({ length: c.cout }, () => r() * 2 - 1);
      const x = Float32Array.from({ length: c.n * c.cin * c.h * c.w }, () => r() * 2 - 1);
      const layer = new Conv2d(wt, { inChannels: c.cin, outChannels: c.cout, kernelSize: 3, padding: c.p, groups: c.groups, bias, relu: c.relu, mode: 'winograd' });
      const shape = { n: c.n, h: c.h, w: c.w };
      const e = layer.explain(shape);
      expect(e.kernel).toBe('winograd');
      expect([2, 4]).toContain(e.winogradTile);
      const { out, scale } = oracle(x, c.n, c.h, c.w, wt, bias, c, c.relu, e.winogradTile!);
      const K = c.cin / c.groups + 4 * (e.winogradTile! + 2) + 4;
      forEachIsa((isa) => {
        const y = layer.forward(x, shape);
        let worst = 0;
        for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - out[i]) / (K * 2 ** -23 * scale[i] + 1e-30));
        if (!(worst <= 1)) throw new Error(`${isa} F(${e.winogradTile},3) ${JSON.stringify(c)}: error ${worst} x the bound`);
      });
    }
  });

  test('threads and the Promise form give the same bits', async () => {
    const r = rng(3);
    const wt = Float32Array.from({ length: 32 * 16 * 9 }, () => r() * 2 - 1);
    const x = Float32Array.from({ length: 2 * 16 * 20 * 20 }, () => r() * 2 - 1);
    const layer = new Conv2d(wt, { inChannels: 16, outChannels: 32, kernelSize: 3, padding: 1, mode: 'winograd' });
    const shape = { n: 2, h: 20, w: 20 };
    const y1 = layer.forward(x, shape);
    expect(layer.forward(x, { ...shape, threads: 2 })).toEqual(y1);
    expect(layer.forward(x, { ...shape, threads: 3 })).toEqual(y1);
    expect(await layer.forwardAsync(x, { ...shape, threads: 2 })).toEqual(y1);
  });

  test('auto picks Winograd for a dense 3x3 stride-1 layer and explains it', () => {
    const r = rng(7);
    const wt = Float32Array.from({ length: 64 * 64 * 9 }, () => r() * 2 - 1);
    const e = new Conv2d(wt, { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1 }).explain({ h: 28, w: 28 });
    expect(e.predictedWinogradMs).toBeGreaterThan(0);
    expect(e.predictedWinogradMs).toBeLessThan(e.predictedDenseMs!);
    expect(e.reason).toMatch(/winograd F\([24]x[24],3x3\) predicted/);
    expect(e.kernel).toBe('winograd');
    // not eligible: no Winograd figures
    const s2 = new Conv2d(wt, { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, stride: 2 }).explain({ h: 28, w: 28 });
    expect(s2.predictedWinogradMs).toBeUndefined();
    expect(s2.kernel).not.toBe('winograd');
  });

  test('sparse Winograd: pruned in the Winograd domain, explained; fully pruned leaves the bias', async () => {
    const r = rng(21);
    const wt = Float32Array.from({ length: 32 * 16 * 9 }, () => r() * 2 - 1);
    const bias = Float32Array.from({ length: 32 }, () => r() * 2 - 1);
    const x = Float32Array.from({ length: 16 * 12 * 12 }, () => r() * 2 - 1);
    const geo = { inChannels: 16, outChannels: 32, kernelSize: 3, padding: 1, bias, mode: 'winograd' as const };
    const shape = { h: 12, w: 12 };
    const dense = new Conv2d(wt, geo).forward(x, shape);
    expect(new Conv2d(wt, { ...geo, winogradSparsity: 0 }).forward(x, shape)).toEqual(dense);
    const sp = new Conv2d(wt, { ...geo, winogradSparsity: 0.9 });
    const e = sp.explain(shape);
    expect(e.kernel).toBe('winograd');
    expect(e.winogradSparsity).toBe(0.9);
    expect(e.reason).toMatch(/sparse Winograd: U pruned in the Winograd domain to 90%/);
    const y = sp.forward(x, shape);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(y).not.toEqual(dense);
    expect(await sp.forwardAsync(x, { ...shape, threads: 2 })).toEqual(y);
    const all = new Conv2d(wt, { ...geo, winogradSparsity: 1 }).forward(x, shape);
    for (let i = 0; i < all.length; i++) if (all[i] !== bias[Math.floor(i / 144)]) throw new Error(`output ${i}: ${all[i]} is not the bias`);
    expectCode(() => new Conv2d(wt, { ...geo, mode: 'auto', winogradSparsity: 0.5 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /winogradSparsity needs mode 'winograd'/);
    expectCode(() => new Conv2d(wt, { ...geo, winogradSparsity: 1.5 }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /winogradSparsity/);
    expectCode(() => new Conv2d(wt, { ...geo, winogradSparsity: '0.5' as unknown as number }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /winogradSparsity/);
  });

  test('bad input', () => {
    const w5 = new Float32Array(4 * 2 * 25);
    expectCode(() => new Conv2d(w5, { inChannels: 2, outChannels: 4, kernelSize: 5, mode: 'winograd' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /winograd.*3x3/);
    const w3 = new Float32Array(4 * 2 * 9);
    expectCode(() => new Conv2d(w3, { inChannels: 2, outChannels: 4, kernelSize: 3, stride: 2, mode: 'winograd' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /stride 1/);
    expectCode(() => new Conv2d(w3, { inChannels: 2, outChannels: 4, kernelSize: 3, dilation: 2, mode: 'winograd' }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /dilation/);
    const layer = new Conv2d(w3, { inChannels: 2, outChannels: 4, kernelSize: 3, mode: 'winograd' });
    expectCode(() => layer.forward(new Float32Array(2 * 8 * 8 - 1), { h: 8, w: 8 }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /input.length/);
    expectCode(() => layer.forward(new Float32Array(2 * 2 * 2), { h: 2, w: 2 }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT');
    const out = new Float32Array(5).fill(9);
    expectCode(() => layer.forward(new Float32Array(128), { h: 8, w: 8, out }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /options.out.length/);
    expect(Array.from(out)).toEqual([9, 9, 9, 9, 9]);
  });
});

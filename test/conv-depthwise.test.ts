// Depthwise layers (groups = channels) through Conv2d and QuantizedConv2d: the dedicated kernel is
// chosen and explained, threads and the Promise form give the same bits, and 'sparse' still runs
// the sparse kernel. Correctness on every ISA: the depthwise cases of conv.test.ts (fp32, oracle)
// and qconv.test.ts (int8, bit-exact), and native/tests/conv_depthwise_test.cc.
import { Conv2d, QuantizedConv2d } from '../lib';
import { rng } from './helpers';

describe('depthwise', () => {
  test('Conv2d picks the depthwise kernel and explains it; threads give the same bits', async () => {
    const r = rng(9);
    for (const [k, s] of [[3, 1], [3, 2], [5, 1], [5, 2]]) {
      const w = Float32Array.from({ length: 24 * k * k }, () => r() * 2 - 1);
      const x = Float32Array.from({ length: 24 * 30 * 30 }, () => r() * 2 - 1);
      const geo = { inChannels: 24, outChannels: 24, kernelSize: k, stride: s, padding: k >> 1, groups: 24 };
      const auto = new Conv2d(w, geo);
      const e = auto.explain({ h: 30, w: 30 });
      expect(e.kernel).toBe('depthwise');
      expect(e.reason).toMatch(new RegExp(`depthwise .*${k}x${k}, stride ${s}`));
      expect(new Conv2d(w, { ...geo, mode: 'dense' }).explain({ h: 30, w: 30 }).kernel).toBe('depthwise');
      expect(new Conv2d(w, { ...geo, mode: 'sparse' }).explain({ h: 30, w: 30 }).kernel).toBe('sparse');
      const y = auto.forward(x, { h: 30, w: 30 });
      expect(auto.forward(x, { h: 30, w: 30, threads: 2 })).toEqual(y);
      expect(await auto.forwardAsync(x, { h: 30, w: 30, threads: 3 })).toEqual(y);
    }
  });

  test('QuantizedConv2d picks the depthwise kernel; threads give the same bits', async () => {
    const r = rng(4);
    const w = Int8Array.from({ length: 32 * 9 }, () => Math.floor(r() * 256) - 128);
    const x = Uint8Array.from({ length: 2 * 32 * 19 * 19 }, () => Math.floor(r() * 256));
    const layer = QuantizedConv2d.fromInt8(w, { inChannels: 32, outChannels: 32, kernelSize: 3, padding: 1, stride: 2, groups: 32, scale: 0.01 });
    const e = layer.explain({ n: 2, h: 19, w: 19 });
    expect(e.kernel).toBe('depthwise');
    expect(e.reason).toMatch(/depthwise .*exact/);
    const o = { n: 2, h: 19, w: 19, scale: 0.02, zeroPoint: 128, outScale: 0.3, outZeroPoint: 120 };
    const y = layer.forward(x, o);
    expect(layer.forward(x, { ...o, threads: 2 })).toEqual(y);
    expect(await layer.forwardAsync(x, { ...o, threads: 3 })).toEqual(y);
  });
});

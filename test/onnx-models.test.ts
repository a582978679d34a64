// Whole-model tests: the committed fixtures (scripts/models/make_onnx_fixtures.py: PyTorch models
// exported with torch.onnx.export, quantized with onnxruntime.quantization) run through loadOnnx and
// compared with onnxruntime's outputs recorded on the same inputs.
import * as path from 'node:path';
import { loadOnnx } from '../lib';
import { FIXTURES, fixtureIo, maxRelDiff } from './onnx-helpers';

const FP32 = ['mlp', 'dlrm', 'resnet', 'resnet.bn', 'mobilenet', 'mobilenet.bn', 'mlp.p80', 'resnet.p80'];
// *.p80: 80% of the 1x4 weight blocks pruned (make_onnx_fixtures.py --prune 0.8), where mode 'auto'
// may pick the sparse kernels: the answers must not change
const QUANTIZED = ['mlp.dynamic', 'dlrm.dynamic', 'mlp.qdq', 'mlp.qop', 'resnet.qdq', 'resnet.qop', 'mobilenet.qdq', 'mobilenet.qop',
  'mlp.p80.dynamic', 'mlp.p80.qdq', 'mlp.p80.qop', 'resnet.p80.qdq', 'resnet.p80.qop'];

describe('fp32 models match onnxruntime within 1e-4 relative', () => {
  test.each(FP32)('%s', (name) => {
    const session = loadOnnx(path.join(FIXTURES, `${name}.onnx`));
    const io = fixtureIo(name);
    const out = session.run(io.inputs);
    expect(session.outputNames).toEqual(['y']);
    expect(out.y.dims).toEqual(io.outputs.y.dims);
    // relative to the output's magnitude (1e-3 floor: near-zero logits)
    expect(maxRelDiff(out.y.data as Float32Array, io.outputs.y.data as Float32Array, 1e-3)).toBeLessThan(1e-4);
  });

  test('BatchNormalization is folded into the convolutions, Relu/Clip fused', () => {
    for (const name of ['resnet.bn', 'mobilenet.bn']) {
      const s = loadOnnx(path.join(FIXTURES, `${name}.onnx`));
      expect(s.plan).not.toContain('BatchNormalization');
      expect(s.plan).not.toContain('Clip');
    }
    // unoptimized, the same file runs every node as written, with the same answer
    const io = fixtureIo('resnet.bn');
    const plain = loadOnnx(path.join(FIXTURES, 'resnet.bn.onnx'), { optimize: false });
    expect(plain.plan).toContain('BatchNormalization');
    expect(maxRelDiff(plain.run(io.inputs).y.data as Float32Array, io.outputs.y.data as Float32Array)).toBeLessThan(1e-4);
  });

  test('the DLRM embedding tables run as embedding bags', () => {
    const s = loadOnnx(path.join(FIXTURES, 'dlrm.onnx'));
    // the four tables' lookups, side by side in the Concat, as one embeddingBags call
    expect(s.plan.filter((op) => op === 'lowbit.EmbeddingBagSum')).toHaveLength(1);
    // and reads each table's ids[:, k, :] itself: the Gathers left are the shape arithmetic's
    // (x.shape[0] and x.shape[1] of the view before the interaction)
    const unoptimized = loadOnnx(path.join(FIXTURES, 'dlrm.onnx'), { optimize: false }).plan.filter((op) => op === 'Gather').length;
    expect(s.plan.filter((op) => op === 'Gather')).toHaveLength(unoptimized - 4 - 4 - 1); // 4 id slices, 4 row gathers (the bags), the pair gather
    expect(s.plan).not.toContain('ReduceSum');
    // the interaction: MatMul(T, Tᵀ) → Flatten → Gather of the lower triangle, as one pairwise-dot step
    expect(s.plan).toContain('lowbit.PairwiseDot');
    expect(s.plan).not.toContain('Transpose');
  });
});

describe('quantized models: every value as onnxruntime computes it (exact there: 7-bit weights)', () => {
  test.each(QUANTIZED)('%s', (name) => {
    const s = loadOnnx(path.join(FIXTURES, `${name}.onnx`));
    const io = fixtureIo(name);
    const y = s.run(io.inputs).y.data as Float32Array;
    const want = io.outputs.y.data as Float32Array;
    // the CNNs and the DLRM end in integer pipelines: bit-identical; the MLPs' last fp32 steps
    // (dequantize, softmax) may round differently in the last bit
    expect(maxRelDiff(y, want, 1e-3)).toBeLessThan(1e-5);
  });

  test('QDQ models run on the int8 kernels (QLinearConv / QGemm), not as float ops', () => {
    const s = loadOnnx(path.join(FIXTURES, 'resnet.qdq.onnx'));
    expect(s.plan).toContain('QLinearConv');
    expect(s.plan).toContain('com.microsoft.QGemm');
    expect(s.plan).not.toContain('Conv');
    // dynamic quantization: MatMulInteger → Cast → Mul → Add → Relu as one layer call
    const d = loadOnnx(path.join(FIXTURES, 'dlrm.dynamic.onnx'));
    expect(d.plan).toContain('lowbit.DynamicMatMul');
    expect(d.plan).not.toContain('MatMulInteger');
    expect(d.plan).not.toContain('Cast');
    // and run as written, node by node, the same file gives the same answers
    const io = fixtureIo('dlrm.dynamic');
    const plain = loadOnnx(path.join(FIXTURES, 'dlrm.dynamic.onnx'), { optimize: false });
    expect(plain.plan).toContain('MatMulInteger');
    expect(maxRelDiff(plain.run(io.inputs).y.data as Float32Array, io.outputs.y.data as Float32Array)).toBeLessThan(1e-5);
  });

  test('full 8-bit weights: lowbit gives the exact sums where onnxruntime u8s8 saturates', () => {
    const s = loadOnnx(path.join(FIXTURES, 'matmulinteger8.onnx'));
    const io = fixtureIo('matmulinteger8');
    const y = s.run(io.inputs).y.data as Int32Array;
    expect(Array.from(y)).toEqual(Array.from(io.outputs.y_exact.data as Int32Array));
    // onnxruntime's recorded result on an AVX2 machine (no VNNI) differs where pairs saturated
    const ortDiffers = Array.from(io.outputs.y.data as Int32Array).filter((v, i) => v !== y[i]).length;
    expect(ortDiffers).toBeGreaterThan(0); // 49 of 64 when recorded (onnxruntime 1.30, AVX2)
  });
});

describe('session API', () => {
  test('runAsync gives what run gives; results survive later runs', async () => {
    const s = loadOnnx(path.join(FIXTURES, 'resnet.qop.onnx'), { threads: 2 });
    const io = fixtureIo('resnet.qop');
    const a = s.run(io.inputs);
    const keep = (a.y.data as Float32Array).slice();
    const [b, c] = await Promise.all([s.runAsync(io.inputs), s.runAsync(io.inputs)]);
    expect(b.y.data).toEqual(keep);
    expect(c.y.data).toEqual(keep);
    expect(a.y.data).toEqual(keep);
  });

  test('a sync run while a runAsync is in flight does not share its buffers', async () => {
    const s = loadOnnx(path.join(FIXTURES, 'resnet.onnx'));
    const io = fixtureIo('resnet');
    const want = Array.from(s.run(io.inputs).y.data as Float32Array);
    const pending = s.runAsync(io.inputs);
    await new Promise((resolve) => setImmediate(resolve)); // the async run is now inside a layer call
    const zeros = { x: { ...io.inputs.x, data: new Float32Array(io.inputs.x.data.length) } };
    const other = s.run(zeros);
    expect(Array.from((await pending).y.data as Float32Array)).toEqual(want);
    expect(Array.from(other.y.data as Float32Array)).not.toEqual(want);
  });

  test('batch size can change between runs', () => {
    const s = loadOnnx(path.join(FIXTURES, 'mlp.onnx'));
    const io = fixtureIo('mlp');
    const x = io.inputs.x;
    const one = s.run({ x: { type: 'float32', dims: [1, x.dims[1]], data: (x.data as Float32Array).slice(0, x.dims[1]) } });
    const two = s.run(io.inputs);
    expect(one.y.dims).toEqual([1, 10]);
    expect(Array.from(one.y.data as Float32Array)).toEqual(Array.from((two.y.data as Float32Array).slice(0, 10)));
  });

  test('accepts the bytes of a file as well as its path', () => {
    const { readFileSync } = require('node:fs') as typeof import('node:fs');
    const s = loadOnnx(new Uint8Array(readFileSync(path.join(FIXTURES, 'mlp.onnx'))));
    expect(s.inputNames).toEqual(['x']);
  });
});

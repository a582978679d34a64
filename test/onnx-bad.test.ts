// Bad ONNX files and bad feeds: every one a coded error, never a crash or a wrong answer.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadOnnx } from '../lib';
import { expectCode, rng } from './helpers';
import { FIXTURES, fixtureIo, init, model, node, value } from './onnx-helpers';

const relu = (extra: Partial<Parameters<typeof model>[0]> = {}) =>
  model({ nodes: [node('Relu', ['x'], ['y'])], inputs: [value('x', 'float32', ['n', 4])], outputs: [value('y', 'float32', ['n', 4])], ...extra });

describe('bad files', () => {
  const good = new Uint8Array(readFileSync(path.join(FIXTURES, 'resnet.onnx')));

  test('empty, truncated and not-protobuf bytes', () => {
    expectCode(() => loadOnnx(new Uint8Array(0)), RangeError, 'ERR_LOWBIT_INVALID_MODEL', /empty/);
    for (const cut of [1, 7, 100, good.length >> 1, good.length - 3]) {
      expect(() => loadOnnx(good.subarray(0, cut))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_LOWBIT_(INVALID_MODEL|UNSUPPORTED_OP)$/) }));
    }
    expectCode(() => loadOnnx(new TextEncoder().encode('this is not an onnx model at all')), RangeError, 'ERR_LOWBIT_INVALID_MODEL');
  });

  test('random corruption never crashes: a coded error, or a model that runs (or refuses the feeds with a coded error)', () => {
    const r = rng(11);
    const io = fixtureIo('resnet');
    let loaded = 0;
    for (let t = 0; t < 200; t++) {
      const bad = good.slice();
      for (let j = 0; j < 1 + (t % 8); j++) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
      try {
        const s = loadOnnx(bad);
        loaded++;
        s.run(io.inputs);
      } catch (e) {
        expect((e as { code?: string }).code).toMatch(/^ERR_LOWBIT_/);
      }
    }
    expect(loaded).toBeGreaterThan(0); // some corruptions hit only weights: those models run
  });

  test('a missing file', () => {
    expectCode(() => loadOnnx('/nonexistent/model.onnx'), RangeError, 'ERR_LOWBIT_FILE', /cannot read/);
  });

  test('a cycle', () => {
    const bytes = model({
      nodes: [node('Relu', ['x', 'b'], ['a']), node('Add', ['a', 'x'], ['b']), node('Relu', ['b'], ['y'])],
      inputs: [value('x', 'float32', [4])], outputs: [value('y', 'float32', [4])],
    });
    expectCode(() => loadOnnx(bytes), RangeError, 'ERR_LOWBIT_INVALID_MODEL', /cycle/);
  });

  test('a missing input, a value written twice, an output nobody writes', () => {
    expectCode(() => loadOnnx(model({ nodes: [node('Add', ['x', 'nowhere'], ['y'])], inputs: [value('x', 'float32', [4])], outputs: [value('y', 'float32', [4])] })),
      RangeError, 'ERR_LOWBIT_INVALID_MODEL', /reads nowhere/);
    expectCode(() => loadOnnx(model({ nodes: [node('Relu', ['x'], ['y']), node('Relu', ['x'], ['y'])], inputs: [value('x', 'float32', [4])], outputs: [value('y', 'float32', [4])] })),
      RangeError, 'ERR_LOWBIT_INVALID_MODEL', /written by two nodes/);
    expectCode(() => loadOnnx(model({ nodes: [node('Relu', ['x'], ['y'])], inputs: [value('x', 'float32', [4])], outputs: [value('z', 'float32', [4])] })),
      RangeError, 'ERR_LOWBIT_INVALID_MODEL', /produced by no node/);
  });

  test('initializer data that does not match its dims; huge dims', () => {
    const short = { ...init('w', 'float32', [4, 4], new Float32Array(16)), rawData: new Uint8Array(60) };
    expectCode(() => loadOnnx(model({ nodes: [node('MatMul', ['x', 'w'], ['y'])], inits: [short], inputs: [value('x', 'float32', [1, 4])], outputs: [value('y', 'float32', [1, 4])] })),
      RangeError, 'ERR_LOWBIT_INVALID_MODEL', /raw_data holds 60 bytes/);
    const huge = { ...init('w', 'float32', [1], [0]), dims: [1 << 30, 1 << 30] };
    expectCode(() => loadOnnx(model({ nodes: [node('MatMul', ['x', 'w'], ['y'])], inits: [huge], inputs: [value('x', 'float32', [1, 4])], outputs: [value('y', 'float32', [1, 4])] })),
      RangeError, 'ERR_LOWBIT_OUT_OF_RANGE', /more than 2\^31/);
    const neg = { ...init('w', 'float32', [1], [0]), dims: [-1] };
    expectCode(() => loadOnnx(model({ nodes: [node('Add', ['x', 'w'], ['y'])], inits: [neg], inputs: [value('x', 'float32', [1])], outputs: [value('y', 'float32', [1])] })),
      RangeError, 'ERR_LOWBIT_INVALID_MODEL', /negative dimension/);
    expectCode(() => loadOnnx(relu({ inputs: [value('x', 'float32', [2 ** 40, 2 ** 20])] })), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
  });

  test('unsupported ops and attributes name the node, the op and what is supported', () => {
    const loop = model({ nodes: [node('Loop', ['x'], ['y'])], inputs: [value('x', 'float32', [4])], outputs: [value('y', 'float32', [4])] });
    expectCode(() => loadOnnx(loop), TypeError, 'ERR_LOWBIT_UNSUPPORTED_OP', /node Loop_y \(Loop\): op type not supported \(torch exports nn.EmbeddingBag as a Loop.*supported: Add, /);
    const attr = model({ nodes: [node('Relu', ['x'], ['y'], { alpha: 2 })], inputs: [value('x', 'float32', [4])], outputs: [value('y', 'float32', [4])] });
    expectCode(() => loadOnnx(attr), TypeError, 'ERR_LOWBIT_UNSUPPORTED_OP', /node Relu_y \(Relu\): attribute alpha is not supported \(no attributes are\)/);
    const pads = model({
      nodes: [node('MaxPool', ['x'], ['y'], { kernel_shape: [2, 2], pads: [0, 0, 1, 1] })],
      inputs: [value('x', 'float32', [1, 1, 4, 4])], outputs: [value('y', 'float32', [1, 1, 3, 3])],
    });
    expectCode(() => loadOnnx(pads), TypeError, 'ERR_LOWBIT_UNSUPPORTED_OP', /asymmetric pads/);
    const ms = model({ nodes: [node('QLinearSoftmax', ['x'], ['y'], {}, 'com.microsoft')], inputs: [value('x', 'uint8', [4])], outputs: [value('y', 'uint8', [4])], ms: true });
    expectCode(() => loadOnnx(ms), TypeError, 'ERR_LOWBIT_UNSUPPORTED_OP', /com.microsoft.QLinearSoftmax/);
    const f64 = { ...init('w', 'float32', [1], [0]), dataType: 11 };
    expectCode(() => loadOnnx(model({ nodes: [node('Add', ['x', 'w'], ['y'])], inits: [f64], inputs: [value('x', 'float32', [1])], outputs: [value('y', 'float32', [1])] })),
      TypeError, 'ERR_LOWBIT_UNSUPPORTED_OP', /DOUBLE/);
  });

  test('load options are checked', () => {
    expectCode(() => loadOnnx(relu(), { threds: 2 } as never), TypeError, 'ERR_LOWBIT_UNKNOWN_OPTION');
    expectCode(() => loadOnnx(42 as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
  });
});

describe('bad feeds', () => {
  const s = loadOnnx(relu());
  const x = { type: 'float32', dims: [2, 4], data: new Float32Array(8) };

  test('wrong type, shape, length, names', () => {
    expectCode(() => s.run({}), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /feeds.x is missing/);
    expectCode(() => s.run({ x, z: x }), RangeError, 'ERR_LOWBIT_INVALID_ARGUMENT', /no input z/);
    expectCode(() => s.run({ x: { ...x, data: new Float64Array(8) } }), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    expectCode(() => s.run({ x: { ...x, data: new Int32Array(8), type: 'int32' } }), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /must be float32/);
    expectCode(() => s.run({ x: { ...x, dims: [2, 5] } }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH');
    expectCode(() => s.run({ x: { ...x, dims: [4, 2] } }), RangeError, 'ERR_LOWBIT_LENGTH_MISMATCH', /must be \[n, 4\]/);
    expectCode(() => s.run({ x: { ...x, dims: [-2, -4] } }), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    expectCode(() => s.run({ x: { ...x, type: 'int64' } }), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    expectCode(() => s.run(null as never), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
  });

  test('an embedding id out of range is a coded error', () => {
    const sess = loadOnnx(path.join(FIXTURES, 'dlrm.onnx'));
    const ids = new BigInt64Array(2 * 4 * 3).fill(999n);
    expect(() => sess.run({ dense: { type: 'float32', dims: [2, 13], data: new Float32Array(26) }, ids: { type: 'int64', dims: [2, 4, 3], data: ids } }))
      .toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_LOWBIT_/) }));
  });
});

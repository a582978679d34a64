#!/usr/bin/env python3
"""Shows where onnxruntime's u8s8 integer products are not exact, and writes a fixture for it.

On CPUs without AVX-VNNI / AVX512-VNNI, onnxruntime's MatMulInteger (and QLinearConv, QGemm, ...)
with uint8 activations and int8 weights multiplies with vpmaddubsw, which adds each pair of u8·s8
products into a saturating int16: with full-range 8-bit weights a pair can reach 2·255·127 = 64770
and is clipped to 32767. This script builds one MatMulInteger with full-range weights, runs it in
onnxruntime, and compares with the exact sums and with a model of the saturating pairs.

  python3 scripts/models/ort_saturation.py --out test/fixtures/onnx

Writes matmulinteger8.onnx and matmulinteger8.io.json (outputs: y = onnxruntime's, y_exact = the
exact int32 sums computed here in int64).
"""
import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from make_onnx_fixtures import tensor_json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(3)
    m, k, n = 4, 64, 16
    w = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    a_zp = np.uint8(128)
    node = helper.make_node('MatMulInteger', ['a', 'w', 'a_zp'], ['y'], name='mmi')
    graph = helper.make_graph([node], 'sat', [helper.make_tensor_value_info('a', TensorProto.UINT8, ['m', k])],
                              [helper.make_tensor_value_info('y', TensorProto.INT32, ['m', n])],
                              [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(np.array(a_zp), 'a_zp')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    path = os.path.join(args.out, 'matmulinteger8.onnx')
    onnx.save(model, path)
    got = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, {'a': a})[0]
    exact = (a.astype(np.int64) - int(a_zp)) @ w.astype(np.int64)
    # vpmaddubsw model: pairs of u8·s8 saturated to int16, then the zero point term (exact)
    pairs = a.astype(np.int64).reshape(m, k // 2, 2)[:, :, :, None] * w.astype(np.int64).reshape(k // 2, 2, n)[None]
    saturated = np.clip(pairs.sum(axis=2), -32768, 32767).sum(axis=1) - int(a_zp) * w.astype(np.int64).sum(axis=0)
    print(f'onnxruntime {ort.__version__}: {(got != exact).sum()} of {got.size} sums differ from the exact ones '
          f'(largest error {np.abs(got - exact).max()}); the saturating-pairs model matches onnxruntime on {(got == saturated).sum()} of {got.size}')
    with open(path.replace('.onnx', '.io.json'), 'w') as f:
        json.dump({'inputs': {'a': tensor_json(a)}, 'outputs': {'y': tensor_json(got), 'y_exact': tensor_json(exact.astype(np.int32))}}, f)


if __name__ == '__main__':
    main()

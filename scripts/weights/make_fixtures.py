"""Makes the weight-file fixtures of test/weights.test.ts with PyTorch, safetensors and NumPy, so
the readers are tested on files real tools wrote (the tests only read the committed outputs).

    python3 scripts/weights/make_fixtures.py      # writes test/fixtures/weights/

torch.jit-free and seeded: the same versions write the same bytes.
"""
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'weights')


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(7)
    # a state dict as a PyTorch user saves it, with every dtype the readers map
    mlp = torch.nn.Sequential(torch.nn.Linear(13, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    state = {k: v.detach().contiguous() for k, v in mlp.state_dict().items()}
    extra = {
        'f16': torch.randn(5, 3).half(),
        'bf16': torch.randn(4, 2).bfloat16(),
        'f64': torch.randn(3).double(),
        'i64': torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
        'i32': torch.tensor([-(2 ** 31), 2 ** 31 - 1, 0], dtype=torch.int32),
        'i16': torch.tensor([-32768, 32767], dtype=torch.int16),
        'i8': torch.tensor([-128, 127, 5], dtype=torch.int8),
        'u8': torch.tensor([0, 255, 17], dtype=torch.uint8),
        'bool': torch.tensor([True, False, True]),
        'scalar': torch.tensor(2.5),
        'empty': torch.zeros(0, 4),
        'f8e4m3': torch.tensor([0.5, -1.75, 448.0, 0.0], dtype=torch.float8_e4m3fn),
        'f8e5m2': torch.tensor([0.5, -1.75, 57344.0, 0.0], dtype=torch.float8_e5m2),
    }
    # PyTorch's own prepacked quantized embedding tables (rowwise scale and bias per row)
    table = torch.randn(50, 16)
    q8 = torch.ops.quantized.embedding_bag_byte_prepack(table)
    q4 = torch.ops.quantized.embedding_bag_4bit_prepack(table)
    tables = {'emb.q8': q8, 'emb.q4': q4, 'emb.f32': table}
    save_file({**state, **extra, **tables}, os.path.join(OUT, 'torch.safetensors'), metadata={'format': 'pt', 'seed': '7'})

    # what each tensor holds, as float64 values (bits for the raw 16/8-bit floats: JSON has no fp16)
    expected = {}
    for k, v in {**state, **extra, 'emb.f32': table}.items():
        expected[k] = {'shape': list(v.shape), 'values': v.double().flatten().tolist()}
    for k, v in {'f16': extra['f16'], 'bf16': extra['bf16']}.items():
        expected[k]['bits'] = v.view(torch.int16).flatten().tolist()
    # bags over the prepacked tables, by PyTorch's kernels
    indices = torch.tensor([3, 7, 7, 0, 49, 12, 5], dtype=torch.int64)
    offsets = torch.tensor([0, 3, 3, 5], dtype=torch.int64)
    expected['bags'] = {
        'indices': indices.tolist(),
        'offsets': offsets.tolist(),
        'q8': torch.ops.quantized.embedding_bag_byte_rowwise_offsets(q8, indices, offsets, mode=0).flatten().tolist(),
        'q4': torch.ops.quantized.embedding_bag_4bit_rowwise_offsets(q4, indices, offsets, mode=0).flatten().tolist(),
    }
    with open(os.path.join(OUT, 'torch.expected.json'), 'w') as f:
        json.dump(expected, f)

    # .npy as numpy writes it: C and Fortran order, big-endian, version 2.0 and 3.0 headers
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4, 2)).astype(np.float32)
    np.save(os.path.join(OUT, 'c_f32.npy'), a)
    np.save(os.path.join(OUT, 'fortran_f32.npy'), np.asfortranarray(a))
    np.save(os.path.join(OUT, 'big_endian_i32.npy'), np.arange(-6, 6, dtype='>i4').reshape(3, 4))
    np.save(os.path.join(OUT, 'u8_1d.npy'), np.arange(7, dtype=np.uint8))
    np.save(os.path.join(OUT, 'scalar_f64.npy'), np.float64(-0.125))
    with open(os.path.join(OUT, 'v2_i8.npy'), 'wb') as f:
        np.lib.format.write_array(f, np.arange(-4, 4, dtype=np.int8).reshape(2, 4), version=(2, 0))
    with open(os.path.join(OUT, 'v3_f16.npy'), 'wb') as f:
        np.lib.format.write_array(f, np.array([1.5, -2.0, 65504.0], dtype=np.float16), version=(3, 0))
    with open(os.path.join(OUT, 'npy.expected.json'), 'w') as f:
        json.dump({'c_f32': a.astype(np.float64).flatten().tolist()}, f)


if __name__ == '__main__':
    main()

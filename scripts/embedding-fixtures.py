#!/usr/bin/env python3
"""Writes test/fixtures/embedding/: tables quantized by PyTorch (FBGEMM's prepack, the AVX2 build
PyTorch runs on x86) and lookups computed by PyTorch's quantized embedding-bag ops on those bytes,
for test/embedding-torch.test.ts. Run by hand (needs torch); the tests only read the files.

    python3 scripts/embedding-fixtures.py

Rows include the cases where FBGEMM's bytes depend on its vectorized min/max order: rows holding
both +0.0 and -0.0 whose minimum (or maximum) is zero, rows of signed zeros only, widths that are
not a multiple of 8 (a scalar tail after the 8-lane vector part).
"""
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'embedding')


def rows_for(dim, n, rng):
    """n rows of dim values: gaussian rows, then rows whose extrema are signed zeros."""
    x = rng.standard_normal((n, dim)).astype(np.float32)
    k = 0
    def signed_zeros(row, frac):
        m = rng.random(dim) < frac
        row[m] = np.where(rng.random(m.sum()) < 0.5, np.float32(0.0), np.float32(-0.0))
    # min zero: non-negative rows with +0 and -0 mixed at random places
    for _ in range(n // 4):
        r = np.abs(x[k]); signed_zeros(r, 0.4); x[k] = r; k += 1
    # max zero: non-positive rows
    for _ in range(n // 8):
        r = -np.abs(x[k]); signed_zeros(r, 0.4); x[k] = r; k += 1
    # only signed zeros (and all +0 / all -0)
    for i in range(3):
        r = np.zeros(dim, np.float32)
        if i == 0: signed_zeros(r, 1.0)
        if i == 2: r[:] = -0.0
        x[k] = r; k += 1
    # a zero minimum in the vector part and another in the tail
    r = np.abs(x[k]); r[0] = -0.0; r[-1] = 0.0; x[k] = r; k += 1
    r = np.abs(x[k]); r[0] = 0.0; r[-1] = -0.0; x[k] = r; k += 1
    # constant rows and wide ranges
    x[k] = np.float32(0.375); k += 1
    x[k] *= np.float32(1000.0); k += 1
    return x


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(12)
    os.makedirs(OUT, exist_ok=True)
    manifest = {'generator': 'scripts/embedding-fixtures.py', 'torch': torch.__version__, 'tables': [], 'lookups': []}
    cases = [('q8', 8), ('q8', 13), ('q8', 64), ('q8', 20),
             ('q4', 8), ('q4', 14), ('q4', 64), ('q4', 36),
             ('q2', 8), ('q2', 12), ('q2', 64), ('q2', 36)]
    ops = {'q8': torch.ops.quantized.embedding_bag_byte_rowwise_offsets,
           'q4': torch.ops.quantized.embedding_bag_4bit_rowwise_offsets,
           'q2': torch.ops.quantized.embedding_bag_2bit_rowwise_offsets}
    rows = 48
    for fmt, dim in cases:
        for optimized in ([False, True] if fmt != 'q8' else [False]):
            x = rows_for(dim, rows, rng)
            w = torch.from_numpy(x)
            if fmt == 'q8':
                packed = torch.ops.quantized.embedding_bag_byte_prepack(w)
            elif fmt == 'q4':
                packed = torch.ops.quantized.embedding_bag_4bit_prepack(w, optimized)
            else:
                packed = torch.ops.quantized.embedding_bag_2bit_prepack(w, optimized)
            name = f'{fmt}-d{dim}' + ('-optimized' if optimized else '')
            x.tofile(os.path.join(OUT, name + '.f32'))
            packed.numpy().tofile(os.path.join(OUT, name + '.packed'))
            manifest['tables'].append({'name': name, 'format': fmt, 'dim': dim, 'rows': rows, 'optimizedQParams': optimized})
            if optimized:
                continue
            # lookups on PyTorch's own bytes: sum, per-sample weights, an empty bag. Not mean: these
            # ops ignore mode=1 and return sums (PyTorch 2.13), so they are no oracle for it.
            lengths = [3, 0, 1, 7, 20, 2, 5]
            idx = rng.integers(0, rows, sum(lengths)).astype(np.int64)
            offs = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            psw = rng.standard_normal(len(idx)).astype(np.float32)
            for mode, weighted in [(0, False), (0, True)]:
                out = ops[fmt](packed, torch.from_numpy(idx), torch.from_numpy(offs), False, mode, False,
                               torch.from_numpy(psw) if weighted else None, None, False)
                lname = f'{name}-{"mean" if mode else "sum"}{"-weighted" if weighted else ""}'
                out.numpy().astype(np.float32).tofile(os.path.join(OUT, lname + '.out'))
                manifest['lookups'].append({'name': lname, 'table': name, 'indices': idx.tolist(), 'offsets': offs.tolist(),
                                            'mode': 'mean' if mode else 'sum',
                                            'perSampleWeights': psw.view(np.uint32).tolist() if weighted else None})
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        # one table or lookup per line: small diffs when the fixtures are regenerated
        f.write('{"generator": %s, "torch": %s,\n' % (json.dumps(manifest['generator']), json.dumps(manifest['torch'])))
        for key in ('tables', 'lookups'):
            f.write(' "%s": [\n  ' % key + ',\n  '.join(json.dumps(e) for e in manifest[key]) + ('\n ],\n' if key == 'tables' else '\n ]\n'))
        f.write('}\n')
    print(f'wrote {len(manifest["tables"])} tables, {len(manifest["lookups"])} lookups to {os.path.relpath(OUT)}', file=sys.stderr)


if __name__ == '__main__':
    main()

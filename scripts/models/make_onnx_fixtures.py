#!/usr/bin/env python3
"""Builds the ONNX models lowbit's tests and benchmarks run, and records onnxruntime's outputs.

Models (definitions below, seeded random weights): an MLP, a DLRM-style recommender (embedding
tables + bottom MLP + pairwise-dot interaction + top MLP + sigmoid), a ResNet-style CNN (BasicBlock,
BatchNorm, ReLU, MaxPool, GlobalAveragePool, Flatten, Linear) and a MobileNetV2-style CNN (inverted
residuals, depthwise convolutions, ReLU6). Each is exported with torch.onnx.export (the TorchScript
exporter, opset 17) and quantized with onnxruntime.quantization: dynamic (MatMulInteger), static
QDQ and static QOperator (QLinearConv / QLinearMatMul) with a calibration set made here.

Embedding bags: torch exports nn.EmbeddingBag as a Loop over the bags (both exporters), which
lowbit refuses with a coded error; the DLRM here pools fixed-length bags as nn.Embedding + sum
over the bag axis, which exports as Gather + ReduceSum and lowbit maps to embeddingBags.

  python3 scripts/models/make_onnx_fixtures.py --out test/fixtures/onnx          # small test fixtures
  python3 scripts/models/make_onnx_fixtures.py --out bench/models --size bench   # the bench's models
  python3 scripts/models/make_onnx_fixtures.py --out bench/models --size bench --prune 0.8   # pruned: X.p80.onnx

For each model file X.onnx it writes X.io.json: the fixed inputs and onnxruntime's outputs on them
({name: {type, dims, data: base64 of little-endian bytes}}), so tests need neither Python nor ORT.
"""
import argparse
import base64
import json
import os
import warnings

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings('ignore')
OPSET = 17
# 7-bit weights: onnxruntime's u8s8 kernels on CPUs without VNNI (AVX2) add pairs of u8·s8 products
# in saturating int16 (vpmaddubsw), so with full 8-bit weights its integer results are not the exact
# sums; with 7-bit weights no pair can saturate and its results are exact, the reference lowbit must
# match bit for bit. (lowbit is exact for 8-bit weights too; see scripts/models/ort_saturation.py.)
REDUCE_RANGE = True


# ---------------------------------------------------------------- models
class MLP(nn.Module):
    def __init__(self, sizes, softmax=True):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.softmax = softmax

    def forward(self, x):
        y = self.net(x)
        return torch.softmax(y, dim=1) if self.softmax else y


class DLRM(nn.Module):
    """Dense features -> bottom MLP; each sparse feature: a fixed-length bag of ids pooled (sum) from
    its table; pairwise dots of all feature vectors (lower triangle); top MLP; sigmoid."""

    def __init__(self, dense, rows, dim, bottom, top, bag):
        super().__init__()
        self.bottom = MLP([dense] + bottom + [dim], softmax=False)
        self.bottom_relu = nn.ReLU()
        self.tables = nn.ModuleList(nn.Embedding(r, dim) for r in rows)
        f = len(rows) + 1
        li, lj = torch.tril_indices(f, f, offset=-1)
        self.register_buffer('tri', (li * f + lj).to(torch.int64))
        self.top = MLP([dim + f * (f - 1) // 2] + top + [1], softmax=False)
        self.bag = bag

    def forward(self, dense, ids):
        # ids: [batch, tables, bag] int64
        x = self.bottom_relu(self.bottom(dense))
        pooled = [t(ids[:, i, :]).sum(dim=1) for i, t in enumerate(self.tables)]
        t = torch.cat([x] + pooled, dim=1).view(x.shape[0], -1, x.shape[1])
        z = torch.bmm(t, t.transpose(1, 2)).flatten(1)[:, self.tri]
        return torch.sigmoid(self.top(torch.cat([x, z], dim=1)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, widths, blocks, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], widths[0]
        for i, (w, b) in enumerate(zip(widths, blocks)):
            for j in range(b):
                layers.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else conv_bn(cin, hidden, 1, 1)
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden) + conv_bn(hidden, cout, 1, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    # (expand, channels, repeats, stride) as torchvision's, scaled by `width`
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, width, settings, last, classes):
        super().__init__()
        cin = max(8, int(32 * width))
        layers = conv_bn(3, cin, 3, 2)
        for t, c, n, s in settings:
            cout = max(8, int(c * width))
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers += conv_bn(cin, last, 1, 1)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def randomize_bn(model, gen):
    # trained-looking BatchNorm statistics, so folding them into the convolutions is really tested
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)


def prune_blocks(model, sparsity):
    """Magnitude pruning in 1x4 blocks (4 consecutive inputs of one output: for a 1x1 convolution,
    4 input channels), the blocks lowbit's int8 sparse kernels skip; per layer, the `sparsity`
    fraction of blocks with the smallest sum |w| are zeroed. Symmetric int8 quantization keeps the
    zeros, so the quantized files are as sparse."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.shape[1] * (m.weight[0].numel() // m.weight.shape[1]) >= 4:
            w = m.weight.data
            rows = w.reshape(w.shape[0], -1)
            cols = rows.shape[1] // 4 * 4
            blocks = rows[:, :cols].reshape(rows.shape[0], -1, 4)
            score = blocks.abs().sum(dim=2)
            k = int(score.numel() * sparsity)
            if k == 0:
                continue
            cut = score.flatten().kthvalue(k).values
            blocks[score <= cut] = 0
            rows[:, :cols] = blocks.reshape(rows.shape[0], cols)


# ---------------------------------------------------------------- sizes
def specs(size):
    g = torch.Generator().manual_seed(1234)
    if size == 'test':
        mlp = MLP([32, 64, 48, 10])
        dlrm = DLRM(dense=13, rows=[50, 40, 30, 20], dim=8, bottom=[32, 16], top=[32, 16], bag=3)
        resnet = ResNet([8, 16], [1, 1], 10)
        mnet = MobileNetV2(0.25, [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)], 64, 10)
        shapes = dict(batch=2, image=32)
    else:
        mlp = MLP([512, 1024, 1024, 256])
        # examples/recsys-server's shape: 26 tables (10,000 rows each here, a 67 MB file), bottom 13-512-256-64, top 512-256-1
        dlrm = DLRM(dense=13, rows=[10000] * 26, dim=64, bottom=[512, 256], top=[512, 256], bag=20)
        resnet = ResNet([64, 128, 256, 512], [2, 2, 2, 2], 1000)
        mnet = MobileNetV2(1.0, MobileNetV2.SETTINGS, 1280, 1000)
        shapes = dict(batch=1, image=224)
    for m in (mlp, dlrm, resnet, mnet):
        randomize_bn(m, g)
        m.eval()
    return dict(mlp=mlp, dlrm=dlrm, resnet=resnet, mobilenet=mnet), shapes


def inputs_of(name, model, batch, image, seed):
    rng = np.random.default_rng(seed)
    if name == 'mlp':
        return {'x': rng.standard_normal((batch, model.net[0].in_features), dtype=np.float32)}
    if name == 'dlrm':
        rows = [t.num_embeddings for t in model.tables]
        ids = np.stack([rng.integers(0, r, size=(batch, model.bag)) for r in rows], axis=1).astype(np.int64)
        return {'dense': rng.standard_normal((batch, 13), dtype=np.float32), 'ids': ids}
    return {'x': rng.standard_normal((batch, 3, image, image), dtype=np.float32)}


# ---------------------------------------------------------------- export, quantize, record
def export(model, feeds, path, fold=True):
    names = list(feeds)
    axes = {n: {0: 'batch'} for n in names}
    axes['y'] = {0: 'batch'}
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    # fold=False (do_constant_folding=False) keeps the BatchNormalization nodes the exporter would
    # fold itself, so that lowbit's own BatchNorm folding is what runs (the *.bn.onnx fixtures)
    torch.onnx.export(model, args, path, input_names=names, output_names=['y'], dynamic_axes=axes, opset_version=OPSET, dynamo=False,
                      do_constant_folding=fold)


class Calibration:
    """onnxruntime.quantization's CalibrationDataReader over inputs made from a seed."""

    def __init__(self, name, model, batch, image):
        self.items = iter([inputs_of(name, model, batch, image, 100 + i) for i in range(8)])

    def get_next(self):
        return next(self.items, None)


def quantize_all(name, model, fp32, out, batch, image):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    made = {}
    pre = fp32.replace('.onnx', '.pre.onnx')
    quant_pre_process(fp32, pre, skip_symbolic_shape=True)
    if name in ('mlp', 'dlrm'):
        path = fp32.replace('.onnx', '.dynamic.onnx')
        quantize_dynamic(pre, path, weight_type=QuantType.QInt8, op_types_to_quantize=['MatMul', 'Gemm'], reduce_range=REDUCE_RANGE)
        made['dynamic'] = path
    if name != 'dlrm':
        for fmt, tag in ((QuantFormat.QDQ, 'qdq'), (QuantFormat.QOperator, 'qop')):
            path = fp32.replace('.onnx', f'.{tag}.onnx')
            # Softmax stays fp32 (its QOperator form is a com.microsoft op lowbit does not run)
            quantize_static(pre, path, Calibration(name, model, batch, image), quant_format=fmt, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=(tag == 'qdq'), reduce_range=REDUCE_RANGE,
                            op_types_to_quantize=['Conv', 'Gemm', 'MatMul', 'Add', 'MaxPool', 'GlobalAveragePool', 'Relu', 'Clip'])
            made[tag] = path
    os.remove(pre)
    return made


def tensor_json(a):
    a = np.ascontiguousarray(a)
    kind = {'float32': 'float32', 'int64': 'int64', 'uint8': 'uint8', 'int8': 'int8', 'int32': 'int32'}[a.dtype.name]
    return {'type': kind, 'dims': list(a.shape), 'data': base64.b64encode(a.astype(a.dtype.newbyteorder('<')).tobytes()).decode()}


def record(path, feeds):
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])
    outs = sess.run(None, feeds)
    io = {'inputs': {k: tensor_json(v) for k, v in feeds.items()},
          'outputs': {o.name: tensor_json(v) for o, v in zip(sess.get_outputs(), outs)}}
    with open(path.replace('.onnx', '.io.json'), 'w') as f:
        json.dump(io, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--size', choices=['test', 'bench'], default='test')
    ap.add_argument('--only', default='', help='comma-separated model names')
    ap.add_argument('--prune', type=float, default=0, help='also write X.p<percent> models with this fraction of 1x4 weight blocks zeroed')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    models, shapes = specs(args.size)
    variants = [(name, model, name) for name, model in models.items()]
    if args.prune > 0:
        tag = f'p{round(args.prune * 100)}'
        pruned, _ = specs(args.size)
        for m in pruned.values():
            prune_blocks(m, args.prune)
        variants = [(name, model, f'{name}.{tag}') for name, model in pruned.items()]
    for name, model, stem in variants:
        if args.only and name not in args.only.split(','):
            continue
        feeds = inputs_of(name, model, shapes['batch'], shapes['image'], 7)
        fp32 = os.path.join(args.out, f'{stem}.onnx')
        with torch.no_grad():
            export(model, feeds, fp32)
            ref = model(*[torch.from_numpy(v) for v in feeds.values()]).numpy()
        record(fp32, feeds)
        if args.size == 'test' and name in ('resnet', 'mobilenet') and stem == name:
            bn = os.path.join(args.out, f'{name}.bn.onnx')
            with torch.no_grad():
                export(model, feeds, bn, fold=False)
            record(bn, feeds)
        made = quantize_all(name, model, fp32, args.out, shapes['batch'], shapes['image'])
        for path in made.values():
            record(path, feeds)
        print(name, 'torch vs ort fp32 max abs diff', float(np.abs(ref - json_out(fp32)).max()), sorted(made))


def json_out(path):
    with open(path.replace('.onnx', '.io.json')) as f:
        t = json.load(f)['outputs']['y']
    return np.frombuffer(base64.b64decode(t['data']), dtype=np.float32).reshape(t['dims'])


if __name__ == '__main__':
    main()

# PyTorch side of bench/torch.js: one long-lived process that builds the ops it is asked for and
# times them itself (perf_counter around a loop of calls), so the pipe to Node is not in a figure.
# Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
#   {"op": "setup", "kind": "qlinear" | "dynamic" | "f32", "M": .., "N": .., "K": ..} -> {"id": n}
#   {"op": "time", "id": n, "minTime": s, "reps": r} -> {"samples": [seconds per call, ...]}
# Weights and inputs are random (seeded): GEMM speed does not depend on the values.
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(1)
if 'fbgemm' in torch.backends.quantized.supported_engines:
    torch.backends.quantized.engine = 'fbgemm'
ops = []


def setup(kind, M, N, K):
    if kind == 'qlinear':
        # u8 activations (zero point 128), s8 weights, u8 requantized output: lowbit's exact path
        lin = torch.ao.nn.quantized.Linear(K, N, bias_=False)
        w = torch.quantize_per_tensor(torch.randint(-127, 128, (N, K)).float() * 0.01, 0.01, 0, torch.qint8)
        lin.set_weight_bias(w, None)
        lin.scale, lin.zero_point = 1.0, 128
        x = torch.quantize_per_tensor(torch.rand(M, K) * 5 - 2.5, 0.02, 128, torch.quint8)
        return lambda: lin(x)
    if kind == 'dynamic':
        lin = torch.ao.nn.quantized.dynamic.Linear(K, N, bias_=False)
        x = torch.rand(M, K) * 2 - 1
        return lambda: lin(x)
    if kind == 'f32':
        w = torch.rand(N, K) - 0.5
        x = torch.rand(M, K) * 2 - 1
        return lambda: torch.nn.functional.linear(x, w)
    raise ValueError('unknown kind ' + kind)


def samples(fn, min_time, reps):
    fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - t0 >= min_time / 4 or calls > 1e6:
            break
        calls *= 4
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t0) / calls)
    return out


print(json.dumps({'version': torch.__version__, 'engine': torch.backends.quantized.engine,
                  'threads': torch.get_num_threads()}), flush=True)
with torch.inference_mode():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req['op'] == 'setup':
                ops.append(setup(req['kind'], req['M'], req['N'], req['K']))
                ans = {'id': len(ops) - 1}
            elif req['op'] == 'time':
                ans = {'samples': samples(ops[req['id']], req['minTime'], req['reps'])}
            else:
                ans = {'error': 'unknown op ' + str(req['op'])}
        except Exception as e:  # the bench goes on without this peer's figure
            ans = {'error': repr(e)}
        print(json.dumps(ans), flush=True)

// Class 5: allocation. EmbeddingTable.allocate above 4 GiB, at 2^40 bytes and at lowbit's own
// maximum (2^46 bytes), and huge dimensions given to the other constructors and to forward/explain.
// Contract: success, or a RangeError with a coded error (ERR_LOWBIT_OUT_OF_MEMORY expected for
// allocations, any ERR_LOWBIT_ accepted): never an abort (double free, V8 FatalProcessOutOfMemory).
import type { CaseDef } from './cases';
import { CaseResult, Settled, churn, describeError, isCoded, lowbit, settle, settleSync } from './common';
import { tableFile } from './ops';

function record(res: CaseResult, what: string, s: Settled, allocation = false): void {
  if (s.ok) {
    res.notes[what] = 'succeeded';
    return;
  }
  if (!isCoded(s.error)) {
    res.violations.push(`${what}: uncoded ${describeError(s.error)}`);
    return;
  }
  res.notes[what] = describeError(s.error).slice(0, 160);
  if (allocation && (s.error as Error).constructor.name !== 'RangeError') res.violations.push(`${what}: a coded ${(s.error as Error).constructor.name}, expected a RangeError`);
}

function allocate(lb: any, res: CaseResult, rows: number, dim: number, format: string): void {
  const bytes = rows * lb.rowBytes(format, dim);
  res.notes.bytes = bytes;
  const s = settleSync(() => lb.EmbeddingTable.allocate(rows, { dim, format }));
  record(res, `allocate(${rows}, { dim: ${dim}, format: '${format}' }) = ${bytes} bytes`, s, true);
  if (s.ok) {
    const t = s.value;
    const b = t.bytes;
    if (!b || b.length !== bytes) res.violations.push(`the table's bytes are ${b ? b.length : 'null'} long, expected ${bytes}`);
    // the last row is usable
    const l = settleSync(() => lb.embeddingBag(t, { indices: Int32Array.of(rows - 1, 0), offsets: Int32Array.of(0) }));
    record(res, 'lookup of the last row', l);
    if (l.ok && l.value.some((v: number) => v !== 0)) res.violations.push('a zeroed table returned nonzero rows');
  }
  churn(2);
}

export async function runAlloc(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const v = c.variant!;
  switch (v) {
    case 'allocate 2^31 bytes f32': return allocate(lb, res, 2 ** 19, 1024, 'f32');
    case 'allocate 2^32 bytes f32': return allocate(lb, res, 2 ** 20, 1024, 'f32');
    case 'allocate >4GiB f32': return allocate(lb, res, 2 ** 20 + 1, 1024, 'f32');
    case 'allocate >4GiB q8': return allocate(lb, res, 2 ** 22 + 1, 1016, 'q8');
    case 'allocate >4GiB q4': return allocate(lb, res, 2 ** 23 + 3, 1016, 'q4');
    case 'allocate 2^40 bytes': return allocate(lb, res, 2 ** 28, 1024, 'f32');
    case 'allocate 2^45 bytes': return allocate(lb, res, 2 ** 33, 1024, 'f32');
    case 'allocate lowbit max 2^46 bytes': return allocate(lb, res, 2 ** 32, 4096, 'f32');
    case 'allocate 2^46 + 1 row': return allocate(lb, res, 2 ** 32 + 1, 4096, 'f32');
    case 'allocate 2^48 rows': return allocate(lb, res, 2 ** 48, 1, 'q2');
    case 'fromBuffer rowStride 2^40': {
      record(res, 'fromBuffer rows 1, rowStride 2^40', settleSync(() => lb.EmbeddingTable.fromBuffer(new Uint8Array(64), { dim: 4, format: 'f32', rows: 1, rowStride: 2 ** 40 })));
      record(res, 'fromBuffer rows 0, rowStride 2^40', settleSync(() => lb.EmbeddingTable.fromBuffer(new Uint8Array(0), { dim: 4, format: 'f32', rows: 0, rowStride: 2 ** 40 })));
      record(res, 'fromBuffer rows 2^48 of an empty buffer', settleSync(() => lb.EmbeddingTable.fromBuffer(new Uint8Array(0), { dim: 4, format: 'f32', rows: 2 ** 48 })));
      return;
    }
    case 'Conv2d dilated output 2^40 (forward, forwardAsync, outputShape, explain)':
    case 'QuantizedConv2d dilated output 2^40 (forward, forwardAsync, outputShape, explain)': {
      // a 2x2 kernel dilated by 2^20 and padded by 2^20 makes a 2^20 x 2^20 output from a 1x1 input
      const geo = { inChannels: 1, outChannels: 1, kernelSize: 2, dilation: 2 ** 20, padding: 2 ** 20 };
      const q = v.startsWith('Quantized');
      const made = settleSync(() => (q ? lb.QuantizedConv2d.fromInt8(Int8Array.of(1, 2, 3, 4), { ...geo, mode: 'dense' }) : new lb.Conv2d(Float32Array.of(1, 2, 3, 4), { ...geo, mode: 'dense' })));
      record(res, 'constructor', made);
      if (!made.ok) return;
      const layer = made.value;
      const shape = { n: 1, h: 1, w: 1 };
      record(res, 'outputShape', settleSync(() => layer.outputShape(shape)));
      record(res, 'explain', settleSync(() => layer.explain(shape)));
      if (q) {
        const o = { ...shape, scale: 0.1, outScale: 0.1 };
        record(res, 'forward', settleSync(() => layer.forward(Uint8Array.of(3), o)));
        record(res, 'forwardAsync', await settle(() => layer.forwardAsync(Uint8Array.of(3), o)));
        record(res, 'forwardInt32', settleSync(() => layer.forwardInt32(Uint8Array.of(3), shape)));
      } else {
        record(res, 'forward', settleSync(() => layer.forward(Float32Array.of(3), shape)));
        record(res, 'forwardAsync', await settle(() => layer.forwardAsync(Float32Array.of(3), shape)));
      }
      return;
    }
    case 'Conv2d depthwise 2^21 channels':
    case 'QuantizedConv2d depthwise 2^21 channels': {
      const ch = 2 ** 21;
      const geo = { inChannels: ch, outChannels: ch, groups: ch, kernelSize: 1 };
      const q = v.startsWith('Quantized');
      const made = settleSync(() => (q ? lb.QuantizedConv2d.fromInt8(new Int8Array(ch).fill(3), { ...geo, mode: 'dense' }) : new lb.Conv2d(new Float32Array(ch).fill(0.5), geo)));
      record(res, 'constructor', made);
      if (!made.ok) return;
      const shape = { h: 1, w: 1 };
      record(res, 'forward', settleSync(() => (q ? made.value.forwardInt32(new Uint8Array(ch).fill(2), shape) : made.value.forward(new Float32Array(ch).fill(2), shape))));
      return;
    }
    case 'Conv2d kernel 1x2^20': {
      const kw = 2 ** 20;
      const made = settleSync(() => new lb.Conv2d(new Float32Array(kw).fill(0.25), { inChannels: 1, outChannels: 1, kernelSize: [1, kw], mode: 'dense' }));
      record(res, 'constructor', made);
      if (!made.ok) return;
      const y = settleSync(() => made.value.forward(new Float32Array(kw).fill(2), { h: 1, w: kw }));
      record(res, 'forward', y);
      if (y.ok && (y.value.length !== 1 || Math.abs(y.value[0] - kw * 0.5) > 1)) res.violations.push(`forward: wrong result ${Array.from(y.value as Float32Array).slice(0, 2)}`);
      return;
    }
    case 'QuantizedLinear k=2^22 n=16': {
      const k = 2 ** 22;
      const made = settleSync(() => lb.QuantizedLinear.fromInt8(new Int8Array(k * 16).fill(1), { k, n: 16, mode: 'dense' }));
      record(res, 'fromInt8', made);
      if (!made.ok) return;
      const y = settleSync(() => made.value.matmulInt32(new Uint8Array(k).fill(1)));
      record(res, 'matmulInt32', y);
      if (y.ok && y.value[0] !== k) res.violations.push(`matmulInt32: ${y.value[0]}, expected ${k}`);
      record(res, 'forward m=1', settleSync(() => made.value.forward(new Float32Array(k).fill(0.5))));
      return;
    }
    case 'explain huge shapes (QuantizedLinear, Linear, Conv2d, QuantizedConv2d)': {
      const ql = lb.QuantizedLinear.fromInt8(new Int8Array(64).fill(1), { k: 8, n: 8 });
      record(res, 'QuantizedLinear.explain m=2^40 threads=256', settleSync(() => ql.explain({ m: 2 ** 40, threads: 256 })));
      const lin = new lb.Linear(new Float32Array(64).fill(1), { inFeatures: 8, outFeatures: 8 });
      record(res, 'Linear.explain batch=2^30', settleSync(() => lin.explain({ batch: 2 ** 30 })));
      const conv = new lb.Conv2d(new Float32Array(8 * 8 * 9).fill(1), { inChannels: 8, outChannels: 8, kernelSize: 3 });
      record(res, 'Conv2d.explain n=h=w=2^20', settleSync(() => conv.explain({ n: 2 ** 20, h: 2 ** 20, w: 2 ** 20 })));
      record(res, 'Conv2d.outputShape n=h=w=2^20', settleSync(() => conv.outputShape({ n: 2 ** 20, h: 2 ** 20, w: 2 ** 20 })));
      const qc = lb.QuantizedConv2d.fromInt8(new Int8Array(8 * 8).fill(1), { inChannels: 8, outChannels: 8, kernelSize: 1 });
      record(res, 'QuantizedConv2d.explain n=h=w=2^20 threads=256', settleSync(() => qc.explain({ n: 2 ** 20, h: 2 ** 20, w: 2 ** 20, threads: 256 })));
      record(res, 'QuantizedConv2d.outputShape n=h=w=2^20', settleSync(() => qc.outputShape({ n: 2 ** 20, h: 2 ** 20, w: 2 ** 20 })));
      return;
    }
    case 'EmbeddingTable dim 2^24': {
      const dim = 2 ** 24;
      const s = settleSync(() => lb.EmbeddingTable.allocate(1, { dim, format: 'q2' }));
      record(res, 'allocate 1 row of dim 2^24 q2', s);
      if (!s.ok) return;
      record(res, 'embeddingBag of it', settleSync(() => lb.embeddingBag(s.value, { indices: Int32Array.of(0, 0), offsets: Int32Array.of(0) })));
      record(res, 'embeddingBagAsync of it, fp16 out', await settle(() => lb.embeddingBagAsync(s.value, { indices: Int32Array.of(0), offsets: Int32Array.of(0), outputType: 'float16' })));
      record(res, 'toFloat32 of it', settleSync(() => s.value.toFloat32()));
      return;
    }
    case 'EmbeddingTable.open 100,000 times unclosed, in a loop that never yields': {
      // each open is a mapping, released by a finalizer that runs only when the event loop turns:
      // past vm.max_map_count (65530) mmap fails for everyone in the process, V8 included
      const { file } = tableFile(lb, 64, 16, 'q8', 5);
      const tally: Record<string, number> = {};
      let first = '';
      for (let i = 0; i < 100000; i++) {
        const s = settleSync(() => lb.EmbeddingTable.open(file, { dim: 16, format: 'q8' }));
        const k = s.ok ? 'opened' : isCoded(s.error) ? String((s.error as { code: string }).code) : 'uncoded';
        tally[k] = (tally[k] ?? 0) + 1;
        if (!s.ok && !first) first = `at ${i}: ${describeError(s.error)}`;
        if (k === 'uncoded' && tally[k] <= 2) res.violations.push(`open ${i}: uncoded ${describeError((s as { error: unknown }).error)}`);
      }
      res.notes.outcomes = tally;
      if (first) res.notes.firstError = first;
      return;
    }
    default:
      throw new Error(`unknown variant ${v}`);
  }
}

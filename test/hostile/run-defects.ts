// The smaller defects issue 10 names on the same path (not crashes): each checked once.
import type { CaseDef } from './cases';
import { CaseResult, describeError, isCoded, lowbit, sameBytes, settleSync } from './common';

function mustThrowCoded(res: CaseResult, what: string, fn: () => unknown, message?: RegExp): void {
  const s = settleSync(fn);
  if (s.ok) res.violations.push(`${what}: returned ${JSON.stringify(s.value)}, expected a coded error`);
  else if (!isCoded(s.error)) res.violations.push(`${what}: uncoded ${describeError(s.error)}`);
  else if (message && !message.test((s.error as Error).message)) res.violations.push(`${what}: the message "${(s.error as Error).message}" does not match ${message}`);
  else res.notes[what] = describeError(s.error);
}

function bytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

export async function runDefect(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  switch (c.variant) {
    case 'rowBytes unknown format':
      return mustThrowCoded(res, "rowBytes('q3', 8)", () => lb.rowBytes('q3', 8), /q3/);
    case 'rowBytes swapped arguments':
      return mustThrowCoded(res, "rowBytes(64, 'q8')", () => lb.rowBytes(64, 'q8'));
    case 'embeddingBags([null])':
      mustThrowCoded(res, 'embeddingBags([null])', () => lb.embeddingBags([null]));
      mustThrowCoded(res, 'embeddingBags([undefined])', () => lb.embeddingBags([undefined]));
      return;
    case 'QuantizedLinear weightScales and bias writes do not reach the output': {
      const w = Int8Array.from({ length: 64 }, (_, i) => (i * 7) % 19 - 9);
      const layer = lb.QuantizedLinear.fromInt8(w, { k: 8, n: 8, scale: Float32Array.from({ length: 8 }, () => 0.01), bias: new Float32Array(8).fill(0.5), mode: 'dense' });
      const a = Uint8Array.from({ length: 16 }, (_, i) => i * 9);
      const y0 = bytes(layer.matmulFloat(a, { scale: 0.1 }));
      settleSync(() => { layer.weightScales[0] = 1000; });
      settleSync(() => { layer.bias[1] = 1e6; });
      const y1 = bytes(layer.matmulFloat(a, { scale: 0.1 }));
      if (!sameBytes(y0, y1)) res.violations.push('writing layer.weightScales / layer.bias after construction changed matmulFloat\'s output');
      return;
    }
    case 'QuantizedConv2d weightScales and bias writes do not reach the output': {
      const w = Int8Array.from({ length: 4 * 4 * 9 }, (_, i) => (i * 5) % 17 - 8);
      const layer = lb.QuantizedConv2d.fromInt8(w, { inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1, scale: Float32Array.from({ length: 4 }, () => 0.01), bias: new Float32Array(4).fill(0.5), mode: 'dense' });
      const x = Uint8Array.from({ length: 4 * 25 }, (_, i) => i * 3);
      const y0 = bytes(layer.forwardFloat(x, { h: 5, w: 5, scale: 0.1 }));
      settleSync(() => { layer.weightScales[0] = 1000; });
      settleSync(() => { layer.bias[1] = 1e6; });
      const y1 = bytes(layer.forwardFloat(x, { h: 5, w: 5, scale: 0.1 }));
      if (!sameBytes(y0, y1)) res.violations.push('writing layer.weightScales / layer.bias after construction changed forwardFloat\'s output');
      return;
    }
    case 'unknown option key is refused, naming the nearest valid one':
      mustThrowCoded(res, 'QuantizedLinear.fromFloat32 with perchannel', () => lb.QuantizedLinear.fromFloat32(new Float32Array(16).fill(0.5), { k: 4, n: 4, perchannel: false }), /perchannel[\s\S]*perChannel/);
      mustThrowCoded(res, 'quantize with zeropoint', () => lb.quantize(new Float32Array(4), { scale: 0.1, zeropoint: 3 } as any), /zeropoint[\s\S]*zeroPoint/);
      return;
    case 'enum errors show the value received':
      mustThrowCoded(res, "quantize dtype 'uint9'", () => lb.quantize(new Float32Array(4), { scale: 0.1, zeroPoint: 0, dtype: 'uint9' }), /uint9/);
      mustThrowCoded(res, "EmbeddingTable.allocate format 'q3'", () => lb.EmbeddingTable.allocate(4, { dim: 4, format: 'q3' }), /q3/);
      mustThrowCoded(res, "Conv2d mode 'sparce'", () => new lb.Conv2d(new Float32Array(9), { inChannels: 1, outChannels: 1, kernelSize: 3, mode: 'sparce' }), /sparce/);
      return;
    default:
      throw new Error(`unknown defect ${c.variant}`);
  }
}

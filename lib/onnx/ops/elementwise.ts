/**
 * Element-wise ops in plain loops (they are a small share of any model's time): broadcasting
 * binary arithmetic, Relu, Clip, Sigmoid, Softmax, Cast, Identity.
 */
import type { GraphNode } from '../proto';
import { attrFloat, attrInt, axisOf, badInput, need, needType, type OpDef, type RunContext, unsupported } from '../op';
import { stridesOf, type Tensor, type TensorData, type TensorType } from '../tensor';

/** The broadcast shape of two shapes (numpy rules). */
export function broadcastDims(node: GraphNode, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw badInput(node, `shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** For each output element, the index of the input element it reads under broadcasting. */
function broadcastIndex(dims: readonly number[], out: readonly number[]): Int32Array | null {
  const n = out.reduce((p, d) => p * d, 1);
  if (dims.length === out.length && dims.every((d, i) => d === out[i])) return null; // same shape
  const src = stridesOf(dims);
  const pad = out.length - dims.length;
  const idx = new Int32Array(n);
  const ostr = stridesOf(out);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = pad; d < out.length; d++) {
      const c = Math.floor(i / ostr[d]) % out[d];
      if (dims[d - pad] !== 1) off += c * src[d - pad];
    }
    idx[i] = off;
  }
  return idx;
}

type Binary = 'Add' | 'Sub' | 'Mul' | 'Div';

function binary(op: Binary): OpDef {
  return {
    attrs: [],
    compile(node) {
      // broadcast index maps, kept for the last shapes seen
      let key = '';
      let ia: Int32Array | null = null;
      let ib: Int32Array | null = null;
      return {
        run(inputs, ctx) {
          const a = need(node, inputs, 0);
          const b = need(node, inputs, 1);
          if (a.type !== b.type) throw badInput(node, `inputs have different types (${a.type} and ${b.type})`);
          needType(node, a, ['float32', 'int64', 'int32'], 'the inputs');
          const dims = broadcastDims(node, a.dims, b.dims);
          const k = `${a.dims}|${b.dims}`;
          if (k !== key) {
            key = k;
            ia = broadcastIndex(a.dims, dims);
            ib = broadcastIndex(b.dims, dims);
          }
          const out = ctx.output(0, a.type, dims);
          if (a.type === 'int64') binaryBig(op, a.data as BigInt64Array, b.data as BigInt64Array, out.data as BigInt64Array, ia, ib);
          else binaryNum(op, a.data as Float32Array, b.data as Float32Array, out.data as Float32Array, ia, ib, a.type === 'int32');
          return [out];
        },
      };
    },
  };
}

function binaryNum(op: Binary, x: Float32Array, y: Float32Array, z: Float32Array, ia: Int32Array | null, ib: Int32Array | null, int: boolean) {
  const n = z.length;
  if (ia === null && y.length === 1) {
    const v = y[0];
    if (op === 'Add') for (let i = 0; i < n; i++) z[i] = x[i] + v;
    else if (op === 'Mul') for (let i = 0; i < n; i++) z[i] = x[i] * v;
    else if (op === 'Sub') for (let i = 0; i < n; i++) z[i] = x[i] - v;
    else for (let i = 0; i < n; i++) z[i] = int ? Math.trunc(x[i] / v) : x[i] / v;
    return;
  }
  for (let i = 0; i < n; i++) {
    const a = x[ia === null ? i : ia[i]];
    const b = y[ib === null ? i : ib[i]];
    z[i] = op === 'Add' ? a + b : op === 'Sub' ? a - b : op === 'Mul' ? a * b : int ? Math.trunc(a / b) : a / b;
  }
}

function binaryBig(op: Binary, x: BigInt64Array, y: BigInt64Array, z: BigInt64Array, ia: Int32Array | null, ib: Int32Array | null) {
  for (let i = 0; i < z.length; i++) {
    const a = x[ia === null ? i : ia[i]];
    const b = y[ib === null ? i : ib[i]];
    z[i] = op === 'Add' ? a + b : op === 'Sub' ? a - b : op === 'Mul' ? a * b : b === 0n ? 0n : a / b;
  }
}

/** Clamps float data in place between lo and hi. */
export function clampInPlace(d: Float32Array, lo: number, hi: number): void {
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    d[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

function unaryFloat(fn: (src: Float32Array, dst: Float32Array) => void, attrs: readonly string[] = []): OpDef {
  return {
    attrs,
    compile(node) {
      return {
        run(inputs, ctx) {
          const x = need(node, inputs, 0);
          needType(node, x, ['float32'], 'input 0');
          const out = ctx.output(0, 'float32', x.dims);
          fn(x.data as Float32Array, out.data as Float32Array);
          return [out];
        },
      };
    },
  };
}

/** Clip's bounds: inputs 1 and 2 (opset >= 11, constant) or the min/max attributes (older). */
export function clipBounds(node: GraphNode, constant: (name: string) => Tensor | null): [number, number] {
  const bound = (i: number, attr: string, fallback: number): number => {
    const name = node.inputs[i];
    if (name) {
      const t = constant(name);
      if (t === null) throw unsupported(node, `input ${i} (${i === 1 ? 'min' : 'max'}) must be a constant`);
      if (t.data.length !== 1) throw badInput(node, `input ${i} must be a scalar`);
      return Number(t.data[0]);
    }
    return attrFloat(node, attr, fallback);
  };
  return [bound(1, 'min', -Infinity), bound(2, 'max', Infinity)];
}

const clip: OpDef = {
  attrs: ['min', 'max'],
  compile(node, c) {
    const [lo, hi] = clipBounds(node, c.constant);
    return unaryFloat((s, d) => {
      for (let i = 0; i < s.length; i++) {
        const v = s[i];
        d[i] = v < lo ? lo : v > hi ? hi : v;
      }
    }).compile(node, c);
  },
};

const softmax: OpDef = {
  attrs: ['axis'],
  compile(node) {
    const axisAttr = attrInt(node, 'axis', -1);
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        const axis = axisOf(node, axisAttr, x.dims.length);
        const inner = x.dims.slice(axis + 1).reduce((p, d) => p * d, 1);
        const len = x.dims[axis];
        const outer = x.data.length / Math.max(1, inner * len);
        const out = ctx.output(0, 'float32', x.dims);
        const s = x.data as Float32Array;
        const d = out.data as Float32Array;
        for (let o = 0; o < outer; o++) {
          for (let j = 0; j < inner; j++) {
            const base = o * len * inner + j;
            let max = -Infinity;
            for (let k = 0; k < len; k++) max = Math.max(max, s[base + k * inner]);
            let sum = 0;
            for (let k = 0; k < len; k++) {
              const e = Math.exp(s[base + k * inner] - max);
              d[base + k * inner] = e;
              sum += e;
            }
            for (let k = 0; k < len; k++) d[base + k * inner] /= sum;
          }
        }
        return [out];
      },
    };
  },
};

const TO_TYPE: Record<number, TensorType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool' };

const cast: OpDef = {
  attrs: ['to', 'saturate'],
  compile(node) {
    const to = TO_TYPE[attrInt(node, 'to', 0)];
    if (to === undefined) throw unsupported(node, `cast to data type ${attrInt(node, 'to', 0)} is not supported (float, uint8, int8, int32, int64, bool are)`);
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        const out = ctx.output(0, to, x.dims);
        castInto(x.data, out.data, to);
        return [out];
      },
    };
  },
};

/** Converts elements between types (float -> int truncates toward zero, as C's cast; int64 <-> others). */
export function castInto(src: TensorData, dst: TensorData, to: TensorType): void {
  const n = src.length;
  const srcBig = src instanceof BigInt64Array;
  if (to === 'int64') {
    const d = dst as BigInt64Array;
    for (let i = 0; i < n; i++) d[i] = srcBig ? (src as BigInt64Array)[i] : BigInt(Math.trunc((src as Float32Array)[i]));
    return;
  }
  const d = dst as Float32Array;
  for (let i = 0; i < n; i++) {
    const v = srcBig ? Number((src as BigInt64Array)[i]) : (src as Float32Array)[i];
    d[i] = to === 'bool' ? (v !== 0 ? 1 : 0) : to === 'float32' ? v : Math.trunc(v);
  }
}

const identity: OpDef = {
  attrs: [],
  compile(node) {
    return { run: (inputs) => [need(node, inputs, 0)] };
  },
};

/** Relu in place or into dst. */
export function reluInto(s: Float32Array, d: Float32Array): void {
  for (let i = 0; i < s.length; i++) d[i] = s[i] > 0 ? s[i] : 0;
}

/** The element-wise ops. */
export const ELEMENTWISE_OPS: Record<string, OpDef> = {
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Relu: unaryFloat(reluInto),
  Sigmoid: unaryFloat((s, d) => {
    for (let i = 0; i < s.length; i++) d[i] = 1 / (1 + Math.exp(-s[i]));
  }),
  Clip: clip,
  Softmax: softmax,
  Cast: cast,
  Identity: identity,
};

export type { RunContext };

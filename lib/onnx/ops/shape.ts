/**
 * Data-movement ops: Shape, Reshape, Flatten, Squeeze/Unsqueeze (views: no copy), Transpose,
 * Concat, Gather, ReduceSum, Constant. Shape arithmetic (int64) runs here too.
 */
import type { GraphNode } from '../proto';
import { attrInt, attrInts, axisOf, badInput, need, needType, type CompileContext, type OpDef, unsupported } from '../op';
import { int64Of, sizeOf, stridesOf, toNumbers, type Tensor, type TensorData } from '../tensor';

/** Axes from the attribute (older opsets) or a constant/runtime input (opset 13+). */
function axesOf(node: GraphNode, inputs: readonly (Tensor | null)[], index: number): number[] | null {
  const a = attrInts(node, 'axes');
  if (a !== null) return a;
  const t = inputs[index];
  return t ? toNumbers(t, `node ${node.name} axes`) : null;
}

const view = (x: Tensor, dims: number[]): Tensor => ({ type: x.type, dims, data: x.data });

const shape: OpDef = {
  attrs: ['start', 'end'],
  compile(node) {
    return {
      run(inputs) {
        const x = need(node, inputs, 0);
        const r = x.dims.length;
        const clampAxis = (v: number) => Math.min(r, Math.max(0, v < 0 ? v + r : v));
        const s = clampAxis(attrInt(node, 'start', 0));
        const e = clampAxis(attrInt(node, 'end', r));
        return [int64Of(x.dims.slice(s, Math.max(s, e)))];
      },
    };
  },
};

const reshape: OpDef = {
  attrs: ['allowzero'],
  compile(node) {
    const allowZero = attrInt(node, 'allowzero', 0) === 1;
    return {
      run(inputs) {
        const x = need(node, inputs, 0);
        const spec = toNumbers(need(node, inputs, 1), `node ${node.name} shape`);
        const dims = spec.map((d, i) => (d === 0 && !allowZero ? x.dims[i] : d));
        if (dims.some((d) => d === undefined || d < -1)) throw badInput(node, `shape [${spec}] does not fit input dims [${x.dims}]`);
        const free = dims.indexOf(-1);
        if (free >= 0) {
          if (dims.indexOf(-1, free + 1) >= 0) throw badInput(node, `shape [${spec}] has more than one -1`);
          const known = dims.reduce((p, d) => (d === -1 ? p : p * d), 1);
          if (known === 0 || x.data.length % known !== 0) throw badInput(node, `cannot reshape ${x.data.length} elements to [${spec}]`);
          dims[free] = x.data.length / known;
        }
        if (sizeOf(dims, `node ${node.name}`) !== x.data.length) throw badInput(node, `cannot reshape [${x.dims}] (${x.data.length} elements) to [${dims}]`);
        return [view(x, dims)];
      },
    };
  },
};

const flatten: OpDef = {
  attrs: ['axis'],
  compile(node) {
    const axisAttr = attrInt(node, 'axis', 1);
    return {
      run(inputs) {
        const x = need(node, inputs, 0);
        const axis = axisAttr < 0 ? axisAttr + x.dims.length : axisAttr;
        if (axis < 0 || axis > x.dims.length) throw badInput(node, `axis ${axisAttr} is out of range for rank ${x.dims.length}`);
        const outer = x.dims.slice(0, axis).reduce((p, d) => p * d, 1);
        return [view(x, [outer, outer === 0 ? 0 : x.data.length / outer])];
      },
    };
  },
};

const unsqueeze: OpDef = {
  attrs: ['axes'],
  compile(node) {
    return {
      run(inputs) {
        const x = need(node, inputs, 0);
        const axes = axesOf(node, inputs, 1);
        if (axes === null) throw badInput(node, 'axes are missing');
        const r = x.dims.length + axes.length;
        const set = new Set(axes.map((a) => axisOf(node, a, r)));
        const dims: number[] = [];
        let j = 0;
        for (let i = 0; i < r; i++) dims.push(set.has(i) ? 1 : x.dims[j++]);
        return [view(x, dims)];
      },
    };
  },
};

const squeeze: OpDef = {
  attrs: ['axes'],
  compile(node) {
    return {
      run(inputs) {
        const x = need(node, inputs, 0);
        const axes = axesOf(node, inputs, 1);
        const set = axes === null ? null : new Set(axes.map((a) => axisOf(node, a, x.dims.length)));
        if (set) for (const a of set) if (x.dims[a] !== 1) throw badInput(node, `cannot squeeze axis ${a} of size ${x.dims[a]}`);
        return [view(x, x.dims.filter((d, i) => (set ? !set.has(i) : d !== 1)))];
      },
    };
  },
};

const transpose: OpDef = {
  attrs: ['perm'],
  compile(node) {
    const permAttr = attrInts(node, 'perm');
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        const r = x.dims.length;
        const perm = permAttr ?? [...Array(r).keys()].reverse();
        if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) throw badInput(node, `perm [${perm}] is not a permutation of rank ${r}`);
        const dims = perm.map((p) => x.dims[p]);
        const out = ctx.output(0, x.type, dims);
        const src = stridesOf(x.dims);
        const ps = perm.map((p) => src[p]);
        const n = x.data.length;
        const idx = new Array<number>(r).fill(0);
        const s = x.data as Float32Array;
        const d = out.data as Float32Array;
        let off = 0;
        for (let i = 0; i < n; i++) {
          d[i] = s[off];
          for (let k = r - 1; k >= 0; k--) {
            idx[k]++;
            off += ps[k];
            if (idx[k] < dims[k]) break;
            off -= ps[k] * dims[k];
            idx[k] = 0;
          }
        }
        return [out];
      },
    };
  },
};

const concat: OpDef = {
  attrs: ['axis'],
  compile(node) {
    const axisAttr = attrInt(node, 'axis', NaN);
    if (Number.isNaN(axisAttr)) throw unsupported(node, 'attribute axis is required');
    return {
      run(inputs, ctx) {
        const xs = inputs.filter((t): t is Tensor => t !== null);
        if (xs.length === 0) throw badInput(node, 'no inputs');
        const r = xs[0].dims.length;
        const axis = axisOf(node, axisAttr, r);
        for (const t of xs) {
          if (t.type !== xs[0].type || t.dims.length !== r || t.dims.some((d, i) => i !== axis && d !== xs[0].dims[i])) {
            throw badInput(node, `inputs [${xs.map((v) => v.dims.join('x')).join(', ')}] do not concatenate on axis ${axis}`);
          }
        }
        const dims = [...xs[0].dims];
        dims[axis] = xs.reduce((p, t) => p + t.dims[axis], 0);
        const out = ctx.output(0, xs[0].type, dims);
        const outer = dims.slice(0, axis).reduce((p, d) => p * d, 1);
        const inner = dims.slice(axis + 1).reduce((p, d) => p * d, 1);
        const rowOut = dims[axis] * inner;
        let col = 0;
        for (const t of xs) {
          const row = t.dims[axis] * inner;
          const s = t.data as Float32Array;
          const d = out.data as Float32Array;
          for (let o = 0; o < outer; o++) d.set(s.subarray(o * row, (o + 1) * row), o * rowOut + col);
          col += row;
        }
        return [out];
      },
    };
  },
};

/** Gather along an axis: out = data.take(indices, axis), negative indices counting from the end. */
export function gather(node: GraphNode, data: Tensor, indices: Tensor, axisAttr: number, out: (dims: number[]) => Tensor): Tensor {
  needType(node, indices, ['int64', 'int32'], 'indices');
  const axis = axisOf(node, axisAttr, data.dims.length);
  const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
  const o = out(dims);
  const outer = data.dims.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = data.dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  const len = data.dims[axis];
  const ni = indices.data.length;
  const s = data.data as Float32Array;
  const d = o.data as Float32Array;
  const idx = indices.data;
  for (let j = 0; j < ni; j++) {
    let k = Number(idx[j]);
    if (k < 0) k += len;
    if (!(k >= 0 && k < len)) throw badInput(node, `index ${String(idx[j])} at position ${j} is out of range for axis ${axis} of size ${len}`);
    for (let p = 0; p < outer; p++) {
      const src = (p * len + k) * inner;
      const dst = (p * ni + j) * inner;
      if (inner === 1) d[dst] = s[src];
      else d.set(s.subarray(src, src + inner), dst);
    }
  }
  return o;
}

const gatherOp: OpDef = {
  attrs: ['axis'],
  compile(node) {
    const axis = attrInt(node, 'axis', 0);
    return {
      run(inputs, ctx) {
        const data = need(node, inputs, 0);
        return [gather(node, data, need(node, inputs, 1), axis, (dims) => ctx.output(0, data.type, dims))];
      },
    };
  },
};

const reduceSum: OpDef = {
  attrs: ['axes', 'keepdims', 'noop_with_empty_axes'],
  compile(node) {
    const keep = attrInt(node, 'keepdims', 1) === 1;
    const noop = attrInt(node, 'noop_with_empty_axes', 0) === 1;
    return {
      run(inputs, ctx) {
        const x = need(node, inputs, 0);
        needType(node, x, ['float32'], 'input 0');
        const given = axesOf(node, inputs, 1);
        if ((given === null || given.length === 0) && noop) return [x];
        const r = x.dims.length;
        const axes = new Set((given === null || given.length === 0 ? [...Array(r).keys()] : given).map((a) => axisOf(node, a, r)));
        const dims = x.dims.map((d, i) => (axes.has(i) ? 1 : d));
        const out = ctx.output(0, 'float32', keep ? dims : x.dims.filter((_, i) => !axes.has(i)));
        const d = out.data as Float32Array;
        d.fill(0);
        const s = x.data as Float32Array;
        const os = stridesOf(dims);
        const is = stridesOf(x.dims);
        for (let i = 0; i < s.length; i++) {
          let off = 0;
          for (let k = 0; k < r; k++) if (!axes.has(k)) off += (Math.floor(i / is[k]) % x.dims[k]) * os[k];
          d[off] += s[i];
        }
        return [out];
      },
    };
  },
};

const constantOp: OpDef = {
  attrs: ['value', 'value_float', 'value_floats', 'value_int', 'value_ints'],
  compile(node) {
    const t = constantValue(node);
    return { run: () => [t] };
  },
};

/** The value of a Constant node. */
export function constantValue(node: GraphNode): Tensor {
  const [key] = [...node.attrs.keys()];
  const v = node.attrs.get(key);
  if (node.attrs.size !== 1 || v === undefined) throw unsupported(node, 'a Constant needs exactly one of value, value_float(s), value_int(s)');
  if (key === 'value' && typeof v === 'object' && !Array.isArray(v) && 'data' in v) return v;
  if (key === 'value_float' && typeof v === 'number') return { type: 'float32', dims: [], data: Float32Array.of(v) };
  if (key === 'value_floats' && Array.isArray(v)) return { type: 'float32', dims: [v.length], data: Float32Array.from(v as number[]) };
  if (key === 'value_int' && typeof v === 'number') return int64Of([v], []);
  if (key === 'value_ints' && Array.isArray(v)) return int64Of(v as number[]);
  throw unsupported(node, `Constant attribute ${key} is not supported (value, value_float(s), value_int(s) are)`);
}

/** The data-movement ops. */
export const SHAPE_OPS: Record<string, OpDef> = {
  Shape: shape,
  Reshape: reshape,
  Flatten: flatten,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Transpose: transpose,
  Concat: concat,
  Gather: gatherOp,
  ReduceSum: reduceSum,
  Constant: constantOp,
};

export type { CompileContext, TensorData };

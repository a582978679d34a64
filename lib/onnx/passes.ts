/**
 * Load-time graph rewrites, each a small function over the sorted node list and the constants:
 * QDQ recognition (DequantizeLinear → op → QuantizeLinear becomes the QOperator node, run on the
 * int8 kernels), constant folding, BatchNormalization folded into the Conv before it, Relu/Clip
 * fused into the producing layer, Gather + ReduceSum recognized as an embedding bag. Every rewrite
 * checks that the values it removes are read by nobody else.
 */
import { producers, readerCounts } from './graph';
import { freshContext, type CompileContext, type OpDef } from './op';
import type { GraphNode } from './proto';
import { batchNormCoefficients } from './ops/nn';
import { clipBounds } from './ops/elementwise';
import { toNumbers, type Tensor } from './tensor';

/** What the passes share: constants by name, graph outputs, the op registry. */
export interface PassContext {
  constants: Map<string, Tensor>;
  graphOutputs: readonly string[];
  lookup(node: GraphNode): OpDef;
  compile: CompileContext;
}

let fresh = 0;
function newName(base: string): string {
  return `${base}__lowbit${fresh++}`;
}

/** Runs, at load, every node whose inputs are all constant (and whose op allows it). */
export function foldConstants(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const kept: GraphNode[] = [];
  for (const n of nodes) {
    const def = p.lookup(n);
    const inputs = n.inputs.map((i) => (i === '' ? null : p.constants.get(i) ?? undefined));
    if (def.foldable === false || inputs.some((t) => t === undefined) || n.outputs.some((o) => p.graphOutputs.includes(o))) {
      kept.push(n);
      continue;
    }
    const outs = def.compile(n, p.compile).run(inputs as (Tensor | null)[], freshContext);
    n.outputs.forEach((o, i) => {
      if (o !== '' && outs[i]) p.constants.set(o, outs[i]);
    });
  }
  return kept;
}

/** Single reader of a value (or null), with the reader counts of the current list. */
function soleReader(nodes: readonly GraphNode[], value: string, counts: Map<string, number>): GraphNode | null {
  if (counts.get(value) !== 1) return null;
  return nodes.find((n) => n.inputs.includes(value)) ?? null;
}

/** BatchNormalization after a Conv with constant weights: folded into the weights and bias. */
export function foldBatchNorm(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const removed = new Set<GraphNode>();
  for (const conv of nodes) {
    if (conv.opType !== 'Conv' || conv.domain !== '' || conv.fused) continue;
    const w = p.constants.get(conv.inputs[1]);
    if (!w || w.type !== 'float32' || w.dims.length !== 4) continue;
    const bn = soleReader(nodes, conv.outputs[0], counts);
    if (!bn || bn.opType !== 'BatchNormalization' || bn.outputs.length !== 1 || bn.inputs[0] !== conv.outputs[0]) continue;
    if (!bn.inputs.slice(1, 5).every((i) => p.constants.has(i))) continue;
    const { scale, shift } = batchNormCoefficients(bn, p.compile);
    const co = w.dims[0];
    if (scale.length !== co) continue;
    const per = w.data.length / co;
    const wd = new Float32Array(w.data as Float32Array);
    for (let i = 0; i < wd.length; i++) wd[i] *= scale[Math.floor(i / per)];
    const b = conv.inputs[2] ? p.constants.get(conv.inputs[2]) : undefined;
    if (conv.inputs[2] && !b) continue;
    const bd = new Float32Array(co);
    for (let i = 0; i < co; i++) bd[i] = (b ? (b.data as Float32Array)[i] : 0) * scale[i] + shift[i];
    const wName = newName(conv.inputs[1]);
    const bName = newName(`${conv.name}_bias`);
    p.constants.set(wName, { type: 'float32', dims: w.dims, data: wd });
    p.constants.set(bName, { type: 'float32', dims: [co], data: bd });
    conv.inputs = [conv.inputs[0], wName, bName];
    conv.outputs = [...bn.outputs];
    removed.add(bn);
  }
  return nodes.filter((n) => !removed.has(n));
}

const FUSE_INTO = new Set(['Conv', 'Gemm', 'MatMul']);

/** Relu and Clip after a Conv / Gemm / MatMul-with-constant-weights: applied by that layer. */
export function fuseActivations(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const removed = new Set<GraphNode>();
  for (const layer of nodes) {
    if (!FUSE_INTO.has(layer.opType) || layer.domain !== '' || layer.fused) continue;
    if (layer.opType === 'MatMul' && !(p.constants.get(layer.inputs[1])?.dims.length === 2)) continue;
    const act = soleReader(nodes, layer.outputs[0], counts);
    if (!act || act.domain !== '' || act.inputs[0] !== layer.outputs[0]) continue;
    if (act.opType === 'Relu') layer.fused = { min: 0, max: Infinity };
    else if (act.opType === 'Clip') {
      if (!act.inputs.slice(1).every((i) => i === '' || p.constants.has(i))) continue;
      const [min, max] = clipBounds(act, (n) => p.constants.get(n) ?? null);
      layer.fused = { min, max };
    } else continue;
    layer.outputs = [...act.outputs];
    removed.add(act);
  }
  return nodes.filter((n) => !removed.has(n));
}

/** Gather(constant fp32 table, ids) read only by ReduceSum over axis 1 without keepdims: an embedding bag. */
export function fuseEmbeddingBags(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const removed = new Set<GraphNode>();
  for (const g of nodes) {
    if (g.opType !== 'Gather' || g.domain !== '' || (g.attrs.get('axis') ?? 0) !== 0) continue;
    const table = p.constants.get(g.inputs[0]);
    if (!table || table.type !== 'float32' || table.dims.length !== 2) continue;
    const r = soleReader(nodes, g.outputs[0], counts);
    if (!r || r.opType !== 'ReduceSum' || r.domain !== '' || r.inputs[0] !== g.outputs[0]) continue;
    const axesT = r.inputs[1] ? p.constants.get(r.inputs[1]) : undefined;
    const axes = r.attrs.get('axes') ?? (axesT ? toNumbers(axesT, 'axes') : null);
    if (!Array.isArray(axes) || axes.length !== 1 || (axes[0] !== 1 && axes[0] !== -2)) continue;
    const keep = r.attrs.get('keepdims') ?? 1;
    const bag: GraphNode = {
      name: `${g.name}+${r.name}`, opType: 'EmbeddingBagSum', domain: 'lowbit', inputs: [g.inputs[0], g.inputs[1]], outputs: [...r.outputs],
      attrs: new Map([['keepdims', keep === 1 ? 1 : 0]]),
    };
    Object.assign(g, bag);
    removed.add(r);
  }
  return nodes.filter((n) => !removed.has(n));
}

/** QDQ: DequantizeLinear inputs and a QuantizeLinear output around Conv, Gemm/MatMul, Add, MaxPool, GlobalAveragePool. */
export function fuseQdq(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const made = producers(nodes);
  const removed = new Set<GraphNode>();
  const isConst = (name: string | undefined) => name === undefined || name === '' || p.constants.has(name);
  // the DequantizeLinear writing a value, when its scale and zero point are constants
  const dq = (value: string | undefined): GraphNode | null => {
    const n = value ? made.get(value) : undefined;
    return n && n.opType === 'DequantizeLinear' && n.domain === '' && isConst(n.inputs[1]) && isConst(n.inputs[2]) ? n : null;
  };
  const q = (value: string): GraphNode | null => {
    const n = soleReader(nodes, value, counts);
    return n && n.opType === 'QuantizeLinear' && n.domain === '' && n.inputs[0] === value && isConst(n.inputs[1]) && isConst(n.inputs[2]) ? n : null;
  };
  const constDq = (value: string | undefined, type: string): GraphNode | null => {
    const n = dq(value);
    return n && p.constants.get(n.inputs[0])?.type === type ? n : null;
  };
  const triple = (n: GraphNode) => [n.inputs[0], n.inputs[1], n.inputs[2] ?? ''];
  const sameParams = (a: GraphNode, b: GraphNode) => [1, 2].every((i) => {
    const x = p.constants.get(a.inputs[i] ?? '');
    const y = p.constants.get(b.inputs[i] ?? '');
    return x && y && x.data.length === 1 && y.data.length === 1 && x.data[0] === y.data[0];
  });
  for (const n of nodes) {
    if (n.domain !== '' || removed.has(n)) continue;
    const out = n.outputs[0];
    if (n.opType === 'Conv') {
      const x = dq(n.inputs[0]);
      const w = constDq(n.inputs[1], 'int8');
      const b = n.inputs[2] ? constDq(n.inputs[2], 'int32') : null;
      const y = q(out);
      if (!x || !w || (n.inputs[2] && !b) || !y) continue;
      n.opType = 'QLinearConv';
      n.inputs = [...triple(x), ...triple(w), y.inputs[1], y.inputs[2] ?? '', b ? b.inputs[0] : ''];
      n.outputs = [...y.outputs];
      removed.add(y);
    } else if (n.opType === 'Gemm' || n.opType === 'MatMul') {
      const x = dq(n.inputs[0]);
      const w = constDq(n.inputs[1], 'int8');
      const b = n.inputs[2] ? constDq(n.inputs[2], 'int32') : null;
      if (!x || !w || (n.inputs[2] && !b)) continue;
      if (n.opType === 'Gemm' && ((n.attrs.get('transA') ?? 0) !== 0 || (n.attrs.get('beta') ?? 1) !== 1)) continue;
      if (p.constants.get(w.inputs[0])!.dims.length !== 2) continue;
      const y = q(out);
      n.inputs = [...triple(x), ...triple(w), b ? b.inputs[0] : '', ...(y ? [y.inputs[1], y.inputs[2] ?? ''] : [])];
      const transB = n.opType === 'Gemm' ? n.attrs.get('transB') ?? 0 : 0;
      n.attrs = new Map([['transB', transB], ['alpha', n.attrs.get('alpha') ?? 1]]);
      n.opType = 'QGemm';
      n.domain = 'com.microsoft';
      if (y) {
        n.outputs = [...y.outputs];
        removed.add(y);
      }
    } else if (n.opType === 'Add') {
      const a = dq(n.inputs[0]);
      const b = dq(n.inputs[1]);
      const y = q(out);
      if (!a || !b || !y) continue;
      n.opType = 'QLinearAdd';
      n.domain = 'com.microsoft';
      n.inputs = [...triple(a), ...triple(b), y.inputs[1], y.inputs[2] ?? ''];
      n.outputs = [...y.outputs];
      removed.add(y);
    } else if (n.opType === 'MaxPool') {
      const a = dq(n.inputs[0]);
      const y = q(out);
      if (!a || !y || !sameParams(a, y) || n.outputs.length !== 1) continue;
      n.inputs = [a.inputs[0]];
      n.outputs = [...y.outputs];
      removed.add(y);
    } else if (n.opType === 'GlobalAveragePool') {
      const a = dq(n.inputs[0]);
      const y = q(out);
      if (!a || !y) continue;
      n.opType = 'QLinearGlobalAveragePool';
      n.domain = 'com.microsoft';
      n.inputs = [...triple(a), y.inputs[1], y.inputs[2] ?? ''];
      n.outputs = [...y.outputs];
      removed.add(y);
    }
  }
  return nodes.filter((n) => !removed.has(n));
}

/** DLRM's interaction: MatMul(T, Transpose(T, [0, 2, 1])) → Flatten(1) → Gather(1, constant pairs) as one pairwise-dot node. */
export function fusePairwiseDot(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const made = producers(nodes);
  const removed = new Set<GraphNode>();
  for (const mm of nodes) {
    if (mm.opType !== 'MatMul' || mm.domain !== '') continue;
    const tr = made.get(mm.inputs[1]);
    const perm = tr?.attrs.get('perm');
    if (!tr || tr.opType !== 'Transpose' || tr.inputs[0] !== mm.inputs[0] || !Array.isArray(perm) || perm.join() !== '0,2,1') continue;
    const fl = soleReader(nodes, mm.outputs[0], counts);
    if (!fl || fl.opType !== 'Flatten' || (fl.attrs.get('axis') ?? 1) !== 1) continue;
    const ga = soleReader(nodes, fl.outputs[0], counts);
    if (!ga || ga.opType !== 'Gather' || ga.attrs.get('axis') !== 1 || ga.inputs[0] !== fl.outputs[0]) continue;
    const idx = p.constants.get(ga.inputs[1]);
    if (!idx || idx.dims.length !== 1) continue;
    Object.assign(mm, { name: `${mm.name}+${ga.name}`, opType: 'PairwiseDot', domain: 'lowbit', inputs: [mm.inputs[0], ga.inputs[1]], outputs: [...ga.outputs], attrs: new Map() });
    removed.add(fl).add(ga);
  }
  return nodes.filter((n) => !removed.has(n));
}

/**
 * onnxruntime's dynamic quantization of a MatMul: MatMulInteger(xq, W, xzp, wzp) → Cast(float) →
 * Mul by (x_scale · w_scale) → Add(bias) → Relu, as one lowbit.DynamicMatMul (the x_scale ·
 * w_scale Mul is then dead).
 */
export function fuseDynamicMatMul(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const made = producers(nodes);
  const removed = new Set<GraphNode>();
  for (const mmi of nodes) {
    if (mmi.opType !== 'MatMulInteger' || mmi.domain !== '') continue;
    const w = p.constants.get(mmi.inputs[1]);
    if (!w || w.type !== 'int8' || w.dims.length !== 2 || (mmi.inputs[3] && !p.constants.has(mmi.inputs[3]))) continue;
    const dql = made.get(mmi.inputs[0]);
    if (!dql || dql.opType !== 'DynamicQuantizeLinear' || mmi.inputs[2] !== dql.outputs[2]) continue;
    const cast = soleReader(nodes, mmi.outputs[0], counts);
    if (!cast || cast.opType !== 'Cast' || cast.attrs.get('to') !== 1) continue;
    const mul = soleReader(nodes, cast.outputs[0], counts);
    if (!mul || mul.opType !== 'Mul') continue;
    const sName = mul.inputs[0] === cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
    const sMul = made.get(sName);
    if (!sMul || sMul.opType !== 'Mul' || !sMul.inputs.includes(dql.outputs[1])) continue;
    const wScale = sMul.inputs[0] === dql.outputs[1] ? sMul.inputs[1] : sMul.inputs[0];
    if (!p.constants.has(wScale)) continue;
    let last: GraphNode = mul;
    let bias = '';
    const add = soleReader(nodes, mul.outputs[0], counts);
    if (add && add.opType === 'Add') {
      const other = add.inputs[0] === mul.outputs[0] ? add.inputs[1] : add.inputs[0];
      const b = p.constants.get(other);
      if (b && b.type === 'float32' && b.data.length === w.dims[1]) {
        bias = other;
        last = add;
      }
    }
    const relu = soleReader(nodes, last.outputs[0], counts);
    const fused = relu && relu.opType === 'Relu' ? relu : null;
    const outputs = [...(fused ?? last).outputs];
    for (const n of [cast, mul, last, fused]) if (n && n !== mmi) removed.add(n);
    Object.assign(mmi, {
      name: `${mmi.name}+${(fused ?? last).name}`, opType: 'DynamicMatMul', domain: 'lowbit',
      inputs: [mmi.inputs[0], dql.outputs[1], dql.outputs[2], mmi.inputs[1], wScale, mmi.inputs[3] ?? '', bias], outputs,
      fused: fused ? { min: 0, max: Infinity } : undefined,
    });
  }
  return nodes.filter((n) => !removed.has(n));
}

/** Runs of embedding bags that one Concat(axis 1) puts side by side: merged into one node (one native call, no concat copy). */
export function groupEmbeddingBags(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const made = producers(nodes);
  const removed = new Set<GraphNode>();
  for (const cat of nodes) {
    if (cat.opType !== 'Concat' || cat.domain !== '' || cat.attrs.get('axis') !== 1) continue;
    const bagOf = (v: string) => {
      const n = made.get(v);
      return n && n.opType === 'EmbeddingBagSum' && n.domain === 'lowbit' && n.attrs.get('keepdims') === 0 && counts.get(v) === 1 ? n : null;
    };
    const inputs: string[] = [];
    for (let i = 0; i < cat.inputs.length; i++) {
      let j = i;
      while (j < cat.inputs.length && bagOf(cat.inputs[j])) j++;
      if (j - i < 2) {
        inputs.push(cat.inputs[i]);
        continue;
      }
      const run = cat.inputs.slice(i, j).map((v) => bagOf(v)!);
      const first = run[0];
      first.inputs = run.flatMap((n) => n.inputs);
      first.name = `${first.name}+${run.length - 1} more`;
      for (const n of run.slice(1)) removed.add(n);
      inputs.push(first.outputs[0]);
      i = j - 1;
    }
    cat.inputs = inputs;
  }
  return nodes.filter((n) => !removed.has(n));
}

/** The ids of each bag taken as ids[:, k, :] (Gather on axis 1 with a constant scalar k): read by the bag step itself. */
export function fuseIdsSlices(nodes: GraphNode[], p: PassContext): GraphNode[] {
  const counts = readerCounts(nodes, p.graphOutputs);
  const made = producers(nodes);
  const removed = new Set<GraphNode>();
  for (const bag of nodes) {
    if (bag.opType !== 'EmbeddingBagSum' || bag.domain !== 'lowbit' || bag.attrs.has('slices')) continue;
    const gathers: { g: GraphNode; col: number }[] = [];
    for (let i = 1; i < bag.inputs.length; i += 2) {
      const g = made.get(bag.inputs[i]);
      const k = g ? p.constants.get(g.inputs[1]) : undefined;
      if (!g || g.opType !== 'Gather' || g.domain !== '' || g.attrs.get('axis') !== 1 || !k || k.dims.length !== 0 || counts.get(bag.inputs[i]) !== 1) break;
      const col = Number(k.data[0]);
      if (!(col >= 0) || (gathers.length > 0 && g.inputs[0] !== gathers[0].g.inputs[0])) break;
      gathers.push({ g, col });
    }
    if (gathers.length !== bag.inputs.length / 2) continue;
    bag.inputs = bag.inputs.map((v, i) => (i % 2 === 1 ? gathers[0].g.inputs[0] : v));
    bag.attrs.set('slices', gathers.map((x) => x.col));
    for (const x of gathers) removed.add(x.g);
  }
  return nodes.filter((n) => !removed.has(n));
}

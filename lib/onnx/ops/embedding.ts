/**
 * Embedding-bag pooling as torch exports it for fixed-length bags (`nn.Embedding` then `.sum(1)`):
 * Gather(table, ids [batch, bag]) + ReduceSum over the bag axis, recognized by the passes and run
 * as one {@link embeddingBags} call per node (fp32 rows; the table is wrapped, not copied).
 * `nn.EmbeddingBag` itself exports as a Loop, which is refused at load (see README).
 */
import { EmbeddingTable, embeddingBags, embeddingBagsAsync } from '../../embedding';
import { badInput, need, needType, type OpDef, type RunContext } from '../op';
import type { Tensor } from '../tensor';
import { constantInput } from './nn';

/**
 * lowbit.EmbeddingBagSum: inputs (table [rows, dim] fp32 constant, ids [batch, bag] int64/int32)
 * pairs, one or more; attr keepdims (one pair only). Several pairs (the tables whose pooled rows a
 * Concat puts side by side) run as one embeddingBags call writing [batch, Σ dim] directly.
 */
export const embeddingBagSum: OpDef = {
  // slices: when given, each pair's ids input is a [batch, tables, bag] tensor and the pair reads
  // its column slices[k] (what torch's ids[:, k, :] exports as: a Gather on axis 1, fused here)
  attrs: ['keepdims', 'slices'],
  foldable: false,
  compile(node, c) {
    if (node.inputs.length % 2 !== 0 || node.inputs.length === 0) throw badInput(node, 'inputs must be (table, ids) pairs');
    const tables: EmbeddingTable[] = [];
    for (let i = 0; i < node.inputs.length; i += 2) {
      const t = constantInput(node, c, i, 'the table');
      needType(node, t, ['float32'], 'the table');
      if (t.dims.length !== 2) throw badInput(node, `the table must be 2-D, got dims [${t.dims}]`);
      const [rows, dim] = t.dims;
      const data = t.data as Float32Array;
      tables.push(EmbeddingTable.fromBuffer(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { dim, format: 'f32', rows }));
    }
    const width = tables.reduce((p, t) => p + t.dim, 0);
    const keep = node.attrs.get('keepdims') === 1 && tables.length === 1;
    let lengths = new Int32Array(0);
    const slices = node.attrs.get('slices') as number[] | undefined;
    const sliced: (BigInt64Array | Int32Array)[] = tables.map(() => new Int32Array(0));
    // column `col` of ids [batch, tables, bag] as a [batch, bag] tensor, in a buffer kept per table
    const sliceOf = (ids: Tensor, col: number, k: number): Tensor => {
      if (ids.dims.length !== 3 || col >= ids.dims[1]) throw badInput(node, `the ids must be [batch, tables > ${col}, bag], got dims [${ids.dims}]`);
      const [b, t, l] = ids.dims;
      const src = ids.data as BigInt64Array | Int32Array;
      let dst = sliced[k];
      if (dst.length !== b * l || dst.constructor !== src.constructor) dst = sliced[k] = new (src.constructor as new (n: number) => BigInt64Array | Int32Array)(b * l);
      for (let r = 0; r < b; r++) (dst as Int32Array).set((src as Int32Array).subarray((r * t + col) * l, (r * t + col + 1) * l), r * l);
      return { type: ids.type, dims: [b, l], data: dst };
    };
    const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
      let batch = -1;
      let bag = -1;
      const lookups = tables.map((table, i) => {
        const given = need(node, inputs, 2 * i + 1);
        needType(node, given, ['int64', 'int32'], 'the ids');
        const ids = slices ? sliceOf(given, slices[i], i) : given;
        if (ids.dims.length !== 2) throw badInput(node, `the ids must be [batch, bag], got dims [${ids.dims}]`);
        if (batch >= 0 && (ids.dims[0] !== batch || ids.dims[1] !== bag)) throw badInput(node, `the ids of every table must have the same [batch, bag], got [${ids.dims}] and [${batch}, ${bag}]`);
        [batch, bag] = ids.dims;
        if (lengths.length !== batch || (batch > 0 && lengths[0] !== bag)) lengths = new Int32Array(batch).fill(bag);
        return { table, indices: ids.data as BigInt64Array | Int32Array, lengths };
      });
      const out = ctx.output(0, 'float32', keep ? [batch, 1, width] : [batch, width]);
      return { lookups, out, batch };
    };
    return {
      run(inputs, ctx) {
        const p = prepare(inputs, ctx);
        if (p.batch > 0) embeddingBags(p.lookups, { out: p.out.data as Float32Array, threads: c.threads });
        return [p.out];
      },
      async runAsync(inputs, ctx) {
        const p = prepare(inputs, ctx);
        if (p.batch > 0) await embeddingBagsAsync(p.lookups, { out: p.out.data as Float32Array, threads: c.threads });
        return [p.out];
      },
    };
  },
};

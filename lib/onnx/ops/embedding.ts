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

/** lowbit.EmbeddingBagSum: inputs (table [rows, dim] fp32 constant, ids [batch, bag] int64/int32); attr keepdims. */
export const embeddingBagSum: OpDef = {
  attrs: ['keepdims'],
  foldable: false,
  compile(node, c) {
    const t = constantInput(node, c, 0, 'the table');
    needType(node, t, ['float32'], 'the table');
    if (t.dims.length !== 2) throw badInput(node, `the table must be 2-D, got dims [${t.dims}]`);
    const [rows, dim] = t.dims;
    const data = t.data as Float32Array;
    const table = EmbeddingTable.fromBuffer(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { dim, format: 'f32', rows });
    const keep = node.attrs.get('keepdims') === 1;
    let lengths = new Int32Array(0);
    const prepare = (inputs: readonly (Tensor | null)[], ctx: RunContext) => {
      const ids = need(node, inputs, 1);
      needType(node, ids, ['int64', 'int32'], 'the ids');
      if (ids.dims.length !== 2) throw badInput(node, `the ids must be [batch, bag], got dims [${ids.dims}]`);
      const [batch, bag] = ids.dims;
      if (lengths.length !== batch || (batch > 0 && lengths[0] !== bag)) lengths = new Int32Array(batch).fill(bag);
      const out = ctx.output(0, 'float32', keep ? [batch, 1, dim] : [batch, dim]);
      const lookup = { table, indices: ids.data as BigInt64Array | Int32Array, lengths };
      return { lookup, out, batch };
    };
    return {
      run(inputs, ctx) {
        const p = prepare(inputs, ctx);
        if (p.batch > 0) embeddingBags([p.lookup], { out: p.out.data as Float32Array, threads: c.threads });
        return [p.out];
      },
      async runAsync(inputs, ctx) {
        const p = prepare(inputs, ctx);
        if (p.batch > 0) await embeddingBagsAsync([p.lookup], { out: p.out.data as Float32Array, threads: c.threads });
        return [p.out];
      },
    };
  },
};

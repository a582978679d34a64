/**
 * The ops lowbit runs, by domain and type; anything else fails at load with the list of these.
 */
import type { ConvMode } from '../conv';
import { unsupported, type OpDef } from './op';
import type { GraphNode } from './proto';
import { ELEMENTWISE_OPS } from './ops/elementwise';
import { embeddingBagSum } from './ops/embedding';
import { FUSED_NN_OPS, nnOps } from './ops/nn';
import { fusedQuantOps, microsoftOps, quantOps } from './ops/quant';
import { SHAPE_OPS } from './ops/shape';

/** Op definitions per domain ('' is ONNX; 'lowbit' holds the passes' fused nodes). */
export function registry(mode: () => ConvMode): Map<string, Record<string, OpDef>> {
  return new Map<string, Record<string, OpDef>>([
    ['', { ...ELEMENTWISE_OPS, ...SHAPE_OPS, ...nnOps(mode), ...quantOps(mode) }],
    ['com.microsoft', microsoftOps(mode)],
    ['lowbit', { EmbeddingBagSum: embeddingBagSum, ...FUSED_NN_OPS, ...fusedQuantOps(mode) }],
  ]);
}

/** The definition of a node's op, its attributes checked against the ones it accepts. */
export function lookupOp(ops: Map<string, Record<string, OpDef>>, node: GraphNode): OpDef {
  const domain = ops.get(node.domain);
  const def = domain && Object.prototype.hasOwnProperty.call(domain, node.opType) ? domain[node.opType] : undefined;
  if (!def || (node.domain === 'lowbit' && !node.name.includes('+'))) {
    const list = (d: string) => Object.keys(ops.get(d) ?? {}).sort().join(', ');
    const hint = node.opType === 'Loop' ? ' (torch exports nn.EmbeddingBag as a Loop: pool fixed-length bags with nn.Embedding(...)(ids).sum(1), which exports as Gather + ReduceSum)' : '';
    throw unsupported(node, `op type not supported${hint}; supported: ${list('')}; com.microsoft: ${list('com.microsoft')}`);
  }
  for (const a of node.attrs.keys()) {
    if (!def.attrs.includes(a)) throw unsupported(node, `attribute ${a} is not supported (${def.attrs.length ? def.attrs.join(', ') : 'no attributes'} are)`);
  }
  return def;
}

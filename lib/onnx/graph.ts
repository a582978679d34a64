/**
 * The graph checks every model passes before anything runs: each value has one producer, every
 * node input is a graph input, an initializer or another node's output, the graph has no cycle,
 * and the nodes are put in an order where each runs after what it reads (Kahn's algorithm).
 */
import { invalidModel, type GraphNode } from './proto';

/** Nodes in run order. Throws ERR_LOWBIT_INVALID_MODEL naming the node for a missing input or a cycle. */
export function sortNodes(nodes: readonly GraphNode[], available: ReadonlySet<string>): GraphNode[] {
  const producer = new Map<string, GraphNode>();
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === '') continue;
      if (available.has(o)) throw invalidModel(`node ${n.name} (${n.opType}) writes ${o}, which is a graph input or initializer`);
      if (producer.has(o)) throw invalidModel(`value ${o} is written by two nodes: ${producer.get(o)!.name} and ${n.name}`);
      producer.set(o, n);
    }
  }
  const waiting = new Map<GraphNode, number>();
  const readers = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    let deps = 0;
    for (const i of new Set(n.inputs)) {
      if (i === '' || available.has(i)) continue;
      if (!producer.has(i)) throw invalidModel(`node ${n.name} (${n.opType}) reads ${i}, which no node, graph input or initializer provides`);
      deps++;
      const r = readers.get(i);
      if (r) r.push(n);
      else readers.set(i, [n]);
    }
    waiting.set(n, deps);
  }
  const ready = nodes.filter((n) => waiting.get(n) === 0);
  const order: GraphNode[] = [];
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const o of n.outputs) {
      for (const r of readers.get(o) ?? []) {
        const left = waiting.get(r)! - 1;
        waiting.set(r, left);
        if (left === 0) ready.push(r);
      }
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((n) => waiting.get(n)! > 0).map((n) => n.name);
    throw invalidModel(`the graph has a cycle through node${stuck.length > 1 ? 's' : ''} ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', ...' : ''}`);
  }
  return order;
}

/** How many node inputs (and graph outputs) read each value. */
export function readerCounts(nodes: readonly GraphNode[], graphOutputs: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) if (i !== '') counts.set(i, (counts.get(i) ?? 0) + 1);
  for (const o of graphOutputs) counts.set(o, (counts.get(o) ?? 0) + 1);
  return counts;
}

/** The node writing each value. */
export function producers(nodes: readonly GraphNode[]): Map<string, GraphNode> {
  const m = new Map<string, GraphNode>();
  for (const n of nodes) for (const o of n.outputs) if (o !== '') m.set(o, n);
  return m;
}

/** Drops nodes none of whose outputs is read (repeatedly, in reverse order). */
export function removeDead(nodes: GraphNode[], graphOutputs: readonly string[]): GraphNode[] {
  const live = new Set(graphOutputs);
  const kept: GraphNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n.outputs.some((o) => live.has(o))) {
      kept.push(n);
      for (const x of n.inputs) if (x !== '') live.add(x);
    }
  }
  return kept.reverse();
}

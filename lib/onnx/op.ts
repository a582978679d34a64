/**
 * What an op implementation is: the attributes it accepts (anything else is refused at load), a
 * compile step run once at load (checks attributes and constant inputs, prepacks weights into
 * lowbit layers) and the compiled step's run. Shared helpers for attributes and errors.
 */
import { rangeError, typeError } from '../errors';
import type { AttrValue, GraphNode } from './proto';
import { alloc, ctorOf, sizeOf, type Tensor, type TensorType } from './tensor';

/** Load-time context of one node's compilation. */
export interface CompileContext {
  /** The constant value of an input (initializer, Constant node or folded), or null. */
  constant(name: string): Tensor | null;
  /** Threads the session's kernels use. */
  threads: number;
}

/** Run-time context: output buffers from the session's plan. */
export interface RunContext {
  /** A tensor for output `index` of the running step: the planned buffer when its size is unchanged. */
  output(index: number, type: TensorType, dims: readonly number[]): Tensor;
}

/** A compiled step. */
export interface Step {
  run(inputs: readonly (Tensor | null)[], ctx: RunContext): Tensor[];
  /** Off the main thread where a lowbit layer runs; defaults to `run`. */
  runAsync?(inputs: readonly (Tensor | null)[], ctx: RunContext): Promise<Tensor[]>;
}

/** An op implementation. */
export interface OpDef {
  /** Attributes it accepts (others are refused at load with the list of these). */
  attrs: readonly string[];
  /** Builds the step (checks attributes and constant inputs). */
  compile(node: GraphNode, c: CompileContext): Step;
  /** Whether a node with all-constant inputs may be run at load (constant folding); default true. */
  foldable?: boolean;
}

/** The unsupported-op error: names the node, its op type and what is supported. */
export function unsupported(node: GraphNode, why: string): Error {
  return typeError('ERR_LOWBIT_UNSUPPORTED_OP', `node ${node.name} (${node.domain ? node.domain + '.' : ''}${node.opType}): ${why}`);
}

/** A bad-model error naming the node. */
export function badNode(node: GraphNode, why: string): Error {
  return rangeError('ERR_LOWBIT_INVALID_MODEL', `invalid ONNX model: node ${node.name} (${node.opType}): ${why}`);
}

/** A run-time shape/type error naming the node. */
export function badInput(node: GraphNode, why: string): Error {
  return rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `node ${node.name} (${node.opType}): ${why}`);
}

/** Integer attribute (with default). */
export function attrInt(node: GraphNode, name: string, fallback: number): number {
  const v = node.attrs.get(name);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badNode(node, `attribute ${name} must be an int, got ${describeAttr(v)}`);
  return v;
}

/** Float attribute (with default). */
export function attrFloat(node: GraphNode, name: string, fallback: number): number {
  const v = node.attrs.get(name);
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw badNode(node, `attribute ${name} must be a float, got ${describeAttr(v)}`);
  return v;
}

/** Integer-list attribute (or null when absent). */
export function attrInts(node: GraphNode, name: string): number[] | null {
  const v = node.attrs.get(name);
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw badNode(node, `attribute ${name} must be a list of ints, got ${describeAttr(v)}`);
  return v as number[];
}

/** String attribute (with default). */
export function attrString(node: GraphNode, name: string, fallback: string): string {
  const v = node.attrs.get(name);
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw badNode(node, `attribute ${name} must be a string, got ${describeAttr(v)}`);
  return v;
}

function describeAttr(v: AttrValue): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'graph' in v ? 'a graph' : 'a tensor';
  return `${typeof v} ${String(v)}`;
}

/** Requires input `i` (a RangeError naming the node when absent). */
export function need(node: GraphNode, inputs: readonly (Tensor | null)[], i: number): Tensor {
  const t = inputs[i];
  if (!t) throw badInput(node, `input ${i} is missing`);
  return t;
}

/** Requires a tensor type. */
export function needType(node: GraphNode, t: Tensor, types: readonly TensorType[], what: string): void {
  if (!types.includes(t.type)) throw typeError('ERR_LOWBIT_INVALID_TYPE', `node ${node.name} (${node.opType}): ${what} must be ${types.join(' or ')}, got ${t.type}`);
}

/** Normalizes an axis in [-rank, rank). */
export function axisOf(node: GraphNode, axis: number, rank: number): number {
  if (axis < -rank || axis >= rank) throw badInput(node, `axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** A tensor with fresh storage (not from the plan): results of load-time folding. */
export const freshContext: RunContext = { output: (_i, type, dims) => alloc(type, dims) };

/** A new array of the type for n elements. */
export function arrayOf(type: TensorType, n: number) {
  return new (ctorOf(type))(n);
}

export { sizeOf };

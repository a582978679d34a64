/**
 * Reading an ONNX file: the maintained `onnx-proto` package (protobufjs, generated from onnx.proto)
 * decodes the bytes; this file turns its messages into the runner's plain graph (nodes with
 * checked attributes, tensors with checked sizes) and turns every decoding failure into a coded
 * error. Nothing here trusts a length, a dim or an offset from the file.
 */
import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { rangeError, typeError } from '../errors';
import { describe } from '../validate';
import { ctorOf, sizeOf, type Tensor, type TensorType } from './tensor';

/** A node attribute's value. */
export type AttrValue = number | string | number[] | string[] | Tensor | { graph: true };

/** A node as the runner's passes see it. */
export interface GraphNode {
  /** Unique name (the file's, or `<opType>_<index>` when it has none). */
  name: string;
  opType: string;
  /** '' for the default ONNX domain ('ai.onnx' is read as ''). */
  domain: string;
  /** Input value names ('' for an omitted optional input). */
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
  /** Set by the passes: an activation folded into this node's output (never read from a file). */
  fused?: Fused;
}

/** An activation applied to a node's output by its kernel (ReLU) or right after it (the clamp). */
export interface Fused {
  /** Clamp low end (0 for ReLU). */
  min: number;
  /** Clamp high end (6 for ReLU6, Infinity for ReLU). */
  max: number;
}

/** A value's declared type and shape (dims: number, a symbolic name, or null when unknown). */
export interface ValueInfo {
  name: string;
  type: TensorType | null;
  dims: (number | string | null)[] | null;
}

/** A parsed model. */
export interface ParsedModel {
  nodes: GraphNode[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Opset version per domain ('' for ONNX). */
  opsets: Map<string, number>;
}

const DT = onnx.TensorProto.DataType;
const TYPE_OF: Partial<Record<number, TensorType>> = {
  [DT.FLOAT]: 'float32', [DT.INT64]: 'int64', [DT.INT32]: 'int32', [DT.UINT8]: 'uint8', [DT.INT8]: 'int8', [DT.BOOL]: 'bool',
};

/** Throws the error of a bad file. */
export function invalidModel(why: string): Error {
  return rangeError('ERR_LOWBIT_INVALID_MODEL', `invalid ONNX model: ${why}`);
}

// protobufjs gives int64 fields as Long objects (or numbers); only safe integers go on
function int(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : v !== null && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : NaN;
  const exact = typeof v === 'number' || (v as { toString(): string }).toString() === String(n);
  if (!Number.isSafeInteger(n) || !exact) throw invalidModel(`${what}: ${String(v)} is not an integer in the safe range`);
  return n;
}

/** The element type of a TensorProto data type, or null when the runner has none. */
export function tensorTypeOf(dataType: number): TensorType | null {
  return TYPE_OF[dataType] ?? null;
}

function typeName(dataType: number): string {
  return (DT as unknown as Record<number, string>)[dataType] ?? `data type ${dataType}`;
}

/** A TensorProto (initializer or attribute) as a tensor; checks that the data matches the dims. */
export function tensorOf(t: onnx.ITensorProto, what: string): Tensor {
  const dims = (t.dims ?? []).map((d, i) => int(d, `${what}: dims[${i}]`));
  for (const d of dims) if (d < 0) throw invalidModel(`${what}: negative dimension in dims [${dims.join(', ')}]`);
  const type = tensorTypeOf(t.dataType ?? 0);
  if (type === null) throw typeError('ERR_LOWBIT_UNSUPPORTED_OP', `${what}: tensors of ${typeName(t.dataType ?? 0)} are not supported (float32, int64, int32, uint8, int8, bool are)`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0) {
    throw typeError('ERR_LOWBIT_UNSUPPORTED_OP', `${what}: external tensor data is not supported (save the model with its weights inside the file)`);
  }
  const n = sizeOf(dims, what);
  const ctor = ctorOf(type);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== n * ctor.BYTES_PER_ELEMENT) throw invalidModel(`${what}: raw_data holds ${raw.length} bytes, dims [${dims.join(', ')}] of ${type} need ${n * ctor.BYTES_PER_ELEMENT}`);
    // a copy: aligned, and independent of the file's buffer
    const bytes = new Uint8Array(raw.length);
    bytes.set(raw);
    const data = new (ctor as unknown as new (b: ArrayBuffer) => Tensor['data'])(bytes.buffer);
    return { type, dims, data };
  }
  const data = new ctor(n);
  const source: ArrayLike<unknown> | null | undefined =
    type === 'float32' ? t.floatData : type === 'int64' ? t.int64Data : t.int32Data; // uint8/int8/bool/int32 live in int32_data
  const len = source?.length ?? 0;
  if (len !== n) throw invalidModel(`${what}: holds ${len} values, dims [${dims.join(', ')}] need ${n}`);
  for (let i = 0; i < n; i++) {
    if (type === 'int64') (data as BigInt64Array)[i] = BigInt(int(source![i], `${what}[${i}]`));
    else (data as Float32Array)[i] = type === 'float32' ? (source![i] as number) : int(source![i], `${what}[${i}]`);
  }
  return { type, dims, data };
}

const A = onnx.AttributeProto.AttributeType;

function attrOf(a: onnx.IAttributeProto, what: string): AttrValue {
  const w = `${what}, attribute ${a.name}`;
  switch (a.type) {
    case A.FLOAT: return a.f ?? 0;
    case A.INT: return int(a.i ?? 0, w);
    case A.STRING: return Buffer.from(a.s ?? new Uint8Array()).toString('utf8');
    case A.TENSOR: return tensorOf(a.t ?? {}, w);
    case A.FLOATS: return [...(a.floats ?? [])];
    case A.INTS: return (a.ints ?? []).map((v, i) => int(v, `${w}[${i}]`));
    case A.STRINGS: return (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8'));
    case A.GRAPH: case A.GRAPHS: return { graph: true };
    default: throw typeError('ERR_LOWBIT_UNSUPPORTED_OP', `${w}: attribute type ${a.type} is not supported`);
  }
}

function valueInfoOf(v: onnx.IValueInfoProto, what: string): ValueInfo {
  if (!v.name) throw invalidModel(`${what} has no name`);
  const t = v.type?.tensorType;
  const dims = t?.shape?.dim ? t.shape.dim.map((d, i) => (Object.prototype.hasOwnProperty.call(d, 'dimValue') && d.dimValue !== null && d.dimValue !== undefined ? int(d.dimValue, `${what} ${v.name} dim ${i}`) : d.dimParam || null)) : null;
  return { name: v.name, type: t?.elemType ? tensorTypeOf(t.elemType) : null, dims };
}

/** Decodes model bytes (or reads a file) into the runner's graph. Every failure is a coded error. */
export function parseModel(source: string | Uint8Array): ParsedModel {
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = readFileSync(source);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(rangeError('ERR_LOWBIT_FILE', `cannot read ONNX model ${source}: ${err.message}`), { errno: err.code, syscall: err.syscall, path: source });
    }
  } else if (source instanceof Uint8Array) {
    bytes = source;
  } else {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `source must be a path (string) or the model's bytes (Uint8Array), got ${describe(source)}`);
  }
  if (bytes.length === 0) throw invalidModel('the file is empty');
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw invalidModel(`protobuf decoding failed (${(e as Error).message}); the file is truncated, corrupted or not an ONNX model`);
  }
  const g = model.graph;
  if (!g) throw invalidModel('no graph (not an ONNX model?)');
  const opsets = new Map<string, number>();
  for (const o of model.opsetImport ?? []) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain ?? '', int(o.version ?? 0, 'opset_import version'));
  if (!opsets.has('')) opsets.set('', 1);
  const initializers = new Map<string, Tensor>();
  for (const [i, t] of (g.initializer ?? []).entries()) {
    if (!t.name) throw invalidModel(`initializer ${i} has no name`);
    if (initializers.has(t.name)) throw invalidModel(`two initializers named ${t.name}`);
    initializers.set(t.name, tensorOf(t, `initializer ${t.name}`));
  }
  if ((g.sparseInitializer ?? []).length > 0) throw typeError('ERR_LOWBIT_UNSUPPORTED_OP', 'sparse initializers are not supported');
  const names = new Set<string>();
  const nodes = (g.node ?? []).map((n, i): GraphNode => {
    const opType = n.opType ?? '';
    if (!opType) throw invalidModel(`node ${i} has no op_type`);
    let name = n.name || `${opType}_${i}`;
    while (names.has(name)) name = `${name}_${i}`;
    names.add(name);
    const what = `node ${name} (${opType})`;
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) {
      if (!a.name) throw invalidModel(`${what}: an attribute has no name`);
      attrs.set(a.name, attrOf(a, what));
    }
    const outputs = [...(n.output ?? [])];
    if (outputs.length === 0) throw invalidModel(`${what} has no outputs`);
    return { name, opType, domain: n.domain === 'ai.onnx' ? '' : n.domain ?? '', inputs: [...(n.input ?? [])], outputs, attrs };
  });
  const inputs = (g.input ?? []).map((v) => valueInfoOf(v, 'graph input')).filter((v) => !initializers.has(v.name));
  const outputs = (g.output ?? []).map((v) => valueInfoOf(v, 'graph output'));
  if (outputs.length === 0) throw invalidModel('the graph has no outputs');
  return { nodes, initializers, inputs, outputs, opsets };
}

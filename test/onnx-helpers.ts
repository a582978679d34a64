// Shared by the ONNX tests: the committed fixtures (models + onnxruntime's recorded outputs) and a
// small model builder on onnx-proto's encoder (the same maintained package lowbit parses with).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import type { OnnxTensor } from '../lib';

/** The fixture directory (from dist-test/test back to the sources). */
export const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'onnx');

const CTORS = { float32: Float32Array, int64: BigInt64Array, uint8: Uint8Array, int8: Int8Array, int32: Int32Array } as const;

interface JsonTensor { type: keyof typeof CTORS; dims: number[]; data: string }

function decode(t: JsonTensor): OnnxTensor {
  const b = Buffer.from(t.data, 'base64');
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return { type: t.type, dims: t.dims, data: new CTORS[t.type](ab) };
}

/** A fixture's inputs and onnxruntime's outputs. */
export function fixtureIo(name: string): { inputs: Record<string, OnnxTensor>; outputs: Record<string, OnnxTensor> } {
  const io = JSON.parse(readFileSync(path.join(FIXTURES, `${name.replace(/\.onnx$/, '')}.io.json`), 'utf8')) as Record<string, Record<string, JsonTensor>>;
  const map = (o: Record<string, JsonTensor>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]));
  return { inputs: map(io.inputs), outputs: map(io.outputs) };
}

const DT: Record<string, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7 };

/** A tensor initializer. */
export function init(name: string, type: keyof typeof CTORS, dims: number[], values: ArrayLike<number | bigint>): onnx.ITensorProto {
  const data = new CTORS[type](values.length);
  for (let i = 0; i < values.length; i++) (data as unknown as (number | bigint)[])[i] = type === 'int64' ? BigInt(values[i]) : Number(values[i]);
  return { name, dataType: DT[type], dims, rawData: new Uint8Array(data.buffer) };
}

type Attr = number | number[] | string | { float: number };

/** A node; integer attributes as numbers, floats as { float }. */
export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}, domain = ''): onnx.INodeProto {
  const A = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attrs).map(([name, v]): onnx.IAttributeProto => {
    if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
    if (typeof v === 'string') return { name, type: A.STRING, s: Buffer.from(v) };
    if (typeof v === 'object') return { name, type: A.FLOAT, f: v.float };
    return { name, type: A.INT, i: v };
  });
  return { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute, domain };
}

/** A value declaration (dims: numbers or symbolic names). */
export function value(name: string, type: keyof typeof CTORS, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: DT[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Serialized model bytes. */
export function model(g: { nodes: onnx.INodeProto[]; inits?: onnx.ITensorProto[]; inputs: onnx.IValueInfoProto[]; outputs: onnx.IValueInfoProto[]; ms?: boolean }): Uint8Array {
  const opsetImport = [{ domain: '', version: 17 }, ...(g.ms ? [{ domain: 'com.microsoft', version: 1 }] : [])];
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport, producerName: 'lowbit-test',
    graph: { name: 'g', node: g.nodes, initializer: g.inits ?? [], input: g.inputs, output: g.outputs },
  }).finish();
}

/** Largest |a − b| / max(|b|, floor) over two float arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor));
  return m;
}

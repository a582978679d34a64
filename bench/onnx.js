// A minimal ONNX model writer (protobuf encoding by hand), so the benchmarks can compare against
// onnxruntime-node on exactly the same problem without any model file or protobuf library.
// Only what the comparisons need: graphs of a few nodes with tensor initializers.
'use strict';

// ---- protobuf wire format
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const fInt = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const fBytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const fStr = (field, s) => fBytes(field, Buffer.from(s, 'utf8'));
const fFloat = (field, x) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return Buffer.concat([key(field, 5), b]);
};
const msg = (...parts) => Buffer.concat(parts.flat());

// ---- ONNX messages (field numbers from onnx.proto)
const DT = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7 };

function tensor(name, dtype, dims, data) {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return msg(dims.map((d) => fInt(1, d)), fInt(2, DT[dtype]), fStr(8, name), fBytes(9, raw));
}

function valueInfo(name, dtype, dims) {
  const shape = msg(dims.map((d) => fBytes(1, typeof d === 'string' ? fStr(2, d) : fInt(1, d))));
  const tensorType = msg(fInt(1, DT[dtype]), fBytes(2, shape));
  return msg(fStr(1, name), fBytes(2, fBytes(1, tensorType)));
}

function attribute(name, value) {
  if (Array.isArray(value)) return msg(fStr(1, name), value.map((v) => fInt(8, v)), fInt(20, 7));
  if (typeof value === 'number' && Number.isInteger(value)) return msg(fStr(1, name), fInt(3, value), fInt(20, 2));
  if (typeof value === 'number') return msg(fStr(1, name), fFloat(2, value), fInt(20, 1));
  throw new Error('unsupported attribute ' + name);
}

function node(op, inputs, outputs, attrs = {}, domain = '') {
  return msg(
    inputs.map((i) => fStr(1, i)),
    outputs.map((o) => fStr(2, o)),
    fStr(3, op + '_' + outputs[0]),
    fStr(4, op),
    Object.entries(attrs).map(([k, v]) => fBytes(5, attribute(k, v))),
    domain ? fStr(7, domain) : [],
  );
}

/**
 * Builds a model: nodes, initializers [{name, dtype, dims, data}], inputs/outputs [{name, dtype, dims}].
 * Returns the serialized bytes (a Uint8Array for InferenceSession.create).
 */
function model({ nodes, initializers = [], inputs, outputs, opset = 13, msOpset = 0 }) {
  const graph = msg(
    nodes.map((n) => fBytes(1, n)),
    fStr(2, 'g'),
    initializers.map((t) => fBytes(5, tensor(t.name, t.dtype, t.dims, t.data))),
    inputs.map((v) => fBytes(11, valueInfo(v.name, v.dtype, v.dims))),
    outputs.map((v) => fBytes(12, valueInfo(v.name, v.dtype, v.dims))),
  );
  const opsets = [fBytes(8, msg(fStr(1, ''), fInt(2, opset)))];
  if (msOpset) opsets.push(fBytes(8, msg(fStr(1, 'com.microsoft'), fInt(2, msOpset))));
  return new Uint8Array(msg(fInt(1, 8), opsets, fStr(2, 'lowbit-bench'), fBytes(7, graph)));
}

/** Loads onnxruntime-node if it is installed (it is only a comparison, never a dependency). */
function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch {
    return null;
  }
}

/** A single-threaded CPU session, as in shared/ANCHORS.md. */
async function session(ort, bytes) {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

module.exports = { model, node, loadOrt, session };

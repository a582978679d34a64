'use strict';
/**
 * The model on disk, as a team would ship it: written once (build-model.js), loaded by every
 * server process and worker thread.
 *
 *   <dir>/model.json           the configuration and the list of files below
 *   <dir>/tables/<t>.<format>  lowbit table t: its rows exactly as EmbeddingTable holds them
 *                              (EmbeddingTable.open maps the file: every process and worker that
 *                              opens it shares the same page-cache pages, no copy)
 *   <dir>/mlp/<part><i>.qlinear  QuantizedLinear.serialize() of each int8 layer
 *   <dir>/fp32/...             the fp32 reference: raw little-endian float32 tables and layers
 *
 * The fp32 reference's tables are read once per process into SharedArrayBuffers that the worker
 * threads share (plain JavaScript has no mapped files).
 */
const fs = require('node:fs');
const path = require('node:path');
const lowbit = require('../..');
const { EmbeddingTable, QuantizedLinear } = lowbit;
const { buildModel, generateWeights } = require('./model');

const FORMAT_VERSION = 1;

function writeF32(file, a) {
  fs.writeFileSync(file, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

/** A file's float32 values, in a SharedArrayBuffer when `shared` (for worker threads). */
function readF32(file, shared) {
  const size = fs.statSync(file).size;
  const out = new Float32Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
  const fd = fs.openSync(file, 'r');
  try {
    const view = new Uint8Array(out.buffer);
    for (let off = 0; off < size;) off += fs.readSync(fd, view, off, Math.min(1 << 26, size - off), off);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/**
 * Generates the weights of `config` ('default', 'small' or overrides) and writes both variants
 * under `dir`. Returns the manifest.
 */
function saveModel(dir, config) {
  const weights = generateWeights(config);
  const c = weights.config;
  for (const d of ['tables', 'mlp', 'fp32']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const manifest = { formatVersion: FORMAT_VERSION, lowbit: require('../../package.json').version, config: c, tables: [], mlp: {}, fp32: { tables: [], mlp: {} } };
  weights.tables.forEach((v, t) => {
    const format = c.tableFormats[t];
    const table = EmbeddingTable.fromFloat32(v, { dim: c.dim, format });
    const file = `tables/${t}.${format}`;
    fs.writeFileSync(path.join(dir, file), table.bytes);
    manifest.tables.push({ file, rows: table.rows, dim: c.dim, format });
    const f32 = `fp32/table${t}.f32`;
    writeF32(path.join(dir, f32), v);
    manifest.fp32.tables.push({ file: f32, rows: v.length / c.dim, dim: c.dim });
  });
  for (const part of ['bottom', 'top']) {
    manifest.mlp[part] = [];
    manifest.fp32.mlp[part] = [];
    weights[part].forEach((l, i) => {
      const q = QuantizedLinear.fromFloat32(l.w, { k: l.k, n: l.n, layout: 'kn', bias: l.b });
      const file = `mlp/${part}${i}.qlinear`;
      fs.writeFileSync(path.join(dir, file), q.serialize());
      manifest.mlp[part].push({ file, k: l.k, n: l.n });
      const w = `fp32/${part}${i}.w.f32`;
      const b = `fp32/${part}${i}.b.f32`;
      writeF32(path.join(dir, w), l.w);
      writeF32(path.join(dir, b), l.b);
      manifest.fp32.mlp[part].push({ w, b, k: l.k, n: l.n });
    });
  }
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}

/** The manifest of the model in `dir`, checked. */
function readManifest(dir) {
  const file = path.join(dir, 'model.json');
  if (!fs.existsSync(file)) {
    throw new Error(`no model in ${dir} (${file} is missing): write one with node examples/recsys-server/build-model.js --out ${dir}`);
  }
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (m.formatVersion !== FORMAT_VERSION) throw new Error(`${file}: formatVersion ${m.formatVersion}, this server reads ${FORMAT_VERSION}`);
  return m;
}

/**
 * The fp32 reference's tables of the model in `dir`, read into SharedArrayBuffers (once per
 * process: pass them to loadModel in every worker thread).
 */
function loadSharedFp32Tables(dir) {
  return readManifest(dir).fp32.tables.map((t) => readF32(path.join(dir, t.file), true));
}

/**
 * Loads variant 'lowbit' (tables mapped from their files, int8 layers deserialized) or 'fp32'
 * (tables: `fp32Tables` from loadSharedFp32Tables, or read here) of the model in `dir`; returns
 * the model object of model.js ({ name, config, tableBytes, logits, predict }) plus close().
 */
function loadModel(dir, variant, { threads = 1, fp32Tables } = {}) {
  const m = readManifest(dir);
  const c = m.config;
  if (variant === 'lowbit') {
    const tables = m.tables.map((t) => EmbeddingTable.open(path.join(dir, t.file), { dim: t.dim, format: t.format }));
    const layers = (part) => m.mlp[part].map((l) => ({ k: l.k, n: l.n, packed: QuantizedLinear.deserialize(fs.readFileSync(path.join(dir, l.file))) }));
    const model = buildModel({ config: c, bottom: layers('bottom'), top: layers('top'), tables: [] }, { embeddings: 'quantized', mlp: 'int8', threads, tables });
    const touchTables = () => {
      for (const t of tables) lowbit.embeddingBag(t, { indices: Int32Array.from({ length: t.rows }, (_, i) => i), lengths: new Int32Array([t.rows]) });
    };
    return { ...model, touchTables, close: () => tables.forEach((t) => t.close()) };
  }
  if (variant === 'fp32') {
    const tables = fp32Tables ?? m.fp32.tables.map((t) => readF32(path.join(dir, t.file), false));
    const layers = (part) => m.fp32.mlp[part].map((l) => ({ k: l.k, n: l.n, w: readF32(path.join(dir, l.w)), b: readF32(path.join(dir, l.b)) }));
    const model = buildModel({ config: c, bottom: layers('bottom'), top: layers('top'), tables }, { embeddings: 'fp32', mlp: 'fp32' });
    return { ...model, close: () => {} };
  }
  throw new RangeError(`unknown model variant ${JSON.stringify(variant)} (expected 'lowbit' or 'fp32')`);
}

module.exports = { saveModel, readManifest, loadModel, loadSharedFp32Tables };

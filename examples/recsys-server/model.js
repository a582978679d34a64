'use strict';
/**
 * A DLRM-shaped recommendation model (Naumov et al., 2019) with weights generated from a seed, in
 * two variants of the same weights:
 *
 * - `lowbit`: embedding tables quantized rowwise to 8 bits ('q8') and 4 bits ('q4') and looked up
 *   for every table in one `embeddingBags` call; MLP layers packed as int8 by
 *   `QuantizedLinear.fromFloat32` and run with dynamic int8 activation quantization (`forward`).
 * - `fp32`: the same fp32 tables and weights, embedding sums and matrix products in plain
 *   JavaScript loops over Float32Arrays (the reference).
 *
 * Forward pass, for a batch of n samples:
 *   bottom = MLP_bottom(dense)                     n × D     (ReLU after every layer)
 *   e_t    = Σ_{id in sparse[t]} table_t[id]       n × D     for each of the T tables (pooled sum)
 *   z      = [bottom, <v_i, v_j> for i > j]        n × (D + F(F-1)/2), v = [bottom, e_1..e_T], F = T+1
 *   p      = sigmoid(MLP_top(z))                   n         (ReLU after every top layer but the last)
 *
 * The feature interaction (pairwise dot products) runs in the same JavaScript in both variants, so
 * the variants differ only where lowbit is used. Every stage works sample by sample (per-row
 * activation quantization in `forward`), so a sample's prediction does not depend on which other
 * samples share its batch: the server's dynamic batching never changes a result.
 */
const lowbit = require('../..');

const { EmbeddingTable, QuantizedLinear, embeddingBags } = lowbit;

/** Default table sizes (26 tables, as Criteo's 26 categorical features), 680,000 rows in all. */
const DEFAULT_ROWS = [
  200000, 100000, 50000, 50000, 20000, 20000, 20000, 20000, 20000, 20000, 10000, 10000, 10000,
  10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000,
];

/**
 * @typedef {'q8' | 'q4' | 'q2' | 'f16' | 'f32'} TableFormat
 * @typedef {object} ModelConfig
 * @property {number} seed            PRNG seed of every weight
 * @property {number} denseFeatures   dense inputs per sample (13 in Criteo)
 * @property {number[]} bottomMlp     bottom MLP widths; the last must equal `dim`
 * @property {number[]} topMlp        top MLP widths; the last must be 1
 * @property {number} dim             embedding dimension D
 * @property {number[]} tableRows     rows of each table (T = tableRows.length)
 * @property {TableFormat[]} tableFormats  lowbit format of each table
 * @property {number[]} multiHot      tables whose synthetic samples have 1 to 4 ids (others: 1)
 * @property {number} embeddingRange  table values are uniform in ±embeddingRange
 * @property {number} logitMean       calibration target of the logits' mean (sets the base rate)
 * @property {number} logitStd        calibration target of the logits' spread
 */

/** @type {ModelConfig} */
const DEFAULT_CONFIG = Object.freeze({
  seed: 2024,
  denseFeatures: 13,
  bottomMlp: [512, 256, 64],
  topMlp: [512, 256, 1],
  dim: 64,
  tableRows: DEFAULT_ROWS,
  // a few tables at 8 bits, the rest at 4 bits
  tableFormats: DEFAULT_ROWS.map((_, t) => (t % 4 === 2 ? 'q8' : 'q4')),
  multiHot: DEFAULT_ROWS.map((_, t) => t).filter((t) => t % 5 === 3),
  embeddingRange: 0.25,
  logitMean: -1.2,
  logitStd: 1.5,
});

/**
 * A small configuration for tests (8 tables of at most 3,000 rows, D = 16, narrow MLPs).
 * @type {ModelConfig}
 */
const SMALL_CONFIG = Object.freeze({
  ...DEFAULT_CONFIG,
  bottomMlp: [32, 16],
  topMlp: [32, 1],
  dim: 16,
  tableRows: [3000, 2000, 1000, 1000, 500, 500, 200, 100],
  tableFormats: ['q4', 'q4', 'q8', 'q4', 'q4', 'q4', 'q8', 'q4'],
  multiHot: [3, 5],
});

/**
 * Fills in and checks a configuration.
 * @param {Partial<ModelConfig> | 'small' | 'default'} [overrides]
 * @returns {ModelConfig}
 */
function resolveConfig(overrides) {
  if (overrides === 'small') return SMALL_CONFIG;
  const c = { ...DEFAULT_CONFIG, ...(overrides === 'default' || overrides === undefined ? {} : overrides) };
  const T = c.tableRows.length;
  if (T < 1) throw new RangeError('config.tableRows must list at least one table');
  if (!Array.isArray(c.tableFormats) || c.tableFormats.length !== T) {
    throw new RangeError(`config.tableFormats must have one format per table (${T}), got ${c.tableFormats && c.tableFormats.length}`);
  }
  if (c.bottomMlp[c.bottomMlp.length - 1] !== c.dim) {
    throw new RangeError(`the last bottom MLP width (${c.bottomMlp[c.bottomMlp.length - 1]}) must equal dim (${c.dim})`);
  }
  if (c.topMlp[c.topMlp.length - 1] !== 1) throw new RangeError('the last top MLP width must be 1');
  return c;
}

/** Width of the interaction output: the bottom vector plus one dot product per pair of the T+1 vectors. */
function interactionWidth(c) {
  const F = c.tableRows.length + 1;
  return c.dim + (F * (F - 1)) / 2;
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers

/** mulberry32: a small, fast 32-bit PRNG; returns uniforms in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for a named part of the model, so parts do not depend on generation order. */
function subSeed(seed, name) {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Standard normals by Box-Muller. */
function normals(random) {
  let spare = NaN;
  return () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// ---------------------------------------------------------------------------------------------
// Weights

/**
 * @typedef {object} LinearWeights
 * @property {number} k        inputs
 * @property {number} n        outputs
 * @property {Float32Array} w  k × n, row-major ('kn')
 * @property {Float32Array} b  n
 *
 * @typedef {object} Weights
 * @property {ModelConfig} config
 * @property {LinearWeights[]} bottom
 * @property {LinearWeights[]} top
 * @property {Float32Array[]} tables  rows × dim each
 */

/** He-initialised layer (normal, std sqrt(2 / fan_in)) with a small random bias. */
function heLinear(k, n, seed) {
  const z = normals(rng(seed));
  const std = Math.sqrt(2 / k);
  const w = new Float32Array(k * n);
  for (let i = 0; i < w.length; i++) w[i] = z() * std;
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) b[i] = z() * 0.05;
  return { k, n, w, b };
}

/**
 * Generates every weight from `config.seed`, then rescales the last layer so that the logits on a
 * seeded synthetic batch have mean `logitMean` and standard deviation `logitStd` (random weights
 * otherwise give nearly constant predictions, which would make accuracy comparisons meaningless).
 * @param {Partial<ModelConfig> | 'small' | 'default'} [configOrOverrides]
 * @returns {Weights}
 */
function generateWeights(configOrOverrides) {
  const c = resolveConfig(configOrOverrides);
  const bottom = [];
  let k = c.denseFeatures;
  c.bottomMlp.forEach((n, i) => {
    bottom.push(heLinear(k, n, subSeed(c.seed, `bottom${i}`)));
    k = n;
  });
  const top = [];
  k = interactionWidth(c);
  c.topMlp.forEach((n, i) => {
    top.push(heLinear(k, n, subSeed(c.seed, `top${i}`)));
    k = n;
  });
  const tables = c.tableRows.map((rows, t) => {
    const random = rng(subSeed(c.seed, `table${t}`));
    const v = new Float32Array(rows * c.dim);
    const a = 2 * c.embeddingRange;
    for (let i = 0; i < v.length; i++) v[i] = (random() - 0.5) * a;
    return v;
  });
  /** @type {Weights} */
  const weights = { config: c, bottom, top, tables };
  calibrate(weights);
  return weights;
}

function calibrate(weights) {
  const c = weights.config;
  const model = buildModel(weights, { embeddings: 'fp32', mlp: 'fp32' });
  const batch = toBatch(syntheticSamples(c, 512, subSeed(c.seed, 'calibration')), c);
  const logits = model.logits(batch);
  let mean = 0;
  for (const v of logits) mean += v;
  mean /= logits.length;
  let variance = 0;
  for (const v of logits) variance += (v - mean) ** 2;
  const std = Math.sqrt(variance / logits.length) || 1;
  const last = weights.top[weights.top.length - 1];
  const s = c.logitStd / std;
  for (let i = 0; i < last.w.length; i++) last.w[i] *= s;
  last.b[0] = last.b[0] * s + (c.logitMean - mean * s);
}

// ---------------------------------------------------------------------------------------------
// Batches and synthetic samples

/**
 * A request sample, as the server receives it.
 * @typedef {object} Sample
 * @property {number[]} dense     `denseFeatures` numbers (already transformed, e.g. log(1 + count))
 * @property {number[][]} sparse  one list of row ids per table (pooled by sum)
 *
 * A batch in the layout the kernels take.
 * @typedef {object} Batch
 * @property {number} n              samples
 * @property {Float32Array} dense    n × denseFeatures
 * @property {Int32Array[]} indices  per table: the ids of every sample, concatenated
 * @property {Int32Array[]} lengths  per table: ids per sample (n values)
 */

/**
 * Packs samples (already validated) into a batch.
 * @param {Sample[]} samples
 * @param {ModelConfig} c
 * @returns {Batch}
 */
function toBatch(samples, c) {
  const n = samples.length;
  const T = c.tableRows.length;
  const Dd = c.denseFeatures;
  const dense = new Float32Array(n * Dd);
  const counts = new Int32Array(T);
  const lengths = [];
  for (let t = 0; t < T; t++) lengths.push(new Int32Array(n));
  for (let b = 0; b < n; b++) {
    const s = samples[b];
    for (let j = 0; j < Dd; j++) dense[b * Dd + j] = s.dense[j];
    for (let t = 0; t < T; t++) {
      const len = s.sparse[t].length;
      lengths[t][b] = len;
      counts[t] += len;
    }
  }
  const indices = [];
  for (let t = 0; t < T; t++) {
    const idx = new Int32Array(counts[t]);
    let p = 0;
    for (let b = 0; b < n; b++) {
      const ids = samples[b].sparse[t];
      for (let i = 0; i < ids.length; i++) idx[p++] = ids[i];
    }
    indices.push(idx);
  }
  return { n, dense, indices, lengths };
}

/**
 * Seeded synthetic samples: dense features log(1 + count) with geometric counts of different
 * means, one id per table (1 to 4 on the multi-hot tables) drawn with a power-law skew towards low
 * ids (hot rows), as in click logs.
 * @param {ModelConfig} c
 * @param {number} n
 * @param {number} seed
 * @returns {Sample[]}
 */
function syntheticSamples(c, n, seed) {
  const random = rng(seed);
  const multi = new Set(c.multiHot);
  const out = [];
  for (let i = 0; i < n; i++) {
    const dense = [];
    for (let j = 0; j < c.denseFeatures; j++) {
      const mean = 2 ** (j % 7); // 1 .. 64
      const count = Math.floor(-Math.log(1 - random()) * mean);
      dense.push(Math.log1p(count));
    }
    const sparse = c.tableRows.map((rows, t) => {
      const len = multi.has(t) ? 1 + Math.floor(random() * 4) : 1;
      const ids = [];
      for (let k = 0; k < len; k++) ids.push(Math.min(rows - 1, Math.floor(rows * random() ** 3)));
      return ids;
    });
    out.push({ dense, sparse });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kernels of the fp32 reference

/**
 * y = x · W + b (optionally ReLU); x: m × k, W: k × n row-major. Row-major loops with the inner
 * loop over contiguous rows of W and y; four samples share each load of a W row (about twice as
 * fast as one at a time in V8). Every sample gets the same operations in the same order whatever
 * the batch, so results do not depend on batching.
 */
function linearF32(x, m, layer, relu) {
  const { k, n, w, b } = layer;
  const y = new Float32Array(m * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const y0 = i * n;
    const y1 = y0 + n;
    const y2 = y1 + n;
    const y3 = y2 + n;
    const x0 = i * k;
    const x1 = x0 + k;
    const x2 = x1 + k;
    const x3 = x2 + k;
    for (let j = 0; j < n; j++) y[y0 + j] = y[y1 + j] = y[y2 + j] = y[y3 + j] = b[j];
    for (let p = 0; p < k; p++) {
      const a0 = x[x0 + p];
      const a1 = x[x1 + p];
      const a2 = x[x2 + p];
      const a3 = x[x3 + p];
      const wo = p * n;
      for (let j = 0; j < n; j++) {
        const wv = w[wo + j];
        y[y0 + j] += a0 * wv;
        y[y1 + j] += a1 * wv;
        y[y2 + j] += a2 * wv;
        y[y3 + j] += a3 * wv;
      }
    }
  }
  for (; i < m; i++) {
    const yo = i * n;
    const xo = i * k;
    for (let j = 0; j < n; j++) y[yo + j] = b[j];
    for (let p = 0; p < k; p++) {
      const a = x[xo + p];
      const wo = p * n;
      for (let j = 0; j < n; j++) y[yo + j] += a * w[wo + j];
    }
  }
  if (relu) for (let j = 0; j < y.length; j++) if (y[j] < 0) y[j] = 0;
  return y;
}

/** Pooled sums of every table: out is n × (T·D), sample b's T vectors side by side (as embeddingBags). */
function embeddingF32(tables, batch, D) {
  const T = tables.length;
  const n = batch.n;
  const out = new Float32Array(n * T * D);
  for (let t = 0; t < T; t++) {
    const tab = tables[t];
    const idx = batch.indices[t];
    const len = batch.lengths[t];
    let p = 0;
    for (let b = 0; b < n; b++) {
      const oo = b * T * D + t * D;
      for (let end = p + len[b]; p < end; p++) {
        const ro = idx[p] * D;
        for (let d = 0; d < D; d++) out[oo + d] += tab[ro + d];
      }
    }
  }
  return out;
}

/**
 * DLRM's "dot" interaction: for each sample, the bottom vector followed by the dot products of
 * every pair (i > j) of the F = T + 1 vectors [bottom, e_1, ..., e_T]. Shared by both variants.
 */
function interact(bottom, emb, n, D, T) {
  const F = T + 1;
  const width = D + (F * (F - 1)) / 2;
  const z = new Float32Array(n * width);
  const v = new Float32Array(F * D);
  for (let b = 0; b < n; b++) {
    v.set(bottom.subarray(b * D, (b + 1) * D), 0);
    v.set(emb.subarray(b * T * D, (b + 1) * T * D), D);
    const zo = b * width;
    for (let d = 0; d < D; d++) z[zo + d] = v[d];
    let o = zo + D;
    for (let i = 1; i < F; i++) {
      const io = i * D;
      for (let j = 0; j < i; j++) {
        const jo = j * D;
        let s0 = 0;
        let s1 = 0;
        let d = 0;
        for (; d + 1 < D; d += 2) {
          s0 += v[io + d] * v[jo + d];
          s1 += v[io + d + 1] * v[jo + d + 1];
        }
        if (d < D) s0 += v[io + d] * v[jo + d];
        z[o++] = s0 + s1;
      }
    }
  }
  return z;
}

// ---------------------------------------------------------------------------------------------
// Models

/**
 * @typedef {object} StageTimes
 * @property {number} embedding    ms
 * @property {number} bottom       ms
 * @property {number} interaction  ms
 * @property {number} top          ms
 *
 * @typedef {object} Model
 * @property {string} name
 * @property {ModelConfig} config
 * @property {number} tableBytes   bytes of embedding rows held
 * @property {(batch: Batch, times?: StageTimes) => Float32Array} logits   n logits
 * @property {(batch: Batch, times?: StageTimes) => Float32Array} predict  n probabilities
 */

/**
 * Builds a model over `weights`. `embeddings`: 'quantized' (lowbit tables in config.tableFormats,
 * one embeddingBags call) or 'fp32' (JS loops); `mlp`: 'int8' (QuantizedLinear, dynamic int8
 * activations) or 'fp32' (JS loops). The mixed variants exist to attribute the error (accuracy.js).
 * @param {Weights} weights
 * @param {{ embeddings?: 'quantized' | 'fp32', mlp?: 'int8' | 'fp32', threads?: number, name?: string, reduceRange?: boolean }} [options]
 * @returns {Model}
 */
function buildModel(weights, options = {}) {
  const c = weights.config;
  const embeddings = options.embeddings ?? 'quantized';
  const mlp = options.mlp ?? 'int8';
  const threads = options.threads ?? 1;
  const reduceRange = options.reduceRange ?? true;
  const D = c.dim;
  const T = c.tableRows.length;

  /** @type {(batch: Batch) => Float32Array} */
  let lookup;
  let tableBytes;
  if (embeddings === 'quantized') {
    // options.tables: tables already built (model-files.js opens them mapped from files)
    const tables = options.tables ?? weights.tables.map((v, t) => EmbeddingTable.fromFloat32(v, { dim: D, format: c.tableFormats[t] }));
    tableBytes = tables.reduce((s, t) => s + t.rows * t.rowStride, 0);
    lookup = (batch) =>
      embeddingBags(
        tables.map((table, t) => ({ table, indices: batch.indices[t], lengths: batch.lengths[t] })),
        { threads },
      );
  } else if (embeddings === 'fp32') {
    tableBytes = weights.tables.reduce((s, v) => s + v.byteLength, 0);
    lookup = (batch) => embeddingF32(weights.tables, batch, D);
  } else {
    throw new RangeError(`options.embeddings must be 'quantized' or 'fp32', got ${embeddings}`);
  }

  /** @type {(layers: LinearWeights[]) => ((x: Float32Array, m: number, relu: boolean, i: number) => Float32Array)} */
  let makeMlp;
  if (mlp === 'int8') {
    makeMlp = (layers) => {
      // l.packed: a layer already packed (model-files.js deserializes it from a file)
      const packed = layers.map((l) => l.packed ?? QuantizedLinear.fromFloat32(l.w, { k: l.k, n: l.n, layout: 'kn', bias: l.b }));
      // perRow: activation scale per sample, so results do not depend on the batch
      return (x, m, relu, i) => packed[i].forward(x, { m, relu, perRow: true, reduceRange, threads });
    };
  } else if (mlp === 'fp32') {
    makeMlp = (layers) => (x, m, relu, i) => linearF32(x, m, layers[i], relu);
  } else {
    throw new RangeError(`options.mlp must be 'int8' or 'fp32', got ${mlp}`);
  }
  const bottomLayer = makeMlp(weights.bottom);
  const topLayer = makeMlp(weights.top);
  const nb = weights.bottom.length;
  const nt = weights.top.length;

  const now = () => Number(process.hrtime.bigint()) / 1e6;

  /** @type {Model['logits']} */
  function logits(batch, times) {
    const n = batch.n;
    const t0 = now();
    const emb = lookup(batch);
    const t1 = now();
    let h = batch.dense;
    for (let i = 0; i < nb; i++) h = bottomLayer(h, n, true, i);
    const t2 = now();
    let z = interact(h, emb, n, D, T);
    const t3 = now();
    for (let i = 0; i < nt; i++) z = topLayer(z, n, i < nt - 1, i);
    const t4 = now();
    if (times) {
      times.embedding += t1 - t0;
      times.bottom += t2 - t1;
      times.interaction += t3 - t2;
      times.top += t4 - t3;
    }
    return z;
  }

  /** @type {Model['predict']} */
  function predict(batch, times) {
    const z = logits(batch, times);
    const p = new Float32Array(batch.n);
    for (let i = 0; i < batch.n; i++) p[i] = 1 / (1 + Math.exp(-z[i]));
    return p;
  }

  const name = options.name ?? (embeddings === 'quantized' && mlp === 'int8' ? 'lowbit' : embeddings === 'fp32' && mlp === 'fp32' ? 'fp32' : `${embeddings}-tables+${mlp}-mlp`);
  return { name, config: c, tableBytes, logits, predict };
}

/**
 * Generates the weights and builds the requested variants (default both).
 * @param {{ config?: Partial<ModelConfig> | 'small' | 'default', variants?: ('lowbit' | 'fp32')[], threads?: number }} [options]
 * @returns {{ config: ModelConfig, weights: Weights, models: Record<string, Model>, buildMs: number }}
 */
function createModels(options = {}) {
  const start = Date.now();
  const weights = generateWeights(options.config);
  const variants = options.variants ?? ['lowbit', 'fp32'];
  /** @type {Record<string, Model>} */
  const models = {};
  for (const v of variants) {
    if (v === 'lowbit') models.lowbit = buildModel(weights, { embeddings: 'quantized', mlp: 'int8', threads: options.threads });
    else if (v === 'fp32') models.fp32 = buildModel(weights, { embeddings: 'fp32', mlp: 'fp32' });
    else throw new RangeError(`unknown model variant ${JSON.stringify(v)} (expected 'lowbit' or 'fp32')`);
  }
  return { config: weights.config, weights, models, buildMs: Date.now() - start };
}

module.exports = {
  DEFAULT_CONFIG,
  SMALL_CONFIG,
  resolveConfig,
  interactionWidth,
  generateWeights,
  buildModel,
  createModels,
  toBatch,
  syntheticSamples,
  rng,
};

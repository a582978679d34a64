'use strict';
/**
 * Accuracy of the lowbit model (q8/q4 tables, int8 MLPs) against the fp32 model with the same
 * weights, on a seeded synthetic dataset. Labels are drawn from the fp32 model's own probabilities
 * (label ~ Bernoulli(p_fp32)), so the fp32 model is calibrated on this data by construction and
 * the log loss is meaningful: the change in log loss is what quantization costs.
 * The mixed variants (quantized tables with fp32 MLPs, fp32 tables with int8 MLPs) attribute the
 * difference to the tables and to the MLPs.
 *
 *   node examples/recsys-server/accuracy.js [--samples 20000] [--seed 7] [--json out.json]
 */
const fs = require('node:fs');

const { buildModel, generateWeights, rng, syntheticSamples, toBatch } = require('./model');

/**
 * @param {{ samples?: number, seed?: number, config?: object | 'small' | 'default', batch?: number, mixed?: boolean }} [options]
 */
function measureAccuracy(options = {}) {
  const n = options.samples ?? 20000;
  const seed = options.seed ?? 7;
  const batchSize = options.batch ?? 256;
  const weights = generateWeights(options.config);
  const c = weights.config;
  const variants = [
    ['lowbit', { embeddings: 'quantized', mlp: 'int8' }],
    ...(options.mixed === false
      ? []
      : [
          ['q8/q4 tables + fp32 MLPs', { embeddings: 'quantized', mlp: 'fp32' }],
          ['fp32 tables + int8 MLPs', { embeddings: 'fp32', mlp: 'int8' }],
        ]),
  ];
  const reference = buildModel(weights, { embeddings: 'fp32', mlp: 'fp32' });
  const models = variants.map(([name, o]) => buildModel(weights, { ...o, name }));
  const samples = syntheticSamples(c, n, seed);
  const pRef = new Float32Array(n);
  const pOut = models.map(() => new Float32Array(n));
  const ms = { fp32: 0, ...Object.fromEntries(models.map((m) => [m.name, 0])) };
  for (let off = 0; off < n; off += batchSize) {
    const batch = toBatch(samples.slice(off, off + batchSize), c);
    let t = process.hrtime.bigint();
    pRef.set(reference.predict(batch), off);
    ms.fp32 += Number(process.hrtime.bigint() - t) / 1e6;
    models.forEach((m, i) => {
      t = process.hrtime.bigint();
      pOut[i].set(m.predict(batch), off);
      ms[m.name] += Number(process.hrtime.bigint() - t) / 1e6;
    });
  }
  const random = rng(seed ^ 0x5bd1e995);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = random() < pRef[i] ? 1 : 0;

  const eps = 1e-7;
  const logLoss = (p) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.min(1 - eps, Math.max(eps, p[i]));
      s -= labels[i] ? Math.log(q) : Math.log(1 - q);
    }
    return s / n;
  };
  const auc = (p) => {
    const order = Array.from(p.keys()).sort((a, b) => p[a] - p[b]);
    let rankSum = 0;
    let pos = 0;
    // average ranks over ties
    for (let i = 0; i < n; ) {
      let j = i;
      while (j + 1 < n && p[order[j + 1]] === p[order[i]]) j++;
      const rank = (i + j) / 2 + 1;
      for (let k = i; k <= j; k++) if (labels[order[k]]) {
        rankSum += rank;
        pos++;
      }
      i = j + 1;
    }
    const neg = n - pos;
    return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
  };
  const llRef = logLoss(pRef);
  const aucRef = auc(pRef);
  let meanP = 0;
  for (let i = 0; i < n; i++) meanP += pRef[i];
  const rows = models.map((m, k) => {
    const p = pOut[k];
    let sum = 0;
    let max = 0;
    const diffs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = Math.abs(p[i] - pRef[i]);
      diffs[i] = d;
      sum += d;
      if (d > max) max = d;
    }
    diffs.sort();
    const ll = logLoss(p);
    return {
      model: m.name,
      meanAbsDiff: sum / n,
      p99AbsDiff: diffs[Math.ceil(0.99 * n) - 1],
      maxAbsDiff: max,
      logLoss: ll,
      logLossDelta: ll - llRef,
      logLossDeltaPct: (100 * (ll - llRef)) / llRef,
      auc: auc(p),
      usPerSample: (1000 * ms[m.name]) / n,
    };
  });
  return {
    samples: n,
    seed,
    positiveRate: labels.reduce((s, v) => s + v, 0) / n,
    meanProbability: meanP / n,
    fp32: { logLoss: llRef, auc: aucRef, usPerSample: (1000 * ms.fp32) / n },
    rows,
  };
}

function report(r) {
  const f = (v, d) => v.toFixed(d);
  const lines = [];
  lines.push(`Accuracy against the fp32 model, ${r.samples} synthetic samples (seed ${r.seed}); labels ~ Bernoulli(p_fp32), ` +
    `positive rate ${f(100 * r.positiveRate, 1)}%, mean p_fp32 ${f(r.meanProbability, 4)}.`);
  lines.push('');
  lines.push(`fp32 reference: log loss ${f(r.fp32.logLoss, 5)}, AUC ${f(r.fp32.auc, 4)}, ${f(r.fp32.usPerSample, 1)} µs/sample (batches of 256, one thread).`);
  lines.push('');
  lines.push('| model | mean abs Δp | p99 abs Δp | max abs Δp | log loss | Δ log loss | AUC | µs/sample |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of r.rows) {
    const sign = x.logLossDelta >= 0 ? '+' : '';
    lines.push(`| ${x.model} | ${f(x.meanAbsDiff, 5)} | ${f(x.p99AbsDiff, 4)} | ${f(x.maxAbsDiff, 4)} | ${f(x.logLoss, 5)} | ${sign}${f(x.logLossDelta, 5)} (${sign}${f(x.logLossDeltaPct, 2)}%) | ${f(x.auc, 4)} | ${f(x.usPerSample, 1)} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const get = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
  };
  const r = measureAccuracy({ samples: Number(get('--samples', 20000)), seed: Number(get('--seed', 7)) });
  console.log(report(r));
  const json = get('--json', null);
  if (json) fs.writeFileSync(json, JSON.stringify(r, null, 2));
}

module.exports = { measureAccuracy, report };

'use strict';
/**
 * An HTTP inference server for the DLRM-style model of model.js, loaded from its files
 * (model-files.js, written by build-model.js), run by a pool of worker threads (pool.js).
 *
 *   POST /predict[?model=lowbit|fp32]  {"samples":[{"dense":[13 numbers],"sparse":[[ids...] x 26]}]}
 *                                      -> {"model":"lowbit","predictions":[p...]}
 *   GET  /health                       -> {"status":"ok", workers, memory (RSS, table pages shared), ...}
 *   GET  /metrics                      -> Prometheus text format (prom-client)
 *
 * fastify validates every request against a JSON schema built from the model (number of dense
 * features, tables, row ranges); prom-client keeps the metrics. Requests for the same model that
 * arrive within `batchWindowMs` of the first one (or until `maxBatchSize` samples wait) run as one
 * batch on the first idle worker; a prediction does not depend on the batch it ran in.
 *
 * Run: node examples/recsys-server/server.js [--model-dir DIR] [--workers N] [--port P]
 *      (env PORT, MODEL_DIR, WORKERS; listens on 127.0.0.1 only)
 */
const { parseArgs } = require('node:util');
const Fastify = require('fastify');
const promClient = require('prom-client');
const lowbit = require('../..');
const { Pool } = require('./pool');
const { readManifest } = require('./model-files');
const { memoryReport } = require('./memory');
const { toBatch } = require('./model');
const { DEFAULT_DIR } = require('./build-model');

/** The JSON schema of a /predict body for the model configuration `c`. */
function predictSchema(c, limits) {
  const id = (rows) => ({ type: 'integer', minimum: 0, maximum: rows - 1 });
  return {
    type: 'object',
    required: ['samples'],
    additionalProperties: false,
    properties: {
      samples: {
        type: 'array', minItems: 1, maxItems: limits.maxRequestSamples,
        items: {
          type: 'object', required: ['dense', 'sparse'], additionalProperties: false,
          properties: {
            dense: { type: 'array', minItems: c.denseFeatures, maxItems: c.denseFeatures, items: { type: 'number' } },
            sparse: {
              type: 'array', minItems: c.tableRows.length, maxItems: c.tableRows.length,
              // one entry per table: an id, or a list of ids (pooled by sum; [] pools to zeros)
              items: c.tableRows.map((rows) => ({ anyOf: [id(rows), { type: 'array', maxItems: limits.maxIdsPerFeature, items: id(rows) }] })),
            },
          },
        },
      },
    },
  };
}

/** Collects the samples of requests for one model into batches and runs them on the pool. */
class Batcher {
  constructor(pool, model, { windowMs, maxBatchSize, config, onBatch }) {
    Object.assign(this, { pool, model, windowMs, maxBatchSize, config, onBatch });
    this.waiting = [];
    this.count = 0;
    this.timer = null;
  }

  submit(samples) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ samples, resolve, reject });
      this.count += samples.length;
      if (this.count >= this.maxBatchSize) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.windowMs);
    });
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const reqs = this.waiting;
    if (reqs.length === 0) return;
    this.waiting = [];
    this.count = 0;
    const samples = reqs.flatMap((r) => r.samples);
    this.pool.run(this.model, toBatch(samples, this.config)).then(({ predictions, ms }) => {
      this.onBatch(samples.length, ms);
      let off = 0;
      for (const r of reqs) {
        r.resolve(predictions.subarray(off, off + r.samples.length));
        off += r.samples.length;
      }
    }, (e) => reqs.forEach((r) => r.reject(e)));
  }
}

/**
 * Starts a server. options: modelDir, workers (worker threads, default 1), models (variants),
 * port (0: a free one), host (default 127.0.0.1), batchWindowMs (2), maxBatchSize (256),
 * maxRequestSamples (1024), maxIdsPerFeature (64), maxBodyBytes (4 MiB), logger (fastify's).
 * Returns { app, url, port, config, pool, close() }.
 */
async function createServer(options = {}) {
  const dir = options.modelDir ?? process.env.MODEL_DIR ?? DEFAULT_DIR;
  const { config } = readManifest(dir);
  const names = options.models ?? ['lowbit', 'fp32'];
  const limits = { maxRequestSamples: options.maxRequestSamples ?? 1024, maxIdsPerFeature: options.maxIdsPerFeature ?? 64 };
  const pool = await new Pool({ dir, workers: options.workers ?? 1, variants: names }).ready;

  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry });
  const latency = new promClient.Histogram({
    name: 'recsys_request_duration_seconds', help: 'POST /predict, from arrival to the answer', labelNames: ['model', 'status'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1], registers: [registry],
  });
  const samplesTotal = new promClient.Counter({ name: 'recsys_samples_total', help: 'samples predicted', labelNames: ['model'], registers: [registry] });
  const batchSize = new promClient.Histogram({
    name: 'recsys_batch_size', help: 'samples per model batch', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers: [registry],
  });
  const batchSeconds = new promClient.Histogram({
    name: 'recsys_batch_seconds', help: 'model time per batch, in the worker', labelNames: ['model'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5], registers: [registry],
  });
  new promClient.Gauge({ name: 'recsys_queued_batches', help: 'batches waiting for a worker', registers: [registry], collect() { this.set(pool.queued); } });
  new promClient.Gauge({ name: 'recsys_workers', help: 'worker threads', registers: [registry], collect() { this.set(pool.size); } });

  const windowMs = options.batchWindowMs ?? 2;
  const maxBatchSize = options.maxBatchSize ?? 256;
  const batchers = Object.fromEntries(names.map((n) => [n, new Batcher(pool, n, {
    windowMs, maxBatchSize, config,
    onBatch: (size, ms) => {
      batchSize.observe({ model: n }, size);
      batchSeconds.observe({ model: n }, ms / 1e3);
    },
  })]));

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.maxBodyBytes ?? 4 * 1024 * 1024,
    // strict: an unknown field is an error (not dropped), "1" is not a number
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.post('/predict', {
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { model: { type: 'string', enum: names } } },
      body: predictSchema(config, limits),
    },
  }, async (req) => {
    const t0 = process.hrtime.bigint();
    const model = req.query.model ?? names[0];
    // a bare id means [id]
    const samples = req.body.samples.map((s) => ({ dense: s.dense, sparse: s.sparse.map((f) => (Array.isArray(f) ? f : [f])) }));
    const p = await batchers[model].submit(samples);
    samplesTotal.inc({ model }, samples.length);
    latency.observe({ model, status: 200 }, Number(process.hrtime.bigint() - t0) / 1e9);
    return { model, predictions: Array.from(p) };
  });
  app.get('/health', async () => ({
    status: 'ok', pid: process.pid, models: names, workers: pool.size, tables: config.tableRows.length,
    denseFeatures: config.denseFeatures, tableRows: config.tableRows, tableBytes: pool.tableBytes,
    isa: lowbit.cpu().isa, memory: memoryReport(dir),
  }));
  app.get('/metrics', async (req, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });

  await app.listen({ port: options.port ?? Number(process.env.PORT ?? 8080), host: options.host ?? '127.0.0.1' });
  const port = app.server.address().port;
  let closed = null;
  return {
    app, pool, config, port, url: `http://127.0.0.1:${port}`,
    /** Stops accepting, answers the requests in flight, then stops the workers. */
    close() {
      if (!closed) {
        closed = (async () => {
          for (const b of Object.values(batchers)) b.flush();
          await app.close();
          await pool.close();
        })();
      }
      return closed;
    },
  };
}

async function main() {
  const { values } = parseArgs({
    strict: true,
    options: { 'model-dir': { type: 'string' }, workers: { type: 'string' }, port: { type: 'string' }, models: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log('usage: node examples/recsys-server/server.js [--model-dir DIR] [--workers N] [--port P] [--models lowbit,fp32]');
    return;
  }
  const workers = Number(values.workers ?? process.env.WORKERS ?? 1);
  const s = await createServer({
    modelDir: values['model-dir'], workers, port: values.port === undefined ? undefined : Number(values.port),
    models: values.models ? values.models.split(',') : undefined, logger: { level: 'warn' },
  });
  console.log(`recsys server pid ${process.pid}: ${workers} worker(s) on ${s.url}`);
  if (process.send) process.send({ type: 'listening', port: s.port, url: s.url, pid: process.pid });
  const stop = () => s.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}

module.exports = { createServer, predictSchema };

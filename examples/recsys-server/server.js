'use strict';
/**
 * An HTTP inference server for the DLRM-style model of model.js, with dynamic batching.
 *
 *   POST /predict[?model=lowbit|fp32]  {"samples":[{"dense":[13 numbers],"sparse":[[ids...] x 26]}]}
 *                                      -> {"model":"lowbit","predictions":[p...]}
 *   GET  /health                       -> {"status":"ok", ...}
 *   GET  /metrics                      -> requests, samples, batches, batch sizes, latency percentiles,
 *                                         model time per batch (and per stage)
 *
 * Requests for the same model that arrive within `batchWindowMs` of the first one (or until
 * `maxBatchSize` samples are waiting) run as one batch; each gets its own predictions back. Every
 * stage of the model works sample by sample, so a prediction does not depend on the batch it ran in.
 *
 * Run: node examples/recsys-server/server.js   (PORT, default 8080; listens on 127.0.0.1 only)
 * Node's http module only; no dependencies beyond lowbit.
 */
const http = require('node:http');

const { createModels, syntheticSamples, toBatch } = require('./model');
const lowbit = require('../..');

/**
 * @typedef {object} ServerOptions
 * @property {number} [port]               default: PORT env, else 8080 (0: any free port)
 * @property {string} [host]               default '127.0.0.1'
 * @property {object | 'small' | 'default'} [model]  model configuration (see model.js); 'small' for tests
 * @property {('lowbit' | 'fp32')[]} [models]  variants to load; default both
 * @property {number} [batchWindowMs]      how long the first request of a batch waits for others; default 2
 * @property {number} [maxBatchSize]       samples that flush a batch at once; default 256
 * @property {number} [maxRequestSamples]  samples one request may carry; default 1024
 * @property {number} [maxIdsPerFeature]   ids per sparse feature of a sample; default 64
 * @property {number} [maxBodyBytes]       request body limit; default 4 MiB
 * @property {number} [threads]            threads of the lowbit kernels; default 1
 * @property {number} [shutdownTimeoutMs]  close() waits this long for in-flight requests before cutting connections; default 5000
 * @property {(msg: string) => void} [log] default: none
 */

/** A 4xx answer with a message. */
class HttpError extends Error {
  constructor(status, message, headers) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const bad = (message) => new HttpError(400, message);

/** Latencies of the last `size` events, for percentiles. */
class Ring {
  constructor(size = 10000) {
    this.values = new Float64Array(size);
    this.count = 0;
  }
  push(v) {
    this.values[this.count % this.values.length] = v;
    this.count++;
  }
  percentiles() {
    const n = Math.min(this.count, this.values.length);
    if (n === 0) return { p50: null, p90: null, p99: null, max: null };
    const s = this.values.slice(0, n).sort();
    const at = (q) => round(s[Math.min(n - 1, Math.ceil(q * n) - 1)]);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s[n - 1]) };
  }
}

const round = (v, digits = 3) => (v === null || v === undefined ? null : Number(v.toFixed(digits)));

// ---------------------------------------------------------------------------------------------
// Validation

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `a string`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks a parsed request body; returns the samples (with single ids normalised to lists).
 * Throws HttpError(400) naming the first bad field.
 */
function validateBody(body, config, limits) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw bad(`the body must be a JSON object {"samples": [...]}, got ${describe(body)}`);
  }
  const samples = body.samples;
  if (!Array.isArray(samples)) throw bad(`"samples" must be an array of samples, got ${samples === undefined ? 'nothing' : describe(samples)}`);
  if (samples.length === 0) throw bad('"samples" is empty: send at least one sample');
  if (samples.length > limits.maxRequestSamples) {
    throw bad(`too many samples: ${samples.length} in one request, at most ${limits.maxRequestSamples}`);
  }
  const Dd = config.denseFeatures;
  const T = config.tableRows.length;
  const out = new Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    const at = `samples[${i}]`;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw bad(`${at} must be an object with "dense" and "sparse", got ${describe(s)}`);
    const { dense, sparse } = s;
    if (!Array.isArray(dense)) throw bad(`${at}.dense must be an array of ${Dd} numbers, got ${dense === undefined ? 'nothing' : describe(dense)}`);
    if (dense.length !== Dd) throw bad(`${at}.dense must have ${Dd} numbers, got ${dense.length}`);
    for (let j = 0; j < Dd; j++) {
      const v = dense[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${at}.dense[${j}] must be a finite number, got ${describe(v)}`);
    }
    if (!Array.isArray(sparse)) throw bad(`${at}.sparse must be an array of ${T} id lists (one per table), got ${sparse === undefined ? 'nothing' : describe(sparse)}`);
    if (sparse.length !== T) throw bad(`${at}.sparse must have ${T} features (one id list per table), got ${sparse.length}`);
    const lists = new Array(T);
    for (let t = 0; t < T; t++) {
      let ids = sparse[t];
      if (typeof ids === 'number') ids = [ids]; // a single id may be given bare
      if (!Array.isArray(ids)) throw bad(`${at}.sparse[${t}] must be an array of row ids, got ${describe(ids)}`);
      if (ids.length > limits.maxIdsPerFeature) throw bad(`${at}.sparse[${t}] has ${ids.length} ids, at most ${limits.maxIdsPerFeature}`);
      const rows = config.tableRows[t];
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k];
        if (typeof id !== 'number' || !Number.isInteger(id)) throw bad(`${at}.sparse[${t}][${k}] must be an integer row id, got ${describe(id)}`);
        if (id < 0 || id >= rows) throw bad(`${at}.sparse[${t}][${k}] = ${id} is out of range for table ${t} (ids 0 to ${rows - 1})`);
      }
      lists[t] = ids;
    }
    out[i] = { dense, sparse: lists };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Dynamic batching

/** Per-model counters. */
function modelStats() {
  return {
    requests: 0,
    samples: 0,
    batches: 0,
    maxBatchSize: 0,
    batchMsTotal: 0,
    batchMs: new Ring(2000),
    latencyMs: new Ring(10000),
    stagesMs: { embedding: 0, bottom: 0, interaction: 0, top: 0 },
  };
}

/** Queues requests for one model and runs them in batches. */
class Batcher {
  /**
   * @param {import('./model').Model} model
   * @param {{ windowMs: number, maxBatchSize: number, stats: ReturnType<typeof modelStats> }} o
   */
  constructor(model, o) {
    this.model = model;
    this.windowMs = o.windowMs;
    this.maxBatchSize = o.maxBatchSize;
    this.stats = o.stats;
    /** @type {{ samples: object[], resolve: (p: Float32Array) => void, reject: (e: Error) => void }[]} */
    this.queue = [];
    this.queued = 0;
    this.timer = null;
    this.immediate = null;
  }

  /** Predictions for one request's samples, computed in the next batch. */
  submit(samples) {
    return new Promise((resolve, reject) => {
      this.queue.push({ samples, resolve, reject });
      this.queued += samples.length;
      if (this.queued >= this.maxBatchSize) this.#schedule(0);
      else if (this.timer === null && this.immediate === null) this.#schedule(this.windowMs);
    });
  }

  #schedule(ms) {
    if (ms <= 0) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      if (this.immediate === null) this.immediate = setImmediate(() => this.flush());
    } else {
      this.timer = setTimeout(() => this.flush(), ms);
    }
  }

  /** Runs one batch of whole requests (up to maxBatchSize samples, at least one request). */
  flush() {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    if (this.queue.length === 0) return;
    const take = [];
    let n = 0;
    while (this.queue.length > 0 && (take.length === 0 || n + this.queue[0].samples.length <= this.maxBatchSize)) {
      const r = this.queue.shift();
      take.push(r);
      n += r.samples.length;
    }
    this.queued -= n;
    const all = take.length === 1 ? take[0].samples : take.flatMap((r) => r.samples);
    const st = this.stats;
    let predictions;
    try {
      const start = process.hrtime.bigint();
      predictions = this.model.predict(toBatch(all, this.model.config), st.stagesMs);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      st.batches++;
      st.samples += n;
      st.maxBatchSize = Math.max(st.maxBatchSize, n);
      st.batchMsTotal += ms;
      st.batchMs.push(ms);
    } catch (e) {
      for (const r of take) r.reject(e);
      predictions = null;
    }
    if (predictions) {
      let off = 0;
      for (const r of take) {
        r.resolve(predictions.subarray(off, off + r.samples.length));
        off += r.samples.length;
      }
    }
    // requests still waiting have waited a window already: run them on the next turn of the loop
    if (this.queue.length > 0) this.#schedule(0);
  }

  /** Runs everything queued now (shutdown). */
  drain() {
    while (this.queue.length > 0) this.flush();
  }
}

// ---------------------------------------------------------------------------------------------
// Server

const live = new Set();

/**
 * Builds the models and starts listening.
 * @param {ServerOptions} [options]
 * @returns {Promise<{ server: http.Server, port: number, url: string, config: object, models: Record<string, import('./model').Model>, metrics: () => object, close: () => Promise<void> }>}
 */
async function createServer(options = {}) {
  const envPort = process.env.PORT !== undefined && process.env.PORT !== '' ? Number(process.env.PORT) : undefined;
  const port = options.port ?? envPort ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer in 0..65535, got ${port}`);
  const host = options.host ?? '127.0.0.1';
  const limits = {
    maxRequestSamples: options.maxRequestSamples ?? 1024,
    maxIdsPerFeature: options.maxIdsPerFeature ?? 64,
    maxBodyBytes: options.maxBodyBytes ?? 4 * 1024 * 1024,
  };
  const windowMs = options.batchWindowMs ?? 2;
  const maxBatchSize = options.maxBatchSize ?? 256;
  const log = options.log ?? (() => {});

  const built = createModels({ config: options.model, variants: options.models, threads: options.threads });
  const { config, models } = built;
  const names = Object.keys(models);
  // warm up (JIT, first-touch of the tables) so the first requests are not the slow ones
  for (const n of names) for (const size of [1, 4, 32]) models[n].predict(toBatch(syntheticSamples(config, size, size), config));
  const defaultModel = names.includes('lowbit') ? 'lowbit' : names[0];
  const stats = Object.fromEntries(names.map((n) => [n, modelStats()]));
  const batchers = Object.fromEntries(names.map((n) => [n, new Batcher(models[n], { windowMs, maxBatchSize, stats: stats[n] })]));
  const counters = { requests: 0, byStatus: /** @type {Record<string, number>} */ ({}) };
  const started = Date.now();
  let closing = false;

  function send(res, status, body, headers = {}) {
    const json = JSON.stringify(body);
    counters.byStatus[status] = (counters.byStatus[status] ?? 0) + 1;
    const h = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), ...headers };
    if (closing) h.Connection = 'close';
    res.writeHead(status, h);
    res.end(json);
  }

  function sendError(res, e) {
    if (e instanceof HttpError) {
      send(res, e.status, { error: http.STATUS_CODES[e.status], message: e.message }, e.headers);
    } else {
      log(`internal error: ${e && e.stack}`);
      send(res, 500, { error: 'Internal Server Error', message: String(e && e.message) });
    }
  }

  /** Reads the body up to the limit; rejects with 413 beyond it. */
  function readBody(req) {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
        req.resume(); // discard it; the answer closes the connection
        reject(new HttpError(413, `the body is ${declared} bytes, at most ${limits.maxBodyBytes}`, { Connection: 'close' }));
        return;
      }
      const chunks = [];
      let size = 0;
      let failed = false;
      req.on('data', (c) => {
        if (failed) return;
        size += c.length;
        if (size > limits.maxBodyBytes) {
          failed = true; // the rest is read and dropped; the answer closes the connection
          chunks.length = 0;
          reject(new HttpError(413, `the body is over ${limits.maxBodyBytes} bytes`, { Connection: 'close' }));
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!failed) resolve(Buffer.concat(chunks, size).toString('utf8'));
      });
      req.on('error', reject);
    });
  }

  function metrics() {
    const per = {};
    let requests = 0;
    let samples = 0;
    let batches = 0;
    for (const n of names) {
      const s = stats[n];
      requests += s.requests;
      samples += s.samples;
      batches += s.batches;
      const stages = {};
      for (const [k, v] of Object.entries(s.stagesMs)) stages[k] = s.batches ? round(v / s.batches) : null;
      per[n] = {
        requests: s.requests,
        samples: s.samples,
        batches: s.batches,
        meanBatchSize: s.batches ? round(s.samples / s.batches, 2) : null,
        maxBatchSize: s.maxBatchSize,
        latencyMs: s.latencyMs.percentiles(),
        batchMs: { mean: s.batches ? round(s.batchMsTotal / s.batches) : null, ...s.batchMs.percentiles() },
        modelMsTotal: round(s.batchMsTotal),
        usPerSample: s.samples ? round((1000 * s.batchMsTotal) / s.samples, 1) : null,
        stageMsPerBatch: stages,
        queued: batchers[n].queued,
      };
    }
    return {
      uptimeS: round((Date.now() - started) / 1000, 1),
      requests: counters.requests,
      responsesByStatus: counters.byStatus,
      predict: { requests, samples, batches, meanBatchSize: batches ? round(samples / batches, 2) : null },
      models: per,
      batching: { windowMs, maxBatchSize },
    };
  }

  async function handlePredict(req, res, url, t0) {
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} /predict: use POST`, { Allow: 'POST' });
    const name = url.searchParams.get('model') ?? defaultModel;
    if (!Object.prototype.hasOwnProperty.call(batchers, name)) {
      throw bad(`unknown model ${JSON.stringify(name)}: this server has ${names.map((n) => JSON.stringify(n)).join(', ')}`);
    }
    const text = await readBody(req);
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw bad(`the body is not valid JSON: ${e.message}`);
    }
    const samples = validateBody(body, config, limits);
    const predictions = await batchers[name].submit(samples);
    send(res, 200, { model: name, predictions: Array.from(predictions) });
    const s = stats[name];
    s.requests++;
    s.latencyMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    counters.requests++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    let work;
    if (url.pathname === '/predict') {
      work = handlePredict(req, res, url, t0);
    } else if (url.pathname === '/health' || url.pathname === '/metrics') {
      work = Promise.resolve().then(() => {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} ${url.pathname}: use GET`, { Allow: 'GET, HEAD' });
        if (url.pathname === '/metrics') return send(res, 200, metrics());
        send(res, closing ? 503 : 200, {
          status: closing ? 'shutting down' : 'ok',
          models: names,
          defaultModel,
          tables: config.tableRows.length,
          denseFeatures: config.denseFeatures,
          tableRows: config.tableRows,
          tableBytes: Object.fromEntries(names.map((n) => [n, models[n].tableBytes])),
          isa: lowbit.cpu().isa,
          uptimeS: round((Date.now() - started) / 1000, 1),
        });
      });
    } else {
      work = Promise.reject(new HttpError(404, `no route ${req.method} ${url.pathname} (try POST /predict, GET /health, GET /metrics)`));
    }
    work.catch((e) => {
      if (res.headersSent) res.destroy();
      else sendError(res, e); // Node discards a body left unread once the answer is sent
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;

  let closed = null;
  /** Stops accepting, answers every request already received, then closes every connection. */
  function close() {
    if (closed) return closed;
    closing = true;
    closed = new Promise((resolve) => {
      // after the grace period, cut connections still open (a client that never finishes its body)
      const force = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs ?? 5000);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        live.delete(instance);
        resolve(undefined);
      });
      // requests queued for a batch run now; answers carry Connection: close
      for (const b of Object.values(batchers)) b.drain();
      server.closeIdleConnections();
    });
    return closed;
  }

  const instance = {
    server,
    port: actualPort,
    url: `http://${host}:${actualPort}`,
    config,
    models,
    buildMs: built.buildMs,
    metrics,
    close,
  };
  live.add(instance);
  log(`lowbit recsys server: ${names.join(' + ')} models (${config.tableRows.length} tables, built in ${built.buildMs} ms) on ${instance.url}`);
  return instance;
}

/** Closes every server this module started. */
function close() {
  return Promise.all([...live].map((s) => s.close())).then(() => undefined);
}

async function main() {
  const log = (m) => console.log(`[${new Date().toISOString()}] ${m}`);
  const s = await createServer({ log });
  if (process.send) process.send({ type: 'listening', port: s.port, url: s.url });
  let signalled = false;
  const stop = (sig) => {
    if (signalled) {
      log(`${sig} again: exiting now`);
      process.exit(1);
    }
    signalled = true;
    log(`${sig}: finishing in-flight requests and shutting down`);
    close().then(() => {
      log('closed');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { createServer, close, validateBody };

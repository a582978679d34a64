'use strict';
/**
 * A pool of worker threads that run the model (worker.js), one batch at a time each, from one
 * queue: a batch goes to the longest-idle worker, so N workers keep N cores busy. Every worker maps
 * the same table files (lowbit) or shares the main thread's SharedArrayBuffers (fp32): adding a
 * worker adds no copy of the tables.
 */
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { loadSharedFp32Tables } = require('./model-files');

class Pool {
  /**
   * @param {{ dir: string, workers?: number, variants?: string[], threads?: number }} options
   *   threads: lowbit threads per call inside each worker (default 1: the pool is the parallelism)
   */
  constructor({ dir, workers = 1, variants = ['lowbit', 'fp32'], threads = 1 }) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
    this.size = workers;
    this.queue = [];
    this.pending = new Map();
    this.nextId = 1;
    this.idle = [];
    const fp32Tables = variants.includes('fp32') ? loadSharedFp32Tables(dir) : undefined;
    this.workers = [];
    /** Batches each worker has run. */
    this.batches = new Array(workers).fill(0);
    const ready = [];
    for (let i = 0; i < workers; i++) {
      const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: { dir, variants, fp32Tables, threads } });
      this.workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        w.once('error', reject);
        w.on('message', (msg) => {
          if (msg.type === 'ready') {
            w.off('error', reject);
            w.on('error', (e) => this.#fail(w, e));
            this.tableBytes = msg.tableBytes;
            this.#release(w);
            resolve(undefined);
            return;
          }
          this.batches[i]++;
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          this.#release(w);
          if (msg.error) p.reject(new Error(msg.error));
          else p.resolve({ predictions: msg.predictions, ms: msg.ms });
        });
      }));
    }
    /** Resolves when every worker has loaded the model. */
    this.ready = Promise.all(ready).then(() => this);
  }

  /** Batches waiting for a worker. */
  get queued() {
    return this.queue.length;
  }

  /** Runs model `model` on `batch` (model.js toBatch) in a worker: { predictions, ms }. */
  run(model, batch) {
    return new Promise((resolve, reject) => {
      const job = { id: this.nextId++, model, batch, resolve, reject };
      // the longest-idle worker: successive batches alternate between workers even when they
      // never overlap, so every worker stays warm and a test can see each one used
      const w = this.idle.shift();
      if (w) this.#send(w, job);
      else this.queue.push(job);
    });
  }

  #send(w, job) {
    this.pending.set(job.id, { resolve: job.resolve, reject: job.reject, worker: w });
    w.postMessage({ id: job.id, model: job.model, batch: job.batch });
  }

  #release(w) {
    const job = this.queue.shift();
    if (job) this.#send(w, job);
    else this.idle.push(w);
  }

  #fail(w, e) {
    for (const [id, p] of this.pending) {
      if (p.worker === w) {
        this.pending.delete(id);
        p.reject(e);
      }
    }
  }

  /** Lets the batches in flight finish, then stops the workers. */
  async close() {
    await Promise.all(this.workers.map((w) => new Promise((resolve) => {
      w.once('exit', resolve);
      w.postMessage({ type: 'close' });
    })));
  }
}

module.exports = { Pool };

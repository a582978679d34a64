'use strict';
/**
 * A worker thread of pool.js: loads the model variants from the model directory (lowbit's tables
 * mapped from their files, so every worker and process shares the same pages; the fp32 tables
 * from the SharedArrayBuffers the main thread passes) and answers batches:
 *   { id, model, batch: { n, dense, indices, lengths } } -> { id, predictions, ms } or { id, error }
 */
const { parentPort, workerData } = require('node:worker_threads');
const { loadModel } = require('./model-files');

const { dir, variants, fp32Tables, threads } = workerData;
const models = {};
for (const v of variants) models[v] = loadModel(dir, v, { threads, fp32Tables });
// first touch of every table row now (the mapped pages come into the page cache, shared by every
// worker and process that maps them), so that the first requests are not the slow ones
if (models.lowbit) models.lowbit.touchTables();

parentPort.on('message', (msg) => {
  if (msg.type === 'close') {
    for (const m of Object.values(models)) m.close();
    parentPort.close();
    return;
  }
  const { id, model, batch } = msg;
  try {
    const t0 = process.hrtime.bigint();
    const predictions = models[model].predict(batch);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    parentPort.postMessage({ id, predictions, ms }, [predictions.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.stack) || e) });
  }
});
parentPort.postMessage({ type: 'ready', tableBytes: Object.fromEntries(Object.entries(models).map(([k, m]) => [k, m.tableBytes])) });

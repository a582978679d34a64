#!/usr/bin/env node
'use strict';
/**
 * Writes the model files the server loads (model-files.js):
 *   node examples/recsys-server/build-model.js [--out DIR] [--config default|small]
 * DIR defaults to examples/recsys-server/model-data. About 5 s for the default model (26 tables,
 * 680,000 rows: 28 MB of q8/q4 tables, 174 MB of fp32 reference tables).
 */
const path = require('node:path');
const { parseArgs } = require('node:util');
const { saveModel } = require('./model-files');

const DEFAULT_DIR = path.join(__dirname, 'model-data');

function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log('usage: node examples/recsys-server/build-model.js [--out DIR] [--config default|small]');
    return;
  }
  const config = values.config ?? 'default';
  if (config !== 'default' && config !== 'small') throw new RangeError(`--config must be default or small, got ${config}`);
  const dir = values.out ?? DEFAULT_DIR;
  const t0 = Date.now();
  const m = saveModel(dir, config);
  console.log(`wrote ${dir}: ${m.tables.length} tables, ${m.config.tableRows.reduce((a, b) => a + b, 0)} rows, in ${Date.now() - t0} ms`);
}

if (require.main === module) main();
module.exports = { DEFAULT_DIR };

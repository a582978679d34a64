#!/usr/bin/env node
// npm run bench: lowbit's main job. Measures each kernel family against a baseline measured in the
// same run and prints a table per suite, with the CPU and the ISA in use.
//   --filter <name>   run only suites whose name contains <name>
//   --quick           fewer sizes and shorter timings
//   --json <file>     also write the results as JSON
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const flag = (name) => args.includes('--' + name);
const value = (name) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : undefined;
};

const lowbit = require(path.join(__dirname, '..'));
const suites = [require('./quantize')].filter((s) => !value('filter') || s.name.includes(value('filter')));

const info = lowbit.cpu();
const cpuModel = (os.cpus()[0] || {}).model || 'unknown CPU';
console.log(`lowbit bench: ${cpuModel}, ${os.cpus().length} cores, ${info.arch}, ISA in use: ${info.isa} (supported: ${info.supported.join(', ')})`);
console.log(`node ${process.version}; figures are medians of repeated runs; ratios compare variants measured side by side.\n`);

const results = { cpu: { model: cpuModel, ...info }, node: process.version, date: new Date().toISOString(), suites: {} };
for (const suite of suites) {
  console.log(`== ${suite.name}`);
  const rows = suite.run(lowbit, {
    quick: flag('quick'),
    onRow: (r) => process.stderr.write(`  ${r.op} n=${r.n}: ${r.gbs.toFixed(2)} GB/s\n`),
  });
  results.suites[suite.name] = rows;
  console.log(suite.format(rows) + '\n');
}
if (value('json')) {
  fs.writeFileSync(value('json'), JSON.stringify(results, null, 2));
  console.log(`wrote ${value('json')}`);
}

#!/usr/bin/env node
// npm run bench: lowbit's main job. Measures each kernel family against a baseline measured in the
// same run, prints a table per suite with the CPU and the ISA in use, and writes an HTML report
// with charts.
//   --filter <name>   run only suites whose name contains <name>
//   --quick           fewer sizes and shorter timings
//   --full            every shape of the lists (slow)
//   --threads <n>     threads for the ops that take them (default 1)
//   --json <file>     also write the results as JSON
//   --report <file>   where to write the HTML report (default lowbit-bench.html; --no-report: none)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const report = require('./report');

const args = process.argv.slice(2);
const flag = (name) => args.includes('--' + name);
const value = (name) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : undefined;
};

async function main() {
  const lowbit = require(path.join(__dirname, '..'));
  const all = [require('./quantize'), require('./gemm'), require('./embedding'), require('./embedding-options'), require('./sparse-conv'), require('./sparse-fc'), require('./qconv'), require('./conv-dense'), require('./conv-depthwise'), require('./sparse-winograd')];
  const suites = all.filter((s) => !value('filter') || s.name.includes(value('filter')));
  if (suites.length === 0) {
    console.error(`no suite matches --filter ${value('filter')}; suites: ${all.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const threads = value('threads') ? Number(value('threads')) : 1;
  if (!Number.isInteger(threads) || threads < 1) {
    console.error('--threads must be a positive integer');
    process.exit(2);
  }

  const info = lowbit.cpu();
  const cpuModel = (os.cpus()[0] || {}).model || 'unknown CPU';
  const machine = `${cpuModel}, ${os.cpus().length} cores, ${info.arch}, ISA in use: ${info.isa} (supported: ${info.supported.join(', ')}); node ${process.version}; threads ${threads}`;
  console.log(`lowbit bench: ${machine}`);
  console.log('figures are medians of repeated runs; ratios compare variants measured side by side, interleaved.\n');

  const results = { machine, cpu: { model: cpuModel, ...info }, node: process.version, date: new Date().toISOString(), threads, suites: {} };
  const sections = [];
  for (const suite of suites) {
    console.log(`== ${suite.name}`);
    const t0 = Date.now();
    const rows = await suite.run(lowbit, {
      quick: flag('quick'),
      full: flag('full'),
      threads,
      onRow: (r) => process.stderr.write(`  ${suite.progress ? suite.progress(r) : JSON.stringify(r)}\n`),
    });
    results.suites[suite.name] = rows;
    console.log(suite.format(rows));
    console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    if (suite.report) sections.push(suite.report(rows, results));
  }
  if (value('json')) {
    fs.writeFileSync(value('json'), JSON.stringify(results, null, 2));
    console.log(`wrote ${value('json')}`);
  }
  if (!flag('no-report')) {
    const file = value('report') || 'lowbit-bench.html';
    fs.writeFileSync(file, report.page({ title: 'lowbit benchmarks', machine, sections }));
    console.log(`wrote ${path.resolve(file)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

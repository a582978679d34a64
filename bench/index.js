#!/usr/bin/env node
// npm run bench: lowbit's main job. Runs each suite (bench/README.md: the suite contract), every
// variant interleaved with the peers it is compared with, then prints a summary that fits 100
// columns (per kernel family: lowbit against each peer measured in this run, a ratio with its
// spread), the details of every suite after it, and writes an HTML report and, optionally, JSON.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { spawnSync, execFileSync } = require('node:child_process');
const harness = require('./harness');
const report = require('./report');
const torch = require('./torch');
const { summarize, formatSummary } = require('./summary');

const { table, wrap, WIDTH } = harness;

// Suites in the order they run; a suite file may be absent (added by another change) or fail to
// load: the others still run.
const SUITE_FILES = [
  'quantize', 'gemm', 'gemm-residual', 'gemm-q4', 'embedding', 'embedding-options',
  'sparse-conv', 'sparse-fc', 'qconv', 'conv-dense', 'conv-depthwise', 'sparse-winograd', 'models',
];

const USAGE = `usage: npm run bench -- [options]        (or: node bench/index.js [options])

Measures lowbit's kernels against onnxruntime-node and PyTorch when they are installed, in the
same run, interleaved; prints a summary, then the details of every suite; writes an HTML report.

  --filter <names>   run only suites whose name contains one of these (comma-separated)
  --quick            fewer sizes and shorter timings (about a minute)
  --full             every shape of the issue lists (slow)
  --threads <n>      threads for the ops that take them (default 1; peers only at 1)
  --pin <cpus>       CPU list to pin the run to (taskset), 'none' to not pin (default: the last
                     <threads> CPUs)
  --json <file>      also write the results as JSON (bench/report.js renders them again)
  --report <file>    where to write the HTML report (default lowbit-bench.html)
  --no-report        write no HTML report
  --list             list the suites and exit
  -h, --help         print this and exit

Peers (optional, never dependencies):
  onnxruntime-node   ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node
  PyTorch            python3 with torch (LOWBIT_BENCH_PYTHON=<python>; LOWBIT_BENCH_TORCH=0: off)
`;

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      list: { type: 'boolean' },
      filter: { type: 'string' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      threads: { type: 'string' },
      pin: { type: 'string' },
      json: { type: 'string' },
      report: { type: 'string' },
      'no-report': { type: 'boolean' },
    },
  });
  const threads = values.threads === undefined ? 1 : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new TypeError(`--threads must be a positive integer, got ${values.threads}`);
  if (values.quick && values.full) throw new TypeError('--quick and --full exclude each other');
  if (values.report && values['no-report']) throw new TypeError('--report and --no-report exclude each other');
  return { ...values, threads };
}

function loadSuites() {
  const suites = [];
  for (const name of SUITE_FILES) {
    const file = path.join(__dirname, name + '.js');
    if (!fs.existsSync(file)) continue;
    const suite = require(file);
    if (typeof suite.run === 'function') suites.push(suite);
  }
  return suites;
}

// Pins this process (all its threads; threads started later inherit it) to `cpus`.
function pin(spec, threads) {
  if (spec === 'none') return 'not pinned';
  const n = os.cpus().length;
  const cpus = spec ?? (threads >= n ? null : threads === 1 ? String(n - 1) : `${n - threads}-${n - 1}`);
  if (!cpus) return 'not pinned (threads = CPUs)';
  const r = spawnSync('taskset', ['-a', '-cp', cpus, String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (spec) throw new Error(`--pin ${spec}: taskset failed: ${(r.stderr || r.error || '').toString().trim()}`);
    return 'not pinned (no taskset)';
  }
  return `pinned to CPU ${cpus}`;
}

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: __dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: __dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return sha + (dirty ? ' (modified)' : '');
  } catch {
    return 'unknown (not a git checkout)';
  }
}

// Progress goes to stderr: one line rewritten in place on a terminal, plain lines otherwise, so it
// never lands inside the tables on stdout.
function progress(text) {
  if (process.stderr.isTTY) {
    const cols = process.stderr.columns || WIDTH;
    process.stderr.write('\r\x1b[K' + (text.length >= cols ? text.slice(0, cols - 2) + '…' : text));
  } else if (text) process.stderr.write(text + '\n');
}

// The spread of every variant of every row: median time per call and the lowest / highest sample
// relative to it.
function formatSpread(suite, rows) {
  const timed = rows.filter((r) => r.timing && Object.keys(r.timing).length);
  if (timed.length === 0) return '';
  const names = [...new Set(timed.flatMap((r) => Object.keys(r.timing)))];
  const caseName = (suite.summary && suite.summary.caseName) || ((r) => String(Object.values(r).find((v) => typeof v === 'string' || typeof v === 'number')));
  const t = (s) => (s >= 1e-3 ? (s * 1e3).toFixed(2) + 'ms' : (s * 1e6).toFixed(s >= 1e-5 ? 1 : 2) + 'us');
  const pct = (v, m) => Math.round(((v - m) / m) * 100);
  const body = timed.map((r) => [caseName(r), ...names.map((n) => {
    const s = r.timing[n];
    return s ? `${t(s.median)} ${pct(s.min, s.median)}/+${pct(s.max, s.median)}%` : '-';
  })]);
  const n = timed[0].timing[names[0]];
  return `spread: median time per call, lowest/highest sample vs the median (${n.rounds.length} rounds x ${n.n / n.rounds.length} samples)\n` +
    table(['case', ...names], body);
}

function peersInfo() {
  const info = {
    'onnxruntime-node': { label: 'onnxruntime-node', short: 'ort', install: 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node' },
    pytorch: { label: 'PyTorch', short: 'torch', install: 'python3 with torch (pip install torch)' },
  };
  if (require('./ort').available) {
    try {
      info['onnxruntime-node'].version = require('onnxruntime-node/package.json').version;
    } catch {
      info['onnxruntime-node'].version = 'installed';
    }
  }
  return info;
}

async function main() {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`lowbit bench: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  const all = loadSuites();
  if (opts.list) {
    for (const s of all) console.log(s.name);
    return;
  }
  const wanted = opts.filter ? opts.filter.split(',').map((f) => f.trim()).filter(Boolean) : null;
  const suites = all.filter((s) => !wanted || wanted.some((w) => s.name.includes(w)));
  if (suites.length === 0) {
    console.error(`lowbit bench: no suite matches --filter ${opts.filter}; suites: ${all.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }

  const lowbit = require(path.join(__dirname, '..'));
  const pinned = pin(opts.pin, opts.threads);
  const info = lowbit.cpu();
  const cpuModel = (os.cpus()[0] || {}).model || 'unknown CPU';
  const pkg = require('../package.json');
  const results = {
    lowbit: pkg.version, commit: gitCommit(), date: new Date().toISOString(),
    cpu: { model: cpuModel, cores: os.cpus().length, ...info }, node: process.version, platform: `${process.platform}-${process.arch}`,
    threads: opts.threads, pinned, mode: opts.quick ? 'quick' : opts.full ? 'full' : 'default',
    peers: peersInfo(), suites: {}, seconds: {},
  };
  const tp = await torch.peer(opts.threads);
  if (tp) results.peers.pytorch.version = `${tp.version} (${tp.info.engine})`;

  for (const suite of suites) {
    const t0 = Date.now();
    progress(`${suite.name}: starting`);
    harness.takeTimings(); // nothing measured before this suite belongs to its rows
    const rows = await suite.run(lowbit, {
      quick: !!opts.quick, full: !!opts.full, threads: opts.threads,
      onRow: (r) => {
        r.timing = harness.takeTimings();
        progress(`${suite.name}: ${suite.progress ? suite.progress(r) : ''}`);
      },
    });
    results.suites[suite.name] = rows;
    results.seconds[suite.name] = (Date.now() - t0) / 1000;
  }
  progress('');
  await torch.close();
  // a peer counts as measured now only if some row holds a timing of it
  const timed = new Set(Object.values(results.suites).flat().flatMap((r) => Object.keys((r && r.timing) || {})));
  for (const [key, prefix] of [['onnxruntime-node', 'ort'], ['pytorch', 'torch']]) {
    results.peers[key].measured = [...timed].some((k) => k.startsWith(prefix));
  }

  const out = [];
  out.push(wrap(`lowbit ${results.lowbit} (${results.commit}) bench, ${results.date}, ${results.mode} mode`));
  out.push(wrap(`${cpuModel}, ${results.cpu.cores} cores, ${info.arch}, ISA in use: ${info.isa} (supported: ${info.supported.join(', ')}); ` +
    `node ${process.version}; threads ${opts.threads}; ${pinned}`));
  out.push(wrap('peers: ' + Object.values(results.peers).map((p) => `${p.label} ${!p.version ? 'not installed'
    : p.version + (p.measured ? ' (measured now)' : ' (installed; not used by these suites)')}`).join(', ')));
  out.push('');
  results.summary = summarize(suites, results);
  out.push(formatSummary(results.summary, results.peers));
  for (const suite of suites) {
    const rows = results.suites[suite.name];
    out.push('', `== ${suite.name} (${results.seconds[suite.name].toFixed(1)} s)`, wrap(suite.format(rows)));
    const spread = formatSpread(suite, rows);
    if (spread) out.push('', spread);
  }
  console.log(out.join('\n'));
  if (opts.json) {
    fs.writeFileSync(opts.json, JSON.stringify(results, null, 1));
    console.log(`wrote ${opts.json}`);
  }
  if (!opts['no-report']) {
    const file = opts.report || 'lowbit-bench.html';
    fs.writeFileSync(file, report.render(results, suites));
    console.log(`wrote ${path.resolve(file)}`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { parse, formatSpread, loadSuites, USAGE };

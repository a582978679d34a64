// Whole models from files: the same .onnx file (exported from PyTorch, quantized with
// onnxruntime.quantization by scripts/models/make_onnx_fixtures.py) run by lowbit's loadOnnx and by
// onnxruntime-node (when installed), interleaved in the same run. Reports ms per run at each batch
// size and thread count, lowbit's speedup, the largest difference between the two outputs, and the
// load time (file to the end of the first run) against onnxruntime's session creation + first run.
// The models are generated into bench/models/ (gitignored) when python3 with torch, onnx and
// onnxruntime is available; without them the suite says so and is skipped.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { compareAsync, now, table } = require('./harness');
const { loadOrt } = require('./onnx');
const { htmlTable } = require('./report');

const DIR = path.join(__dirname, 'models');
// file, batch sizes (default; --quick: the first only; --full adds 64 for the CNNs)
const MODELS = [
  ['dlrm.onnx', [1, 64]], ['dlrm.dynamic.onnx', [1, 64]],
  ['mlp.onnx', [1, 64]], ['mlp.dynamic.onnx', [1, 64]],
  ['resnet.onnx', [1]], ['resnet.qop.onnx', [1]], ['resnet.qdq.onnx', [1]],
  ['mobilenet.onnx', [1]], ['mobilenet.qop.onnx', [1]], ['mobilenet.qdq.onnx', [1]],
  // the same models with 80% of the 1x4 weight blocks pruned (scripts/models/make_onnx_fixtures.py
  // --prune 0.8): lowbit's 'auto' mode runs the layers where its sparse kernels win on them
  ['dlrm.p80.onnx', [1, 64]], ['dlrm.p80.dynamic.onnx', [1, 64]], ['mlp.p80.onnx', [1, 64]], ['mlp.p80.dynamic.onnx', [1, 64]],
  ['resnet.p80.onnx', [1]], ['resnet.p80.qop.onnx', [1]], ['mobilenet.p80.onnx', [1]], ['mobilenet.p80.qop.onnx', [1]],
];

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

// feeds for a batch, from the model's declared inputs (dims: the batch for symbolic ones)
function feedsFor(file, batch) {
  const r = lcg(batch * 31 + file.length);
  if (file.startsWith('dlrm')) {
    const tables = 26;
    const bag = 20;
    const rows = 10000;
    return {
      dense: { type: 'float32', dims: [batch, 13], data: Float32Array.from({ length: batch * 13 }, () => r() * 2 - 1) },
      ids: { type: 'int64', dims: [batch, tables, bag], data: BigInt64Array.from({ length: batch * tables * bag }, () => BigInt(Math.floor(r() * rows))) },
    };
  }
  if (file.startsWith('mlp')) return { x: { type: 'float32', dims: [batch, 512], data: Float32Array.from({ length: batch * 512 }, () => r() * 2 - 1) } };
  const n = batch * 3 * 224 * 224;
  return { x: { type: 'float32', dims: [batch, 3, 224, 224], data: Float32Array.from({ length: n }, () => r() * 2 - 1) } };
}

function ensureModels(quick) {
  const need = MODELS.map((m) => m[0]).filter((f) => !fs.existsSync(path.join(DIR, f)));
  if (need.length === 0) return null;
  const script = path.join(__dirname, '..', 'scripts', 'models', 'make_onnx_fixtures.py');
  try {
    execFileSync('python3', ['-c', 'import torch, onnx, onnxruntime'], { stdio: 'ignore' });
  } catch {
    return `bench/models/ lacks ${need.join(', ')} and python3 with torch, onnx, onnxruntime is not available to make them (${script})`;
  }
  process.stderr.write(`  generating the bench models into bench/models/ (python3 ${path.relative(process.cwd(), script)} --size bench [--prune 0.8]; a few minutes)\n`);
  const only = quick ? ['--only', 'mlp,dlrm'] : [];
  if (need.some((f) => !f.includes('.p80'))) execFileSync('python3', [script, '--out', DIR, '--size', 'bench', ...only], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (need.some((f) => f.includes('.p80'))) execFileSync('python3', [script, '--out', DIR, '--size', 'bench', '--prune', '0.8', ...only], { stdio: ['ignore', 'ignore', 'inherit'] });
  return null;
}

function maxDiff(a, b) {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / Math.max(scale, 1e-30); // relative to the output's largest magnitude
}

async function run(lowbit, { quick = false, full = false, threads: _threads = 1, onRow = () => {} } = {}) {
  const missing = ensureModels(quick);
  if (missing) {
    console.log(`  skipped: ${missing}`);
    return [];
  }
  const ort = loadOrt();
  const rows = [];
  const threadCounts = quick ? [1] : [1, 2];
  // BENCH_MODELS=dlrm,mlp.dynamic: only files whose name starts with one of these
  const only = process.env.BENCH_MODELS ? process.env.BENCH_MODELS.split(',') : null;
  if (ort) ort.env.logLevel = 'error';
  for (const [file, batches] of MODELS.filter(([f]) => !only || only.some((o) => f.startsWith(o + '.')))) {
    const p = path.join(DIR, file);
    if (!fs.existsSync(p)) continue;
    const cnn = file.startsWith('resnet') || file.startsWith('mobilenet');
    const bs = quick ? [batches[0]] : full && cnn ? [1, 64] : batches;
    for (const threads of threadCounts) {
      // load: file to the end of the first run (batch 1)
      const first = feedsFor(file, 1);
      let t0 = now();
      const session = lowbit.loadOnnx(p, { threads });
      const lowbitFirst = session.run(first);
      const lowbitLoad = now() - t0;
      let ortSession = null;
      let ortLoad;
      if (ort) {
        t0 = now();
        ortSession = await ort.InferenceSession.create(p, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
        await ortSession.run(toOrt(ort, first));
        ortLoad = now() - t0;
      }
      for (const batch of bs) {
        const feeds = feedsFor(file, batch);
        const variants = [{ name: 'lowbit', fn: () => session.run(feeds) }];
        let diff;
        if (ortSession) {
          const of = toOrt(ort, feeds);
          variants.push({ name: 'ort', fn: () => ortSession.run(of), async: true });
          const a = session.run(feeds).y.data;
          const b = (await ortSession.run(of)).y.data;
          diff = maxDiff(a, b);
        }
        const heavy = cnn && batch > 1;
        const t = await compareAsync(variants, { minTime: quick ? 0.05 : heavy ? 0.5 : 0.15, rounds: quick || heavy ? 1 : 2, reps: quick || heavy ? 3 : 5 });
        const row = {
          model: file, batch, threads, lowbitMs: t.get('lowbit') * 1e3, ortMs: t.has('ort') ? t.get('ort') * 1e3 : undefined, diff,
          lowbitLoadMs: batch === bs[0] ? lowbitLoad * 1e3 : undefined, ortLoadMs: batch === bs[0] && ortLoad !== undefined ? ortLoad * 1e3 : undefined,
        };
        row.speedup = row.ortMs ? row.ortMs / row.lowbitMs : undefined;
        rows.push(row);
        onRow(row);
      }
      void lowbitFirst;
    }
  }
  return rows;
}

function toOrt(ort, feeds) {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
}

const ms = (v) => (v === undefined ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const x2 = (v) => (v === undefined ? '-' : v.toFixed(2) + 'x');
const e1 = (v) => (v === undefined ? '-' : v.toExponential(1));
const HEADER = ['model', 'batch', 'threads', 'lowbit ms', 'ort ms', 'lowbit/ort speed', 'max |diff| / max |y|', 'lowbit load ms', 'ort load ms'];
const cells = (r) => [r.model, r.batch, r.threads, ms(r.lowbitMs), ms(r.ortMs), x2(r.speedup), e1(r.diff), ms(r.lowbitLoadMs), ms(r.ortLoadMs)];

function format(rows) {
  if (rows.length === 0) return '(no models)';
  return table(HEADER, rows.map(cells)) +
    '\nms per run (median); speed = ort ms / lowbit ms, measured interleaved in this run; load = file to the end of the first run (ort: session creation + first run).' +
    '\nquantized files: 7-bit weights (reduce_range), where onnxruntime\'s u8s8 kernels are exact on AVX2; see scripts/models/ort_saturation.py.';
}

function report(rows) {
  return { id: 'models', title: 'Whole ONNX models: lowbit loadOnnx vs onnxruntime-node on the same file', html: htmlTable(HEADER, rows.map(cells)) };
}

module.exports = {
  name: 'models', run, format, report,
  progress: (r) => `${r.model} batch ${r.batch} threads ${r.threads}: lowbit ${ms(r.lowbitMs)} ms, ort ${ms(r.ortMs)} ms (${x2(r.speedup)})`,
};

'use strict';
/**
 * A small load generator for the recsys server (loopback only, bounded in time, stops by itself):
 * N keep-alive connections each send requests back to back for a fixed duration; reports
 * throughput (requests/s, samples/s) and client-side p50/p99 latency for the lowbit model and the
 * fp32 model, with single-sample requests (online serving) and batched requests, as a markdown table.
 *
 *   node examples/recsys-server/loadtest.js [--duration 10] [--connections 16] [--batch 64]
 *        [--batch-connections 4] [--models lowbit,fp32] [--url http://127.0.0.1:8080] [--json out.json]
 *
 * Without --url it starts server.js in a child process on a free port and stops it (SIGTERM) at the end.
 */
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
const { fork } = require('node:child_process');

const { syntheticSamples } = require('./model');

function parseArgs(argv) {
  const o = { duration: 10, warmup: 1, connections: 16, batch: 64, batchConnections: 4, models: ['lowbit', 'fp32'], url: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--duration') o.duration = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--connections') o.connections = Number(next());
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--batch-connections') o.batchConnections = Number(next());
    else if (a === '--models') o.models = next().split(',');
    else if (a === '--url') o.url = next();
    else if (a === '--json') o.json = next();
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['duration', 'connections', 'batch', 'batchConnections']) {
    if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new Error(`--${k} must be a positive number`);
  }
  if (o.duration > 120) throw new Error('--duration is capped at 120 s per scenario');
  if (o.url) {
    const h = new URL(o.url).hostname;
    if (h !== '127.0.0.1' && h !== 'localhost' && h !== '[::1]') throw new Error('--url must be a loopback address');
  }
  return o;
}

/** Starts server.js in a child process on a free port. */
function startServer() {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'server.js'), [], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the server did not start within 120 s'));
    }, 120000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve({ child, url: m.url });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with code ${code} before listening`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const kill = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

function request(agent, url, method, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body ? { 'Content-Type': 'application/json', 'Content-Length': body.length } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function getJson(base, p) {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const r = await request(agent, base + p, 'GET');
    return JSON.parse(r.body.toString());
  } finally {
    agent.destroy();
  }
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Runs one scenario: `connections` loops posting `bodies` round robin for warmup + duration seconds. */
async function scenario(base, model, bodies, samplesPerRequest, connections, o) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = `${base}/predict?model=${model}`;
  let next = 0;
  const latencies = [];
  let ok = 0;
  let errors = 0;
  let recording = false;
  let before = null;
  const t0 = Date.now();
  const warmEnd = t0 + o.warmup * 1000;
  const end = warmEnd + o.duration * 1000;
  let measureStart = 0;
  const startRecording = (async () => {
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    before = await getJson(base, '/metrics');
    measureStart = Date.now();
    recording = true;
  })();
  const loop = async () => {
    while (Date.now() < end) {
      const body = bodies[next++ % bodies.length];
      const start = process.hrtime.bigint();
      try {
        const r = await request(agent, url, 'POST', body);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (!recording) continue;
        if (r.status === 200) {
          ok++;
          latencies.push(ms);
        } else errors++;
      } catch {
        if (recording) errors++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all([startRecording, ...Array.from({ length: connections }, loop)]);
  const elapsed = (Date.now() - measureStart) / 1000;
  const after = await getJson(base, '/metrics');
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const b = before.models[model];
  const a = after.models[model];
  const batches = a.batches - b.batches;
  const samples = a.samples - b.samples;
  const modelMs = a.modelMsTotal - b.modelMsTotal;
  return {
    model,
    samplesPerRequest,
    connections,
    seconds: Number(elapsed.toFixed(2)),
    requests: ok,
    errors,
    requestsPerS: ok / elapsed,
    samplesPerS: (ok * samplesPerRequest) / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    serverMeanBatch: batches > 0 ? samples / batches : NaN,
    modelUsPerSample: samples > 0 ? (1000 * modelMs) / samples : NaN,
  };
}

const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let started = null;
  const watchdog = setTimeout(() => {
    console.error('load test: watchdog expired, exiting');
    if (started) started.child.kill('SIGKILL');
    process.exit(2);
  }, (4 * (o.duration + o.warmup) + 180) * 1000);
  watchdog.unref();

  let base = o.url;
  if (!base) {
    process.stderr.write('starting the server (builds the models)... ');
    started = await startServer();
    base = started.url;
    process.stderr.write(`${base}\n`);
  }
  try {
    const health = await getJson(base, '/health');
    const config = {
      denseFeatures: health.denseFeatures,
      tableRows: health.tableRows,
      multiHot: health.tableRows.map((_, t) => t).filter((t) => t % 5 === 3),
    };
    const single = syntheticSamples(config, 2000, 101).map((s) => Buffer.from(JSON.stringify({ samples: [s] })));
    const batchSamples = syntheticSamples(config, 100 * o.batch, 202);
    const batched = Array.from({ length: 100 }, (_, i) => Buffer.from(JSON.stringify({ samples: batchSamples.slice(i * o.batch, (i + 1) * o.batch) })));

    const results = [];
    for (const [bodies, size, conns] of [
      [single, 1, o.connections],
      [batched, o.batch, o.batchConnections],
    ]) {
      for (const model of o.models) {
        process.stderr.write(`  ${model}, ${size} sample(s) per request, ${conns} connections, ${o.warmup} s warm-up + ${o.duration} s ... `);
        const r = await scenario(base, model, bodies, size, conns, o);
        process.stderr.write(`${fmt(r.samplesPerS)} samples/s\n`);
        results.push(r);
      }
    }

    const cpus = os.cpus();
    const lines = [];
    lines.push(`Load test, ${new Date().toISOString().slice(0, 10)}: ${cpus.length} × ${cpus[0] ? cpus[0].model.trim() : 'unknown CPU'}, lowbit ISA ${health.isa}, Node ${process.version}; ` +
      `client and server on the same machine over loopback; ${o.duration} s per row after ${o.warmup} s warm-up.`);
    lines.push('');
    lines.push('| model | samples/request | connections | requests/s | samples/s | p50 ms | p99 ms | mean server batch | model µs/sample | errors |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      lines.push(`| ${r.model} | ${r.samplesPerRequest} | ${r.connections} | ${fmt(r.requestsPerS)} | ${fmt(r.samplesPerS)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.serverMeanBatch, 1)} | ${fmt(r.modelUsPerSample, 1)} | ${r.errors} |`);
    }
    const ratio = (size) => {
      const l = results.find((r) => r.model === 'lowbit' && r.samplesPerRequest === size);
      const f = results.find((r) => r.model === 'fp32' && r.samplesPerRequest === size);
      return l && f ? `${(l.samplesPerS / f.samplesPerS).toFixed(1)}×` : null;
    };
    if (o.models.includes('lowbit') && o.models.includes('fp32')) {
      lines.push('');
      lines.push(`lowbit / fp32 throughput: ${ratio(1)} with single-sample requests, ${ratio(o.batch)} with ${o.batch}-sample requests.`);
    }
    console.log(lines.join('\n'));
    if (o.json) fs.writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), cpus: cpus.length, cpu: cpus[0] && cpus[0].model, isa: health.isa, options: o, results }, null, 2));
  } finally {
    if (started) {
      const code = await stopServer(started.child);
      if (code !== 0) console.error(`the server exited with code ${code}`);
    }
    clearTimeout(watchdog);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { percentile };

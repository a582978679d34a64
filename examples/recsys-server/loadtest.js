#!/usr/bin/env node
'use strict';
/**
 * Load test of the recsys server with autocannon, loopback only, every run bounded in time:
 *   flock /tmp/lowbit-bench.lock node examples/recsys-server/loadtest.js [options]
 *
 * 1. The worker pool alone (no HTTP): batches of --pool-batch samples back to back from 2x as
 *    many callers as workers, 1 worker against 2, lowbit and fp32: what the cores serve.
 * 2. The HTTP server (a child process: server.js --workers N) under autocannon: single-sample
 *    requests (--connections keep-alive connections) and --batch-sample requests
 *    (--batch-connections), 1 and 2 workers, lowbit and fp32.
 * Every configuration runs --repeats times, interleaved (config by config, round by round); the
 * table gives the median and the min..max of the rounds.
 * 3. Memory: two server processes on the same files, per process RSS and the resident size and PSS
 *    of the table mappings (lowbit maps the files; fp32 reads them into each process).
 * Options: --duration s (default 5), --repeats n (3), --model-dir DIR (build-model.js's default),
 * --json FILE, --skip-pool, --skip-http, --skip-memory.
 */
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { fork } = require('node:child_process');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');
const { Pool } = require('./pool');
const { readManifest } = require('./model-files');
const { syntheticSamples, toBatch } = require('./model');
const { DEFAULT_DIR } = require('./build-model');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const spread = (xs, f = (v) => v.toFixed(0)) => `${f(median(xs))} (${f(Math.min(...xs))}..${f(Math.max(...xs))})`;

// Samples per second of the pool alone, `seconds` long.
async function poolRate(pool, model, batch, seconds) {
  const until = Date.now() + seconds * 1000;
  let done = 0;
  const caller = async () => {
    while (Date.now() < until) {
      await pool.run(model, batch);
      done += batch.n;
    }
  };
  const t0 = Date.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: 2 * pool.size }, caller));
  const c = process.cpuUsage(c0);
  const wall = (Date.now() - t0) / 1000;
  // cores this process got (all its threads): on a busy machine, fewer than the workers
  return { rate: done / wall, cores: (c.user + c.system) / 1e6 / wall };
}

function startServer(dir, workers, models = 'lowbit,fp32') {
  return new Promise((resolve, reject) => {
    const args = ['--model-dir', dir, '--workers', String(workers), '--port', '0', '--models', models];
    const child = fork(path.join(__dirname, 'server.js'), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.on('message', (m) => {
      if (m.type === 'listening') resolve({ child, url: m.url });
    });
  });
}

function stopServer(s) {
  return new Promise((resolve) => {
    s.child.removeAllListeners('exit');
    s.child.once('exit', resolve);
    s.child.kill('SIGTERM');
  });
}

async function cannon(url, model, body, connections, duration) {
  const r = await autocannon({
    url: `${url}/predict?model=${model}`, method: 'POST', headers: { 'content-type': 'application/json' }, body,
    connections, duration, pipelining: 1,
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, timeouts: r.timeouts };
}

async function main() {
  const { values } = parseArgs({
    strict: true,
    options: {
      duration: { type: 'string' }, repeats: { type: 'string' }, 'model-dir': { type: 'string' }, json: { type: 'string' },
      connections: { type: 'string' }, batch: { type: 'string' }, 'batch-connections': { type: 'string' }, 'pool-batch': { type: 'string' },
      'skip-http': { type: 'boolean' }, 'skip-pool': { type: 'boolean' }, 'skip-memory': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: node examples/recsys-server/loadtest.js [--duration 5] [--repeats 3] [--model-dir DIR] [--json FILE] [--skip-http] [--skip-pool]');
    return;
  }
  const duration = Number(values.duration ?? 5);
  const repeats = Number(values.repeats ?? 3);
  const dir = values['model-dir'] ?? DEFAULT_DIR;
  const conns = Number(values.connections ?? 16);
  const batchN = Number(values.batch ?? 64);
  const batchConns = Number(values['batch-connections'] ?? 4);
  const poolBatch = Number(values['pool-batch'] ?? 64);
  const { config } = readManifest(dir);
  const cpu = `${(os.cpus()[0] || {}).model}, ${os.cpus().length} cores; node ${process.version}; load average ${os.loadavg()[0].toFixed(1)} at start`;
  console.log(`recsys load test: ${cpu}; ${repeats} rounds of ${duration} s per row, interleaved`);
  const out = { machine: cpu, duration, repeats, pool: [], http: [] };

  if (!values['skip-pool']) {
    const pools = { 1: await new Pool({ dir, workers: 1 }).ready, 2: await new Pool({ dir, workers: 2 }).ready };
    const batch = toBatch(syntheticSamples(config, poolBatch, 11), config);
    const rates = {};
    const cores = {};
    for (let r = 0; r < repeats; r++) {
      for (const model of ['lowbit', 'fp32']) {
        for (const w of [1, 2]) {
          const r = await poolRate(pools[w], model, batch, Math.min(duration, 3));
          (rates[`${model} ${w}`] ??= []).push(r.rate);
          (cores[`${model} ${w}`] ??= []).push(r.cores);
        }
      }
    }
    for (const p of Object.values(pools)) await p.close();
    console.log(`\nworker pool alone (no HTTP), batches of ${poolBatch}, samples/s: median (min..max of ${repeats} rounds)`);
    console.log('| model | 1 worker | 2 workers | 2 / 1 | cores used, 1 / 2 workers |\n|---|---:|---:|---:|---:|');
    for (const model of ['lowbit', 'fp32']) {
      const a = rates[`${model} 1`];
      const b = rates[`${model} 2`];
      const ratio = a.map((v, i) => b[i] / v);
      const used = `${median(cores[`${model} 1`]).toFixed(2)} / ${median(cores[`${model} 2`]).toFixed(2)}`;
      console.log(`| ${model} | ${spread(a)} | ${spread(b)} | ${spread(ratio, (v) => v.toFixed(2) + 'x')} | ${used} |`);
      out.pool.push({ model, one: a, two: b, ratio, cores1: cores[`${model} 1`], cores2: cores[`${model} 2`] });
    }
    const lf = rates['lowbit 1'].map((v, i) => v / rates['fp32 1'][i]);
    console.log(`lowbit / fp32 (1 worker): ${spread(lf, (v) => v.toFixed(2) + 'x')}`);
  }

  if (!values['skip-http']) {
    const single = JSON.stringify({ samples: syntheticSamples(config, 1, 5) });
    const many = JSON.stringify({ samples: syntheticSamples(config, batchN, 6) });
    const rows = [];
    for (const w of [1, 2]) {
      for (const model of ['lowbit', 'fp32']) {
        rows.push({ w, model, n: 1, conns, body: single, runs: [] });
        rows.push({ w, model, n: batchN, conns: batchConns, body: many, runs: [] });
      }
    }
    const servers = { 1: await startServer(dir, 1), 2: await startServer(dir, 2) };
    try {
      for (const row of rows) await cannon(servers[row.w].url, row.model, row.body, row.conns, 1); // warm-up
      for (let r = 0; r < repeats; r++) {
        for (const row of rows) row.runs.push(await cannon(servers[row.w].url, row.model, row.body, row.conns, duration));
      }
    } finally {
      await stopServer(servers[1]);
      await stopServer(servers[2]);
    }
    console.log(`\nHTTP (autocannon, loopback, client on the same cores): median (min..max of ${repeats} rounds)`);
    console.log('| model | workers | samples/request | connections | requests/s | samples/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      const rps = row.runs.map((x) => x.rps);
      const sps = rps.map((v) => v * row.n);
      console.log(`| ${row.model} | ${row.w} | ${row.n} | ${row.conns} | ${spread(rps)} | ${spread(sps)} | ${median(row.runs.map((x) => x.p50))} | ` +
        `${median(row.runs.map((x) => x.p99))} | ${row.runs.reduce((a, x) => a + x.errors + x.timeouts, 0)} |`);
      out.http.push({ model: row.model, workers: row.w, samplesPerRequest: row.n, connections: row.conns, runs: row.runs });
    }
  }
  if (!values['skip-memory']) {
    // memory of 2 server processes on the same model files, one model each (not a timing)
    console.log('\nmemory: 2 server processes (1 worker each) on the same model files, after warm-up (MB)');
    console.log('| model | process | RSS | table mappings resident | their PSS (shared pages counted 1/2) |\n|---|---:|---:|---:|---:|');
    out.memory = [];
    for (const model of ['lowbit', 'fp32']) {
      const servers = [await startServer(dir, 1, model), await startServer(dir, 1, model)];
      try {
        for (const [i, srv] of servers.entries()) {
          const h = await (await fetch(`${srv.url}/health`)).json();
          const mb = (b) => (b / 2 ** 20).toFixed(1);
          const t = h.memory.tables;
          console.log(`| ${model} | ${i + 1} | ${mb(h.memory.rssBytes)} | ${t ? mb(t.rssBytes) : '-'} | ${t ? mb(t.pssBytes) : '-'} |`);
          out.memory.push({ model, process: i + 1, ...h.memory });
        }
      } finally {
        for (const srv of servers) await stopServer(srv);
      }
    }
    console.log('lowbit maps its q8/q4 table files (one copy in the page cache for every process); the fp32 reference reads its tables into each process.');
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(out, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

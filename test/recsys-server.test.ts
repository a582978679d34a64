// The recsys-server example (examples/recsys-server): a small model written to files and loaded
// back bit for bit, served by fastify from a pool of worker threads (both used, batching never
// changes a result), requests checked against the schema, Prometheus metrics, and two server
// processes sharing the mapped table pages (PSS below RSS).
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const example = path.join(__dirname, '..', '..', 'examples', 'recsys-server');
interface Sample { dense: number[]; sparse: number[][] }
interface Config { denseFeatures: number; tableRows: number[] }
interface Batch { n: number }
interface Model { predict(b: Batch): Float32Array; close(): void }
/* eslint-disable @typescript-eslint/no-require-imports */
const files = require(path.join(example, 'model-files.js')) as {
  saveModel(dir: string, config: string): { config: Config };
  loadModel(dir: string, variant: string): Model;
};
const model = require(path.join(example, 'model.js')) as {
  createModels(o: { config: string }): { models: Record<string, Model> };
  syntheticSamples(c: Config, n: number, seed: number): Sample[];
  toBatch(s: Sample[], c: Config): Batch;
};
interface Running { url: string; config: Config; pool: { batches: number[] }; close(): Promise<void> }
const server = require(path.join(example, 'server.js')) as { createServer(o: Record<string, unknown>): Promise<Running> };
/* eslint-enable @typescript-eslint/no-require-imports */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-recsys-'));
const { config } = files.saveModel(dir, 'small');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function post(url: string, body: unknown, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}/predict${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('the model loaded from its files predicts exactly what the model built in memory predicts', () => {
  const built = model.createModels({ config: 'small' }).models;
  const batch = model.toBatch(model.syntheticSamples(config, 17, 3), config);
  for (const v of ['lowbit', 'fp32']) {
    const loaded = files.loadModel(dir, v);
    expect(Array.from(loaded.predict(batch))).toEqual(Array.from(built[v].predict(batch)));
    loaded.close();
  }
});

describe('server with a pool of 2 worker threads', () => {
  let s: Running;
  beforeAll(async () => {
    // maxBatchSize 16: the 64 concurrent requests make at least 4 batches however fast they arrive,
    // and the pool hands successive batches to alternate workers
    s = await server.createServer({ modelDir: dir, workers: 2, port: 0, batchWindowMs: 5, maxBatchSize: 16 });
  });
  afterAll(() => s.close());

  test('concurrent requests: batched, both workers used, every answer the same as alone', async () => {
    const samples = model.syntheticSamples(config, 64, 9);
    const alone = files.loadModel(dir, 'lowbit');
    const expected = samples.map((x) => alone.predict(model.toBatch([x], config))[0]);
    alone.close();
    const answers = await Promise.all(samples.map((x) => post(s.url, { samples: [x] })));
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      expect((a.json.predictions as number[])[0]).toBe(expected[i]);
    }
    expect(s.pool.batches.every((b) => b > 0)).toBe(true);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const batches = Number(/recsys_batch_size_count\{model="lowbit"\} (\d+)/.exec(metrics)![1]);
    expect(batches).toBeLessThan(64); // some requests shared a batch
  });

  test('fp32 reference through ?model=fp32; a bare id means [id]', async () => {
    const x = model.syntheticSamples(config, 1, 4)[0];
    const bare = { ...x, sparse: x.sparse.map((f) => (f.length === 1 ? f[0] : f)) };
    const a = await post(s.url, { samples: [x] }, '?model=fp32');
    const b = await post(s.url, { samples: [bare] }, '?model=fp32');
    expect(a.status).toBe(200);
    expect(a.json.model).toBe('fp32');
    expect(b.json.predictions).toEqual(a.json.predictions);
  });

  test('the schema refuses bad requests, naming the field', async () => {
    const x = model.syntheticSamples(config, 1, 5)[0];
    const cases: [unknown, RegExp][] = [
      ['{not json', /JSON/i],
      [{}, /samples/],
      [{ samples: [] }, /samples must NOT have fewer than 1/],
      [{ samples: [{ ...x, dense: [1, 2] }] }, /samples\/0\/dense/],
      [{ samples: [{ ...x, dense: x.dense.map(() => 'a') }] }, /samples\/0\/dense\/0 must be number/],
      [{ samples: [{ ...x, sparse: x.sparse.slice(1) }] }, /samples\/0\/sparse/],
      [{ samples: [{ ...x, sparse: x.sparse.map((f, t) => (t === 3 ? [config.tableRows[3]] : f)) }] }, new RegExp(`sparse/3.*<= ${config.tableRows[3] - 1}`)],
      [{ samples: [{ ...x, sparse: x.sparse.map((f, t) => (t === 1 ? [-1] : f)) }] }, /sparse\/1/],
      [{ samples: [x], extra: 1 }, /additional properties/],
    ];
    for (const [body, message] of cases) {
      const r = await post(s.url, body);
      expect([r.status, r.json.message]).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await post(s.url, { samples: [x] }, '?model=nope')).status).toBe(400);
    expect((await fetch(`${s.url}/nowhere`)).status).toBe(404);
    const big = JSON.stringify({ samples: [x], pad: 'x'.repeat(5 * 1024 * 1024) });
    expect((await post(s.url, big)).status).toBe(413);
  });

  test('/metrics is Prometheus text from prom-client', async () => {
    const r = await fetch(`${s.url}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const t = await r.text();
    for (const m of ['# TYPE recsys_request_duration_seconds histogram', '# TYPE recsys_samples_total counter', '# TYPE recsys_batch_seconds histogram',
      'recsys_workers 2', '# TYPE process_resident_memory_bytes gauge']) expect(t).toContain(m);
  });
});

describe('two server processes on the same model files', () => {
  const children: ChildProcess[] = [];
  afterAll(() => Promise.all(children.map((c) => new Promise((resolve) => {
    if (c.exitCode !== null) return resolve(undefined);
    c.once('exit', resolve);
    c.kill('SIGTERM');
  }))));

  function start(): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = fork(path.join(example, 'server.js'), ['--model-dir', dir, '--workers', '1', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      children.push(c);
      let err = '';
      c.stderr!.on('data', (d) => (err += d));
      c.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
      c.on('message', (m: { type: string; url: string }) => m.type === 'listening' && resolve(m.url));
    });
  }

  test('both answer the same, and the table pages are mapped once for both (PSS < RSS)', async () => {
    const urls = await Promise.all([start(), start()]);
    const samples = model.syntheticSamples(config, 4, 12);
    const [a, b] = await Promise.all(urls.map((u) => post(u, { samples })));
    expect(a.json.predictions).toEqual(b.json.predictions);
    const health = await Promise.all(urls.map(async (u) => (await (await fetch(`${u}/health`)).json()) as { pid: number; memory: { rssBytes: number; tables: { rssBytes: number; pssBytes: number } | null } }));
    expect(health[0].pid).not.toBe(health[1].pid);
    if (process.platform !== 'linux') return;
    for (const h of health) {
      const t = h.memory.tables!;
      expect(t.rssBytes).toBeGreaterThan(0);
      // every resident table page is shared by the two processes: each is charged about half
      expect(t.pssBytes).toBeLessThan(0.75 * t.rssBytes);
    }
  });
});

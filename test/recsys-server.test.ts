// The recsys-server example (examples/recsys-server): starts on a free port with a small model,
// answers, batches concurrent requests without changing any result, rejects malformed requests
// with a message, and shuts down cleanly.
import * as http from 'node:http';
import * as path from 'node:path';

interface Sample {
  dense: number[];
  sparse: number[][];
}
interface ModelConfig {
  denseFeatures: number;
  tableRows: number[];
}
interface ModelStats {
  requests: number;
  samples: number;
  batches: number;
  meanBatchSize: number | null;
  maxBatchSize: number;
}
interface Metrics {
  requests: number;
  predict: { requests: number; samples: number; batches: number; meanBatchSize: number | null };
  models: Record<string, ModelStats & { latencyMs: { p50: number | null; p99: number | null } }>;
}
interface RunningServer {
  server: http.Server;
  port: number;
  url: string;
  config: ModelConfig;
  close(): Promise<void>;
}
interface ServerModule {
  createServer(options: Record<string, unknown>): Promise<RunningServer>;
}
interface ModelModule {
  SMALL_CONFIG: ModelConfig;
  syntheticSamples(config: ModelConfig, n: number, seed: number): Sample[];
}

const dir = path.join(__dirname, '..', '..', 'examples', 'recsys-server');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createServer } = require(path.join(dir, 'server.js')) as ServerModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { SMALL_CONFIG, syntheticSamples } = require(path.join(dir, 'model.js')) as ModelModule;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

function call(agent: http.Agent, url: string, method: string, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        } catch (e) {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 200)}: ${(e as Error).message}`));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('examples/recsys-server', () => {
  let srv: RunningServer;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const samples = syntheticSamples(SMALL_CONFIG, 64, 11);
  const predict = (s: Sample[] | string, model?: string): Promise<Reply> =>
    call(agent, `${srv.url}/predict${model ? `?model=${model}` : ''}`, 'POST', typeof s === 'string' ? s : JSON.stringify({ samples: s }));
  const metrics = async (): Promise<Metrics> => (await call(agent, `${srv.url}/metrics`, 'GET')).json as unknown as Metrics;
  const predictions = (r: Reply): number[] => r.json.predictions as number[];

  beforeAll(async () => {
    // a 20 ms window, so that requests sent together surely share a batch even on a loaded machine
    srv = await createServer({ port: 0, model: 'small', batchWindowMs: 20, maxRequestSamples: 100, maxBodyBytes: 64 * 1024 });
  });

  afterAll(async () => {
    await srv.close();
    agent.destroy();
  });

  test('starts on a free loopback port and answers /health', async () => {
    expect(srv.port).toBeGreaterThan(0);
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}`);
    const r = await call(agent, `${srv.url}/health`, 'GET');
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(r.json.models).toEqual(['lowbit', 'fp32']);
    expect(r.json.tables).toBe(SMALL_CONFIG.tableRows.length);
  });

  test('/predict answers one sample and many, with probabilities in (0, 1)', async () => {
    const one = await predict(samples.slice(0, 1));
    expect(one.status).toBe(200);
    expect(one.json.model).toBe('lowbit');
    expect(predictions(one)).toHaveLength(1);
    const many = await predict(samples.slice(0, 50));
    expect(many.status).toBe(200);
    const p = predictions(many);
    expect(p).toHaveLength(50);
    for (const v of p) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThan(1);
    }
    expect(p[0]).toBe(predictions(one)[0]);
    // the samples are not all alike
    expect(Math.max(...p) - Math.min(...p)).toBeGreaterThan(0.1);
  });

  test('the lowbit and fp32 models agree closely', async () => {
    const [low, f32] = await Promise.all([predict(samples.slice(0, 50)), predict(samples.slice(0, 50), 'fp32')]);
    expect(f32.status).toBe(200);
    expect(f32.json.model).toBe('fp32');
    const a = predictions(low);
    const b = predictions(f32);
    let sum = 0;
    let max = 0;
    a.forEach((v, i) => {
      sum += Math.abs(v - b[i]);
      max = Math.max(max, Math.abs(v - b[i]));
    });
    expect(sum / a.length).toBeLessThan(0.05);
    expect(max).toBeLessThan(0.25);
    expect(sum).toBeGreaterThan(0); // really two different models
  });

  test('concurrent requests are batched and each gets its own result', async () => {
    for (const model of ['lowbit', 'fp32']) {
      const alone: number[] = [];
      for (let i = 0; i < 24; i++) alone.push(predictions(await predict([samples[i]], model))[0]);
      const before = (await metrics()).models[model];
      const together = await Promise.all(samples.slice(0, 24).map((s) => predict([s], model)));
      const after = (await metrics()).models[model];
      // every result is the one the sample gets alone: bit for bit (each stage works per sample)
      together.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(predictions(r)).toEqual([alone[i]]);
      });
      expect(after.requests - before.requests).toBe(24);
      expect(after.samples - before.samples).toBe(24);
      const batches = after.batches - before.batches;
      expect(batches).toBeLessThan(24);
      expect(24 / batches).toBeGreaterThan(1);
      expect(after.maxBatchSize).toBeGreaterThan(1);
    }
    const m = await metrics();
    expect(m.predict.meanBatchSize).toBeGreaterThan(1);
    expect(m.models.lowbit.latencyMs.p50).toBeGreaterThan(0);
  });

  test('malformed requests get a 400 with a message', async () => {
    const before = await metrics();
    const s0 = samples[0];
    const T = SMALL_CONFIG.tableRows.length;
    const cases: [string, string | Sample[], RegExp][] = [
      ['bad JSON', '{"samples": [', /not valid JSON/],
      ['not an object', '[1, 2]', /JSON object/],
      ['no samples', '{}', /"samples" must be an array/],
      ['empty samples', '{"samples": []}', /empty/],
      ['missing dense', JSON.stringify({ samples: [{ sparse: s0.sparse }] }), /samples\[0\]\.dense must be an array/],
      ['wrong dense length', [{ ...s0, dense: s0.dense.slice(1) }], /samples\[0\]\.dense must have 13 numbers, got 12/],
      ['non-numeric dense', [{ ...s0, dense: [...s0.dense.slice(1), 'x' as unknown as number] }], /dense\[12\] must be a finite number/],
      ['wrong sparse count', [s0, { ...s0, sparse: s0.sparse.slice(1) }], new RegExp(`samples\\[1\\]\\.sparse must have ${T} features`)],
      ['id out of range', [{ ...s0, sparse: [[SMALL_CONFIG.tableRows[0]], ...s0.sparse.slice(1)] }], /sparse\[0\]\[0\] = 3000 is out of range for table 0 \(ids 0 to 2999\)/],
      ['negative id', [{ ...s0, sparse: [...s0.sparse.slice(0, 2), [-1], ...s0.sparse.slice(3)] }], /sparse\[2\]\[0\] = -1 is out of range/],
      ['non-integer id', [{ ...s0, sparse: [[1.5], ...s0.sparse.slice(1)] }], /sparse\[0\]\[0\] must be an integer/],
      ['too many samples', Array.from({ length: 101 }, () => s0), /too many samples: 101 in one request, at most 100/],
    ];
    for (const [name, body, message] of cases) {
      const r = await predict(body);
      expect({ name, status: r.status }).toEqual({ name, status: 400 });
      expect(r.json.error).toBe('Bad Request');
      expect(r.json.message).toMatch(message);
    }
    const unknownModel = await predict([s0], 'fp64');
    expect(unknownModel.status).toBe(400);
    expect(unknownModel.json.message).toMatch(/unknown model "fp64"/);
    // nothing malformed reached a model
    const after = await metrics();
    expect(after.predict.samples).toBe(before.predict.samples);
  });

  test('unknown routes get 404, wrong methods 405, oversized bodies 413', async () => {
    const nf = await call(agent, `${srv.url}/nope`, 'GET');
    expect(nf.status).toBe(404);
    expect(nf.json.message).toMatch(/no route GET \/nope/);
    const wrong = await call(agent, `${srv.url}/predict`, 'GET');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    const big = await call(new http.Agent({ keepAlive: false }), `${srv.url}/predict`, 'POST', Buffer.alloc(100 * 1024, 0x20));
    expect(big.status).toBe(413);
  });

  test('close() answers the requests in flight, then resolves and frees the port', async () => {
    const own = await createServer({ port: 0, model: 'small', batchWindowMs: 50, models: ['lowbit'] });
    const keepAlive = new http.Agent({ keepAlive: true });
    // an idle keep-alive connection must not hold the server open
    expect((await call(keepAlive, `${own.url}/health`, 'GET')).status).toBe(200);
    const inFlight = call(keepAlive, `${own.url}/predict`, 'POST', JSON.stringify({ samples: samples.slice(0, 3) }));
    await new Promise((r) => setTimeout(r, 20)); // the request now waits in the batch window
    const t0 = Date.now();
    await own.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(predictions(r)).toHaveLength(3);
    expect(r.headers.connection).toBe('close');
    expect(own.server.listening).toBe(false);
    await expect(call(new http.Agent({ keepAlive: false }), `${own.url}/health`, 'GET')).rejects.toThrow(/ECONNREFUSED/);
    await own.close(); // idempotent
    keepAlive.destroy();
  });
});

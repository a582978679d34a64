// Embedding bag: lowbit against PyTorch's own quantized ops (torch.ops.quantized.
// embedding_bag_{byte,4bit,2bit}_rowwise_offsets, FBGEMM's kernels), one thread each, in the same
// run, on the same bytes: each table is one file in /dev/shm that both processes map (lowbit:
// EmbeddingTable.open; PyTorch: torch.from_file(shared=True)), so both read the same pages. The
// same index streams too (int64, bags of 20, random uniform rows, rotated so that consecutive calls
// do not find each other's rows in cache). Calls are interleaved: per cell, `rounds` times a block
// of lowbit calls then a block of PyTorch calls; best block of each. Default options (no `out`:
// both allocate their result), with and without per-sample weights. Outputs are compared bit for
// bit on the first call of each 512-bag cell.
//
// PyTorch runs in a Python child process (python3 with torch); without it the bench says so and
// stops. Never a dependency.
//
//   node bench/embedding-torch.js [formats=q8,q4,q2] [dims=32,64,128,256,512] [rows=cache,1M,4M]
//        [bags=512,20000] [weights=no,yes] [rounds=3] [json=FILE] [dlrm=1] [threads2=1] [own=1]
//        [retain=BYTES]   (lowbit.retainFreedMemory(BYTES) first: glibc keeps freed memory for reuse)
// e.g. flock /tmp/lowbit-bench.lock node bench/embedding-torch.js formats=q8 rows=1M
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const lowbit = require('..');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const list = (k, d) => (args[k] ?? d).split(',');
const FORMATS = list('formats', 'q8,q4,q2');
const DIMS = list('dims', '32,64,128,256,512').map(Number);
const ROWS = list('rows', 'cache,1M,4M');
const BAGS = list('bags', '512,20000').map(Number);
const WEIGHTS = list('weights', 'no,yes').map((w) => w === 'yes');
const ROUNDS = Number(args.rounds ?? 3);
const RETAIN = args.retain !== undefined ? lowbit.retainFreedMemory(Number(args.retain)) : null;
const POOL = 20;
const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : require('node:os').tmpdir();
const TAG = `lowbit-embtorch-${process.pid}`;

const PY = String.raw`
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
ops = {'q8': torch.ops.quantized.embedding_bag_byte_rowwise_offsets,
       'q4': torch.ops.quantized.embedding_bag_4bit_rowwise_offsets,
       'q2': torch.ops.quantized.embedding_bag_2bit_rowwise_offsets}
tables, streams = {}, {}
def reply(x):
    sys.stdout.write(json.dumps(x) + '\n'); sys.stdout.flush()
reply({'torch': torch.__version__})
for line in sys.stdin:
    m = json.loads(line)
    op = m['op']
    if op == 'table':
        t = torch.from_file(m['path'], shared=True, size=m['rows'] * m['rowBytes'], dtype=torch.uint8)
        tables[m['id']] = (t.view(m['rows'], m['rowBytes']), m['format'])
        reply({'ok': True})
    elif op == 'drop':
        tables.pop(m['id'], None); reply({'ok': True})
    elif op == 'stream':
        idx = torch.from_numpy(np.fromfile(m['indices'], dtype=np.int64))
        offs = torch.from_numpy(np.fromfile(m['offsets'], dtype=np.int64))
        w = torch.from_numpy(np.fromfile(m['weights'], dtype=np.float32))
        streams[m['id']] = (idx, offs, w)
        reply({'ok': True})
    elif op == 'run':
        w, fmt = tables[m['table']]
        f = ops[fmt]
        ss = [streams[s] for s in m['streams']]
        weighted = m['weighted']
        n = m['calls']
        k = len(ss)
        if m.get('check'):
            idx, offs, psw = ss[0]
            out = f(w, idx, offs, False, 0, False, psw if weighted else None, None, False)
            out.numpy().tofile(m['check'])
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            idx, offs, psw = ss[i % k]
            f(w, idx, offs, False, 0, False, psw if weighted else None, None, False)
        reply({'s': time.perf_counter() - t0, 'cpu': time.process_time() - c0})
    elif op == 'runmany':
        # the DLRM-like call: one op per table, same batch
        f_ts = [tables[t] for t in m['tables']]
        ss = [streams[s] for s in m['streams']]
        n = m['calls']
        t0 = time.perf_counter()
        for i in range(n):
            for j, (w, fmt) in enumerate(f_ts):
                idx, offs, psw = ss[(i + j) % len(ss)]
                ops[fmt](w, idx, offs, False, 0, False, None, None, False)
        reply({'s': time.perf_counter() - t0})
`;

function torchAvailable() {
  const r = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0;
}

class Torch {
  constructor() {
    this.p = spawn('python3', ['-c', PY], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.p.stdout });
    this.waiting = [];
    this.lines.on('line', (l) => this.waiting.shift()(JSON.parse(l)));
    this.ready = new Promise((res) => this.waiting.push(res));
  }
  ask(m) {
    return new Promise((res) => {
      this.waiting.push(res);
      this.p.stdin.write(JSON.stringify(m) + '\n');
    });
  }
  close() {
    this.p.stdin.end();
  }
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

const files = [];
function shmFile(name) {
  const f = path.join(SHM, `${TAG}-${name}`);
  files.push(f);
  return f;
}
function cleanup() {
  for (const f of files) fs.rmSync(f, { force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

// Writes `rows` rows of random codes with scale 0.01 and bias -1 to a file, in 64 MiB pieces.
function writeTable(file, format, rows, dim) {
  const rb = lowbit.rowBytes(format, dim);
  const codeBytes = format === 'q8' ? dim : format === 'q4' ? Math.ceil(dim / 2) : Math.ceil(dim / 4);
  const per = Math.max(1, Math.floor((64 << 20) / rb));
  const fd = fs.openSync(file, 'w');
  for (let r0 = 0; r0 < rows; r0 += per) {
    const n = Math.min(per, rows - r0);
    const buf = crypto.randomBytes(n * rb);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let r = 0; r < n; r++) {
      const o = r * rb + codeBytes;
      if (format === 'q8') {
        dv.setFloat32(o, 0.01, true);
        dv.setFloat32(o + 4, -1, true);
      } else {
        dv.setUint16(o, 0x211f, true);
        dv.setUint16(o + 2, 0xbc00, true);
      }
    }
    fs.writeSync(fd, buf);
  }
  fs.closeSync(fd);
}

// own=1: lowbit's table in memory lowbit allocates (EmbeddingTable.allocate: 2 MiB pages requested,
// what fromFloat32 tables get), a copy of the file PyTorch maps (4 KiB pages, as a tensor in
// PyTorch's default allocator): the two libraries as deployed, not on the same pages.
function ownCopy(file, rows, dim, format) {
  const t = lowbit.EmbeddingTable.allocate(rows, { dim, format });
  const fd = fs.openSync(file, 'r');
  const b = t.bytes;
  for (let off = 0; off < b.length; ) off += fs.readSync(fd, b, off, Math.min(1 << 30, b.length - off), off);
  fs.closeSync(fd);
  return t;
}

// K streams of `bags` bags of POOL random rows in [0, rows): files for PyTorch, arrays for lowbit.
function makeStreams(rows, bags, k, seed) {
  const r = lcg(seed);
  const offsets = BigInt64Array.from({ length: bags }, (_, b) => BigInt(b * POOL));
  const offFile = shmFile(`off-${bags}`);
  fs.writeFileSync(offFile, Buffer.from(offsets.buffer));
  const out = [];
  for (let s = 0; s < k; s++) {
    const indices = new BigInt64Array(bags * POOL);
    for (let i = 0; i < indices.length; i++) indices[i] = BigInt(Math.floor(r() * rows));
    const weights = Float32Array.from({ length: indices.length }, () => r() * 2 - 1);
    const id = `s${rows}-${bags}-${s}`;
    const idxFile = shmFile(`${id}-idx`), wFile = shmFile(`${id}-w`);
    fs.writeFileSync(idxFile, Buffer.from(indices.buffer));
    fs.writeFileSync(wFile, Buffer.from(weights.buffer));
    out.push({ id, indices, offsets, weights, idxFile, offFile, wFile });
  }
  return out;
}

const rowsOf = (c, rb) => (c === 'cache' ? Math.max(64, Math.min(4096, Math.floor((512 << 10) / rb))) : c === '1M' ? 1 << 20 : c === '4M' ? 4 << 20 : Number(c));

// Average cache lines one row touches (rows at r * rowBytes, uniform r).
function linesPerRow(rb) {
  let sum = 0;
  for (let r = 0; r < 64; r++) {
    const a = (r * rb) % 64;
    sum += Math.ceil((a + rb) / 64);
  }
  return sum / 64;
}

// Seconds of a block of calls: wall-clock, or (cpu = true) CPU time of this process, which does
// not count the time the OS gave other processes (the machine is shared: see CPU_TIME).
function lowbitBlock(t, streams, weighted, calls, threads = 1, cpu = false) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const s = streams[i % streams.length];
    lowbit.embeddingBag(t, weighted ? { indices: s.indices, offsets: s.offsets, perSampleWeights: s.weights, threads } : { indices: s.indices, offsets: s.offsets, threads });
  }
  if (cpu) {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e6;
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// One-thread figures from CPU time (default) or wall time (time=wall). CPU time (user + system,
// page faults included) is what a call costs its core; on a machine shared with other jobs the
// wall time of a block also holds the time the scheduler gave them, which no interleaving removes.
const CPU_TIME = args.time !== 'wall';

async function main() {
  if (!torchAvailable()) {
    console.log('embedding-torch: python3 with torch is not available here; nothing to compare against (skipped)');
    return;
  }
  const torch = new Torch();
  const hello = await torch.ready;
  const cpu = lowbit.cpu();
  console.log(`embedding bag, lowbit ${cpu.isa} vs PyTorch ${hello.torch} quantized ops, 1 thread each, bags of ${POOL}, default calls (new output), best of ${ROUNDS} interleaved blocks, ${CPU_TIME ? 'CPU time' : 'wall time'}${RETAIN === null ? '' : `; retainFreedMemory(${args.retain}): ${RETAIN ? 'applied' : 'not glibc, nothing changed'}`}`);
  const results = [];
  const header = 'format   D  rows        bags  weights | lowbit Mrows/s  torch Mrows/s  ratio | lowbit GB/s(lines) | bits';
  console.log(header);
  const streamCache = new Map();
  let tid = 0;
  for (const format of FORMATS) {
    for (const dim of DIMS) {
      const rb = lowbit.rowBytes(format, dim);
      for (const rc of ROWS) {
        const rows = rowsOf(rc, rb);
        const file = shmFile(`t-${format}-${dim}-${rc}`);
        writeTable(file, format, rows, dim);
        const t = args.own === '1' ? ownCopy(file, rows, dim, format) : lowbit.EmbeddingTable.open(file, { dim, format });
        const id = `t${tid++}`;
        await torch.ask({ op: 'table', id, path: file, rows, rowBytes: rb, format });
        for (const bags of BAGS) {
          const key = `${rows}-${bags}`;
          if (!streamCache.has(key)) {
            const k = bags >= 10000 ? 3 : 8;
            const ss = makeStreams(rows, bags, k, rows + bags);
            for (const s of ss) await torch.ask({ op: 'stream', id: s.id, indices: s.idxFile, offsets: s.offFile, weights: s.wFile });
            streamCache.set(key, ss);
          }
          const ss = streamCache.get(key);
          for (const weighted of WEIGHTS) {
            // calls per block: ~40 ms of lowbit, at least 2
            const probe = lowbitBlock(t, ss, weighted, 2) / 2;
            const calls = Math.max(2, Math.min(2000, Math.round(0.04 / Math.max(probe, 1e-6))));
            let bits = '';
            if (bags <= 512) {
              const check = shmFile('check');
              await torch.ask({ op: 'run', table: id, streams: [ss[0].id], weighted, calls: 1, check });
              const want = fs.readFileSync(check);
              const s = ss[0];
              const got = lowbit.embeddingBag(t, weighted ? { indices: s.indices, offsets: s.offsets, perSampleWeights: s.weights } : { indices: s.indices, offsets: s.offsets });
              bits = Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want) ? 'equal' : 'DIFFER';
            }
            let lb = Infinity, tb = Infinity;
            for (let round = 0; round < ROUNDS; round++) {
              lb = Math.min(lb, lowbitBlock(t, ss, weighted, calls, 1, CPU_TIME) / calls);
              const r = await torch.ask({ op: 'run', table: id, streams: ss.map((s) => s.id), weighted, calls });
              tb = Math.min(tb, (CPU_TIME ? r.cpu : r.s) / calls);
            }
            const lookups = bags * POOL;
            const row = {
              format, dim, rows: rc, bags, weighted, lowbitMrows: lookups / lb / 1e6, torchMrows: lookups / tb / 1e6,
              ratio: tb / lb, lowbitLineGBs: (lookups * linesPerRow(rb) * 64) / lb / 1e9, bits,
            };
            results.push(row);
            console.log(
              `${format.padEnd(6)} ${String(dim).padStart(3)}  ${rc.padEnd(5)} ${String(bags).padStart(10)}  ${(weighted ? 'yes' : 'no').padEnd(7)} | ` +
                `${row.lowbitMrows.toFixed(1).padStart(14)}  ${row.torchMrows.toFixed(1).padStart(13)}  ${row.ratio.toFixed(2).padStart(5)} | ` +
                `${row.lowbitLineGBs.toFixed(2).padStart(18)} | ${bits}`,
            );
          }
        }
        // two threads on the long stream (no weights): scaling of lowbit
        if (args.threads2 === '1' && rc !== 'cache' && BAGS.includes(20000)) {
          const ss = streamCache.get(`${rows}-20000`);
          let one = Infinity, two = Infinity;
          for (let round = 0; round < ROUNDS; round++) {
            one = Math.min(one, lowbitBlock(t, ss, false, 3, 1) / 3);
            two = Math.min(two, lowbitBlock(t, ss, false, 3, 2) / 3);
          }
          const r = { format, dim, rows: rc, scaling2T: one / two, mrows1T: (20000 * POOL) / one / 1e6, mrows2T: (20000 * POOL) / two / 1e6 };
          results.push(r);
          console.log(`  2 threads, 20000 bags: ${r.mrows1T.toFixed(1)} -> ${r.mrows2T.toFixed(1)} Mrows/s = ${r.scaling2T.toFixed(2)}x`);
        }
        t.close();
        await torch.ask({ op: 'drop', id });
        fs.rmSync(file, { force: true });
      }
    }
  }
  if (args.dlrm === '1') await dlrm(torch, results);
  torch.close();
  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ torch: hello.torch, isa: cpu.isa, results }, null, 1));
}

// A DLRM-like request: 512 samples x 26 tables (q4, D = 64, 1M rows each? too much memory for a
// shared machine: 26 tables of 256K rows, 9 MiB each), pooling 20, one embeddingBags call.
async function dlrm(torch, results) {
  const T = 26, rows = 256 << 10, dim = 64, format = args.dlrmFormat ?? 'q8', bags = 512;
  const rb = lowbit.rowBytes(format, dim);
  const tables = [];
  for (let i = 0; i < T; i++) {
    const file = shmFile(`dlrm-${i}`);
    writeTable(file, format, rows, dim);
    tables.push({ t: lowbit.EmbeddingTable.open(file, { dim, format }), id: `d${i}` });
    await torch.ask({ op: 'table', id: `d${i}`, path: file, rows, rowBytes: rb, format });
  }
  const ss = makeStreams(rows, bags, 8, 77);
  for (const s of ss) await torch.ask({ op: 'stream', id: s.id, indices: s.idxFile, offsets: s.offFile, weights: s.wFile });
  const call = (i, threads) =>
    lowbit.embeddingBags(tables.map((x, j) => ({ table: x.t, indices: ss[(i + j) % ss.length].indices, offsets: ss[0].offsets })), { threads });
  const block = (threads, n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) call(i, threads);
    return Number(process.hrtime.bigint() - t0) / 1e9 / n;
  };
  let l1 = Infinity, l2 = Infinity, tt = Infinity;
  for (let round = 0; round < ROUNDS + 2; round++) {
    l1 = Math.min(l1, block(1, 10));
    l2 = Math.min(l2, block(2, 10));
    const r = await torch.ask({ op: 'runmany', tables: tables.map((x) => x.id), streams: ss.map((s) => s.id), calls: 10 });
    tt = Math.min(tt, r.s / 10);
  }
  const r = { dlrm: `${bags} x ${T} tables ${format} D=${dim}, ${rows} rows each, pooling ${POOL}`, lowbit1T_ms: l1 * 1e3, lowbit2T_ms: l2 * 1e3, torch1T_ms: tt * 1e3, ratio1T: tt / l1 };
  results.push(r);
  console.log(`DLRM-like ${r.dlrm}: lowbit 1 thread ${r.lowbit1T_ms.toFixed(2)} ms, 2 threads ${r.lowbit2T_ms.toFixed(2)} ms; PyTorch (26 ops, 1 thread) ${r.torch1T_ms.toFixed(2)} ms; ratio ${r.ratio1T.toFixed(2)}x`);
  for (const x of tables) x.t.close();
}

// A standalone script (its own key=value arguments, its own Python peer), not a suite of
// bench/index.js: requiring it runs nothing.
if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

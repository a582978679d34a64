// PyTorch as a peer in the benchmarks, when python3 with torch is installed (never a dependency):
// one long-lived python process (bench/torch_peer.py) builds the ops and times them itself; its
// variants join compareAsync's rounds ({ external }), so they are interleaved with lowbit's like
// onnxruntime-node's. LOWBIT_BENCH_PYTHON picks the interpreter (default python3);
// LOWBIT_BENCH_TORCH=0 leaves PyTorch out.
'use strict';
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

let started = null; // Promise<Peer | null>, one per bench process

class Peer {
  constructor(child, info) {
    this.child = child;
    this.info = info; // { version, engine, threads }
    this.version = info.version;
    this.pending = [];
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const p = this.pending.shift();
      if (p) p(JSON.parse(line));
    });
  }

  request(req) {
    return new Promise((resolve, reject) => {
      this.pending.push((ans) => (ans.error ? reject(new Error('PyTorch: ' + ans.error)) : resolve(ans)));
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  /**
   * A compareAsync variant named `name` timing the PyTorch op `kind` ('qlinear': quantized
   * Linear u8 in/out, FBGEMM's engine; 'dynamic': dynamically quantized Linear, fp32 in/out;
   * 'f32': fp32 linear) for an M×K · K×N product.
   */
  async variant(name, kind, { M, N, K }) {
    const { id } = await this.request({ op: 'setup', kind, M, N, K });
    return { name, external: async ({ minTime, reps }) => (await this.request({ op: 'time', id, minTime, reps })).samples };
  }

  close() {
    this.child.stdin.end();
  }
}

/** The PyTorch peer with `threads` intra-op threads, or null when python3/torch is not there. */
function peer(threads = 1) {
  if (process.env.LOWBIT_BENCH_TORCH === '0') return Promise.resolve(null);
  if (started) return started;
  started = new Promise((resolve) => {
    const child = spawn(process.env.LOWBIT_BENCH_PYTHON || 'python3', [path.join(__dirname, 'torch_peer.py'), String(threads)],
      { stdio: ['pipe', 'pipe', 'ignore'] });
    child.on('error', () => resolve(null));
    child.on('exit', () => resolve(null));
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      rl.close();
      try {
        const p = new Peer(child, JSON.parse(line));
        child.unref();
        resolve(p);
      } catch {
        child.kill();
        resolve(null);
      }
    });
  });
  return started;
}

/** Ends the python process if one was started (bench/index.js calls it at the end). */
async function close() {
  if (!started) return;
  const p = await started;
  if (p) p.close();
}

module.exports = { peer, close };

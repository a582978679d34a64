// One memory case, in a child process of its own with --expose-gc: CYCLES create/drop cycles of
// one object type (or 20,000 rejected async calls). RSS is measured after a warm-up (the first
// tenth of the cycles, then gc) and at the end (gc); the growth between them must stay under
// LIMIT_MB. Prints RESULT_MARK + JSON with the figures.
import * as fs from 'node:fs';

import { CaseResult, RESULT_MARK, describeError, isCoded, lowbit, now, rng } from './common';
import { tableFile } from './ops';

export const LIMIT_MB = 50;

/**
 * name -> cycles. 100,000 each, except: the 4 MiB table (its own mmap with a 2 MiB-page hint, and
 * a huge-page fault every 16th cycle: ~1.2 ms a cycle quiet, several times that under load) 6,000
 * (24 GiB mapped and unmapped: a leak of one table in a hundred cycles still shows), and the rejected async calls
 * 20,000 (the figure). The loops turn the event loop every 1,000 cycles: N-API runs the
 * finalizers of collected objects from there, and a server's loop turns too.
 */
export const MEMORY_CASES: Record<string, number> = {
  'QuantizedLinear.fromInt8 (dense)': 100000,
  'QuantizedLinear.fromFloat32 (auto)': 100000,
  'QuantizedLinear.deserialize': 100000,
  'sparse QuantizedLinear.fromInt8': 100000,
  'Linear': 100000,
  'sparse Linear': 100000,
  'Conv2d': 100000,
  'sparse Conv2d': 100000,
  'QuantizedConv2d.fromInt8': 100000,
  'sparse QuantizedConv2d.fromInt8': 100000,
  'EmbeddingTable.fromFloat32': 100000,
  'EmbeddingTable.fromBuffer': 100000,
  'EmbeddingTable.allocate (small)': 100000,
  'EmbeddingTable.allocate (4 MiB, its own mapping)': 6000,
  'EmbeddingTable.open + close': 100000,
  'EmbeddingTable.open, dropped unclosed': 100000,
  '20,000 rejected async calls': 20000,
};

function maker(lb: any, name: string): (i: number) => void {
  const r = rng(9);
  const f32 = (n: number, zeros = 0) => Float32Array.from({ length: n }, () => (r() < zeros ? 0 : r() * 2 - 1));
  const i8 = (n: number, zeros = 0) => Int8Array.from({ length: n }, () => (r() < zeros ? 0 : Math.floor(r() * 255) - 127));
  const w16 = i8(256);
  const w16s = i8(256, 0.8);
  const f256 = f32(256);
  const f256s = f32(256, 0.8);
  const bias16 = f32(16);
  const conv = f32(8 * 4 * 9);
  const convS = f32(8 * 4 * 9, 0.8);
  const qconv = i8(8 * 4 * 9);
  const qconv1 = i8(8 * 8, 0.7);
  const ser = lb.QuantizedLinear.fromInt8(w16, { k: 16, n: 16, scale: 0.01, bias: bias16 }).serialize();
  const values = f32(64 * 16);
  const tableBytes = lb.EmbeddingTable.fromFloat32(values, { dim: 16, format: 'q8' }).bytes;
  const { file } = name.startsWith('EmbeddingTable.open') ? tableFile(lb, 64, 16, 'q8', 5) : { file: '' };
  const x16 = f32(16);
  const a16 = Uint8Array.from({ length: 16 }, (_, i) => i * 11);
  switch (name) {
    case 'QuantizedLinear.fromInt8 (dense)':
      return (i) => { const l = lb.QuantizedLinear.fromInt8(w16, { k: 16, n: 16, scale: 0.01, zeroPoint: 1, bias: bias16, mode: 'dense' }); if (i % 16 === 0) l.matmulInt32(a16); };
    case 'QuantizedLinear.fromFloat32 (auto)':
      return (i) => { const l = lb.QuantizedLinear.fromFloat32(f256, { k: 16, n: 16, bias: bias16 }); if (i % 16 === 0) l.forward(x16); };
    case 'QuantizedLinear.deserialize':
      return (i) => { const l = lb.QuantizedLinear.deserialize(ser); if (i % 16 === 0) l.matmulInt32(a16); };
    case 'sparse QuantizedLinear.fromInt8':
      return (i) => { const l = lb.QuantizedLinear.fromInt8(w16s, { k: 16, n: 16, scale: 0.01, bias: bias16, mode: 'sparse' }); if (i % 16 === 0) l.matmulFloat(a16, { scale: 0.1 }); };
    case 'Linear':
      return (i) => { const l = new lb.Linear(f256, { inFeatures: 16, outFeatures: 16, bias: bias16 }); if (i % 16 === 0) l.forward(x16); };
    case 'sparse Linear':
      return (i) => { const l = new lb.Linear(f256s, { inFeatures: 16, outFeatures: 16, bias: bias16, mode: 'sparse' }); if (i % 16 === 0) l.forward(x16); };
    case 'Conv2d':
      return (i) => { const l = new lb.Conv2d(conv, { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 }); if (i % 16 === 0) l.forward(f32(4 * 16), { h: 4, w: 4 }); };
    case 'sparse Conv2d':
      return (i) => { const l = new lb.Conv2d(convS, { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1, mode: 'sparse' }); if (i % 16 === 0) l.forward(f32(4 * 16), { h: 4, w: 4 }); };
    case 'QuantizedConv2d.fromInt8':
      return (i) => { const l = lb.QuantizedConv2d.fromInt8(qconv, { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1, scale: 0.01, mode: 'dense' }); if (i % 16 === 0) l.forwardInt32(new Uint8Array(4 * 16), { h: 4, w: 4 }); };
    case 'sparse QuantizedConv2d.fromInt8':
      return (i) => { const l = lb.QuantizedConv2d.fromInt8(qconv1, { inChannels: 8, outChannels: 8, kernelSize: 1, scale: 0.01, mode: 'sparse' }); if (i % 16 === 0) l.forwardFloat(new Uint8Array(8 * 16), { h: 4, w: 4, scale: 0.1 }); };
    case 'EmbeddingTable.fromFloat32':
      return (i) => { const t = lb.EmbeddingTable.fromFloat32(values, { dim: 16, format: 'q8' }); if (i % 16 === 0) lb.embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0) }); };
    case 'EmbeddingTable.fromBuffer':
      return (i) => { const t = lb.EmbeddingTable.fromBuffer(tableBytes.slice(), { dim: 16, format: 'q8' }); if (i % 16 === 0) lb.embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0) }); };
    case 'EmbeddingTable.allocate (small)':
      return (i) => { const t = lb.EmbeddingTable.allocate(64, { dim: 16, format: 'q8' }); if (i % 16 === 0) lb.embeddingBag(t, { indices: Int32Array.of(1, 63), offsets: Int32Array.of(0) }); };
    case 'EmbeddingTable.allocate (4 MiB, its own mapping)':
      return (i) => { const t = lb.EmbeddingTable.allocate(4 << 14, { dim: 64, format: 'f32' }); if (i % 16 === 0) { t.bytes[0] = 1; lb.embeddingBag(t, { indices: Int32Array.of(0), offsets: Int32Array.of(0) }); } };
    case 'EmbeddingTable.open + close':
      return (i) => { const t = lb.EmbeddingTable.open(file, { dim: 16, format: 'q8' }); if (i % 16 === 0) lb.embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0) }); t.close(); };
    case 'EmbeddingTable.open, dropped unclosed':
      return (i) => { const t = lb.EmbeddingTable.open(file, { dim: 16, format: 'q8' }); if (i % 16 === 0) lb.embeddingBag(t, { indices: Int32Array.of(1, 2), offsets: Int32Array.of(0) }); };
    default:
      throw new Error(`unknown memory case ${name}`);
  }
}

const gc = (globalThis as { gc?: () => void }).gc!;
function settleGc(): void {
  for (let i = 0; i < 4; i++) gc();
}
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

async function rejectedCalls(lb: any, n: number, res: CaseResult): Promise<() => Promise<void>> {
  // the kinds of rejection: in the worker (a non-finite input found by the kernel's scan), natively
  // before queueing (an index out of range), in JS validation (a NaN scale), a detached input,
  // and at settle time (an output transferred while the call ran)
  const layer = lb.QuantizedLinear.fromFloat32(Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), { k: 16, n: 16 });
  const bad = new Float32Array(64).fill(0.5);
  bad[17] = Infinity;
  const table = lb.EmbeddingTable.fromFloat32(new Float32Array(64 * 16).fill(0.25), { dim: 16, format: 'q8' });
  const detached = new Float32Array(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  const kinds = [
    () => layer.forwardAsync(bad),
    () => lb.embeddingBagAsync(table, { indices: Int32Array.of(1, 64), offsets: Int32Array.of(0) }),
    () => lb.quantizeAsync(new Float32Array(64), { scale: NaN, zeroPoint: 0 }),
    () => lb.dequantizeAsync(new Uint8Array(64), { scale: 1, zeroPoint: 0, out: detached }),
    // rejected when it settles: the output (staged natively) was transferred while it ran
    () => {
      const out = new Float32Array(1 << 15);
      const p = lb.dequantizeAsync(new Uint8Array(1 << 15), { scale: 1, zeroPoint: 0, out });
      structuredClone(out.buffer, { transfer: [out.buffer] });
      return p;
    },
  ];
  const counts: Record<string, number> = {};
  let k = 0;
  return async () => {
    const batch: Promise<void>[] = [];
    for (let j = 0; j < 100 && k < n; j++, k++) {
      batch.push(
        Promise.resolve()
          .then(kinds[k % kinds.length])
          .then(
            () => {
              counts.resolved = (counts.resolved ?? 0) + 1;
            },
            (e) => {
              const c = isCoded(e) ? String(e.code) : 'uncoded';
              counts[c] = (counts[c] ?? 0) + 1;
              if (c === 'uncoded' && counts[c] <= 2) res.violations.push(`uncoded rejection ${describeError(e)}`);
            },
          ),
      );
    }
    await Promise.all(batch);
    res.notes.rejections = counts;
  };
}

async function main(): Promise<void> {
  const name = process.argv[2];
  const res: CaseResult = { violations: [], notes: {} };
  try {
    const lb = lowbit();
    const cycles = process.env.MEMORY_CYCLES ? Number(process.env.MEMORY_CYCLES) : MEMORY_CASES[name];
    if (cycles === undefined) throw new Error(`unknown memory case ${name}`);
    const t0 = now();
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage.rss());
    };
    let step: (i: number) => Promise<void> | void;
    let per = 1;
    if (name.startsWith('20,000')) {
      step = await rejectedCalls(lb, cycles, res);
      per = 100;
    } else {
      step = maker(lb, name);
    }
    const warm = Math.floor(cycles / 10);
    let i = 0;
    for (; i < warm; i += per) {
      await step(i);
      if (i % 1000 < per) {
        // a turn of the event loop: N-API runs the finalizers of collected objects from it
        await new Promise((r) => setImmediate(r));
        if (i % 5000 < per) {
          gc();
          sample();
        }
      }
    }
    settleGc();
    await new Promise((r) => setTimeout(r, 50));
    settleGc();
    const rssWarm = process.memoryUsage.rss();
    const fdsWarm = openFds();
    const extWarm = process.memoryUsage().external;
    const heapWarm = process.memoryUsage().heapUsed;
    for (; i < cycles; i += per) {
      await step(i);
      if (i % 1000 < per) {
        // a turn of the event loop: N-API runs the finalizers of collected objects from it
        await new Promise((r) => setImmediate(r));
        if (i % 5000 < per) {
          gc();
          sample();
        }
      }
    }
    settleGc();
    await new Promise((r) => setTimeout(r, 50));
    settleGc();
    const rssEnd = process.memoryUsage.rss();
    sample();
    const growth = rssEnd - rssWarm;
    Object.assign(res.notes, {
      cycles,
      seconds: Math.round((now() - t0) / 100) / 10,
      rssAfterWarmupMB: mb(rssWarm),
      rssEndMB: mb(rssEnd),
      growthMB: mb(growth),
      peakMB: mb(peak),
      externalGrowthMB: mb(process.memoryUsage().external - extWarm),
      heapUsedGrowthMB: mb(process.memoryUsage().heapUsed - heapWarm),
      openFds: `${fdsWarm} -> ${openFds()}`,
    });
    if (growth > LIMIT_MB * 2 ** 20) res.violations.push(`RSS grew ${mb(growth)} MB over ${cycles - warm} cycles (limit ${LIMIT_MB} MB): ${mb(rssWarm)} -> ${mb(rssEnd)} MB`);
    const fdsEnd = openFds();
    if (fdsWarm >= 0 && fdsEnd - fdsWarm > 16) res.violations.push(`open file descriptors grew ${fdsWarm} -> ${fdsEnd}`);
  } catch (e) {
    res.violations.push(`threw: ${describeError(e)}`);
  }
  process.stdout.write(RESULT_MARK + JSON.stringify(res) + '\n');
}

if (require.main === module) void main();

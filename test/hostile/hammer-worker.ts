// worker_thread of the SharedArrayBuffer class: rewrites the caller arrays the main thread is
// passing to lowbit, in a tight loop, with hostile values (huge, negative, -1, 2^31-1, NaN, ±Inf,
// zero weights where there were none), each briefly, then restores it, so that a call sees a valid
// array when it validates and may see a hostile one when it reads again.
import { parentPort, workerData } from 'node:worker_threads';

import { rng } from './common';

export interface HammerTarget {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
  kind: 'i8' | 'u8' | 'u16' | 'i32' | 'f32' | 'i64';
  name: string;
}

const HOSTILE: Record<HammerTarget['kind'], (number | bigint)[]> = {
  i8: [0, 127, -128, 1, -1],
  u8: [255, 0, 128, 1],
  u16: [0xffff, 0x7c00, 0],
  i32: [2 ** 31 - 1, -1, -(2 ** 31), 2 ** 30, -2, 65536, 2 ** 24],
  // float bit patterns: NaN, +Inf, -Inf, FLT_MAX, 0, 1.0, -0
  f32: [0x7fc00000, 0x7f800000, 0xff800000 | 0, 0x7f7fffff, 0, 0x3f800000, 0x80000000 | 0],
  i64: [2n ** 63n - 1n, -1n, 2n ** 32n, -(2n ** 63n), 2n ** 31n, -(2n ** 31n)],
};

const { targets, stop, seed } = workerData as { targets: HammerTarget[]; stop: SharedArrayBuffer; seed: number };
const stopFlag = new Int32Array(stop);
const views = targets.map((t) => {
  switch (t.kind) {
    case 'i8': return new Int8Array(t.buffer, t.byteOffset, t.length);
    case 'u8': return new Uint8Array(t.buffer, t.byteOffset, t.length);
    case 'u16': return new Uint16Array(t.buffer, t.byteOffset, t.length);
    case 'i64': return new BigInt64Array(t.buffer, t.byteOffset, t.length);
    default: return new Int32Array(t.buffer, t.byteOffset, t.length);
  }
});
const origs = views.map((v) => v.slice());
const r = rng(seed);
let writes = 0;
parentPort!.postMessage('ready');
while (Atomics.load(stopFlag, 0) === 0 && views.length > 0) {
  for (let it = 0; it < 2048; it++) {
    const t = Math.floor(r() * views.length);
    const v = views[t] as any;
    if (v.length === 0) continue;
    const i = Math.floor(r() * v.length);
    const hs = HOSTILE[targets[t].kind];
    Atomics.store(v, i, hs[Math.floor(r() * hs.length)] as any);
    writes++;
    const spin = Math.floor(r() * 256);
    for (let s = 0; s < spin; s++) Atomics.load(v, i);
    Atomics.store(v, i, (origs[t] as any)[i]);
  }
}
// leave the arrays as they were
views.forEach((v, t) => (v as any).set(origs[t] as any));
parentPort!.postMessage({ writes });

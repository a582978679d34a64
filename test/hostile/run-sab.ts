// Class 1: SharedArrayBuffer inputs rewritten by another worker_thread during calls. Every caller
// array of the op (inputs, table bytes, remap, weights being packed, zero points, bias) lives in a
// SharedArrayBuffer; a worker rewrites them with hostile values while the main thread makes sync
// (or async) calls for about a second. Contract: no crash; each call returns or throws (rejects)
// a coded lowbit error.
import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { CaseDef } from './cases';
import { Arr, CaseResult, Tally, lowbit, now, settle, settleSync } from './common';
import type { HammerTarget } from './hammer-worker';
import { Role, allocWith, opByName } from './ops';

function kindOf(a: Arr): HammerTarget['kind'] {
  const tag = Object.prototype.toString.call(a).slice(8, -1);
  switch (tag) {
    case 'Int8Array': return 'i8';
    case 'Uint8Array': return 'u8';
    case 'Uint16Array': return 'u16';
    case 'BigInt64Array': return 'i64';
    case 'Float32Array': return 'f32';
    default: return 'i32';
  }
}

export async function runSab(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const op = opByName(c.op!);
  const made: { role: Role; name: string; array: Arr }[] = [];
  const ctx = op.make(lb, allocWith(() => 'sab', made), 'medium', 11);
  const targets: HammerTarget[] = made
    .filter((m) => m.role !== 'out' && Object.prototype.toString.call(m.array.buffer) === '[object SharedArrayBuffer]')
    .map((m) => ({ buffer: m.array.buffer as SharedArrayBuffer, byteOffset: m.array.byteOffset, length: m.array.length, kind: kindOf(m.array), name: m.name }));
  res.notes.rewritten = targets.map((t) => `${t.name}(${t.kind} x${t.length})`);
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(path.join(__dirname, 'hammer-worker.js'), { workerData: { targets, stop, seed: 7 } });
  // listen for the end now: 'exit' can follow the last message within one turn
  const exited = once(worker, 'exit');
  const messages: unknown[] = [];
  let wake: (() => void) | null = null;
  worker.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  const nextMessage = async (): Promise<unknown> => {
    while (messages.length === 0) await new Promise<void>((r) => (wake = r));
    return messages.shift();
  };
  await nextMessage();
  const tally = new Tally(res, `${c.form} call`);
  const deadline = now() + 1000;
  let calls = 0;
  if (c.form === 'sync') {
    while (now() < deadline) {
      tally.add(settleSync(() => ctx.invoke(ctx.args, false)));
      calls++;
    }
  } else {
    while (now() < deadline) {
      const batch = Array.from({ length: 8 }, () => settle(() => ctx.invoke(ctx.args, true)));
      for (const s of await Promise.all(batch)) tally.add(s);
      // and sync calls between the batches, while the async ones of the next batch queue
      calls += 8;
    }
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const done = (await nextMessage()) as { writes: number };
  await exited;
  res.notes.calls = calls;
  res.notes.hostileWrites = done.writes;
  res.notes.outcomes = tally.summary();
  // once the arrays are valid again, the op works
  const after = c.form === 'sync' ? settleSync(() => ctx.invoke(ctx.args, false)) : await settle(() => ctx.invoke(ctx.args, true));
  if (!after.ok) res.violations.push(`a call after the rewriting stopped failed: ${String((after.error as Error)?.message)}`);
}

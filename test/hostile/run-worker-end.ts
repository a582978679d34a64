// Class 3: a worker that ends while its calls are in flight: worker_threads that start many async
// calls (of one op, or of every op) and then process.exit() in the worker, or that the parent
// terminates after a random delay (0-50 ms, seeded), repeated. Contract: the parent process
// survives, can still call lowbit, and exits 0 by itself. Also: a worker loading the addon does not
// change the main thread's ISA level.
import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { CaseDef } from './cases';
import { CaseResult, churn, describeError, isCoded, lowbit, packageRoot, rng, settle, settleSync, sleep } from './common';
import { OPS, allocWith, opByName } from './ops';

const WORKER = path.join(__dirname, 'op-worker.js');

async function oneWorker(ops: string[], mode: 'exit' | 'terminate', seed: number, r: () => number, notes: Record<string, number>): Promise<void> {
  const delay = Math.floor(r() * 51);
  const w = new Worker(WORKER, { workerData: { ops, mode, delay, seed } });
  const exited = once(w, 'exit');
  w.on('error', () => {
    notes.workerErrors = (notes.workerErrors ?? 0) + 1;
  });
  if (mode === 'terminate') {
    if (r() < 0.25) {
      // terminated while it may still be loading lowbit or building its calls
      await sleep(delay);
      notes.terminatedEarly = (notes.terminatedEarly ?? 0) + 1;
    } else {
      await Promise.race([once(w, 'message'), exited]);
      await sleep(delay);
    }
    await w.terminate();
  }
  const [code] = (await exited) as [number];
  notes[`exit ${code}`] = (notes[`exit ${code}`] ?? 0) + 1;
}

async function isaCase(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const { supported } = lb.cpu();
  if (supported.length < 2) {
    res.skipped = `this CPU supports only ${supported.join(', ')}`;
    return;
  }
  // LOWBIT_ISA in the environment (as a deployment sets it): each load of the addon must not
  // re-apply it over the level the main thread chose since
  if (c.variant === 'isa-env') process.env.LOWBIT_ISA = supported[supported.length - 1];
  // every level but the best, lowest first: the main thread caps at it, then workers load lowbit
  for (const level of supported.slice(0, -1)) {
    lb.setIsa(level);
    const before = lb.cpu();
    const reps = c.variant === 'isa-terminate' ? 8 : 2;
    const r = rng(5);
    for (let i = 0; i < reps; i++) {
      const w = new Worker(
        `const { parentPort } = require('node:worker_threads'); const lb = require(${JSON.stringify(path.join(packageRoot(), 'dist'))});
         parentPort.postMessage(lb.cpu().isa);`,
        { eval: true },
      );
      const exited = once(w, 'exit');
      if (c.variant !== 'isa-terminate') {
        const [isa] = (await once(w, 'message')) as [string];
        res.notes[`worker isa with main at ${level}`] = isa;
        await exited;
      } else {
        await sleep(Math.floor(r() * 30));
        await w.terminate();
      }
      const after = lb.cpu();
      if (after.isa !== level) res.violations.push(`main thread ISA was ${level} before a worker loaded lowbit, ${after.isa} after`);
      if (JSON.stringify(after.kernels) !== JSON.stringify(before.kernels)) res.violations.push(`main thread kernels changed after a worker loaded lowbit (main at ${level})`);
    }
  }
  lb.setIsa(supported[supported.length - 1]);
}

export async function runWorkerEnd(c: CaseDef, res: CaseResult): Promise<void> {
  if (c.variant?.startsWith('isa-')) return isaCase(c, res);
  const ops = c.op === '*' ? OPS.filter((o) => o.hasAsync).map((o) => o.name) : [c.op!];
  const { reps, seed } = c.params as { reps: number; seed: number };
  const mode = c.variant as 'exit' | 'terminate';
  const r = rng(seed * 7919);
  const notes: Record<string, number> = {};
  // two workers at a time
  for (let i = 0; i < reps; i += 2) {
    await Promise.all([oneWorker(ops, mode, seed * 1000 + i, r, notes), ...(i + 1 < reps ? [oneWorker(ops, mode, seed * 1000 + i + 1, r, notes)] : [])]);
  }
  churn(3);
  res.notes.workers = notes;
  // the main thread still works, with every op of the case
  const lb = lowbit();
  for (const name of ops) {
    const op = opByName(name);
    const ctx = op.make(lb, allocWith(() => 'plain'), 'small', 3);
    const s1 = settleSync(() => ctx.invoke(ctx.args, false));
    const s2 = await settle(() => ctx.invoke(ctx.args, true));
    for (const s of [s1, s2]) if (!s.ok) res.violations.push(`${name} in the main thread after the workers ended: ${isCoded(s.error) ? '' : 'uncoded '}${describeError(s.error)}`);
  }
}

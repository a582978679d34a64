// Class 2: arguments detached, transferred or shrunk while a Promise is pending. After an async
// call starts: structuredClone(buf, { transfer: [buf] }) of its inputs or of its output, a
// worker.postMessage(x, [buf]) transfer, or resize(0) of a resizable ArrayBuffer, then gc() several
// times with allocation in between (so freed memory is reused), then await.
// Contract: never a crash; inputs detached after the call started: the call still succeeds, with
// the result of the inputs it was given (it works on a copy taken at call time); the output
// detached or shrunk before the Promise settles: it resolves, or rejects with ERR_LOWBIT_DETACHED
// (TypeError); a resizable buffer passed at call time: the call works or rejects with a coded
// error; the table bytes or a layer's exposed arrays detached: correct result or a coded error.
import * as crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';

import type { CaseDef } from './cases';
import { Arr, CaseResult, bytesOf, churn, describeError, detach, isCoded, lowbit, sameBytes, settle, settleSync } from './common';
import { Backing, Role, allocWith, getPath, opByName } from './ops';

const REPS = 3;

let itersPerMs = 0;
/**
 * Occupies every thread of libuv's pool (where N-API async work runs) for about `ms`, so that a
 * call queued next starts only after the detach, the shrink and the GCs that follow it.
 */
function blockPool(ms: number): Promise<unknown> {
  if (!itersPerMs) {
    const t0 = performance.now();
    crypto.pbkdf2Sync('x', 'y', 20000, 16, 'sha256');
    itersPerMs = 20000 / Math.max(0.1, performance.now() - t0);
  }
  const n = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  return Promise.all(Array.from({ length: n }, () => new Promise((r) => crypto.pbkdf2('x', 'y', Math.ceil(itersPerMs * ms), 16, 'sha256', r))));
}

export async function runDetach(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const op = opByName(c.op!);
  const v = c.variant!;
  const pick = (role: Role): Backing => {
    if (v === 'resize-inputs' && (role === 'input' || role === 'hidden')) return 'resizable';
    if (v === 'resize-output' && role === 'out') return 'resizable';
    return 'plain';
  };
  let sink: Worker | undefined;
  if (v === 'postMessage-inputs') {
    // the receiver overwrites what it gets: a call still reading the caller's memory then sees it
    sink = new Worker(
      "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => { if (ArrayBuffer.isView(m)) new Uint8Array(m.buffer, m.byteOffset, m.byteLength).fill(0xa7); parentPort.postMessage('filled'); })",
      { eval: true },
    );
  }
  const outcomes: string[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const seed = 100 + rep;
    // the reference: the same call on identical, untouched inputs
    const refCtx = op.make(lb, allocWith(() => 'plain'), 'large', seed);
    const refRun = settleSync(() => refCtx.invoke(refCtx.args, false));
    if (!refRun.ok) throw new Error(`reference call failed: ${describeError(refRun.error)}`);
    const ref = bytesOf(refRun.value as ArrayBufferView);

    const ctx = op.make(lb, allocWith(pick), 'large', seed);
    const inputs = ctx.inputs.map((p) => getPath(ctx.args, p) as Arr);
    const out = ctx.out ? (getPath(ctx.args, ctx.out) as Arr) : undefined;
    // rep 0: the kernel starts after the detach and the GCs (the pool is busy until then); the
    // others: the detach races the running kernel
    const blocked = rep === 0 ? blockPool(80) : null;
    const promise = settle(() => ctx.invoke(ctx.args, true));
    const freed: number[] = [];
    const gone = (a: Arr) => freed.push(a.byteLength);
    let posted = 0;
    switch (v) {
      case 'transfer-inputs':
        for (const a of inputs) {
          gone(a);
          detach(a.buffer);
        }
        break;
      case 'transfer-output':
        gone(out!);
        detach(out!.buffer);
        break;
      case 'postMessage-inputs':
        for (const a of inputs) {
          if ((a.buffer as ArrayBuffer & { detached?: boolean }).detached) continue;
          sink!.postMessage(a, [a.buffer as ArrayBuffer]);
          posted++;
        }
        break;
      case 'resize-inputs':
        for (const a of [...inputs, ...Object.values(ctx.hidden)]) {
          const b = a.buffer as ArrayBuffer & { resizable?: boolean; resize?: (n: number) => void };
          if (b.resizable) b.resize!(0);
        }
        break;
      case 'resize-output': {
        const b = out!.buffer as ArrayBuffer & { resize: (n: number) => void };
        b.resize(0);
        break;
      }
      case 'transfer-table':
        for (const [k, a] of Object.entries(ctx.hidden)) {
          if (!k.startsWith('table') && k !== 'remap') continue;
          gone(a);
          detach(a.buffer);
        }
        break;
      case 'transfer-layer-arrays':
        for (const [k, a] of Object.entries(ctx.hidden)) {
          if (!k.startsWith('layer.')) continue;
          gone(a);
          detach(a.buffer);
        }
        break;
      default:
        throw new Error(`unknown variant ${v}`);
    }
    if (posted) {
      // wait (a little) for the receiver to have overwritten them
      let acks = 0;
      await Promise.race([
        new Promise<void>((r) => {
          const on = () => {
            if (++acks >= posted) {
              sink!.off('message', on);
              r();
            }
          };
          sink!.on('message', on);
        }),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    churn(3);
    // fresh buffers the sizes of those just freed, likely placed where they were: a call that
    // still writes (or whose output lands) there changes them
    const decoys = freed.flatMap((n) => Array.from({ length: 3 }, () => new Uint8Array(n).fill(0xa5)));
    const s = await promise;
    if (blocked) await blocked;
    const hit = decoys.filter((d) => d.some((b) => b !== 0xa5)).length;
    if (hit) res.violations.push(`rep ${rep}: ${hit} buffer(s) allocated after the detach were written by the call (it wrote into freed memory)`);
    const label = `rep ${rep}`;
    const correct = s.ok && sameBytes(bytesOf(s.value as ArrayBufferView), ref);
    const err = s.ok ? '' : describeError(s.error);
    const outputGone = v === 'transfer-output' || v === 'resize-output';
    outcomes.push(s.ok ? (outputGone ? 'resolved' : correct ? 'resolved, correct' : 'resolved, WRONG result') : `rejected ${err.slice(0, 80)}`);
    if (v === 'transfer-inputs' || v === 'postMessage-inputs') {
      if (!s.ok) res.violations.push(`${label}: rejected after its inputs were detached (contract: works on a copy taken at call time): ${err}`);
      else if (!correct) res.violations.push(`${label}: resolved with a result that differs from the same call on untouched inputs (read detached/freed memory)`);
    } else if (v === 'transfer-output') {
      if (!s.ok && !(isCoded(s.error) && (s.error as { code: string }).code === 'ERR_LOWBIT_DETACHED' && (s.error as Error).constructor.name === 'TypeError')) {
        res.violations.push(`${label}: output detached: expected resolve or a TypeError ERR_LOWBIT_DETACHED, got ${err}`);
      }
    } else if (v === 'resize-output') {
      if (!s.ok && !isCoded(s.error)) res.violations.push(`${label}: output shrunk: expected resolve or a coded rejection, got ${err}`);
    } else {
      // resize-inputs, transfer-table, transfer-layer-arrays
      if (!s.ok && !isCoded(s.error)) res.violations.push(`${label}: expected the correct result or a coded rejection, got ${err}`);
      if (s.ok && !correct) res.violations.push(`${label}: resolved with a result that differs from the same call on untouched arrays`);
    }
    // the arrays stay detached/shrunk: a further call of each form must not crash either
    for (const form of ['sync', 'async'] as const) {
      const again = form === 'sync' ? settleSync(() => ctx.invoke(ctx.args, false)) : await settle(() => ctx.invoke(ctx.args, true));
      if (!again.ok && !isCoded(again.error)) res.violations.push(`${label}: ${form} call with the arrays still detached: uncoded ${describeError(again.error)}`);
    }
    churn(1);
  }
  res.notes.outcomes = outcomes;
  if (sink) await sink.terminate();
}

// worker_thread of the worker-end class: loads lowbit, starts many async calls of the given ops,
// tells the parent, then either ends itself with process.exit() after `delay` ms of sync calls
// (mode 'exit') or keeps calling until the parent terminates it (mode 'terminate').
import { parentPort, workerData } from 'node:worker_threads';

import { lowbit, now } from './common';
import { allocWith, opByName } from './ops';

const { ops, mode, delay, seed } = workerData as { ops: string[]; mode: 'exit' | 'terminate'; delay: number; seed: number };
const lb = lowbit();
const ctxs = ops.map((name) => ({ op: opByName(name), ctx: opByName(name).make(lb, allocWith(() => 'plain'), 'medium', seed) }));
const started = now();
const pending: Promise<unknown>[] = [];
const fire = () => {
  for (const { op, ctx } of ctxs) {
    if (!op.hasAsync) continue;
    try {
      pending.push(Promise.resolve(ctx.invoke(ctx.args, true)).catch(() => undefined));
    } catch {
      // a sync throw of an async form is a finding of the other classes, not this one
    }
  }
};
for (let i = 0; i < 4; i++) fire();
parentPort!.postMessage('started');
const syncCall = (k: number) => {
  const { ctx } = ctxs[k % ctxs.length];
  try {
    ctx.invoke(ctx.args, false);
  } catch {
    // ignored here
  }
};
if (mode === 'exit') {
  if (delay === 0) process.exit(0);
  let k = 0;
  while (now() - started < delay) {
    syncCall(k++);
    if (k % 4 === 0) fire();
  }
  process.exit(0);
} else {
  // until terminated: sync calls, async calls, and turns of the event loop
  void (async () => {
    for (let k = 0; ; k++) {
      syncCall(k);
      fire();
      if (pending.length > 64) await Promise.race(pending.splice(0, 32));
      await new Promise((r) => setImmediate(r));
    }
  })();
}

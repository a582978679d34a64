// Memory: 100,000 create/drop cycles of every object type and 20,000 rejected async calls, each in
// a child process of its own (memory-child.ts, --expose-gc), two at a time. RSS after warm-up and at
// the end must differ by less than LIMIT_MB; the figures are printed and written to
// dist-test/hostile-report/memory.{json,txt}.
import * as path from 'node:path';

import { LIMIT_MB, MEMORY_CASES } from './memory-child';
import { RunResult, runAll, writeReport } from './pool';

const filter = process.env.HOSTILE_FILTER ? new RegExp(process.env.HOSTILE_FILTER) : null;
const names = Object.keys(MEMORY_CASES).filter((n) => !filter || filter.test(`memory/${n}`));
const script = path.join(__dirname, 'memory-child.js');
const TIMEOUT = 90000;

let results: Map<string, Promise<RunResult>> | undefined;
const done: RunResult[] = [];
const t0 = Date.now();

describe(`memory: create/drop cycles and rejected async calls grow RSS by less than ${LIMIT_MB} MB`, () => {
  beforeAll(() => {
    results = runAll(script, names.map((id) => ({ id, timeoutMs: TIMEOUT })), Number(process.env.HOSTILE_CONCURRENCY ?? 2));
  });
  afterAll(() => {
    writeReport('memory', done, { seconds: (Date.now() - t0) / 1000 });
    const rows = done.map((r) => {
      const n = (r.result?.notes ?? {}) as Record<string, unknown>;
      return `${r.outcome.padEnd(9)} ${r.id}: ${n.cycles} cycles in ${n.seconds} s, RSS ${n.rssAfterWarmupMB} -> ${n.rssEndMB} MB (growth ${n.growthMB} MB, peak ${n.peakMB} MB, fds ${n.openFds})${r.detail ? ` -- ${r.detail}` : ''}`;
    });
    // eslint-disable-next-line no-console
    console.log(`memory (${((Date.now() - t0) / 1000).toFixed(0)} s):\n${rows.join('\n')}`);
  });
  for (const name of names) {
    test(name, async () => {
      const r = await results!.get(name)!;
      done.push(r);
      if (r.outcome !== 'pass') throw new Error(`${r.outcome.toUpperCase()}: ${r.detail}`);
    }, TIMEOUT + 200000);
  }
});

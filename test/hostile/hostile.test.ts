// The hostile-input suite of issue 10: every case of cases.ts (op x class) runs in a child process
// of its own (child.ts), two at a time, with a timeout, so that a crash or a hang is a failed test
// and never a dead jest runner. Each child prints a JSON result the test asserts on. The results
// are also written to dist-test/hostile-report/hostile.{json,txt}.
//
// HOSTILE_FILTER=<regex> runs only the matching case ids; HOSTILE_CONCURRENCY (default 2).
import * as path from 'node:path';

import { CASES } from './cases';
import { RunResult, runAll, writeReport } from './pool';

const filter = process.env.HOSTILE_FILTER ? new RegExp(process.env.HOSTILE_FILTER) : null;
const cases = CASES.filter((c) => !filter || filter.test(c.id));
const concurrency = Number(process.env.HOSTILE_CONCURRENCY ?? 2);
const script = path.join(__dirname, 'child.js');

let results: Map<string, Promise<RunResult>> | undefined;
const t0 = Date.now();
const done: RunResult[] = [];

describe('hostile input: no call crashes or hangs the process, every error is coded, caller data untouched', () => {
  beforeAll(() => {
    results = runAll(script, cases, concurrency);
  });
  afterAll(() => {
    const byOutcome: Record<string, number> = {};
    for (const r of done) byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1;
    const file = writeReport('hostile', done, { seconds: (Date.now() - t0) / 1000, cases: done.length, byOutcome });
    // eslint-disable-next-line no-console
    console.log(`hostile: ${done.length} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(byOutcome)}; report ${file}`);
  });
  for (const c of cases) {
    // each test waits for its own child (the pool runs ahead); the child's own timeout is c.timeoutMs
    test(c.id, async () => {
      const r = await results!.get(c.id)!;
      done.push(r);
      if (r.outcome !== 'pass' && r.outcome !== 'skipped') throw new Error(`${r.outcome.toUpperCase()}: ${r.detail}`);
    }, c.timeoutMs + 120000);
  }
});

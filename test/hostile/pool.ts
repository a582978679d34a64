// Runs case scripts in child processes, a bounded number at a time, each with a timeout: a crash
// (signal, abort, nonzero exit) or a hang is a failed case, never a dead jest runner.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CaseResult } from './common';
import { RESULT_MARK } from './common';

export type Outcome = 'pass' | 'skipped' | 'violation' | 'crash' | 'hang';

export interface RunResult {
  id: string;
  outcome: Outcome;
  /** One line for the report: the signal, the exit code, the first violations. */
  detail: string;
  exitCode: number | null;
  signal: string | null;
  ms: number;
  result?: CaseResult;
  stderrTail: string;
}

const TAIL = 4000;

function tail(s: string): string {
  return s.length > TAIL ? s.slice(s.length - TAIL) : s;
}

/** Runs `node --expose-gc script id` once; never rejects. */
export function runChild(script: string, id: string, timeoutMs: number, extraArgs: string[] = []): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', ...extraArgs, script, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOWBIT_HOSTILE_CASE: id },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout = tail(stdout + d.toString());
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = tail(stderr + d.toString());
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - t0;
      let result: CaseResult | undefined;
      for (const line of stdout.split('\n')) {
        if (line.startsWith(RESULT_MARK)) {
          try {
            result = JSON.parse(line.slice(RESULT_MARK.length)) as CaseResult;
          } catch {
            // a torn line: treated as missing
          }
        }
      }
      // the lines that say what killed it (V8's FATAL ERROR, glibc's malloc checks, an uncaught C++
      // exception), then the last lines
      const lines = stderr.trim().split('\n');
      const key = lines.filter((l) => /FATAL ERROR|terminate called|what\(\)|double free|corrupted|Assertion|Segmentation|Bus error|malloc\(\)|free\(\)|Error:/.test(l)).slice(0, 3);
      const errTail = [...key, ...lines.slice(-3).filter((l) => !key.includes(l))].join(' | ').slice(0, 600);
      let outcome: Outcome;
      let detail: string;
      if (timedOut) {
        outcome = 'hang';
        detail = `no exit within ${timeoutMs} ms${result ? ' (after printing its result)' : ''}; last output: ${errTail || stdout.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`;
      } else if (signal !== null || code !== 0 || !result) {
        outcome = 'crash';
        detail = `${signal ? `killed by ${signal}` : `exit code ${code}`}${result ? ' after printing its result' : ', no result'}; stderr: ${errTail}`;
      } else if (result.violations.length > 0) {
        outcome = 'violation';
        detail = `${result.violations.length} violation(s): ${result.violations.slice(0, 4).join(' || ').slice(0, 900)}`;
      } else if (result.skipped) {
        outcome = 'skipped';
        detail = result.skipped;
      } else {
        outcome = 'pass';
        detail = '';
      }
      resolve({ id, outcome, detail, exitCode: code, signal: signal ?? null, ms, result, stderrTail: tail(stderr) });
    });
  });
}

/** Runs the ids `concurrency` at a time, in order; returns a promise per id. */
export function runAll(script: string, cases: { id: string; timeoutMs: number }[], concurrency: number): Map<string, Promise<RunResult>> {
  const resolvers = new Map<string, (r: RunResult) => void>();
  const promises = new Map<string, Promise<RunResult>>();
  for (const c of cases) promises.set(c.id, new Promise((r) => resolvers.set(c.id, r)));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++];
      const r = await runChild(script, c.id, c.timeoutMs);
      resolvers.get(c.id)!(r);
    }
  };
  for (let i = 0; i < Math.max(1, concurrency); i++) void lane();
  return promises;
}

/** Writes the results as JSON and as a text table next to the compiled tests. */
export function writeReport(name: string, results: RunResult[], extra: Record<string, unknown>): string {
  const dir = path.join(__dirname, '..', '..', 'hostile-report');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...extra, results: results.map(({ stderrTail, ...r }) => ({ ...r, stderrTail: r.outcome === 'crash' || r.outcome === 'hang' ? stderrTail.slice(-1500) : undefined })) }, null, 1));
  const lines = results.map((r) => `${r.outcome.padEnd(9)} ${String(r.ms).padStart(6)} ms  ${r.id}${r.detail ? `  -- ${r.detail}` : ''}`);
  fs.writeFileSync(path.join(dir, `${name}.txt`), lines.join('\n') + '\n');
  return file;
}

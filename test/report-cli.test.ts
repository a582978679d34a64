// The bench's command line and text output (bench/index.js, harness.js, summary.js), without
// running a benchmark: strict flags, --help, tables and the summary within 100 columns, ratios
// paired round by round. The summary is built from the canned results of report.test.ts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.join(__dirname, '..', '..');
const bench = path.join(repo, 'bench');
/* eslint-disable @typescript-eslint/no-require-imports */
interface Timing { rounds: number[]; n: number; min: number; median: number; max: number }
const harness = require(path.join(bench, 'harness.js')) as {
  table(h: string[], rows: unknown[][]): string;
  wrap(t: string): string;
  pairedRatio(t: Record<string, Timing>, a: string, b: string): { n: number; min: number; median: number; max: number } | null;
};
const { summarize, formatSummary } = require(path.join(bench, 'summary.js')) as {
  summarize(s: unknown[], r: unknown): { family: string; missing?: string }[];
  formatSummary(l: unknown[], peers: unknown): string;
};
const { loadSuites } = require(path.join(bench, 'index.js')) as { loadSuites(): unknown[] };
/* eslint-enable @typescript-eslint/no-require-imports */

const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(bench, 'index.js'), ...args], { encoding: 'utf8', timeout: 30000 });
const width = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

test('--help prints the usage and exits 0 without running anything', () => {
  const r = cli('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^usage: npm run bench/);
  expect(r.stdout).toMatch(/--quick/);
  expect(r.stderr).toBe('');
  expect(width(r.stdout)).toBeLessThanOrEqual(100);
});

test.each([['--bogus'], ['--threads', '0'], ['--quick', '--full'], ['extra'], ['--filter', 'no-such-suite']])('%s is an error (exit 2, says why)', (...args) => {
  const r = cli(...args);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/lowbit bench: /);
});

test('--list names the suites', () => {
  const r = cli('--list');
  expect(r.status).toBe(0);
  expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['gemm', 'embedding', 'embedding-options']));
});

test('a wide table is split into tables within 100 columns, each with the row names; empty columns dropped', () => {
  const header = ['case', ...Array.from({ length: 14 }, (_, i) => `column number ${i}`)];
  const rows = [['a', ...Array.from({ length: 14 }, (_, i) => i)], ['b', ...Array.from({ length: 14 }, () => '-')]];
  const t = harness.table(header, rows);
  expect(width(t)).toBeLessThanOrEqual(100);
  expect(t.split('\n\n').length).toBeGreaterThan(1);
  for (const part of t.split('\n\n')) expect(part.startsWith('case')).toBe(true);
  expect(harness.table(['x', 'y', 'z'], [['a', 1, '-'], ['b', 2, undefined]])).not.toMatch(/z/);
  expect(width(harness.wrap('word '.repeat(60)))).toBeLessThanOrEqual(100);
});

test('ratios are paired round by round', () => {
  const t = { a: { rounds: [1, 2, 1], n: 3, min: 1, median: 1, max: 2 }, b: { rounds: [2, 3, 4], n: 3, min: 2, median: 3, max: 4 } };
  expect(harness.pairedRatio(t, 'a', 'b')).toEqual({ n: 3, min: 1.5, median: 2, max: 4 });
  expect(harness.pairedRatio(t, 'a', 'c')).toBeNull();
});

test('the summary of the canned results fits 100 columns and names peers measured or missing', () => {
  const results = JSON.parse(fs.readFileSync(path.join(repo, 'test', 'fixtures', 'bench-results.json'), 'utf8')) as { peers: Record<string, { version?: string }> };
  const text = formatSummary(summarize(loadSuites(), results), results.peers);
  expect(width(text)).toBeLessThanOrEqual(100);
  expect(text).toMatch(/ort = onnxruntime-node 1\.30\.0/);
  expect(text).toMatch(/int8 GEMM, u8 out +exact +ort MatMulInteger u8u8/);
  delete results.peers['onnxruntime-node'].version;
  for (const rows of Object.values((results as unknown as { suites: Record<string, { timing?: Record<string, unknown> }[]> }).suites)) {
    for (const r of rows) for (const k of Object.keys(r.timing ?? {})) if (k.startsWith('ort')) delete r.timing![k];
  }
  const without = summarize(loadSuites(), results);
  expect(without.filter((l) => l.missing).map((l) => l.family)).toEqual(expect.arrayContaining(['int8 GEMM, u8 out']));
});

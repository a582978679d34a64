// Helpers shared by the hostile-input case scripts (they run in child processes and workers, never
// in the jest process). Nothing here loads lowbit at import time: `lowbit()` does, from dist/ (the
// compiled package as a user gets it), so that cases.ts can be imported by the jest runner safely.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root: the nearest folder above `from` holding lowbit's package.json. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && fs.existsSync(path.join(dir, 'CMakeLists.txt'))) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'lowbit') return dir;
      } catch {
        // not ours
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`no lowbit package.json above ${from}`);
  }
}

let cached: any;
/** The compiled package (dist/), loaded on first use. */
export function lowbit(): any {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (cached === undefined) cached = require(path.join(packageRoot(), 'dist'));
  return cached;
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Arr = Int8Array | Uint8Array | Uint16Array | Int32Array | Float32Array | BigInt64Array;
export type ArrCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | BigInt64ArrayConstructor;

/** True if `e` is a lowbit error: a TypeError or RangeError whose code starts with ERR_LOWBIT_. */
export function isCoded(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  const name = (e as Error)?.constructor?.name;
  return typeof code === 'string' && code.startsWith('ERR_LOWBIT_') && (name === 'TypeError' || name === 'RangeError');
}

/** A one-line description of a thrown value. */
export function describeError(e: unknown): string {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in (e as object))) {
    const err = e as Error & { code?: unknown };
    return `${err.constructor?.name ?? 'Error'}${err.code !== undefined ? `[${String(err.code)}]` : ''}: ${String(err.message).slice(0, 300)}`;
  }
  return `non-error thrown: ${String(e).slice(0, 200)}`;
}

/** True if the view's buffer is detached (Node 20 has no ArrayBuffer.prototype.detached). */
export function isDetached(v: ArrayBufferView): boolean {
  const b = v.buffer as ArrayBuffer & { detached?: boolean };
  if (typeof b.detached === 'boolean') return b.detached;
  if (Object.prototype.toString.call(b) === '[object SharedArrayBuffer]' || b.byteLength !== 0) return false;
  try {
    b.slice(0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Detaches `buf` by transferring it into a clone that is then dropped. */
export function detach(buf: ArrayBufferLike): void {
  if (Object.prototype.toString.call(buf) === '[object SharedArrayBuffer]') return;
  if ((buf as ArrayBuffer & { detached?: boolean }).detached) return;
  structuredClone(buf, { transfer: [buf as ArrayBuffer] });
}

/** A copy of the bytes a view covers (empty when detached). */
export function bytesOf(v: ArrayBufferView): Uint8Array {
  if (isDetached(v)) return new Uint8Array(0);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every ArrayBufferView reachable from `v` (arrays and plain objects, not class instances). */
export function viewsIn(v: unknown, out: Set<ArrayBufferView> = new Set(), depth = 0): Set<ArrayBufferView> {
  if (depth > 6 || v === null || typeof v !== 'object') return out;
  if (ArrayBuffer.isView(v)) {
    out.add(v);
    return out;
  }
  if (Array.isArray(v)) {
    for (const x of v) viewsIn(x, out, depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) for (const x of Object.values(v as object)) viewsIn(x, out, depth + 1);
  return out;
}

/** Runs the GC several times, allocating in between so that freed memory is reused. */
export function churn(times = 3): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < times; i++) {
    if (gc) gc();
    // fresh buffers of a few sizes, written, so that freed backing stores get reused or unmapped
    const junk: Uint8Array[] = [];
    for (const n of [4096, 65536, 1 << 20, 4 << 20]) junk.push(new Uint8Array(n).fill(0xa5));
    void junk;
  }
}

/** Milliseconds since the time origin. */
export function now(): number {
  return performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What a case script reports (one JSON line, prefixed by RESULT_MARK). */
export interface CaseResult {
  /** Contract violations (no crash, but a rule of the contract broken). */
  violations: string[];
  /** Facts worth quoting (counts, outcomes, RSS figures). */
  notes: Record<string, unknown>;
  /** True when the case could not run here (e.g. needs a non-root user). */
  skipped?: string;
}

export const RESULT_MARK = 'HOSTILE_RESULT ';

export type Settled = { ok: true; value: any } | { ok: false; error: unknown };

/** Runs a sync call, catching what it throws. */
export function settleSync(fn: () => any): Settled {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Runs a call and awaits its result, catching a throw or a rejection. */
export async function settle(fn: () => any): Promise<Settled> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Counts call outcomes; keeps the first few uncoded errors as violations. */
export class Tally {
  returned = 0;
  coded = 0;
  uncoded = 0;
  codes: Record<string, number> = {};
  constructor(private readonly res: CaseResult, private readonly label: string) {}
  add(s: Settled): void {
    if (s.ok) {
      this.returned++;
      return;
    }
    if (isCoded(s.error)) {
      this.coded++;
      const code = String((s.error as { code: string }).code);
      this.codes[code] = (this.codes[code] ?? 0) + 1;
      return;
    }
    this.uncoded++;
    if (this.uncoded <= 3) this.res.violations.push(`${this.label}: uncoded error ${describeError(s.error)}`);
  }
  summary(): Record<string, unknown> {
    return { returned: this.returned, coded: this.coded, uncoded: this.uncoded, codes: this.codes };
  }
}

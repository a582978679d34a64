// Shared helpers for the API tests.
import * as lowbit from '../lib';

/** Runs `fn` once per ISA this CPU supports, restoring the best level afterwards. */
export function forEachIsa(fn: (isa: lowbit.Isa) => void): void {
  const { supported } = lowbit.cpu();
  try {
    for (const isa of supported) {
      lowbit.setIsa(isa);
      fn(isa);
    }
  } finally {
    lowbit.setIsa(supported[supported.length - 1]);
  }
}

/** Runs `fn` at level `isa`, restoring the level in use before; returns what `fn` returns. */
export function atIsa<T>(isa: lowbit.Isa, fn: () => T): T {
  const level = lowbit.cpu().isa;
  lowbit.setIsa(isa);
  try {
    return fn();
  } finally {
    lowbit.setIsa(level);
  }
}

/**
 * `search()` at the active level, and where it finds nothing there, once more at the AVX2 level
 * when the CPU has it (which kernel wins, and by how much, depends on the level: with AMX tiles the
 * dense int8 GEMM leaves a sparse kernel no near break-even case at all).
 */
export function atActiveOrAvx2(search: () => boolean): boolean {
  if (search()) return true;
  const { isa, supported } = lowbit.cpu();
  return isa !== 'avx2' && supported.includes('avx2') ? atIsa('avx2', search) : false;
}

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
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

/** Expects `fn` to throw an error of class `cls` with `code`, whose message matches `message`. */
export function expectCode(fn: () => unknown, cls: ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  // By name, not instanceof: errors made by the addon belong to Node's realm, not jest's sandbox.
  expect((thrown as Error)?.constructor?.name).toBe(cls.name);
  expect((thrown as { code?: string }).code).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}

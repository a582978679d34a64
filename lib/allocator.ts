import { rangeError, typeError } from './errors';
import { binding } from './native';
import { describe } from './validate';

/** The largest value {@link retainFreedMemory} takes (glibc's `mallopt` takes an `int`). */
export const MAX_RETAINED_BYTES = 2 ** 31 - 1;

/**
 * Lets the C library keep up to `bytes` of freed memory for reuse instead of returning it to the
 * kernel, process-wide (glibc: `mallopt(M_TRIM_THRESHOLD, bytes)`, and `M_MMAP_THRESHOLD` fixed at
 * min(bytes, 32 MiB)). Why: a call without `out` returns new memory, which V8 frees only at its
 * next garbage collection; with glibc's defaults that memory goes back to the kernel, and every call
 * then pays page faults on fresh pages (measured: a 512-bag embedding lookup with a 128 KiB result
 * ran at 0.55-0.6x the speed of the same call with `out`). Passing an `out` avoids it without any
 * setting. The cost: the process's resident memory may stay up to `bytes` above what it uses.
 * The same effect without code: `GLIBC_TUNABLES=glibc.malloc.trim_threshold=N:glibc.malloc.mmap_threshold=M`.
 * @param bytes how much freed memory to keep, 0..{@link MAX_RETAINED_BYTES} (e.g. 256 MiB).
 * @returns true when applied; false where the C library is not glibc (macOS, musl, Windows):
 *   nothing changed.
 * @throws TypeError `ERR_LOWBIT_INVALID_TYPE` / RangeError `ERR_LOWBIT_OUT_OF_RANGE` for a bad `bytes`.
 */
export function retainFreedMemory(bytes: number): boolean {
  if (typeof bytes !== 'number') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `bytes must be a number, got ${describe(bytes)}`);
  }
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_RETAINED_BYTES) {
    throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `bytes must be an integer in [0, ${MAX_RETAINED_BYTES}], got ${bytes}`);
  }
  return binding._retainFreedMemory(bytes);
}

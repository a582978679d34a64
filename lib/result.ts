// Result arrays that lowbit allocates itself (no `out` given).
import { binding } from './native';

// An async call copies its result out of native memory when it settles, unless the result lives
// in memory the call holds (native/napi/call.h). For results lowbit allocates, that memory can be
// lowbit's own from the start: no copy. Below this size the copy costs less than the allocation.
const OWNED_MIN_BYTES = 64 * 1024;

const native = binding as unknown as { allocateTable(bytes: number, hugePages: boolean): ArrayBuffer };

/** A typed-array constructor lowbit returns results in. */
export interface ResultCtor<T> {
  new (length: number): T;
  new (buffer: ArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * A zeroed array of `length` elements for a call's result. For an async call of at least 64 KiB
 * it is backed by memory lowbit owns (an ordinary ArrayBuffer to the caller), which the call
 * writes in place.
 */
export function resultArray<T>(ctor: ResultCtor<T>, length: number, async: boolean): T {
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  return async && bytes >= OWNED_MIN_BYTES ? new ctor(native.allocateTable(bytes, false)) : new ctor(length);
}

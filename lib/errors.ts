/**
 * Errors thrown by lowbit. Every error is a standard `TypeError` or `RangeError` with a stable
 * `code` property, so callers can branch on `err.code` rather than parse messages.
 */

/** The `code` values lowbit errors carry. */
export type LowbitErrorCode =
  | 'ERR_LOWBIT_INVALID_TYPE'
  | 'ERR_LOWBIT_INVALID_ARGUMENT'
  | 'ERR_LOWBIT_LENGTH_MISMATCH'
  | 'ERR_LOWBIT_INVALID_SCALE'
  | 'ERR_LOWBIT_INVALID_ZERO_POINT'
  | 'ERR_LOWBIT_INVALID_RANGE'
  | 'ERR_LOWBIT_OUT_OF_RANGE'
  | 'ERR_LOWBIT_DETACHED'
  | 'ERR_LOWBIT_NOT_FINITE'
  | 'ERR_LOWBIT_INDEX_OUT_OF_RANGE'
  | 'ERR_LOWBIT_INVALID_OFFSETS'
  | 'ERR_LOWBIT_CLOSED'
  | 'ERR_LOWBIT_ISA_UNSUPPORTED'
  | 'ERR_LOWBIT_FILE'
  | 'ERR_LOWBIT_FILE_TRUNCATED'
  | 'ERR_LOWBIT_OUT_OF_MEMORY'
  | 'ERR_LOWBIT_CANCELLED'
  | 'ERR_LOWBIT_INTERNAL'
  | 'ERR_LOWBIT_UNKNOWN_OPTION'
  | 'ERR_LOWBIT_INVALID_SERIALIZATION'
  | 'ERR_LOWBIT_INVALID_FILE'
  | 'ERR_LOWBIT_INVALID_MODEL'
  | 'ERR_LOWBIT_UNSUPPORTED_OP'
  | 'ERR_LOWBIT_NO_BINARY';

/**
 * An error thrown by lowbit, with its `code`: a `TypeError` or `RangeError`. File errors
 * (`ERR_LOWBIT_FILE`, RangeError) also carry Node's `errno` (e.g. `'ENOENT'`), `syscall` and `path`.
 */
export type LowbitError = (TypeError | RangeError) & { code: LowbitErrorCode; errno?: string; syscall?: string; path?: string };

/** Builds a `TypeError` with a lowbit `code`. */
export function typeError(code: LowbitErrorCode, message: string): LowbitError {
  return Object.assign(new TypeError(message), { code });
}

/** Builds a `RangeError` with a lowbit `code`. */
export function rangeError(code: LowbitErrorCode, message: string): LowbitError {
  return Object.assign(new RangeError(message), { code });
}

/**
 * True if `err` is an error thrown by lowbit (it has a `code` starting with `ERR_LOWBIT_`). By its
 * fields, not `instanceof`: errors from the addon or another realm (vm contexts, test sandboxes) match.
 */
export function isLowbitError(err: unknown): err is LowbitError {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' && e.code.startsWith('ERR_LOWBIT_') && typeof e.message === 'string';
}

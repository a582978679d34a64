// Where a weight file's bytes come from: caller memory, or a path read on demand. A path is opened
// for each read (no descriptor outlives a call) and its size is checked against what the header
// promised, so a file truncated after it was opened is an ERR_LOWBIT_FILE_TRUNCATED, never a short
// read taken for data.
import * as fs from 'node:fs';
import { rangeError, typeError, type LowbitError } from '../errors';
import { describe, isDetached } from '../validate';

/** A file to read or bytes already in memory. */
export type WeightSource = string | Uint8Array | ArrayBuffer;

/** The bytes of a weight file. */
export interface ByteSource {
  /** The path, or null for memory. */
  readonly path: string | null;
  /** Total bytes. */
  readonly size: number;
  /** `length` bytes at `offset`: a view of the caller's memory, or a new buffer read from the file. */
  read(offset: number, length: number, what: string): Uint8Array;
  /** Memory sources only: the caller's bytes (zero-copy views are taken from it). */
  readonly bytes: Uint8Array | null;
}

/** Wraps a Node fs error as lowbit's ERR_LOWBIT_FILE (RangeError with errno, syscall and path). */
export function fileError(e: unknown, path: string): LowbitError {
  const err = e as NodeJS.ErrnoException;
  const errno = typeof err?.code === 'string' ? err.code : 'EIO';
  const syscall = typeof err?.syscall === 'string' ? err.syscall : 'read';
  return Object.assign(rangeError('ERR_LOWBIT_FILE', `cannot read ${path}: ${err?.message ?? String(e)}`), { errno, syscall, path });
}

function openRegular(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must be refused below, not waited on for a writer
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'is a directory' : st.isFIFO() ? 'is a FIFO, not a regular file' : 'is not a regular file';
      throw Object.assign(rangeError('ERR_LOWBIT_FILE', `cannot read ${path}: ${what}`), {
        errno: st.isDirectory() ? 'EISDIR' : 'EINVAL', syscall: 'open', path,
      });
    }
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw (e as { code?: string }).code === 'ERR_LOWBIT_FILE' ? e : fileError(e, path);
  }
}

class FileSource implements ByteSource {
  readonly bytes = null;
  readonly size: number;
  constructor(readonly path: string) {
    const { fd, size } = openRegular(path);
    fs.closeSync(fd);
    this.size = size;
  }
  read(offset: number, length: number, what: string): Uint8Array {
    const { fd, size } = openRegular(this.path);
    try {
      if (offset + length > size) {
        throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${this.path}: ${what} needs bytes [${offset}, ${offset + length}) but the file now holds ${size}`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        let n: number;
        try {
          n = fs.readSync(fd, out, done, length - done, offset + done);
        } catch (e) {
          throw fileError(e, this.path);
        }
        if (n === 0) throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${this.path}: the file ended ${length - done} bytes short of ${what}`);
        done += n;
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
}

class MemorySource implements ByteSource {
  readonly path = null;
  readonly size: number;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.byteLength;
  }
  read(offset: number, length: number, what: string): Uint8Array {
    if (isDetached(this.bytes)) throw typeError('ERR_LOWBIT_DETACHED', `the buffer holding ${what} was detached`);
    if (offset + length > this.bytes.byteLength) {
      throw rangeError('ERR_LOWBIT_FILE_TRUNCATED', `${what} needs bytes [${offset}, ${offset + length}) but the buffer holds ${this.bytes.byteLength}`);
    }
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A ByteSource over a path (read on demand) or the caller's bytes (viewed, not copied). */
export function byteSource(source: unknown, name: string): ByteSource {
  if (typeof source === 'string') return new FileSource(source);
  if (source instanceof Uint8Array || Object.prototype.toString.call(source) === '[object Uint8Array]') {
    const b = source as Uint8Array;
    if (isDetached(b)) throw typeError('ERR_LOWBIT_DETACHED', `${name} is backed by a detached ArrayBuffer`);
    return new MemorySource(b);
  }
  const tag = Object.prototype.toString.call(source);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') {
    let view: Uint8Array;
    try {
      view = new Uint8Array(source as ArrayBuffer);
    } catch {
      throw typeError('ERR_LOWBIT_DETACHED', `${name} is a detached ArrayBuffer`);
    }
    if (isDetached(view)) throw typeError('ERR_LOWBIT_DETACHED', `${name} is a detached ArrayBuffer`);
    return new MemorySource(view);
  }
  throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a path (string), a Uint8Array (a Buffer) or an ArrayBuffer, got ${describe(source)}`);
}

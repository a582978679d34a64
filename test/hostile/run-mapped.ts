// Class 4: mapped files. A table file truncated (to 0 bytes, to half) after EmbeddingTable.open,
// then sync and async lookups, embeddingBags and toFloat32. Contract: no crash; a lookup that
// reads rows no longer in the file throws a coded error (ERR_LOWBIT_FILE_TRUNCATED expected, any
// ERR_LOWBIT_ accepted) or, for a design that copies the file, returns the rows as they were at
// open; rows still inside the file may be read. `open` of a FIFO, a directory, /dev/zero,
// /dev/null, a missing file, an unreadable file: a coded error (ERR_LOWBIT_FILE expected, with
// errno), quickly, never a hang.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { CaseDef } from './cases';
import { CaseResult, Settled, bytesOf, churn, describeError, isCoded, lowbit, now, sameBytes, settle, settleSync } from './common';
import { tableFile } from './ops';

const ROWS = 4096;
const DIM = 32;

function codeOf(e: unknown): string {
  return String((e as { code?: unknown })?.code);
}

export async function runMapped(c: CaseDef, res: CaseResult): Promise<void> {
  if (c.variant === 'open') return openCase(c, res);
  const lb = lowbit();
  const { format, trunc, use, offset = 0 } = c.params as { format: string; trunc: string; use: string; offset?: number };
  const { file, bytes } = tableFile(lb, ROWS, DIM, format, 3);
  if (offset) {
    // rows after `offset` bytes of something else
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(offset, 7), Buffer.from(bytes)]));
  }
  const table = lb.EmbeddingTable.open(file, { dim: DIM, format, offset });
  const mem = lb.EmbeddingTable.fromBuffer(bytes.slice(), { dim: DIM, format });
  const far = Int32Array.from({ length: 64 }, (_, i) => ROWS - 1 - i * 7); // last rows: past the end after truncation
  const near = Int32Array.from({ length: 64 }, (_, i) => (i * 13) % (ROWS / 8)); // first eighth: inside at half
  const lookup = (indices: Int32Array) => ({ indices, offsets: Int32Array.of(0, 16, 40) });
  // expected results, from the same rows in memory
  const expFar = lb.embeddingBag(mem, lookup(far));
  const expNear = lb.embeddingBag(mem, lookup(near));
  const expAll = mem.toFloat32();
  // touch the mapping before the truncation so its pages are cached
  if (c.variant === 'truncate-during-async') return duringAsync(lb, table, file, mem, res);
  lb.embeddingBag(table, lookup(far));
  table.toFloat32();
  fs.truncateSync(file, trunc === 'zero' ? 0 : Math.floor(fs.statSync(file).size / 2));
  churn(1);

  const check = (what: string, s: Settled, expected: ArrayBufferView, mustFail: boolean) => {
    if (s.ok) {
      if (!sameBytes(bytesOf(s.value), bytesOf(expected))) {
        res.violations.push(`${what}: returned ${mustFail ? 'rows no longer in the file' : 'rows'} with values other than the file's (expected a coded error, or the rows as they were)`);
      } else res.notes[what] = 'returned the rows as they were';
    } else if (!isCoded(s.error)) {
      res.violations.push(`${what}: uncoded ${describeError(s.error)}`);
    } else {
      res.notes[what] = codeOf(s.error);
      if (codeOf(s.error) !== 'ERR_LOWBIT_FILE_TRUNCATED') res.notes[`${what} (expected ERR_LOWBIT_FILE_TRUNCATED)`] = codeOf(s.error);
    }
  };
  for (let rep = 0; rep < 3; rep++) {
    switch (use) {
      case 'sync':
        check(`sync lookup of rows past the new end`, settleSync(() => lb.embeddingBag(table, lookup(far))), expFar, true);
        if (trunc === 'half') check(`sync lookup of rows inside the file`, settleSync(() => lb.embeddingBag(table, lookup(near))), expNear, false);
        break;
      case 'async':
        check(`async lookup of rows past the new end`, await settle(() => lb.embeddingBagAsync(table, lookup(far))), expFar, true);
        if (trunc === 'half') check(`async lookup of rows inside the file`, await settle(() => lb.embeddingBagAsync(table, lookup(near))), expNear, false);
        break;
      case 'toFloat32':
        check('toFloat32', settleSync(() => table.toFloat32()), expAll, true);
        break;
      case 'bags': {
        const both = (t: any) => [{ table: t, ...lookup(far) }, { table: mem, ...lookup(near) }];
        const exp = lb.embeddingBags(both(mem));
        check('embeddingBags sync', settleSync(() => lb.embeddingBags(both(table))), exp, true);
        check('embeddingBags async', await settle(() => lb.embeddingBagsAsync(both(table))), exp, true);
        break;
      }
    }
  }
  // closed: a coded error, no crash
  table.close();
  const closed = settleSync(() => lb.embeddingBag(table, lookup(near)));
  if (closed.ok || !isCoded(closed.error)) res.violations.push(`lookup after close: expected a coded error, got ${closed.ok ? 'a result' : describeError(closed.error)}`);
  const closedAll = settleSync(() => table.toFloat32());
  if (!closedAll.ok && !isCoded(closedAll.error)) res.violations.push(`toFloat32 after close: uncoded ${describeError(closedAll.error)}`);
}

async function duringAsync(lb: any, table: any, file: string, mem: any, res: CaseResult): Promise<void> {
  const outcomes: Record<string, number> = {};
  {
    // long calls (32k rows each, over the whole table), so that most run after the truncation
    const indices = Int32Array.from({ length: 32768 }, (_, i) => (i * 2654435761) % ROWS);
    const offsets = Int32Array.of(0, 1000, 20000);
    const expFar = lb.embeddingBag(mem, { indices, offsets });
    const calls = Array.from({ length: 32 }, () => settle(() => lb.embeddingBagAsync(table, { indices, offsets })));
    fs.truncateSync(file, 0);
    churn(1);
    for (const s of await Promise.all(calls)) {
      const k = s.ok ? (sameBytes(bytesOf(s.value), bytesOf(expFar)) ? 'correct' : 'WRONG') : isCoded(s.error) ? codeOf(s.error) : 'uncoded';
      outcomes[k] = (outcomes[k] ?? 0) + 1;
      if (k === 'uncoded' && outcomes[k] <= 2) res.violations.push(`async lookup during truncation: ${describeError((s as { error: unknown }).error)}`);
    }
  }
  res.notes.outcomes = outcomes;
  if (outcomes.WRONG) res.violations.push(`${outcomes.WRONG} async lookups during truncation returned values that are neither the rows nor an error`);
}

async function openCase(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const { target } = c.params as { target: string };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-hostile-open-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  let file: string;
  let expectErrno: string | undefined;
  switch (target) {
    case 'fifo':
      file = path.join(dir, 'fifo');
      execFileSync('mkfifo', [file]);
      break;
    case 'directory':
      file = path.join(dir, 'sub');
      fs.mkdirSync(file);
      break;
    case 'missing':
      file = path.join(dir, 'missing.bin');
      expectErrno = 'ENOENT';
      break;
    case 'no-permission':
      if (process.getuid?.() === 0) {
        res.skipped = 'running as root: a file without read permission is still readable';
        return;
      }
      file = path.join(dir, 'locked.bin');
      fs.writeFileSync(file, Buffer.alloc(64 * 4));
      fs.chmodSync(file, 0);
      expectErrno = 'EACCES';
      break;
    default:
      file = target;
  }
  const t0 = now();
  const s = settleSync(() => lb.EmbeddingTable.open(file, { dim: 4, format: 'f32' }));
  const ms = now() - t0;
  res.notes.ms = Math.round(ms);
  if (ms > 2000) res.violations.push(`open took ${Math.round(ms)} ms`);
  if (s.ok) {
    res.violations.push(`open of ${target} returned a table (rows ${s.value.rows}); expected a coded error`);
    // and it must not crash when used
    const l = settleSync(() => s.value.toFloat32());
    if (!l.ok && !isCoded(l.error)) res.violations.push(`toFloat32 of it: uncoded ${describeError(l.error)}`);
    return;
  }
  const e = s.error as { code?: string; errno?: unknown };
  res.notes.error = describeError(s.error);
  res.notes.errno = e?.errno;
  if (!isCoded(s.error)) res.violations.push(`open of ${target}: uncoded ${describeError(s.error)}`);
  else if (expectErrno) {
    if (e.code !== 'ERR_LOWBIT_FILE') res.violations.push(`open of ${target}: code ${e.code}, expected ERR_LOWBIT_FILE`);
    if (e.errno !== expectErrno) res.violations.push(`open of ${target}: errno ${String(e.errno)}, expected the string '${expectErrno}'`);
  } else if (e.code !== 'ERR_LOWBIT_FILE') res.notes.expectedCode = `ERR_LOWBIT_FILE expected, got ${e.code}`;
}

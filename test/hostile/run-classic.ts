// Classic bad input, for every op and both forms: wrong TypedArray type, a plain Array, a length
// off by one, a detached buffer before the call, NaN/Infinity/negative scales, bad integers
// (negative, fractional, NaN, 2^53), bad array elements (NaN bias, zero points out of range),
// indices and offsets out of range. Contract: a coded TypeError/RangeError (ERR_LOWBIT_DETACHED for
// detached arrays), and the caller's data untouched: every array reachable from the arguments,
// the table bytes and the layer's arrays are snapshotted before the call and compared after it.
import type { CaseDef } from './cases';
import { Arr, CaseResult, bytesOf, describeError, detach, isCoded, isDetached, lowbit, sameBytes, settle, settleSync, viewsIn } from './common';
import { Ctx, OpSpec, Role, allocWith, getPath, opByName, setPath } from './ops';

interface Attempt {
  label: string;
  patch(ctx: Ctx, lb: any): void;
  /** The code the error must have (else any ERR_LOWBIT_). */
  code?: string;
  /** Success is acceptable too (the op may hold its own copy). */
  mayReturn?: boolean;
}

function other(v: Arr, len: number): Arr {
  const ctor = v.constructor as any;
  const a = new ctor(len);
  a.set((v as any).subarray(0, Math.min(len, v.length)));
  return a;
}

function attemptsFor(op: OpSpec, kind: string, probe: Ctx): Attempt[] {
  const argPaths = [...probe.inputs, ...(probe.out ? [probe.out] : [])];
  const at: Attempt[] = [];
  switch (kind) {
    case 'wrong-type':
      for (const p of argPaths) {
        if (!op.anyView?.includes(p)) {
          at.push({ label: `${p} as a Float64Array`, patch: (c) => setPath(c.args, p, Float64Array.from(getPath(c.args, p), Number)) });
          at.push({ label: `${p} as a DataView`, patch: (c) => { const v = getPath(c.args, p); setPath(c.args, p, new DataView(v.buffer, v.byteOffset, v.byteLength)); } });
        }
        at.push({ label: `${p} as a plain Array`, patch: (c) => setPath(c.args, p, Array.from(getPath(c.args, p), Number)) });
      }
      break;
    case 'length':
      for (const p of op.lengthPaths) {
        at.push({ label: `${p} one element short`, patch: (c) => { const v = getPath(c.args, p); setPath(c.args, p, v.subarray(0, v.length - 1)); } });
        at.push({ label: `${p} one element long`, patch: (c) => { const v = getPath(c.args, p); setPath(c.args, p, other(v, v.length + 1)); } });
      }
      break;
    case 'detached':
      for (const p of argPaths) at.push({ label: `${p} detached`, code: 'ERR_LOWBIT_DETACHED', patch: (c) => detach(getPath(c.args, p).buffer) });
      for (const h of Object.keys(probe.hidden)) {
        // a layer's exposed arrays and a table's remap: the object may hold its own copies; the
        // table's rows are the caller's memory by design (never copied), so a detached table errs
        const mayCopy = h.startsWith('layer.') || h === 'remap';
        at.push({ label: `${h} detached`, code: mayCopy ? undefined : 'ERR_LOWBIT_DETACHED', mayReturn: mayCopy, patch: (c) => detach(c.hidden[h].buffer) });
      }
      break;
    case 'nan-scale':
      for (const p of op.scalePaths) for (const v of [NaN, Infinity, -Infinity, -1]) at.push({ label: `${p} = ${v}`, patch: (c) => setPath(c.args, p, v) });
      break;
    case 'bad-ints':
      for (const ip of op.intPaths) {
        const [p, values] = typeof ip === 'string' ? [ip, [-1, 1.5, NaN, 2 ** 53]] : ip;
        for (const v of values) at.push({ label: `${p} = ${v}`, patch: (c) => setPath(c.args, p, v) });
      }
      break;
    case 'bad-elements':
      for (const [p, i, v] of op.badElements) at.push({ label: `${p}[${i}] = ${v}`, patch: (c) => { getPath(c.args, p)[i] = v; } });
      break;
    case 'index-range':
      for (const ip of op.indexPatches ?? []) at.push({ label: ip.name, patch: (c, lb) => ip.apply(c, lb) });
      break;
    default:
      throw new Error(`unknown kind ${kind}`);
  }
  return at;
}

export async function runClassic(c: CaseDef, res: CaseResult): Promise<void> {
  const lb = lowbit();
  const op = opByName(c.op!);
  const plain = () => 'plain' as const;
  const probe = op.make(lb, allocWith(plain), 'small', 1);
  const attempts = attemptsFor(op, c.variant!, probe);
  if (attempts.length === 0) throw new Error('no attempts');
  const forms = op.hasAsync ? (['sync', 'async'] as const) : (['sync'] as const);
  const outcomes: Record<string, number> = {};
  for (const a of attempts) {
    for (const form of forms) {
      const made: { role: Role; name: string; array: Arr }[] = [];
      const ctx = op.make(lb, allocWith(plain, made), 'small', 1);
      // the arrays the layer and table expose, and everything the arguments reach
      const before = new Map<ArrayBufferView, Uint8Array>();
      const note = (v: ArrayBufferView) => { if (!before.has(v)) before.set(v, bytesOf(v)); };
      const label = `${form} ${a.label}`;
      const p = settleSync(() => a.patch(ctx, lb));
      if (!p.ok) {
        // the patch itself re-made an object (a table with a bad remap) and that was refused
        if (!isCoded(p.error)) res.violations.push(`${label}: making the patched object threw uncoded ${describeError(p.error)}`);
        outcomes['refused at construction'] = (outcomes['refused at construction'] ?? 0) + 1;
        continue;
      }
      for (const m of made) note(m.array);
      for (const v of viewsIn(ctx.args)) note(v);
      for (const v of Object.values(ctx.hidden)) note(v);
      const s = form === 'sync' ? settleSync(() => ctx.invoke(ctx.args, false)) : await settle(() => ctx.invoke(ctx.args, true));
      if (s.ok) {
        outcomes.returned = (outcomes.returned ?? 0) + 1;
        if (!a.mayReturn) res.violations.push(`${label}: accepted (expected a coded error)`);
        continue;
      }
      const code = String((s.error as { code?: unknown })?.code);
      outcomes[code] = (outcomes[code] ?? 0) + 1;
      if (!isCoded(s.error)) res.violations.push(`${label}: uncoded ${describeError(s.error)}`);
      else if (a.code && code !== a.code) res.violations.push(`${label}: code ${code}, expected ${a.code}`);
      // nothing the caller owns was written
      const changed: string[] = [];
      for (const [v, b] of before) {
        if (isDetached(v)) continue;
        if (!sameBytes(bytesOf(v), b)) changed.push(made.find((m) => m.array === v)?.name ?? `${v.constructor.name}(${(v as Arr).length})`);
      }
      if (changed.length) res.violations.push(`${label}: threw, but wrote the caller's ${changed.join(', ')}`);
    }
  }
  res.notes.attempts = attempts.length * forms.length;
  res.notes.outcomes = outcomes;
}

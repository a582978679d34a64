// The case table of the hostile-input suite: op x class, generated, so that every op meets every
// class that applies to it. Pure data: importing this file loads nothing native.
import { OPS, type OpSpec } from './ops';

export type CaseClass = 'sab' | 'detach' | 'worker-end' | 'mapped' | 'alloc' | 'deserialize' | 'classic' | 'defects';

export interface CaseDef {
  id: string;
  cls: CaseClass;
  op?: string;
  form?: 'sync' | 'async';
  variant?: string;
  params?: Record<string, unknown>;
  timeoutMs: number;
}

const T = 20000;

export const DETACH_VARIANTS = ['transfer-inputs', 'transfer-output', 'postMessage-inputs', 'resize-inputs', 'resize-output'] as const;

/** Ops whose calls read a table in caller memory (fromBuffer). */
export function tableBacked(op: OpSpec): boolean {
  return op.group.startsWith('embeddingBag') && op.name !== 'embeddingBag.mapped';
}
/** Ops on a layer that exposes arrays (weightScales, weightZeroPoints, bias) the caller can reach. */
export function layerBacked(op: OpSpec): boolean {
  return /QuantizedLinear\.(matmul|forward)|QuantizedConv2d\.forward/.test(op.name);
}

export const CLASSIC_KINDS = ['wrong-type', 'length', 'detached', 'nan-scale', 'bad-ints', 'bad-elements', 'index-range'] as const;

function classicKinds(op: OpSpec): string[] {
  const k: string[] = [];
  if (op.name !== 'EmbeddingTable.toFloat32') k.push('wrong-type');
  if (op.lengthPaths.length) k.push('length');
  k.push('detached');
  if (op.scalePaths.length) k.push('nan-scale');
  if (op.intPaths.length) k.push('bad-ints');
  if (op.badElements.length) k.push('bad-elements');
  if (op.indexPatches?.length) k.push('index-range');
  return k;
}

export const MAPPED_USES = ['sync', 'async', 'toFloat32', 'bags'] as const;
export const OPEN_TARGETS = ['fifo', 'directory', '/dev/zero', '/dev/null', 'missing', 'no-permission'] as const;

export const ALLOC_VARIANTS = [
  'allocate 2^31 bytes f32',
  'allocate 2^32 bytes f32',
  'allocate >4GiB f32',
  'allocate >4GiB q8',
  'allocate >4GiB q4',
  'allocate 2^40 bytes',
  'allocate 2^45 bytes',
  'allocate lowbit max 2^46 bytes',
  'allocate 2^46 + 1 row',
  'allocate 2^48 rows',
  'fromBuffer rowStride 2^40',
  'Conv2d dilated output 2^40 (forward, forwardAsync, outputShape, explain)',
  'QuantizedConv2d dilated output 2^40 (forward, forwardAsync, outputShape, explain)',
  'Conv2d depthwise 2^21 channels',
  'QuantizedConv2d depthwise 2^21 channels',
  'Conv2d kernel 1x2^20',
  'QuantizedLinear k=2^22 n=16',
  'explain huge shapes (QuantizedLinear, Linear, Conv2d, QuantizedConv2d)',
  'EmbeddingTable dim 2^24',
  'EmbeddingTable.open 100,000 times unclosed, in a loop that never yields',
] as const;

export const DESERIALIZE_LAYERS = [
  'dense per-channel zero points, float bias',
  'dense per-tensor, int32 bias',
  'sparse, float bias',
  'auto fromFloat32 pruned',
  'k=n=1, no bias',
  'dense k=n=33, no bias',
  'residual split, per-channel zero points',
  '4-bit group 32, outliers, float bias',
  '4-bit per channel k=n=33, no bias',
] as const;

export const DEFECTS = [
  'rowBytes unknown format',
  'rowBytes swapped arguments',
  'embeddingBags([null])',
  'QuantizedLinear weightScales and bias writes do not reach the output',
  'QuantizedConv2d weightScales and bias writes do not reach the output',
  'unknown option key is refused, naming the nearest valid one',
  'enum errors show the value received',
] as const;

function build(): CaseDef[] {
  const cases: CaseDef[] = [];
  // 1. SharedArrayBuffer inputs rewritten by another thread during calls
  for (const op of OPS) {
    cases.push({ id: `sab/${op.name}/sync`, cls: 'sab', op: op.name, form: 'sync', timeoutMs: T });
    if (op.hasAsync) cases.push({ id: `sab/${op.name}/async`, cls: 'sab', op: op.name, form: 'async', timeoutMs: T });
  }
  // 2. arguments detached, transferred or shrunk while a Promise is pending
  for (const op of OPS.filter((o) => o.hasAsync)) {
    const variants: string[] = [...DETACH_VARIANTS];
    if (tableBacked(op)) variants.push('transfer-table');
    if (layerBacked(op)) variants.push('transfer-layer-arrays');
    for (const v of variants) cases.push({ id: `detach/${op.name}/${v}`, cls: 'detach', op: op.name, form: 'async', variant: v, timeoutMs: T });
  }
  // 3. a worker that ends while its calls are in flight
  for (const op of OPS.filter((o) => o.hasAsync)) {
    for (const mode of ['exit', 'terminate']) {
      cases.push({ id: `worker-end/${op.name}/${mode}`, cls: 'worker-end', op: op.name, variant: mode, params: { reps: 10, seed: 1 }, timeoutMs: T });
    }
  }
  for (const mode of ['exit', 'terminate']) {
    for (const seed of [1, 2, 3]) {
      cases.push({ id: `worker-end/every op/${mode}/seed ${seed}`, cls: 'worker-end', op: '*', variant: mode, params: { reps: 20, seed }, timeoutMs: 40000 });
    }
  }
  cases.push({ id: 'worker-end/ISA level kept when a worker loads lowbit', cls: 'worker-end', variant: 'isa-load', timeoutMs: T });
  cases.push({ id: 'worker-end/ISA level kept when a worker loads lowbit with LOWBIT_ISA set', cls: 'worker-end', variant: 'isa-env', timeoutMs: T });
  cases.push({ id: 'worker-end/ISA level kept when workers loading lowbit are terminated', cls: 'worker-end', variant: 'isa-terminate', timeoutMs: T });
  // 4. mapped files truncated after open; open of things that are not regular files
  for (const format of ['q8', 'f32']) {
    for (const trunc of ['zero', 'half']) {
      for (const use of MAPPED_USES) {
        cases.push({ id: `mapped/${format}/truncate to ${trunc}/${use}`, cls: 'mapped', variant: 'truncate', params: { format, trunc, use }, timeoutMs: T });
      }
    }
  }
  cases.push({ id: 'mapped/q8/truncate while async lookups are in flight', cls: 'mapped', variant: 'truncate-during-async', params: { format: 'q8' }, timeoutMs: T });
  cases.push({ id: 'mapped/q8/truncate to zero with an offset', cls: 'mapped', variant: 'truncate', params: { format: 'q8', trunc: 'zero', use: 'sync', offset: 4096 }, timeoutMs: T });
  for (const target of OPEN_TARGETS) cases.push({ id: `mapped/open ${target}`, cls: 'mapped', variant: 'open', params: { target }, timeoutMs: 10000 });
  // 5. allocation and huge dimensions
  for (const v of ALLOC_VARIANTS) cases.push({ id: `alloc/${v}`, cls: 'alloc', variant: v, timeoutMs: 30000 });
  // 6. deserialize of mutated serializations
  for (const layer of DESERIALIZE_LAYERS) {
    for (const mode of ['single-byte mutations', 'truncations']) {
      cases.push({ id: `deserialize/${layer}/${mode}`, cls: 'deserialize', variant: mode, params: { layer }, timeoutMs: 30000 });
    }
  }
  // classic bad input, every op, both forms, caller data untouched on error
  for (const op of OPS) {
    for (const kind of classicKinds(op)) cases.push({ id: `classic/${op.name}/${kind}`, cls: 'classic', op: op.name, variant: kind, timeoutMs: T });
  }
  // smaller defects named by issue 10
  for (const d of DEFECTS) cases.push({ id: `defects/${d}`, cls: 'defects', variant: d, timeoutMs: T });
  return cases;
}

export const CASES: CaseDef[] = build();

export function caseById(id: string): CaseDef {
  const c = CASES.find((x) => x.id === id);
  if (!c) throw new Error(`no hostile case ${id}`);
  return c;
}

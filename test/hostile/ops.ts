// The op table of the hostile-input suite: every public op of lowbit, how to build a valid call of
// it from caller-owned arrays (allocated by the case, so that the case chooses the backing store:
// ArrayBuffer, SharedArrayBuffer or a resizable ArrayBuffer), and which of its arguments the
// classic bad-input checks patch. Cases (cases.ts) are the product of this table and the classes.
//
// Calls use explicit options valid both today and after issue 10's API changes: QuantizedLinear
// weights are square (K x K, so [in][out] and [out][in] layouts are the same length and both valid),
// no `layout` key, no unknown option keys.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Arr, ArrCtor, rng } from './common';

export type Backing = 'plain' | 'sab' | 'resizable';
export type Role = 'input' | 'out' | 'hidden';
/** Allocates a caller array of `ctor` holding `data`; the case decides the backing per role/name. */
export type Alloc = <T extends Arr>(role: Role, name: string, ctor: ArrCtor, data: ArrayLike<number> | ArrayLike<bigint> | number) => T;
export type Size = 'small' | 'medium' | 'large';

/** One prepared call. */
export interface Ctx {
  /** The call's arguments (patched in place by the classic checks). */
  args: any[];
  /** Paths (in args, dot-separated) of the caller arrays the call reads. */
  inputs: string[];
  /** Path of the output array, if the call takes one. */
  out?: string;
  /** Caller arrays the call reads that are not arguments: table bytes, remap, a layer's exposed arrays. */
  hidden: Record<string, Arr>;
  /** Runs the call: sync returns its value, async returns the Promise. */
  invoke(args: any[], async: boolean): any;
  /** Objects built for the call (to keep alive, or for checks). */
  objects?: Record<string, any>;
}

/** An element patch that must make the call throw: [path of an array, index, value]. */
export type BadElement = [string, number, number];
/** A named patch that must make the call throw a coded RangeError (or fail at the construction it redoes). */
export interface BadPatch {
  name: string;
  apply(ctx: Ctx, lb: any): void;
}

export interface OpSpec {
  name: string;
  /** The API family, for the report. */
  group: string;
  hasAsync: boolean;
  /** The call builds an object from the arrays (weights being packed). */
  construct?: boolean;
  make(lb: any, alloc: Alloc, size: Size, seed: number): Ctx;
  /** Paths whose length changed by one must be rejected. */
  lengthPaths: string[];
  /** Paths of positive real parameters (NaN, ±Infinity, -1 must be rejected). */
  scalePaths: string[];
  /** Paths of integer parameters (-1, 1.5, NaN, 2^53 must be rejected; or the values given). */
  intPaths: (string | [string, number[]])[];
  /** Array elements whose bad values must be rejected. */
  badElements: BadElement[];
  /** Index patches (embedding ops). */
  indexPatches?: BadPatch[];
  /** Input paths that accept any ArrayBufferView (no wrong-TypedArray check). */
  anyView?: string[];
}

// ---- path helpers -------------------------------------------------------------------------------

export function getPath(root: any, p: string): any {
  let v = root;
  for (const k of p.split('.')) v = v?.[k];
  return v;
}

export function setPath(root: any, p: string, value: unknown): void {
  const keys = p.split('.');
  let v = root;
  for (const k of keys.slice(0, -1)) v = v[k];
  v[keys[keys.length - 1]] = value;
}

/** Every caller array of a ctx, by name (argument paths and hidden names). */
export function arraysOf(ctx: Ctx): Record<string, Arr> {
  const r: Record<string, Arr> = {};
  for (const p of ctx.inputs) {
    const v = getPath(ctx.args, p);
    if (ArrayBuffer.isView(v)) r[p] = v as Arr;
  }
  if (ctx.out) {
    const v = getPath(ctx.args, ctx.out);
    if (ArrayBuffer.isView(v)) r[ctx.out] = v as Arr;
  }
  for (const [k, v] of Object.entries(ctx.hidden)) r[`hidden:${k}`] = v;
  return r;
}

// ---- data ---------------------------------------------------------------------------------------

function floats(n: number, r: () => number, zeros = 0): number[] {
  return Array.from({ length: n }, () => (r() < zeros ? 0 : r() * 2 - 1));
}
function u8s(n: number, r: () => number): number[] {
  return Array.from({ length: n }, () => Math.floor(r() * 256));
}
/** int8 values with a fraction `zeros` of all-zero 1x4 blocks along rows of length `k`. */
function i8blocks(rowsN: number, k: number, r: () => number, zeros: number): number[] {
  const w = new Array<number>(rowsN * k).fill(0);
  for (let i = 0; i < rowsN; i++)
    for (let k0 = 0; k0 < k; k0 += 4) {
      if (r() < zeros) continue;
      for (let j = k0; j < Math.min(k, k0 + 4); j++) w[i * k + j] = Math.floor(r() * 255) - 127;
    }
  return w;
}

const DIMS = {
  quant: { small: 64, medium: 4096, large: 4 << 20 },
  k: { small: 32, medium: 64, large: 512 },
  m: { small: 3, medium: 16, large: 512 },
  conv: { small: [4, 8, 6], medium: [8, 8, 12], large: [32, 32, 64] },
  emb: { small: [64, 16, 4, 4], medium: [1000, 32, 100, 20], large: [20000, 64, 4000, 50] },
} as const;

function convDims(size: Size): { cin: number; cout: number; hw: number } {
  const [cin, cout, hw] = DIMS.conv[size];
  return { cin, cout, hw };
}

// ---- ops ----------------------------------------------------------------------------------------

type LayerMaker = (lb: any, alloc: Alloc, size: Size, r: () => number) => { layer: any; k: number };

/** QuantizedLinear layers for the GEMM ops (square weights, see the header). */
const qlDense: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromInt8(Int8Array.from(i8blocks(k, k, r, 0)), {
    k, n: k, scale: Float32Array.from({ length: k }, () => 0.001 + r() * 0.01),
    zeroPoint: Int32Array.from({ length: k }, () => Math.floor(r() * 11) - 5), mode: 'dense',
  });
  return { layer, k };
};
const qlDenseFloatBias: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromInt8(Int8Array.from(i8blocks(k, k, r, 0)), {
    k, n: k, scale: Float32Array.from({ length: k }, () => 0.001 + r() * 0.01),
    bias: Float32Array.from(floats(k, r)), mode: 'dense',
  });
  return { layer, k };
};
const qlForward: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromFloat32(Float32Array.from(floats(k * k, r)), { k, n: k, bias: Float32Array.from(floats(k, r)), mode: 'dense' });
  return { layer, k };
};
const qlSparse: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromInt8(Int8Array.from(i8blocks(k, k, r, 0.8)), {
    k, n: k, scale: Float32Array.from({ length: k }, () => 0.001 + r() * 0.01), bias: Float32Array.from(floats(k, r)), mode: 'sparse',
  });
  return { layer, k };
};
const qlSparseForward: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const w = lb.pruneWeights(Float32Array.from(floats(k * k, r)), { sparsity: 0.8, rows: k, block: [1, 4] });
  const layer = lb.QuantizedLinear.fromFloat32(w, { k, n: k, bias: Float32Array.from(floats(k, r)), mode: 'sparse' });
  return { layer, k };
};

/** Issue 14: full-range weights split into a fast-path dense part + sparse residual. */
const qlSplit: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromInt8(Int8Array.from(i8blocks(k, k, r, 0)), {
    k, n: k, scale: 0.01, zeroPoint: Int32Array.from({ length: k }, () => Math.floor(r() * 11) - 5), mode: 'dense', residual: 'always',
  });
  return { layer, k };
};
/** Issue 14: 4-bit weights with int8 outliers. */
const ql4: LayerMaker = (lb, _alloc, size, r) => {
  const k = DIMS.k[size];
  const layer = lb.QuantizedLinear.fromFloat32(Float32Array.from(floats(k * k, r)), { k, n: k, bits: 4, groupSize: 32, outliers: 0.02, bias: Float32Array.from(floats(k, r)) });
  return { layer, k };
};

/** The layer's exposed arrays (the caller can reach and detach them). */
function layerArrays(layer: any): Record<string, Arr> {
  const h: Record<string, Arr> = {};
  for (const key of ['weightScales', 'weightZeroPoints', 'bias']) {
    const v = layer?.[key];
    if (ArrayBuffer.isView(v)) h[`layer.${key}`] = v as Arr;
  }
  return h;
}

function matmulOp(name: string, group: string, maker: LayerMaker, method: 'matmulInt32' | 'matmulFloat' | 'matmulQuantized', signedA: boolean): OpSpec {
  return {
    name, group, hasAsync: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { layer, k } = maker(lb, alloc, size, r);
      const m = DIMS.m[size];
      const aData = signedA ? u8s(m * k, r).map((v) => v - 128) : u8s(m * k, r);
      const a = alloc('input', 'a', signedA ? Int8Array : Uint8Array, aData);
      let opts: any;
      if (method === 'matmulInt32') opts = { zeroPoint: 7, out: alloc('out', 'out', Int32Array, m * k) };
      else if (method === 'matmulFloat') opts = { scale: 0.02, zeroPoint: signedA ? -3 : 3, relu: true, out: alloc('out', 'out', Float32Array, m * k) };
      else opts = { scale: 0.02, zeroPoint: signedA ? -3 : 3, outScale: 0.5, outZeroPoint: 10, out: alloc('out', 'out', Uint8Array, m * k) };
      return {
        args: [a, opts], inputs: ['0'], out: '1.out', hidden: layerArrays(layer), objects: { layer },
        invoke: (g, async) => (async ? layer[`${method}Async`](g[0], g[1]) : layer[method](g[0], g[1])),
      };
    },
    lengthPaths: ['0', '1.out'],
    scalePaths: method === 'matmulInt32' ? [] : method === 'matmulFloat' ? ['1.scale'] : ['1.scale', '1.outScale'],
    intPaths: [signedA ? ['1.zeroPoint', [-129, 128, 1.5, NaN]] : '1.zeroPoint', '1.m', '1.lda', '1.threads', ...(method === 'matmulQuantized' ? ['1.outZeroPoint'] : [])],
    badElements: [],
  };
}

function qlForwardOp(name: string, group: string, maker: LayerMaker): OpSpec {
  return {
    name, group, hasAsync: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { layer, k } = maker(lb, alloc, size, r);
      const m = DIMS.m[size];
      const x = alloc('input', 'x', Float32Array, floats(m * k, r));
      return {
        args: [x, { perRow: true, out: alloc('out', 'out', Float32Array, m * k) }], inputs: ['0'], out: '1.out', hidden: layerArrays(layer), objects: { layer },
        invoke: (g, async) => (async ? layer.forwardAsync(g[0], g[1]) : layer.forward(g[0], g[1])),
      };
    },
    lengthPaths: ['0', '1.out'], scalePaths: [], intPaths: ['1.m', '1.ldx', '1.threads'],
    // NaN activations: Infinity is refused (ERR_LOWBIT_NOT_FINITE); NaN must be too (issue 10)
    badElements: [['0', 0, Infinity], ['0', 1, NaN]],
  };
}

function linearOp(name: string, mode: 'dense' | 'sparse'): OpSpec {
  return {
    name, group: 'Linear', hasAsync: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const k = DIMS.k[size];
      const m = DIMS.m[size];
      const layer = new lb.Linear(Float32Array.from(floats(k * k, r, mode === 'sparse' ? 0.8 : 0)), { inFeatures: k, outFeatures: k, bias: Float32Array.from(floats(k, r)), relu: true, mode });
      const x = alloc('input', 'x', Float32Array, floats(m * k, r));
      return {
        args: [x, { batch: m, out: alloc('out', 'out', Float32Array, m * k) }], inputs: ['0'], out: '1.out', hidden: {}, objects: { layer },
        invoke: (g, async) => (async ? layer.forwardAsync(g[0], g[1]) : layer.forward(g[0], g[1])),
      };
    },
    lengthPaths: ['0', '1.out'], scalePaths: [], intPaths: ['1.batch', '1.threads'], badElements: [],
  };
}

function conv2dOp(name: string, mode: 'dense' | 'sparse'): OpSpec {
  return {
    name, group: 'Conv2d', hasAsync: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { cin, cout, hw } = convDims(size);
      const layer = new lb.Conv2d(Float32Array.from(floats(cout * cin * 9, r, mode === 'sparse' ? 0.8 : 0)), {
        inChannels: cin, outChannels: cout, kernelSize: 3, padding: 1, bias: Float32Array.from(floats(cout, r)), mode,
      });
      const x = alloc('input', 'x', Float32Array, floats(cin * hw * hw, r));
      return {
        args: [x, { n: 1, h: hw, w: hw, out: alloc('out', 'out', Float32Array, cout * hw * hw) }], inputs: ['0'], out: '1.out', hidden: {}, objects: { layer },
        invoke: (g, async) => (async ? layer.forwardAsync(g[0], g[1]) : layer.forward(g[0], g[1])),
      };
    },
    lengthPaths: ['0', '1.out'], scalePaths: [], intPaths: ['1.n', '1.h', '1.w', '1.threads'], badElements: [],
  };
}

type QConvForm = 'forward' | 'forwardFloat' | 'forwardInt32';
function qconvOp(name: string, form: QConvForm, sparse: boolean): OpSpec {
  return {
    name, group: 'QuantizedConv2d', hasAsync: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { cin, cout, hw } = convDims(size);
      const ks = sparse ? 1 : 3;
      const geo = { inChannels: cin, outChannels: cout, kernelSize: ks, padding: sparse ? 0 : 1 };
      let layer: any;
      if (sparse) {
        layer = lb.QuantizedConv2d.fromInt8(Int8Array.from(i8blocks(cout, cin, r, 0.7)), {
          ...geo, scale: Float32Array.from({ length: cout }, () => 0.001 + r() * 0.01), bias: Float32Array.from(floats(cout, r)), mode: 'sparse',
        });
      } else if (form === 'forwardFloat') {
        layer = lb.QuantizedConv2d.fromFloat32(Float32Array.from(floats(cout * cin * 9, r)), { ...geo, bias: Float32Array.from(floats(cout, r)), mode: 'dense' });
      } else {
        layer = lb.QuantizedConv2d.fromInt8(Int8Array.from(i8blocks(cout, cin * 9, r, 0)), {
          ...geo, scale: Float32Array.from({ length: cout }, () => 0.001 + r() * 0.01),
          zeroPoint: Int32Array.from({ length: cout }, () => Math.floor(r() * 11) - 5),
          bias: Int32Array.from({ length: cout }, () => Math.floor(r() * 2000) - 1000), mode: 'dense',
        });
      }
      const x = alloc('input', 'x', Uint8Array, u8s(cin * hw * hw, r));
      const outLen = cout * hw * hw;
      let opts: any;
      if (form === 'forward') opts = { n: 1, h: hw, w: hw, scale: 0.02, zeroPoint: 5, outScale: 0.3, outZeroPoint: 7, out: alloc('out', 'out', Uint8Array, outLen) };
      else if (form === 'forwardFloat') opts = { n: 1, h: hw, w: hw, scale: 0.02, zeroPoint: 5, relu: true, out: alloc('out', 'out', Float32Array, outLen) };
      else opts = { n: 1, h: hw, w: hw, zeroPoint: 5, out: alloc('out', 'out', Int32Array, outLen) };
      return {
        args: [x, opts], inputs: ['0'], out: '1.out', hidden: layerArrays(layer), objects: { layer },
        invoke: (g, async) => (async ? layer[`${form}Async`](g[0], g[1]) : layer[form](g[0], g[1])),
      };
    },
    lengthPaths: ['0', '1.out'],
    scalePaths: form === 'forward' ? ['1.scale', '1.outScale'] : form === 'forwardFloat' ? ['1.scale'] : [],
    intPaths: ['1.n', '1.h', '1.w', '1.zeroPoint', '1.threads', ...(form === 'forward' ? ['1.outZeroPoint'] : [])],
    badElements: [],
  };
}

/** Table bytes of `format`, built with lowbit's own quantizer, copied into a caller array. */
function tableBytes(lb: any, alloc: Alloc, name: string, rowsN: number, dim: number, format: string, r: () => number): Uint8Array {
  const t = lb.EmbeddingTable.fromFloat32(Float32Array.from(floats(rowsN * dim, r)), { dim, format });
  return alloc('hidden', name, Uint8Array, t.bytes);
}

function bags(nBags: number, perBag: number, r: () => number): { lengths: number[]; offsets: number[]; count: number } {
  const lengths = Array.from({ length: nBags }, () => Math.floor(r() * (2 * perBag + 1)));
  lengths[0] = 0; // an empty bag
  const offsets: number[] = [];
  let count = 0;
  for (const l of lengths) {
    offsets.push(count);
    count += l;
  }
  return { lengths, offsets, count };
}

let fileSeq = 0;
/** A table file in the temp folder (removed at exit). */
export function tableFile(lb: any, rowsN: number, dim: number, format: string, seed: number): { file: string; values: Float32Array; bytes: Uint8Array } {
  const r = rng(seed);
  const values = Float32Array.from(floats(rowsN * dim, r));
  const t = lb.EmbeddingTable.fromFloat32(values, { dim, format });
  const file = path.join(os.tmpdir(), `lowbit-hostile-${process.pid}-${seed}-${fileSeq++}.bin`);
  fs.writeFileSync(file, t.bytes);
  process.once('exit', () => {
    try {
      fs.rmSync(file, { force: true });
    } catch {
      // gone
    }
  });
  return { file, values, bytes: t.bytes };
}

const embIndexPatches = (idxPath: string, boundsPath: string, lengthsForm: boolean, big: boolean): BadPatch[] => {
  const val = (v: number) => (big ? BigInt(v) : v);
  const set = (ctx: Ctx, p: string, i: number, v: number) => {
    const a = getPath(ctx.args, p);
    a[i < 0 ? a.length + i : i] = typeof a[0] === 'bigint' ? BigInt(v) : v;
  };
  const ps: BadPatch[] = [
    { name: 'index = rows', apply: (c) => set(c, idxPath, -1, (c.objects!.idRange as number)) },
    { name: 'index = -1', apply: (c) => set(c, idxPath, 0, -1) },
    { name: 'index = 2^31-1', apply: (c) => set(c, idxPath, 0, 2 ** 31 - 1) },
    { name: 'index = -2^31', apply: (c) => set(c, idxPath, 0, -(2 ** 31)) },
  ];
  if (big) ps.push({ name: 'index = 2^40', apply: (c) => { getPath(c.args, idxPath)[0] = BigInt(2 ** 40); } });
  void val;
  if (lengthsForm) {
    ps.push({ name: 'lengths[1] = -1', apply: (c) => set(c, boundsPath, 1, -1) });
    ps.push({ name: 'lengths sum + 1', apply: (c) => { const a = getPath(c.args, boundsPath); a[1] = typeof a[1] === 'bigint' ? a[1] + 1n : a[1] + 1; } });
    ps.push({ name: 'lengths[1] = 2^31-1', apply: (c) => set(c, boundsPath, 1, 2 ** 31 - 1) });
  } else {
    ps.push({ name: 'offsets decreasing', apply: (c) => { const a = getPath(c.args, boundsPath); a[2] = typeof a[2] === 'bigint' ? a[1] + 5n : a[1] + 5; a[3] = a[1]; } });
    ps.push({ name: 'offsets[0] = -1', apply: (c) => set(c, boundsPath, 0, -1) });
    ps.push({ name: 'offsets[last] > indices', apply: (c) => set(c, boundsPath, -1, 2 ** 31 - 1) });
  }
  return ps;
};

const embeddingBagOffsets: OpSpec = {
  name: 'embeddingBag.offsets', group: 'embeddingBag', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim, nBags, perBag] = DIMS.emb[size];
    const bytes = tableBytes(lb, alloc, 'table', rowsN, dim, 'q8', r);
    const table = lb.EmbeddingTable.fromBuffer(bytes, { dim, format: 'q8' });
    const b = bags(nBags, perBag, r);
    const indices = alloc('input', 'indices', Int32Array, Array.from({ length: b.count }, () => Math.floor(r() * rowsN)));
    const opts = {
      indices, offsets: alloc('input', 'offsets', Int32Array, b.offsets),
      perSampleWeights: alloc('input', 'perSampleWeights', Float32Array, floats(b.count, r)),
      out: alloc('out', 'out', Float32Array, nBags * dim),
    };
    return {
      args: [table, opts], inputs: ['1.indices', '1.offsets', '1.perSampleWeights'], out: '1.out', hidden: { table: bytes }, objects: { table, idRange: rowsN },
      invoke: (g, async) => (async ? lb.embeddingBagAsync(g[0], g[1]) : lb.embeddingBag(g[0], g[1])),
    };
  },
  lengthPaths: ['1.perSampleWeights', '1.out'], scalePaths: [], intPaths: ['1.threads'], badElements: [],
  indexPatches: embIndexPatches('1.indices', '1.offsets', false, false),
};

const embeddingBagLengths: OpSpec = {
  name: 'embeddingBag.lengths', group: 'embeddingBag', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim, nBags, perBag] = DIMS.emb[size];
    const bytes = tableBytes(lb, alloc, 'table', rowsN, dim, 'q4', r);
    // pruned table: ids in [0, 2 rows), about a quarter of them skipped
    const remap = alloc<Int32Array>('hidden', 'remap', Int32Array, Array.from({ length: 2 * rowsN }, () => (r() < 0.25 ? -1 : Math.floor(r() * rowsN))));
    const table = lb.EmbeddingTable.fromBuffer(bytes, { dim, format: 'q4', remap });
    const b = bags(nBags, perBag, r);
    const opts = {
      indices: alloc('input', 'indices', BigInt64Array, Array.from({ length: b.count }, () => BigInt(Math.floor(r() * 2 * rowsN)))),
      lengths: alloc('input', 'lengths', Int32Array, b.lengths),
      mode: 'mean', outputType: 'float16',
      out: alloc('out', 'out', Uint16Array, nBags * dim),
    };
    return {
      args: [table, opts], inputs: ['1.indices', '1.lengths'], out: '1.out', hidden: { table: bytes, remap }, objects: { table, idRange: 2 * rowsN },
      invoke: (g, async) => (async ? lb.embeddingBagAsync(g[0], g[1]) : lb.embeddingBag(g[0], g[1])),
    };
  },
  lengthPaths: ['1.indices', '1.lengths', '1.out'], scalePaths: [], intPaths: ['1.threads'], badElements: [],
  indexPatches: [
    ...embIndexPatches('1.indices', '1.lengths', true, true),
    {
      // a remap entry past the table: refused when the table is made, or by the lookup
      name: 'remap entry = rows',
      apply(c, lb) {
        const t = c.args[0];
        const remap = Int32Array.from(t.remap);
        remap[Number(c.args[1].indices[0])] = t.rows;
        c.args[0] = lb.EmbeddingTable.fromBuffer(t.bytes, { dim: t.dim, format: t.format, remap });
      },
    },
  ],
};

const embeddingBagMapped: OpSpec = {
  name: 'embeddingBag.mapped', group: 'embeddingBag', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim, nBags, perBag] = DIMS.emb[size];
    const { file } = tableFile(lb, rowsN, dim, 'f16', seed);
    const table = lb.EmbeddingTable.open(file, { dim, format: 'f16' });
    const b = bags(nBags, perBag, r);
    const opts = {
      indices: alloc('input', 'indices', Int32Array, Array.from({ length: b.count }, () => Math.floor(r() * rowsN))),
      offsets: alloc('input', 'offsets', Int32Array, [...b.offsets, b.count]), includeLastOffset: true,
      out: alloc('out', 'out', Float32Array, nBags * dim),
    };
    return {
      args: [table, opts], inputs: ['1.indices', '1.offsets'], out: '1.out', hidden: {}, objects: { table, idRange: rowsN },
      invoke: (g, async) => (async ? lb.embeddingBagAsync(g[0], g[1]) : lb.embeddingBag(g[0], g[1])),
    };
  },
  lengthPaths: ['1.out'], scalePaths: [], intPaths: ['1.threads'], badElements: [],
  indexPatches: embIndexPatches('1.indices', '1.offsets', false, false),
};

const embeddingBagsOp: OpSpec = {
  name: 'embeddingBags', group: 'embeddingBags', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim, nBags, perBag] = DIMS.emb[size];
    const bytes1 = tableBytes(lb, alloc, 'table1', rowsN, dim, 'q8', r);
    const bytes2 = tableBytes(lb, alloc, 'table2', rowsN, 8, 'f32', r);
    const t1 = lb.EmbeddingTable.fromBuffer(bytes1, { dim, format: 'q8' });
    const t2 = lb.EmbeddingTable.fromBuffer(bytes2, { dim: 8, format: 'f32' });
    const b1 = bags(nBags, perBag, r);
    const b2 = bags(nBags, perBag, r);
    const lookups = [
      {
        table: t1, indices: alloc('input', 'indices1', Int32Array, Array.from({ length: b1.count }, () => Math.floor(r() * rowsN))),
        offsets: alloc('input', 'offsets1', Int32Array, b1.offsets),
      },
      {
        table: t2, indices: alloc('input', 'indices2', Int32Array, Array.from({ length: b2.count }, () => Math.floor(r() * rowsN))),
        lengths: alloc('input', 'lengths2', Int32Array, b2.lengths), perSampleWeights: alloc('input', 'weights2', Float32Array, floats(b2.count, r)),
      },
    ];
    return {
      args: [lookups, { out: alloc('out', 'out', Float32Array, nBags * (dim + 8)) }],
      inputs: ['0.0.indices', '0.0.offsets', '0.1.indices', '0.1.lengths', '0.1.perSampleWeights'], out: '1.out',
      hidden: { table1: bytes1, table2: bytes2 }, objects: { t1, t2, idRange: rowsN },
      invoke: (g, async) => (async ? lb.embeddingBagsAsync(g[0], g[1]) : lb.embeddingBags(g[0], g[1])),
    };
  },
  lengthPaths: ['0.1.indices', '0.1.lengths', '0.1.perSampleWeights', '1.out'], scalePaths: [], intPaths: ['1.threads'], badElements: [],
  indexPatches: [
    ...embIndexPatches('0.0.indices', '0.0.offsets', false, false).map((p) => ({ ...p, name: `lookups[0] ${p.name}` })),
    ...embIndexPatches('0.1.indices', '0.1.lengths', true, false).map((p) => ({ ...p, name: `lookups[1] ${p.name}` })),
  ],
};

const tableToFloat32: OpSpec = {
  name: 'EmbeddingTable.toFloat32', group: 'EmbeddingTable', hasAsync: false,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim] = DIMS.emb[size];
    const bytes = tableBytes(lb, alloc, 'table', rowsN, dim, 'q2', r);
    const table = lb.EmbeddingTable.fromBuffer(bytes, { dim, format: 'q2' });
    return { args: [table], inputs: [], hidden: { table: bytes }, objects: { table }, invoke: (g) => g[0].toFloat32() };
  },
  lengthPaths: [], scalePaths: [], intPaths: [], badElements: [],
};

// ---- constructors (the weights being packed) ----------------------------------------------------

function qlFromInt8Op(name: string, mode: 'dense' | 'sparse'): OpSpec {
  return {
    name, group: 'QuantizedLinear', hasAsync: false, construct: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const k = DIMS.k[size];
      const opts: any = {
        k, n: k, mode,
        scale: alloc('input', 'scale', Float32Array, Array.from({ length: k }, () => 0.001 + r() * 0.01)),
        bias: mode === 'sparse' ? alloc('input', 'bias', Float32Array, floats(k, r)) : alloc('input', 'bias', Int32Array, Array.from({ length: k }, () => Math.floor(r() * 2000) - 1000)),
      };
      if (mode === 'dense') opts.zeroPoint = alloc('input', 'zeroPoint', Int32Array, Array.from({ length: k }, () => Math.floor(r() * 11) - 5));
      const w = alloc('input', 'weights', Int8Array, i8blocks(k, k, r, 0.5));
      return {
        args: [w, opts], inputs: ['0', '1.scale', '1.bias', ...(mode === 'dense' ? ['1.zeroPoint'] : [])], hidden: {},
        invoke: (g) => lb.QuantizedLinear.fromInt8(g[0], g[1]),
      };
    },
    lengthPaths: ['0', '1.scale', '1.bias', ...(mode === 'dense' ? ['1.zeroPoint'] : [])], scalePaths: [], intPaths: ['1.k', '1.n'],
    badElements: [['1.scale', 0, NaN], ['1.scale', 1, 0], ['1.scale', 2, -1], ['1.scale', 3, Infinity],
      ...(mode === 'dense' ? ([['1.zeroPoint', 0, 200], ['1.zeroPoint', 1, -129]] as BadElement[]) : ([['1.bias', 0, NaN]] as BadElement[]))],
  };
}

const qlFromFloat32: OpSpec = {
  name: 'QuantizedLinear.fromFloat32', group: 'QuantizedLinear', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const k = DIMS.k[size];
    const w = alloc('input', 'weights', Float32Array, floats(k * k, r, 0.5));
    return {
      args: [w, { k, n: k, bias: alloc('input', 'bias', Float32Array, floats(k, r)), mode: 'auto' }], inputs: ['0', '1.bias'], hidden: {},
      invoke: (g) => lb.QuantizedLinear.fromFloat32(g[0], g[1]),
    };
  },
  lengthPaths: ['0', '1.bias'], scalePaths: [], intPaths: ['1.k', '1.n'],
  badElements: [['0', 0, NaN], ['0', 1, Infinity], ['1.bias', 0, NaN], ['1.bias', 1, -Infinity]],
};

const ql4FromFloat32: OpSpec = {
  name: '4-bit QuantizedLinear.fromFloat32', group: 'QuantizedLinear', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const k = DIMS.k[size];
    const w = alloc('input', 'weights', Float32Array, floats(k * k, r, 0.5));
    return {
      args: [w, { k, n: k, bits: 4, groupSize: 64, outliers: 0.01, bias: alloc('input', 'bias', Float32Array, floats(k, r)) }], inputs: ['0', '1.bias'], hidden: {},
      invoke: (g) => lb.QuantizedLinear.fromFloat32(g[0], g[1]),
    };
  },
  lengthPaths: ['0', '1.bias'], scalePaths: ['1.outliers'], intPaths: ['1.k', '1.n', '1.groupSize'],
  badElements: [['0', 0, NaN], ['0', 1, Infinity], ['1.bias', 0, NaN]],
};

const qlDeserialize: OpSpec = {
  name: 'QuantizedLinear.deserialize', group: 'QuantizedLinear', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const { layer } = qlDense(lb, alloc, size, r);
    const bytes = alloc('input', 'bytes', Uint8Array, layer.serialize());
    return { args: [bytes], inputs: ['0'], hidden: {}, invoke: (g) => lb.QuantizedLinear.deserialize(g[0]) };
  },
  lengthPaths: [], scalePaths: [], intPaths: [], badElements: [],
};

function linearNewOp(name: string, mode: 'auto' | 'sparse'): OpSpec {
  return {
    name, group: 'Linear', hasAsync: false, construct: true,
    make(_lb, alloc, size, seed) {
      const r = rng(seed);
      const k = DIMS.k[size];
      const w = alloc('input', 'weights', Float32Array, floats(k * k, r, 0.6));
      return {
        args: [w, { inFeatures: k, outFeatures: k, bias: alloc('input', 'bias', Float32Array, floats(k, r)), mode }], inputs: ['0', '1.bias'], hidden: {},
        invoke: (g) => new (_lb.Linear)(g[0], g[1]),
      };
    },
    lengthPaths: ['0', '1.bias'], scalePaths: [], intPaths: ['1.inFeatures', '1.outFeatures'],
    // a NaN bias: the quantized layers refuse it, so must the fp32 ones (issue 10)
    badElements: [['1.bias', 0, NaN], ['1.bias', 1, Infinity]],
  };
}

function conv2dNewOp(name: string, mode: 'auto' | 'sparse'): OpSpec {
  return {
    name, group: 'Conv2d', hasAsync: false, construct: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { cin, cout } = convDims(size);
      const w = alloc('input', 'weights', Float32Array, floats(cout * cin * 9, r, 0.6));
      return {
        args: [w, { inChannels: cin, outChannels: cout, kernelSize: 3, padding: 1, stride: 1, groups: 1, bias: alloc('input', 'bias', Float32Array, floats(cout, r)), mode }],
        inputs: ['0', '1.bias'], hidden: {}, invoke: (g) => new lb.Conv2d(g[0], g[1]),
      };
    },
    lengthPaths: ['0', '1.bias'], scalePaths: [], intPaths: ['1.inChannels', '1.outChannels', '1.kernelSize', '1.padding', '1.stride', '1.groups'],
    badElements: [['1.bias', 0, NaN], ['1.bias', 1, -Infinity]],
  };
}

function qconvNewOp(name: string, from: 'fromInt8' | 'fromFloat32', sparse: boolean): OpSpec {
  return {
    name, group: 'QuantizedConv2d', hasAsync: false, construct: true,
    make(lb, alloc, size, seed) {
      const r = rng(seed);
      const { cin, cout } = convDims(size);
      const ks = sparse ? 1 : 3;
      const geo = { inChannels: cin, outChannels: cout, kernelSize: ks, padding: sparse ? 0 : 1 };
      const count = cout * cin * ks * ks;
      let args: any[];
      let inputs: string[];
      if (from === 'fromFloat32') {
        args = [alloc('input', 'weights', Float32Array, floats(count, r, 0.5)), { ...geo, bias: alloc('input', 'bias', Float32Array, floats(cout, r)), mode: sparse ? 'sparse' : 'dense' }];
        inputs = ['0', '1.bias'];
      } else {
        const opts: any = { ...geo, mode: sparse ? 'sparse' : 'dense', scale: alloc('input', 'scale', Float32Array, Array.from({ length: cout }, () => 0.001 + r() * 0.01)) };
        if (sparse) opts.bias = alloc('input', 'bias', Float32Array, floats(cout, r));
        else {
          opts.zeroPoint = alloc('input', 'zeroPoint', Int32Array, Array.from({ length: cout }, () => Math.floor(r() * 11) - 5));
          opts.bias = alloc('input', 'bias', Int32Array, Array.from({ length: cout }, () => Math.floor(r() * 2000) - 1000));
        }
        args = [alloc('input', 'weights', Int8Array, i8blocks(cout, cin * ks * ks, r, 0.5)), opts];
        inputs = ['0', '1.scale', '1.bias', ...(sparse ? [] : ['1.zeroPoint'])];
      }
      return { args, inputs, hidden: {}, invoke: (g) => lb.QuantizedConv2d[from](g[0], g[1]) };
    },
    lengthPaths: from === 'fromFloat32' ? ['0', '1.bias'] : ['0', '1.scale', '1.bias', ...(sparse ? [] : ['1.zeroPoint'])],
    scalePaths: [], intPaths: ['1.inChannels', '1.outChannels', '1.kernelSize', '1.padding'],
    badElements: from === 'fromFloat32'
      ? [['0', 0, NaN], ['1.bias', 0, NaN]]
      : [['1.scale', 0, NaN], ['1.scale', 1, 0], ...(sparse ? ([['1.bias', 0, Infinity]] as BadElement[]) : ([['1.zeroPoint', 0, 128], ['1.zeroPoint', 1, -1000]] as BadElement[]))],
  };
}

const tableFromFloat32: OpSpec = {
  name: 'EmbeddingTable.fromFloat32', group: 'EmbeddingTable', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim] = DIMS.emb[size];
    const values = alloc('input', 'values', Float32Array, floats(rowsN * dim, r));
    const remap = alloc('input', 'remap', Int32Array, Array.from({ length: rowsN + 10 }, () => (r() < 0.2 ? -1 : Math.floor(r() * rowsN))));
    return { args: [values, { dim, format: 'q8', remap }], inputs: ['0', '1.remap'], hidden: {}, invoke: (g) => lb.EmbeddingTable.fromFloat32(g[0], g[1]) };
  },
  lengthPaths: ['0'], scalePaths: [], intPaths: ['1.dim'], badElements: [],
};

const tableFromBuffer: OpSpec = {
  name: 'EmbeddingTable.fromBuffer', group: 'EmbeddingTable', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const [rowsN, dim] = DIMS.emb[size];
    const bytes = tableBytes(lb, alloc, 'bytes', rowsN, dim, 'q8', r);
    const remap = alloc('input', 'remap', Int32Array, Array.from({ length: rowsN }, (_, i) => (i % 5 === 0 ? -1 : rowsN - 1 - i)));
    return { args: [bytes, { dim, format: 'q8', rows: rowsN, remap }], inputs: ['0', '1.remap'], hidden: {}, invoke: (g) => lb.EmbeddingTable.fromBuffer(g[0], g[1]) };
  },
  lengthPaths: ['0'], scalePaths: [], intPaths: ['1.dim', '1.rows', '1.rowStride'], badElements: [], anyView: ['0'],
};

const pruneWeightsOp: OpSpec = {
  name: 'pruneWeights', group: 'pruneWeights', hasAsync: false, construct: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const k = DIMS.k[size];
    const w = alloc('input', 'weights', Float32Array, floats(k * k, r));
    return { args: [w, { sparsity: 0.5, rows: k, block: [1, 4] }], inputs: ['0'], hidden: {}, invoke: (g) => lb.pruneWeights(g[0], g[1]) };
  },
  lengthPaths: ['0'], scalePaths: ['1.sparsity'], intPaths: ['1.rows'], badElements: [],
};

const quantizeOp: OpSpec = {
  name: 'quantize', group: 'quantize', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const n = DIMS.quant[size];
    const x = alloc('input', 'x', Float32Array, size === 'large' ? n : floats(n, r));
    if (size === 'large') for (let i = 0; i < n; i += 7) (x as Float32Array)[i] = (i % 1000) / 500 - 1;
    return {
      args: [x, { scale: 0.01, zeroPoint: 128, out: alloc('out', 'out', Uint8Array, n) }], inputs: ['0'], out: '1.out', hidden: {},
      invoke: (g, async) => (async ? lb.quantizeAsync(g[0], g[1]) : lb.quantize(g[0], g[1])),
    };
  },
  lengthPaths: ['0', '1.out'], scalePaths: ['1.scale'], intPaths: ['1.zeroPoint', '1.qmin', '1.qmax'], badElements: [],
};

const dequantizeOp: OpSpec = {
  name: 'dequantize', group: 'dequantize', hasAsync: true,
  make(lb, alloc, size, seed) {
    const r = rng(seed);
    const n = DIMS.quant[size];
    const q = alloc('input', 'q', Uint8Array, size === 'large' ? n : u8s(n, r));
    if (size === 'large') for (let i = 0; i < n; i += 5) (q as Uint8Array)[i] = i & 255;
    return {
      args: [q, { scale: 0.01, zeroPoint: 3, out: alloc('out', 'out', Float32Array, n) }], inputs: ['0'], out: '1.out', hidden: {},
      invoke: (g, async) => (async ? lb.dequantizeAsync(g[0], g[1]) : lb.dequantize(g[0], g[1])),
    };
  },
  lengthPaths: ['0', '1.out'], scalePaths: ['1.scale'], intPaths: ['1.zeroPoint'], badElements: [],
};

/** Every op, in report order. */
export const OPS: OpSpec[] = [
  quantizeOp,
  dequantizeOp,
  matmulOp('QuantizedLinear.matmulInt32', 'QuantizedLinear', qlDense, 'matmulInt32', false),
  matmulOp('QuantizedLinear.matmulFloat', 'QuantizedLinear', qlDenseFloatBias, 'matmulFloat', false),
  matmulOp('QuantizedLinear.matmulQuantized', 'QuantizedLinear', qlDense, 'matmulQuantized', true),
  qlForwardOp('QuantizedLinear.forward', 'QuantizedLinear', qlForward),
  matmulOp('split QuantizedLinear.matmulInt32', 'QuantizedLinear', qlSplit, 'matmulInt32', false),
  matmulOp('4-bit QuantizedLinear.matmulQuantized', 'QuantizedLinear', ql4, 'matmulQuantized', true),
  qlForwardOp('4-bit QuantizedLinear.forward', 'QuantizedLinear', ql4),
  linearOp('Linear.forward', 'dense'),
  conv2dOp('Conv2d.forward', 'dense'),
  qconvOp('QuantizedConv2d.forward', 'forward', false),
  qconvOp('QuantizedConv2d.forwardFloat', 'forwardFloat', false),
  qconvOp('QuantizedConv2d.forwardInt32', 'forwardInt32', false),
  matmulOp('sparse QuantizedLinear.matmulFloat', 'sparse layers', qlSparse, 'matmulFloat', false),
  qlForwardOp('sparse QuantizedLinear.forward', 'sparse layers', qlSparseForward),
  linearOp('sparse Linear.forward', 'sparse'),
  conv2dOp('sparse Conv2d.forward', 'sparse'),
  qconvOp('sparse QuantizedConv2d.forward', 'forward', true),
  embeddingBagOffsets,
  embeddingBagLengths,
  embeddingBagMapped,
  embeddingBagsOp,
  tableToFloat32,
  qlFromFloat32,
  qlFromInt8Op('QuantizedLinear.fromInt8', 'dense'),
  qlFromInt8Op('sparse QuantizedLinear.fromInt8', 'sparse'),
  qlDeserialize,
  ql4FromFloat32,
  linearNewOp('new Linear', 'auto'),
  linearNewOp('sparse new Linear', 'sparse'),
  conv2dNewOp('new Conv2d', 'auto'),
  conv2dNewOp('sparse new Conv2d', 'sparse'),
  qconvNewOp('QuantizedConv2d.fromFloat32', 'fromFloat32', false),
  qconvNewOp('QuantizedConv2d.fromInt8', 'fromInt8', false),
  qconvNewOp('sparse QuantizedConv2d.fromInt8', 'fromInt8', true),
  tableFromFloat32,
  tableFromBuffer,
  pruneWeightsOp,
];

export function opByName(name: string): OpSpec {
  const op = OPS.find((o) => o.name === name);
  if (!op) throw new Error(`no op ${name}`);
  return op;
}

// ---- allocation ---------------------------------------------------------------------------------

/** Makes a TypedArray of `ctor` on a fresh buffer of `backing`, holding `data` (or `data` zeros). */
export function makeArray(ctor: ArrCtor, backing: Backing, data: ArrayLike<number> | ArrayLike<bigint> | number, fill?: number): Arr {
  const len = typeof data === 'number' ? data : data.length;
  const bytes = Math.max(1, len) * ctor.BYTES_PER_ELEMENT;
  let buf: ArrayBufferLike;
  if (backing === 'sab') buf = new SharedArrayBuffer(bytes);
  else if (backing === 'resizable') buf = new (ArrayBuffer as any)(bytes, { maxByteLength: 2 * bytes });
  else buf = new ArrayBuffer(bytes);
  // resizable: a length-tracking view (the nastiest kind: it shrinks with the buffer)
  const view: Arr = backing === 'resizable' && len * ctor.BYTES_PER_ELEMENT === bytes ? new (ctor as any)(buf) : new (ctor as any)(buf, 0, len);
  if (typeof data !== 'number') (view as any).set(data);
  else if (fill !== undefined) new Uint8Array(view.buffer, view.byteOffset, view.byteLength).fill(fill);
  return view;
}

/** An Alloc giving every array of the listed roles the backing `backing` (others plain). */
export function allocWith(pick: (role: Role, name: string) => Backing, made?: { role: Role; name: string; array: Arr }[]): Alloc {
  return ((role: Role, name: string, ctor: ArrCtor, data: any) => {
    const a = makeArray(ctor, pick(role, name), data, role === 'out' ? 0x5a : undefined);
    made?.push({ role, name, array: a });
    return a;
  }) as Alloc;
}

/**
 * An ONNX model ready to run: parsed, checked, rewritten and compiled once at load (see passes.ts),
 * shaped like onnxruntime-node's InferenceSession (`inputNames`, `outputNames`, `run(feeds)`), with
 * a synchronous `run` and a `runAsync` whose lowbit layers run off the main thread.
 */
import type { ConvMode } from '../conv';
import { rangeError, typeError } from '../errors';
import { checkEnum, checkOptions, checkThreads, describe, optionKeys } from '../validate';
import { removeDead, sortNodes } from './graph';
import { freshContext, type CompileContext, type RunContext, type Step } from './op';
import { fuseActivations, fuseDynamicMatMul, fuseEmbeddingBags, fuseIdsSlices, fusePairwiseDot, groupEmbeddingBags, fuseQdq, foldBatchNorm, foldConstants, type PassContext } from './passes';
import { parseModel, type GraphNode, type ValueInfo } from './proto';
import { lookupOp, registry } from './registry';
import { constantValue } from './ops/shape';
import { feedOf, sizeOf, type Tensor, type TensorType } from './tensor';

/** Options of {@link loadOnnx}. */
export interface LoadOnnxOptions {
  /** Threads each lowbit layer splits a call across (the caller's included); default 1. */
  threads?: number;
  /** Kernel choice of the layers: `'auto'` (default; sparse kernels where pruned weights make them faster) or `'dense'`. */
  mode?: 'auto' | 'dense';
  /** Run the load-time rewrites (QDQ recognition, folding, fusion); default true. false: each node as written (for checks). */
  optimize?: boolean;
}

/** The feeds of {@link OnnxSession.run}: one tensor per input name (`{ data, dims, type? }`; onnxruntime-node Tensors match). */
export type OnnxFeeds = Record<string, { data: unknown; dims: readonly number[]; type?: string }>;

/** What {@link OnnxSession.run} returns: one tensor per output name. */
export type OnnxResults = Record<string, Tensor>;

const LOAD_KEYS = optionKeys<LoadOnnxOptions>()('threads', 'mode', 'optimize');
const MODES = ['auto', 'dense'] as const;

interface PlannedStep {
  node: GraphNode;
  step: Step;
  inputs: number[];
  outputs: number[];
  ctx: RunContext;
}

/** A loaded model. */
export class OnnxSession {
  /** Names of the graph's inputs, in file order. */
  readonly inputNames: readonly string[];
  /** Names of the graph's outputs, in file order. */
  readonly outputNames: readonly string[];
  /** Op types after the load-time rewrites, in run order (what runs; for inspection). */
  readonly plan: readonly string[];
  readonly #inputs: ValueInfo[];
  readonly #steps: PlannedStep[];
  readonly #slots: number;
  readonly #constSlots: [number, Tensor][];
  readonly #inputSlots: number[];
  readonly #outputSlots: number[];
  readonly #pooled = new Set<ArrayBufferLike>();
  #queue: Promise<unknown> = Promise.resolve();
  #asyncRunning = false;

  /** @internal use {@link loadOnnx}. */
  constructor(source: string | Uint8Array, options: LoadOnnxOptions = {}) {
    const o = checkOptions<LoadOnnxOptions>(options, 'options', 'loadOnnx', LOAD_KEYS);
    const threads = checkThreads(o.threads);
    const mode: ConvMode = checkEnum(o.mode, 'options.mode', MODES, 'auto');
    const optimize = o.optimize === undefined ? true : o.optimize === true;
    const model = parseModel(source);
    const ops = registry(() => mode);
    this.#inputs = model.inputs;
    this.inputNames = Object.freeze(model.inputs.map((v) => v.name));
    this.outputNames = Object.freeze(model.outputs.map((v) => v.name));
    for (const v of model.inputs) if (v.dims) sizeOf(v.dims.map((d) => (typeof d === 'number' ? d : 1)), `graph input ${v.name}`);

    // every node is checked (op type, attributes) before any rewrite
    for (const n of model.nodes) lookupOp(ops, n);
    const constants = new Map(model.initializers);
    const available = new Set([...constants.keys(), ...this.inputNames]);
    let nodes = sortNodes(model.nodes, available);
    for (const out of this.outputNames) {
      if (!available.has(out) && !nodes.some((n) => n.outputs.includes(out))) throw rangeError('ERR_LOWBIT_INVALID_MODEL', `invalid ONNX model: graph output ${out} is produced by no node`);
    }
    // Constant nodes become constants
    nodes = nodes.filter((n) => {
      if (n.opType !== 'Constant' || n.domain !== '') return true;
      constants.set(n.outputs[0], constantValue(n));
      return false;
    });
    const compile: CompileContext = { constant: (name) => constants.get(name) ?? null, threads };
    const p: PassContext = { constants, graphOutputs: this.outputNames, lookup: (n) => lookupOp(ops, n), compile };
    if (optimize) {
      nodes = fuseQdq(nodes, p);
      nodes = removeDead(nodes, this.outputNames);
      nodes = foldConstants(nodes, p);
      nodes = foldBatchNorm(nodes, p);
      nodes = fuseActivations(nodes, p);
      nodes = fuseEmbeddingBags(nodes, p);
      nodes = groupEmbeddingBags(nodes, p);
      nodes = fuseIdsSlices(nodes, p);
      nodes = fusePairwiseDot(nodes, p);
      nodes = fuseDynamicMatMul(nodes, p);
    }
    nodes = removeDead(nodes, this.outputNames);
    this.plan = Object.freeze(nodes.map((n) => (n.domain ? `${n.domain}.${n.opType}` : n.opType)));

    // value slots: inputs, constants that steps read, node outputs
    const slotOf = new Map<string, number>();
    const slot = (name: string) => {
      let s = slotOf.get(name);
      if (s === undefined) slotOf.set(name, (s = slotOf.size));
      return s;
    };
    this.#inputSlots = this.inputNames.map(slot);
    this.#constSlots = [];
    for (const n of nodes) {
      for (const i of n.inputs) if (i !== '' && constants.has(i) && !slotOf.has(i)) this.#constSlots.push([slot(i), constants.get(i)!]);
    }
    this.#steps = nodes.map((node) => {
      const step = lookupOp(ops, node).compile(node, compile);
      const outputs = node.outputs.map((x) => (x === '' ? -1 : slot(x)));
      return { node, step, inputs: node.inputs.map((x) => (x === '' ? -1 : slot(x))), outputs, ctx: this.#planned(outputs.length) };
    });
    this.#outputSlots = this.outputNames.map((name) => {
      if (constants.has(name) && !slotOf.has(name)) this.#constSlots.push([slot(name), constants.get(name)!]);
      return slot(name);
    });
    this.#slots = slotOf.size;
  }

  // Output buffers planned once per step: reused from run to run while the size holds, so a
  // steady stream of same-shaped requests allocates nothing but its results.
  #planned(count: number): RunContext {
    const kept: (Tensor | null)[] = new Array(count).fill(null);
    return {
      output: (index: number, type: TensorType, dims: readonly number[]): Tensor => {
        const n = sizeOf(dims, 'output');
        const k = kept[index];
        if (k && k.type === type && k.data.length === n) return { type, dims: [...dims], data: k.data };
        const t: Tensor = { type, dims: [...dims], data: new (ctorOfType(type))(n) };
        if (k) this.#pooled.delete(k.data.buffer);
        kept[index] = t;
        this.#pooled.add(t.data.buffer);
        return t;
      },
    };
  }

  #feeds(feeds: unknown): (Tensor | null)[] {
    if (feeds === null || typeof feeds !== 'object') throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds must be an object of tensors by input name, got ${describe(feeds)}`);
    const f = feeds as Record<string, unknown>;
    for (const k of Object.keys(f)) {
      if (!this.inputNames.includes(k)) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `feeds.${k}: the model has no input ${k} (inputs: ${this.inputNames.join(', ')})`);
    }
    const values: (Tensor | null)[] = new Array(this.#slots).fill(null);
    for (const [s, t] of this.#constSlots) values[s] = t;
    this.#inputs.forEach((info, i) => {
      if (!(info.name in f)) throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `feeds.${info.name} is missing (inputs: ${this.inputNames.join(', ')})`);
      const t = feedOf(f[info.name], info.name);
      if (info.type !== null && info.type !== t.type) throw typeError('ERR_LOWBIT_INVALID_TYPE', `feeds.${info.name} must be ${info.type}, got ${t.type}`);
      if (info.dims) {
        const ok = info.dims.length === t.dims.length && info.dims.every((d, j) => typeof d !== 'number' || d === t.dims[j]);
        if (!ok) throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `feeds.${info.name}.dims must be [${info.dims.map((d) => d ?? '?').join(', ')}], got [${t.dims.join(', ')}]`);
      }
      values[this.#inputSlots[i]] = t;
    });
    return values;
  }

  #results(values: (Tensor | null)[]): OnnxResults {
    const out: OnnxResults = {};
    this.outputNames.forEach((name, i) => {
      const t = values[this.#outputSlots[i]]!;
      // the caller keeps results: planned buffers (and views of them) are copied out
      out[name] = this.#pooled.has(t.data.buffer) ? { type: t.type, dims: [...t.dims], data: t.data.slice() } : t;
    });
    return out;
  }

  /** Runs the model on the feeds; returns every output. Throws a coded error for bad feeds. */
  run(feeds: OnnxFeeds): OnnxResults {
    const values = this.#feeds(feeds);
    // while a runAsync is between its steps, the planned buffers are its own: fresh ones here
    const fresh = this.#asyncRunning;
    for (const s of this.#steps) {
      const outs = s.step.run(s.inputs.map((i) => (i < 0 ? null : values[i])), fresh ? freshContext : s.ctx);
      s.outputs.forEach((o, j) => {
        if (o >= 0) values[o] = outs[j] ?? null;
      });
    }
    return this.#results(values);
  }

  /** Runs once, timing each step: [node name, op type, milliseconds], in run order (where the time goes). */
  profile(feeds: OnnxFeeds): { node: string; opType: string; ms: number }[] {
    const values = this.#feeds(feeds);
    const fresh = this.#asyncRunning;
    return this.#steps.map((s) => {
      const t0 = process.hrtime.bigint();
      const outs = s.step.run(s.inputs.map((i) => (i < 0 ? null : values[i])), fresh ? freshContext : s.ctx);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      s.outputs.forEach((o, j) => {
        if (o >= 0) values[o] = outs[j] ?? null;
      });
      return { node: s.node.name, opType: s.node.domain ? `${s.node.domain}.${s.node.opType}` : s.node.opType, ms };
    });
  }

  /** {@link OnnxSession.run} with the lowbit layers off the main thread; calls on one session run one at a time. */
  runAsync(feeds: OnnxFeeds): Promise<OnnxResults> {
    const go = async () => {
      const values = this.#feeds(feeds);
      this.#asyncRunning = true;
      try {
        for (const s of this.#steps) {
          const ins = s.inputs.map((i) => (i < 0 ? null : values[i]));
          const outs = s.step.runAsync ? await s.step.runAsync(ins, s.ctx) : s.step.run(ins, s.ctx);
          s.outputs.forEach((o, j) => {
            if (o >= 0) values[o] = outs[j] ?? null;
          });
        }
        return this.#results(values);
      } finally {
        this.#asyncRunning = false;
      }
    };
    const result = this.#queue.then(go, go);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

function ctorOfType(type: TensorType) {
  return ({ float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array } as const)[type];
}

/**
 * Loads an ONNX model (a path or the file's bytes) and prepares it to run: every node checked
 * (an unsupported op or attribute throws TypeError `ERR_LOWBIT_UNSUPPORTED_OP` naming the node,
 * its op type and what is supported; a bad file RangeError `ERR_LOWBIT_INVALID_MODEL`), constants
 * folded, BatchNorm folded into convolutions, Relu/Clip fused, QDQ pairs run on the int8 kernels,
 * weights prepacked into lowbit layers, output buffers planned.
 * @example
 * const session = loadOnnx('model.onnx');
 * const { y } = session.run({ x: { data: new Float32Array(3 * 224 * 224), dims: [1, 3, 224, 224], type: 'float32' } });
 */
export function loadOnnx(source: string | Uint8Array, options?: LoadOnnxOptions): OnnxSession {
  return new OnnxSession(source, options);
}

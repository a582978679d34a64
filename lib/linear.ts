/**
 * fp32 fully-connected layer of pruned networks: y = act(x Wᵀ + b) over batch-major activations,
 * on the same sparse and dense kernels and performance model as {@link Conv2d} (a 1×1 convolution
 * whose pixels are the batch rows). The batch is transposed to feature-major and back natively.
 */
import { CONV_MODES, type ConvExplanation, type ConvMode } from './conv';
import { rangeError } from './errors';
import { binding } from './native';
import { outputArray } from './output-options';
import { checkArray, checkBool, checkEnum, checkFloatBias, checkInt, checkOptions, checkThreads, optionKeys } from './validate';

interface NativeConvLayer {
  readonly nnz: number;
  readonly byteLength: number;
  forward(input: Float32Array, n: number, h: number, w: number, out: Float32Array, threads: number, async: boolean, batchMajor: boolean): unknown;
  explain(n: number, h: number, w: number): ConvExplanation;
}
interface LinearBinding {
  ConvLayer: new (weights: Float32Array, geometry: Int32Array, bias: Float32Array | null, relu: boolean, mode: number) => NativeConvLayer;
}
const native = binding as unknown as LinearBinding;

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Input features (K). */
  inFeatures: number;
  /** Output features (N). */
  outFeatures: number;
  /** Bias of outFeatures values. */
  bias?: Float32Array;
  /** Fused ReLU. */
  relu?: boolean;
  /** Default `'auto'` (see {@link ConvMode}). */
  mode?: ConvMode;
}

/** Options of {@link Linear.forward}. */
export interface LinearForwardOptions {
  /** Rows of the input; default input.length / inFeatures. */
  batch?: number;
  /** Output [batch][outFeatures]; allocated when absent. */
  out?: Float32Array;
  /** Threads; default 1. */
  threads?: number;
}

const LINEAR_KEYS = optionKeys<LinearOptions>()('inFeatures', 'outFeatures', 'bias', 'relu', 'mode');
const FORWARD_KEYS = optionKeys<LinearForwardOptions>()('batch', 'out', 'threads');
const EXPLAIN_KEYS = optionKeys<{ batch: number }>()('batch');

/** A fully-connected fp32 layer with sparse and dense kernels. */
export class Linear {
  /** Input features. */
  readonly inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;
  /** The kernel choice. */
  readonly mode: ConvMode;
  readonly #layer: NativeConvLayer;

  /**
   * Builds a layer from dense fp32 weights [outFeatures][inFeatures] (PyTorch's nn.Linear order).
   * Exact zeros are dropped for the sparse kernel.
   */
  constructor(weights: Float32Array, options: LinearOptions) {
    const w = checkArray<Float32Array>(weights, 'weights', [Float32Array]);
    const o = checkOptions<LinearOptions>(options, 'options', 'Linear', LINEAR_KEYS, 'inFeatures and outFeatures');
    this.inFeatures = checkInt(o.inFeatures, 'options.inFeatures', 1, 2 ** 30);
    this.outFeatures = checkInt(o.outFeatures, 'options.outFeatures', 1, 2 ** 30);
    const mode = checkEnum(o.mode, 'options.mode', CONV_MODES, 'auto');
    this.mode = mode;
    const bias = checkFloatBias(o.bias, this.outFeatures, 'outFeatures');
    // geometry: cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups
    const geometry = Int32Array.of(this.inFeatures, this.outFeatures, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    this.#layer = new native.ConvLayer(w, geometry, bias, checkBool(o.relu, 'options.relu', false), CONV_MODES.indexOf(mode));
  }

  /** Nonzero weights. */
  get nnz(): number {
    return this.#layer.nnz;
  }

  /** Fraction of zero weights. */
  get sparsity(): number {
    return 1 - this.#layer.nnz / (this.inFeatures * this.outFeatures);
  }

  /** Native memory held (reported to V8). */
  get byteLength(): number {
    return this.#layer.byteLength;
  }

  /** Which kernel runs for this batch size, the model's predictions and why. */
  explain(options: { batch: number }): ConvExplanation {
    const o = checkOptions<{ batch: number }>(options, 'options', 'Linear.explain', EXPLAIN_KEYS, 'batch');
    return this.#layer.explain(1, 1, checkInt(o.batch, 'options.batch', 1, 2 ** 30));
  }

  /** y[batch][outFeatures] = act(x[batch][inFeatures] Wᵀ + b). */
  forward(input: Float32Array, options: LinearForwardOptions = {}): Float32Array {
    const p = this.#prepare(input, options);
    this.#layer.forward(p.x, 1, 1, p.batch, p.out, p.threads, false, true);
    return p.out;
  }

  /** {@link Linear.forward} off the main thread. */
  async forwardAsync(input: Float32Array, options: LinearForwardOptions = {}): Promise<Float32Array> {
    const p = this.#prepare(input, options);
    await this.#layer.forward(p.x, 1, 1, p.batch, p.out, p.threads, true, true);
    return p.out;
  }

  #prepare(input: unknown, options: LinearForwardOptions) {
    const x = checkArray<Float32Array>(input, 'input', [Float32Array]);
    const o = checkOptions<LinearForwardOptions>(options, 'options', 'Linear.forward', FORWARD_KEYS);
    let batch: number;
    if (o.batch === undefined) {
      if (x.length === 0 || x.length % this.inFeatures !== 0) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `input.length must be a positive multiple of inFeatures (${this.inFeatures}), got ${x.length}`);
      }
      batch = x.length / this.inFeatures;
    } else {
      batch = checkInt(o.batch, 'options.batch', 1, 2 ** 30);
      if (x.length !== batch * this.inFeatures) {
        throw rangeError('ERR_LOWBIT_LENGTH_MISMATCH', `input.length must be batch * inFeatures = ${batch * this.inFeatures}, got ${x.length}`);
      }
    }
    const out = outputArray<Float32Array>(o.out, [Float32Array], batch * this.outFeatures, 'batch * outFeatures', (len) => new Float32Array(len));
    return { x, batch, out, threads: checkThreads(o.threads) };
  }
}

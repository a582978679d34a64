// The geometry options every convolution layer takes, checked once here for Conv2d and
// QuantizedConv2d alike.
import { rangeError, typeError } from './errors';
import { checkInt, describe, optionKeys } from './validate';

/** A size given once for both axes, or as [height, width]. */
export type Pair = number | [number, number];

/** The geometry options of a convolution layer. */
export interface ConvGeometryOptions {
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Kernel size. */
  kernelSize: Pair;
  /** Stride; default 1. */
  stride?: Pair;
  /** Zero padding on each side; default 0 (must be smaller than the kernel's extent). */
  padding?: Pair;
  /** Dilation; default 1. */
  dilation?: Pair;
  /** Groups (dividing both channel counts); default 1. */
  groups?: number;
}

/** The keys of {@link ConvGeometryOptions}. */
export const CONV_GEOMETRY_KEYS = optionKeys<ConvGeometryOptions>()('inChannels', 'outChannels', 'kernelSize', 'stride', 'padding', 'dilation', 'groups');

/** Input shape of one call of a convolution layer. */
export interface ConvInputShape {
  /** Batch; default 1. */
  n?: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
}

/** The keys of {@link ConvInputShape}. */
export const INPUT_SHAPE_KEYS = optionKeys<ConvInputShape>()('n', 'h', 'w');

/** Checks an input shape (names in errors are `options.<field>`). */
export function inputShapeOf(o: Partial<ConvInputShape>): { n: number; h: number; w: number } {
  return {
    n: o.n === undefined ? 1 : checkInt(o.n, 'options.n', 1, 1 << 20),
    h: checkInt(o.h, 'options.h', 1, 1 << 20),
    w: checkInt(o.w, 'options.w', 1, 1 << 20),
  };
}

/** A checked geometry, every pair expanded. */
export interface Geometry {
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

function pair(v: unknown, name: string, fallback: number, lo: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  if (typeof v === 'number') {
    const x = checkInt(v, name, lo, 1 << 20);
    return [x, x];
  }
  if (Array.isArray(v) && v.length === 2) return [checkInt(v[0], `${name}[0]`, lo, 1 << 20), checkInt(v[1], `${name}[1]`, lo, 1 << 20)];
  throw typeError('ERR_LOWBIT_INVALID_TYPE', `${name} must be a number or [height, width], got ${describe(v)}`);
}

/** Checks the geometry options (names in errors are `options.<field>`). */
export function geometryOf(o: Partial<ConvGeometryOptions>): Geometry {
  const g: Geometry = {
    inChannels: checkInt(o.inChannels, 'options.inChannels', 1, 1 << 24),
    outChannels: checkInt(o.outChannels, 'options.outChannels', 1, 1 << 24),
    kernelSize: pair(o.kernelSize, 'options.kernelSize', 0, 1),
    stride: pair(o.stride, 'options.stride', 1, 1),
    padding: pair(o.padding, 'options.padding', 0, 0),
    dilation: pair(o.dilation, 'options.dilation', 1, 1),
    groups: o.groups === undefined ? 1 : checkInt(o.groups, 'options.groups', 1, 1 << 24),
  };
  if (g.inChannels % g.groups !== 0 || g.outChannels % g.groups !== 0) {
    throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.groups (${g.groups}) must divide inChannels (${g.inChannels}) and outChannels (${g.outChannels})`);
  }
  for (let a = 0; a < 2; a++) {
    const extent = (g.kernelSize[a] - 1) * g.dilation[a] + 1;
    if (g.padding[a] >= extent) {
      throw rangeError('ERR_LOWBIT_INVALID_ARGUMENT', `options.padding (${g.padding[a]}) must be smaller than the kernel extent (${extent})`);
    }
  }
  return g;
}

/** What every convolution layer exposes of its geometry (Conv2d and QuantizedConv2d extend it). */
export abstract class ConvGeometryFields {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** [kh, kw]. */
  readonly kernelSize: [number, number];
  /** [sh, sw]. */
  readonly stride: [number, number];
  /** [ph, pw]. */
  readonly padding: [number, number];
  /** [dh, dw]. */
  readonly dilation: [number, number];
  /** Groups. */
  readonly groups: number;

  /** @param g a geometry checked by {@link geometryOf}. */
  protected constructor(g: Geometry) {
    this.inChannels = g.inChannels;
    this.outChannels = g.outChannels;
    // frozen: the layer was built with these, so they must not seem to change
    this.kernelSize = Object.freeze(g.kernelSize) as [number, number];
    this.stride = Object.freeze(g.stride) as [number, number];
    this.padding = Object.freeze(g.padding) as [number, number];
    this.dilation = Object.freeze(g.dilation) as [number, number];
    this.groups = g.groups;
  }
}

/** The geometry as the native layers take it: 11 int32 values. */
export function geometryArray(g: Geometry): Int32Array {
  return Int32Array.of(g.inChannels, g.outChannels, ...g.kernelSize, ...g.stride, ...g.padding, ...g.dilation, g.groups);
}

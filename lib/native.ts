// Loads the compiled addon (build/Release when built from source, else prebuilds/<platform>-<arch>)
// and describes its raw functions. Only the lib/ modules call these; they validate first.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Raw CPU description as the addon returns it. */
export interface NativeCpu {
  arch: string;
  features: Record<string, boolean>;
  isa: string;
  supported: string[];
  compiled: string[];
  kernels: Record<string, string>;
}

/** Raw quantization parameters as the addon returns them. */
export interface NativeQuantParams {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** The addon's exports. */
export interface NativeBinding {
  cpu(): NativeCpu;
  setIsa(isa: string): void;
  quantize<T extends Uint8Array | Int8Array>(
    x: Float32Array, out: T, scale: number, zeroPoint: number, qmin: number, qmax: number, async: false,
  ): T;
  quantize<T extends Uint8Array | Int8Array>(
    x: Float32Array, out: T, scale: number, zeroPoint: number, qmin: number, qmax: number, async: true,
  ): Promise<T>;
  dequantize(q: Uint8Array | Int8Array, out: Float32Array, scale: number, zeroPoint: number, async: false): Float32Array;
  dequantize(q: Uint8Array | Int8Array, out: Float32Array, scale: number, zeroPoint: number, async: true): Promise<Float32Array>;
  chooseQuantParams(min: number, max: number, signed: boolean, symmetric: boolean, reduceRange: boolean): NativeQuantParams;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The package root: the nearest folder above this file with lowbit's package.json. */
export const packageRoot = ((): string => {
  for (let dir = path.dirname(__dirname); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'CMakeLists.txt'))) return dir;
    if (path.dirname(dir) === dir) return path.join(__dirname, '..');
  }
})();

/** The loaded addon. */
export const binding = load(packageRoot) as NativeBinding;

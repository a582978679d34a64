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
  _retainFreedMemory(bytes: number): boolean;
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

/**
 * The addon for this platform: a prebuild (prebuilds/<platform>-<arch>/) or a source build
 * (build/Release/). When none loads, the error says what ships and the one command that builds it.
 */
function loadBinding(): NativeBinding {
  try {
    return load(packageRoot) as NativeBinding;
  } catch (e) {
    const dir = path.join(packageRoot, 'prebuilds');
    const shipped = fs.existsSync(dir) ? fs.readdirSync(dir).join(', ') : 'none';
    const first = String((e as Error).message).split('\n')[0];
    const err = new Error(
      `lowbit: no native binary loads for ${process.platform}-${process.arch} (Node ${process.versions.node}): ${first}\n` +
        `Prebuilt binaries in this package: ${shipped || 'none'}. Build one for this machine ` +
        '(needs CMake >= 3.15 and a C++17 compiler; fetches cmake-js with npm), then require lowbit again:\n' +
        `  node ${path.join(packageRoot, 'scripts', 'install.js')}`,
    ) as Error & { code: string };
    err.code = 'ERR_LOWBIT_NO_BINARY';
    throw err;
  }
}

/** The loaded addon. */
export const binding = loadBinding();

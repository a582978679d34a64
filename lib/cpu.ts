import { rangeError, typeError } from './errors';
import { binding } from './native';
import { describe } from './validate';

/** An instruction-set level lowbit has kernels for. */
export type Isa = 'scalar' | 'avx2' | 'avx512' | 'neon' | 'neon_dotprod' | 'neon_i8mm';

/** What the CPU supports and which kernels lowbit uses on it. */
export interface CpuInfo {
  /** `'x64'`, `'arm64'` or `'other'`. */
  arch: string;
  /** Detected CPU features (x64: avx2, fma, f16c, avx512f/bw/dq/vl/vnni, amxTile, amxInt8, osYmm, osZmm...; arm64: neon, dotprod, i8mm, fp16). */
  features: Record<string, boolean>;
  /** The ISA level in use now (the best supported one, unless capped by `LOWBIT_ISA` or {@link setIsa}). */
  isa: Isa;
  /** The levels this CPU can run, lowest first (always starts with `'scalar'`). */
  supported: Isa[];
  /** The levels this build of lowbit has kernels for, lowest first. */
  compiled: Isa[];
  /** For each op, the level of the kernel that serves it at the current level. */
  kernels: Record<string, Isa>;
  /**
   * True when the int8 GEMM (and what runs on it: QuantizedLinear, im2col convolutions) uses AMX
   * tiles at the `'avx512'` level: the CPU has AMX-INT8, the OS granted this process the tile state,
   * and the environment does not set `LOWBIT_AMX=0`. Read once at load.
   */
  amx: boolean;
}

/**
 * Describes the CPU and the kernels in use.
 * @example
 * lowbit.cpu() // { arch: 'x64', isa: 'avx2', supported: ['scalar', 'avx2'], ... }
 */
export function cpu(): CpuInfo {
  return binding.cpu() as CpuInfo;
}

/**
 * Caps the ISA level used by every op from now on, process-wide: `'scalar'` runs the plain
 * reference kernels. For debugging and tests (the environment variable `LOWBIT_ISA` does the same
 * at load time). Calls already running keep the kernels they started with.
 * @throws RangeError `ERR_LOWBIT_ISA_UNSUPPORTED` if this CPU cannot run `isa`.
 */
export function setIsa(isa: Isa): void {
  if (typeof isa !== 'string') {
    throw typeError('ERR_LOWBIT_INVALID_TYPE', `isa must be a string, got ${describe(isa)}`);
  }
  const { supported } = cpu();
  if (!supported.includes(isa)) {
    throw rangeError(
      'ERR_LOWBIT_ISA_UNSUPPORTED',
      `isa must be one this CPU can run (${supported.join(', ')}), got '${isa}'`,
    );
  }
  binding.setIsa(isa);
}

/** Int8 arithmetic peaks of one core, measured now (see {@link measurePeaks}). */
export interface CpuPeaks {
  /** s16 × s16 `vpmaddwd` → int32 accumulate (exact for any u8/s8 widened to int16), GOPS. */
  maddS16Gops?: number;
  /** u8 × s8 `vpmaddubsw` → `vpmaddwd` → int32 accumulate (the idiom FBGEMM uses), GOPS. */
  maddubsGops?: number;
}

/**
 * Measures this core's int8 multiply-accumulate peaks with register-only loops built into the
 * addon, on the calling thread, for about `seconds` (default 0.3): what benchmark reports state a
 * kernel's speed against. Empty where this build has no probe for the CPU (non-AVX2 machines).
 */
export function measurePeaks(seconds = 0.3): CpuPeaks {
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 60)) {
    throw rangeError('ERR_LOWBIT_OUT_OF_RANGE', `seconds must be a number in (0, 60], got ${describe(seconds)}`);
  }
  return (binding as unknown as { _peaks(seconds: number): CpuPeaks })._peaks(seconds);
}

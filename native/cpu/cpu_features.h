// What the CPU (and the OS, for register state) supports, detected once.
//
// x86-64: CPUID leaves 1 and 7, plus XGETBV: a CPU with AVX2 is useless to us if the OS does not
// save ymm state (XCR0 bits 1-2), and AVX-512 needs opmask/zmm state too (bits 5-7). AMX needs
// the tile state (XCR0 bits 17-18) and, on Linux, the process's permission to use it
// (amx_ready: requested once with arch_prctl(ARCH_REQ_XCOMP_PERM)).
// aarch64: getauxval(AT_HWCAP/AT_HWCAP2) on Linux, sysctlbyname on macOS.
#pragma once

namespace lowbit {

struct CpuFeatures {
  const char* arch;  // "x64", "arm64" or "other"
  // x86-64
  bool sse41 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512vnni = false;
  bool avxvnni = false;
  bool amx_tile = false, amx_int8 = false;  // CPUID, with the OS saving tile state (XCR0 17-18)
  bool os_ymm = false, os_zmm = false;  // the OS saves ymm / zmm+opmask state
  // aarch64
  bool neon = false, dotprod = false, i8mm = false, fp16 = false;
};

const CpuFeatures& cpu_features();

// True when int8 AMX tiles may be used in this process: the CPU has AMX-TILE and AMX-INT8, the OS
// saves their state, the process was granted it (Linux; asked once, thread-safe), and the
// environment does not say LOWBIT_AMX=0. Without the permission a tile instruction would kill
// the process (SIGILL), so every AMX path checks this first.
bool amx_ready();

}  // namespace lowbit

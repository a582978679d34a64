// What the CPU (and the OS, for register state) supports, detected once.
//
// x86-64: CPUID leaves 1 and 7, plus XGETBV: a CPU with AVX2 is useless to us if the OS does not
// save ymm state (XCR0 bits 1-2), and AVX-512 needs opmask/zmm state too (bits 5-7).
// aarch64: getauxval(AT_HWCAP/AT_HWCAP2) on Linux, sysctlbyname on macOS.
#pragma once

namespace lowbit {

struct CpuFeatures {
  const char* arch;  // "x64", "arm64" or "other"
  // x86-64
  bool sse41 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512vnni = false;
  bool avxvnni = false;
  bool os_ymm = false, os_zmm = false;  // the OS saves ymm / zmm+opmask state
  // aarch64
  bool neon = false, dotprod = false, i8mm = false, fp16 = false;
};

const CpuFeatures& cpu_features();

}  // namespace lowbit

#include "cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__linux__) && (defined(__x86_64__) || defined(_M_X64))
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#define LOWBIT_X86 1
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#elif defined(__aarch64__) || defined(_M_ARM64)
#define LOWBIT_ARM64 1
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

namespace lowbit {
namespace {

#if LOWBIT_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int regs[4];
  __cpuidex(regs, (int)leaf, (int)sub);
  for (int i = 0; i < 4; i++) r[i] = (unsigned)regs[i];
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  // Encoded as bytes so that the baseline (non-XSAVE) compile of this file accepts it.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
#endif
}

void detect(CpuFeatures& f) {
  f.arch = "x64";
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 1) return;
  cpuid(1, 0, r);
  const unsigned ecx1 = r[2];
  f.sse41 = ecx1 & (1u << 19);
  f.fma = ecx1 & (1u << 12);
  f.f16c = ecx1 & (1u << 29);
  const bool osxsave = ecx1 & (1u << 27);
  bool os_tiles = false;
  const bool avx_bit = ecx1 & (1u << 28);
  if (osxsave) {
    const unsigned long long xcr0 = xgetbv0();
    f.os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
    f.os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    os_tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
  }
  f.avx = avx_bit && f.os_ymm;
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    const unsigned ebx7 = r[1], ecx7 = r[2];
    f.avx2 = f.avx && (ebx7 & (1u << 5));
    f.avx512f = f.os_zmm && (ebx7 & (1u << 16));
    f.avx512dq = f.avx512f && (ebx7 & (1u << 17));
    f.avx512bw = f.avx512f && (ebx7 & (1u << 30));
    f.avx512vl = f.avx512f && (ebx7 & (1u << 31));
    f.avx512vnni = f.avx512f && (ecx7 & (1u << 11));
    const unsigned edx7 = r[3];
    f.amx_tile = os_tiles && (edx7 & (1u << 24));
    f.amx_int8 = f.amx_tile && (edx7 & (1u << 25));
    cpuid(7, 1, r);
    f.avxvnni = f.avx && (r[0] & (1u << 4));
  }
  if (!f.os_ymm) f.fma = f.f16c = false;
}
#elif LOWBIT_ARM64
void detect(CpuFeatures& f) {
  f.arch = "arm64";
  f.neon = true;  // Advanced SIMD is mandatory in AArch64
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
  const unsigned long hw2 = getauxval(AT_HWCAP2);
  f.fp16 = hw & (1ul << 10);     // HWCAP_ASIMDHP
  f.dotprod = hw & (1ul << 20);  // HWCAP_ASIMDDP
  f.i8mm = hw2 & (1ul << 13);    // HWCAP2_I8MM
#elif defined(__APPLE__)
  auto has = [](const char* name) {
    int v = 0;
    size_t len = sizeof(v);
    return sysctlbyname(name, &v, &len, nullptr, 0) == 0 && v != 0;
  };
  f.fp16 = has("hw.optional.arm.FEAT_FP16");
  f.dotprod = has("hw.optional.arm.FEAT_DotProd");
  f.i8mm = has("hw.optional.arm.FEAT_I8MM");
#endif
}
#else
void detect(CpuFeatures& f) { f.arch = "other"; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    detect(f);
    return f;
  }();
  return features;
}

bool amx_ready() {
  static const bool ready = [] {
    const CpuFeatures& f = cpu_features();
    if (!f.amx_int8) return false;
    const char* env = std::getenv("LOWBIT_AMX");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
#if defined(__linux__) && (defined(__x86_64__) || defined(_M_X64))
    // Linux 5.16+: tile data is off until the process asks (ARCH_REQ_XCOMP_PERM, feature 18,
    // XTILEDATA); an older kernel or a refusal (e.g. a too small alternate signal stack) leaves
    // AMX unused.
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;  // other systems: not enabled (Windows grants it; untested here)
#endif
  }();
  return ready;
}

}  // namespace lowbit

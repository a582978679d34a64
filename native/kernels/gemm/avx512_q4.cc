// AVX-512 VNNI 4-bit GEMM (q4.h): the x86 panel kernel (q4_x86.h) with vpdpbusd (uint8 A x int8
// nibbles, four products per int32 lane, no intermediate saturation) on 256-bit vectors (AVX512VL).
#include "kernels/gemm/q4_x86.h"

namespace lowbit {
namespace gemm {
namespace {

struct DotVnni {
  static constexpr bool kSplit = true;
  static inline __m256i two(__m256i acc, __m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i lo0, __m256i hi0,
                            __m256i lo1, __m256i hi1) {
    acc = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, a0, lo0), a1, hi0);
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, a2, lo1), a3, hi1);
  }
  static inline __m256i one(__m256i acc, __m256i a0, __m256i a1, __m256i lo, __m256i hi) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, a0, lo), a1, hi);
  }
};

}  // namespace

void q4_gemm__avx512(const Q4Weights& w, const Q4Call& c, const Range& r) { q4_run<Q4X86<DotVnni>>(w, c, r); }

}  // namespace gemm
}  // namespace lowbit

// AVX2 4-bit GEMM (q4.h): the x86 panel kernel (q4_x86.h) with vpmaddubsw of uint8 A and the
// nibbles in [-8, 7] (never saturates: 2 * 255 * 8 = 4080 per pair), the low- and high-nibble
// halves added in int16 (<= 8160), then vpmaddwd with ones into int32.
#include "kernels/gemm/q4_x86.h"

namespace lowbit {
namespace gemm {
namespace {

struct DotAvx2 {
  static inline __m256i step(__m256i acc, __m256i a0, __m256i a1, __m256i lo, __m256i hi) {
    const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(a0, lo), _mm256_maddubs_epi16(a1, hi));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
  }
};

}  // namespace

void q4_gemm__avx2(const Q4Weights& w, const Q4Call& c, const Range& r) { q4_run<Q4X86<DotAvx2>>(w, c, r); }

}  // namespace gemm
}  // namespace lowbit

// AVX2 4-bit GEMM (q4.h): the x86 panel kernel (q4_x86.h) with vpmaddubsw of uint8 A and the
// unsigned nibbles (never saturates: 2 * 255 * 15 = 7650 per pair), four added in int16, then
// vpmaddwd with ones into int32.
#include "kernels/gemm/q4_x86.h"

namespace lowbit {
namespace gemm {
namespace {

struct DotAvx2 {
  static constexpr int kAShift = 0;  // A as is: vpmaddubsw's unsigned operand
  static constexpr bool kSplit = false;  // 16 registers: no room for a second accumulator set
  // |maddubs(a, u)| <= 2 * 255 * 15 = 7650 per int16 lane: four of them (two chunks) sum to
  // <= 30600, inside int16, so one vpmaddwd per two chunks
  static inline __m256i two(__m256i acc, __m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i lo0, __m256i hi0,
                            __m256i lo1, __m256i hi1) {
    const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(a0, lo0), _mm256_maddubs_epi16(a1, hi0));
    const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(a2, lo1), _mm256_maddubs_epi16(a3, hi1));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(s0, s1), _mm256_set1_epi16(1)));
  }
  static inline __m256i one(__m256i acc, __m256i a0, __m256i a1, __m256i lo, __m256i hi) {
    const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(a0, lo), _mm256_maddubs_epi16(a1, hi));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
  }
};

}  // namespace

void q4_gemm__avx2(const Q4Weights& w, const Q4Call& c, const Range& r) { q4_run<Q4X86<DotAvx2>>(w, c, r); }

}  // namespace gemm
}  // namespace lowbit

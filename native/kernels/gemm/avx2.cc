// AVX2 GEMM microkernels.
//
// exact: A widened to int16 at pack time, B sign-extended in registers (vpmovsxbw), vpmaddwd pairs
//   of int16 products into int32 (exact for any u8/s8: |a*b + a*b| < 2^31), vpaddd. Each B group
//   of 32 bytes (8 columns x 4 k) becomes two ymm of 4 columns x 4 k int16; an A broadcast holds the
//   4 k values of one row, so each accumulator holds 4 columns x 2 partial sums, folded at the end
//   with vphaddd. Tile MR x 8 columns (12 accumulators at MR = 6), more panels when MR is small.
// fast: vpmaddubsw (u8 x s8 -> saturating int16 pair sums) then vpmaddwd with ones and vpaddd.
//   Used only where the driver proved that no pair sum can saturate (PackedB::maddubs_safe, or the
//   block's activations span at most 128 values and are shifted into [0, 127]). Tile MR x 16.
#include <immintrin.h>

#include "kernels/gemm/driver.h"
#include "kernels/gemm/epilogue_avx2.h"

namespace lowbit {
namespace gemm {
namespace {

struct Avx2 {
  static constexpr FastKind kFast = FastKind::u8_checked;
  static constexpr bool kHasExact = true;
  // Tiles sized so that accumulators + B + A + a temporary fit the 16 ymm registers (GCC spills
  // loop-carried accumulators beyond that, which costs a store-forwarding round trip per step).
  static constexpr int kMRExact = 4, kMRFast = 4;
  static int np_exact(int mr) { return mr == 1 ? 4 : mr == 2 ? 2 : 1; }  // 2*MR*NP accumulators
  static int np_fast(int mr) { return mr <= 2 ? 4 : mr == 3 ? 3 : 2; }  // MR*NP accumulators

  template <int MR, int NP>
  static void exact(const int16_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                    size_t tld) {
    __m256i acc[MR][NP][2];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) acc[r][p][0] = acc[r][p][1] = _mm256_setzero_si256();
    for (size_t g = 0; g < k4; g++) {
      __m256i lo[NP], hi[NP];
      for (int p = 0; p < NP; p++) {
        const int8_t* q = bp + p * pstride + g * kPanelGroupBytes;
        lo[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        hi[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)));
      }
      const int16_t* a = ap + g * MR * kGroupK;
      for (int r = 0; r < MR; r++) {
        int64_t a4;
        std::memcpy(&a4, a + r * kGroupK, 8);
        const __m256i av = _mm256_set1_epi64x(a4);
        for (int p = 0; p < NP; p++) {
          acc[r][p][0] = _mm256_add_epi32(acc[r][p][0], _mm256_madd_epi16(av, lo[p]));
          acc[r][p][1] = _mm256_add_epi32(acc[r][p][1], _mm256_madd_epi16(av, hi[p]));
        }
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) {
        // [c0 c1 c4 c5 | c2 c3 c6 c7] -> [c0 .. c7]
        const __m256i h = _mm256_hadd_epi32(acc[r][p][0], acc[r][p][1]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * tld + p * kPanelN),
                            _mm256_permute4x64_epi64(h, 0xD8));
      }
  }

  template <int MR, int NP>
  static void fast(const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                   size_t tld) {
    __m256i acc[MR][NP];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) acc[r][p] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t g = 0; g < k4; g++) {
      __m256i bv[NP];
      for (int p = 0; p < NP; p++)
        bv[p] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + p * pstride + g * kPanelGroupBytes));
      const uint8_t* a = ap + g * MR * kGroupK;
      for (int r = 0; r < MR; r++) {
        int32_t a4;
        std::memcpy(&a4, a + r * kGroupK, 4);
        const __m256i av = _mm256_set1_epi32(a4);
        for (int p = 0; p < NP; p++)
          acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_madd_epi16(_mm256_maddubs_epi16(av, bv[p]), ones));
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * tld + p * kPanelN), acc[r][p]);
  }

  static void epilogue(const int32_t* acc8, const EpiChunk& e, int32_t rowsum, const Output& out,
                       size_t from, size_t to, void* dst) {
    epilogue_avx2(acc8, e, rowsum, out, from, to, dst);
  }
};

}  // namespace

void gemm_u8s8__avx2(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                     const Range& r, const Options& opt) {
  run<Avx2>(a, false, lda, a_zp, b, out, r, opt);
}
void gemm_s8s8__avx2(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                     const Range& r, const Options& opt) {
  run<Avx2>(a, true, lda, a_zp, b, out, r, opt);
}

}  // namespace gemm
}  // namespace lowbit

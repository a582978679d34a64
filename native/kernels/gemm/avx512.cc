// AVX-512 VNNI GEMM microkernel: vpdpbusd (u8 x s8, four products summed into each int32 lane with
// no intermediate saturation), so one kernel is exact for every input. A is packed as uint8
// (s8 activations shifted by +128, corrected through the column sums, see driver.h). Two 8-column
// panels share a zmm (one 32-byte block each); an odd panel uses a ymm. Tile up to 6 x 32.
#include <immintrin.h>

#include "kernels/gemm/driver.h"
#include "kernels/gemm/epilogue_avx2.h"

namespace lowbit {
namespace gemm {
namespace {

struct Avx512 {
  static constexpr FastKind kFast = FastKind::u8_always;
  static constexpr bool kHasExact = false;
  static constexpr int kMRExact = 6, kMRFast = 6;
  static int np_exact(int) { return 1; }
  static int np_fast(int) { return 4; }

  template <int MR, int NP>
  static void exact(const int16_t*, const int8_t*, size_t, size_t, int32_t*, size_t) {}

  template <int MR, int NP>
  static void fast(const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                   size_t tld) {
    constexpr int NZ = NP / 2, NY = NP % 2;
    __m512i accz[MR][NZ > 0 ? NZ : 1];
    __m256i accy[MR];
    for (int r = 0; r < MR; r++) {
      for (int z = 0; z < NZ; z++) accz[r][z] = _mm512_setzero_si512();
      accy[r] = _mm256_setzero_si256();
    }
    for (size_t g = 0; g < k4; g++) {
      __m512i bz[NZ > 0 ? NZ : 1];
      __m256i by = _mm256_setzero_si256();
      for (int z = 0; z < NZ; z++) {
        const int8_t* q0 = bp + (2 * z) * pstride + g * kPanelGroupBytes;
        const int8_t* q1 = q0 + pstride;
        bz[z] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0))),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q1)), 1);
      }
      if (NY)
        by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + (NP - 1) * pstride + g * kPanelGroupBytes));
      const uint8_t* a = ap + g * MR * kGroupK;
      for (int r = 0; r < MR; r++) {
        int32_t a4;
        std::memcpy(&a4, a + r * kGroupK, 4);
        for (int z = 0; z < NZ; z++) accz[r][z] = _mm512_dpbusd_epi32(accz[r][z], _mm512_set1_epi32(a4), bz[z]);
        if (NY) accy[r] = _mm256_dpbusd_epi32(accy[r], _mm256_set1_epi32(a4), by);
      }
    }
    for (int r = 0; r < MR; r++) {
      for (int z = 0; z < NZ; z++)
        _mm512_storeu_si512(tile + r * tld + 2 * z * kPanelN, accz[r][z]);
      if (NY) _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * tld + (NP - 1) * kPanelN), accy[r]);
    }
  }

  static void epilogue(const int32_t* acc8, const EpiChunk& e, int32_t rowsum, const Output& out,
                       size_t from, size_t to, void* dst) {
    epilogue_avx2(acc8, e, rowsum, out, from, to, dst);
  }
};

}  // namespace

void gemm_u8s8__avx512(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                       const Range& r, const Options& opt) {
  run<Avx512>(a, false, lda, a_zp, b, out, r, opt);
}
void gemm_s8s8__avx512(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                       const Range& r, const Options& opt) {
  run<Avx512>(a, true, lda, a_zp, b, out, r, opt);
}

}  // namespace gemm
}  // namespace lowbit

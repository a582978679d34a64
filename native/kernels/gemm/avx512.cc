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

  // The full 6 x 32 tile with its twelve accumulators as named variables: with the arrays of the
  // generic kernel below GCC 12 copied every accumulator to another register and back on every k
  // group (24 extra vector moves per 12 vpdpbusd).
  static void fast_6x32(const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile, size_t tld) {
#define LOWBIT_Z(r) __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = _mm512_setzero_si512();
    LOWBIT_Z(0) LOWBIT_Z(1) LOWBIT_Z(2) LOWBIT_Z(3) LOWBIT_Z(4) LOWBIT_Z(5)
#undef LOWBIT_Z
    const int8_t* q = bp;
    const uint8_t* a = ap;
    for (size_t g = 0; g < k4; g++, q += kPanelGroupBytes, a += 6 * kGroupK) {
      const __m512i b0 = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + pstride)), 1);
      const __m512i b1 = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 2 * pstride))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 3 * pstride)), 1);
#define LOWBIT_R(r)                                                 \
  {                                                                 \
    int32_t a4;                                                     \
    std::memcpy(&a4, a + r * kGroupK, 4);                           \
    const __m512i av = _mm512_set1_epi32(a4);                       \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, b0);                 \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, b1);                 \
  }
      LOWBIT_R(0) LOWBIT_R(1) LOWBIT_R(2) LOWBIT_R(3) LOWBIT_R(4) LOWBIT_R(5)
#undef LOWBIT_R
    }
#define LOWBIT_S(r)                                                  \
  _mm512_storeu_si512(tile + r * tld, c##r##0);                      \
  _mm512_storeu_si512(tile + r * tld + 2 * kPanelN, c##r##1);
    LOWBIT_S(0) LOWBIT_S(1) LOWBIT_S(2) LOWBIT_S(3) LOWBIT_S(4) LOWBIT_S(5)
#undef LOWBIT_S
  }

  template <int MR, int NP>
  static void fast(const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                   size_t tld) {
    if constexpr (MR == 6 && NP == 4) {
      fast_6x32(ap, bp, pstride, k4, tile, tld);
      return;
    }
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

  // the AVX2 tile epilogue: once per tile rather than once per row and 8-column chunk (the per-call
  // setup of the chunk epilogue was ~10% of a 256 x 1024 x 1024 int32 call)
  static void epilogue_tile(const int32_t* tile, size_t tld, int mr, const int32_t* rowsum,
                            const EpiChunk& e, const Output& out, size_t from, size_t to, uint8_t* dst,
                            size_t ldc_bytes) {
    epilogue_tile_avx2(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes);
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

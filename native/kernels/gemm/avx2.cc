// AVX2 GEMM microkernels.
//
// exact: A widened to int16 at pack time, B sign-extended in registers (vpmovsxbw), vpmaddwd pairs
//   of int16 products into int32 (exact for any u8/s8: |a*b + a*b| < 2^31), vpaddd. Each B group
//   of 32 bytes (8 columns x 4 k) becomes two ymm of 4 columns x 4 k int16; an A broadcast holds the
//   4 k values of one row, so each accumulator holds 4 columns x 2 partial sums, folded at the end
//   with vphaddd. Tile 6 x 8 (12 accumulators + 2 B + A + 1 temporary = 16 ymm); 2 x 16 and 1 x 32
//   for the last rows.
// exact_wide (row blocks of >= 48 rows and K <= 512, where it measured faster): the same exact
//   arithmetic with B sign-extended to int16 once per row block and panel pair (widen_b, into
//   scratch) in k-pair order, so that the inner loop is a 32-bit A broadcast (one k pair of one
//   row) + vpmaddwd + vpaddd with no shuffle, and each accumulator holds 8 columns. Tile 6 x 16.
//   (Above 512 k the widened pair no longer fits L1 beside the A tiles and the per-block widening
//   outweighs the saved vpmovsxbw; K blocking it did not recover the difference.)
// In both, the multiply-add step is a two-instruction asm statement (madd_acc) so that GCC keeps
// every accumulator in one register across the k loop; with plain intrinsics it routed them
// through extra register moves or, at 6 rows, through the stack.
// fast: vpmaddubsw (u8 x s8 -> saturating int16 pair sums) then vpmaddwd with ones and vpaddd.
//   Used only where the driver proved that no pair sum can saturate (PackedB::maddubs_safe, or the
//   block's activations span at most 128 values and are shifted into [0, 127]). Tile MR x 16.
// Also here: vectorized A packing (pack_row16 / pack_row8) and the tile epilogue (epilogue_avx2.h).
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
  // loop-carried accumulators beyond that, which costs a store-forwarding round trip per step;
  // check with objdump -d: no rsp access between the vpmaddwd of a k loop).
  static constexpr int kMRExact = 6, kMRFast = 4;
  // exact_wide where it measured faster: row blocks of >= 48 rows (the widening of B is shared by
  // >= 8 tiles) and K <= 512 (widened panel pair + A tiles within L1)
  static constexpr int kWideMinRows = 48, kWideMaxK4 = 128, kMRWide = 6, kNPWide = 2;
  // 2*MR*NP <= 8 accumulators below 4 rows: GCC keeps every row's A broadcast live across the
  // panels (CSE), so 2*MR*NP + MR + 2 B + 1 must stay <= 16
  static int np_exact(int mr) { return mr == 1 ? 4 : mr == 2 ? 2 : 1; }
  static int np_fast(int mr) { return mr <= 2 ? 4 : mr == 3 ? 3 : 2; }  // MR*NP accumulators

  template <int MR, int NP>
  static void exact(const int16_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                    size_t tld) {
    __m256i acc[MR][NP][2];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) acc[r][p][0] = acc[r][p][1] = _mm256_setzero_si256();
    // Panel by panel, so that only one panel's two B registers are live.
    for (size_t g = 0; g < k4; g++) {
      const int16_t* a = ap + g * MR * kGroupK;
#pragma GCC unroll 4
      for (int p = 0; p < NP; p++) {
        const int8_t* q = bp + p * pstride + g * kPanelGroupBytes;
        const __m256i lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        const __m256i hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)));
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
          int64_t a4;
          std::memcpy(&a4, a + r * kGroupK, 8);
          const __m256i av = _mm256_set1_epi64x(a4);
          acc[r][p][0] = madd_acc(acc[r][p][0], av, lo);
          acc[r][p][1] = madd_acc(acc[r][p][1], av, hi);
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

  // One 8-column panel: dst[(2g + h) * 16 + c * 2 + t] = B[4g + 2h + t][c] as int16.
  static void widen_b(const int8_t* bp, size_t k4, int16_t* dst) {
    for (size_t g = 0; g < k4; g++) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + g * kPanelGroupBytes));
      const __m256i lo = _mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8);  // words: k0, k2 of each column
      const __m256i hi = _mm256_srai_epi16(x, 8);                        // words: k1, k3
      const __m256i p0 = _mm256_blend_epi16(lo, _mm256_slli_epi32(hi, 16), 0xAA);
      const __m256i p1 = _mm256_blend_epi16(_mm256_srli_epi32(lo, 16), hi, 0xAA);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + g * 32), p0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + g * 32 + 16), p1);
    }
  }

  // acc + vpmaddwd(a, b), with acc kept in place (see the note at the top).
  static inline __m256i madd_acc(__m256i acc, __m256i a, __m256i b) {
#if defined(__GNUC__)
    __m256i t;
    __asm__("vpmaddwd %[b], %[a], %[t]\n\tvpaddd %[t], %[acc], %[acc]"
            : [acc] "+x"(acc), [t] "=&x"(t)
            : [a] "x"(a), [b] "x"(b));
    return acc;
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
  }

  template <int MR, int NP>
  static void exact_wide(const int16_t* ap, const int16_t* bw, size_t wstride, size_t k4, int32_t* tile,
                         size_t tld) {
    __m256i acc[MR][NP];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
      for (int p = 0; p < NP; p++)
        acc[r][p] = _mm256_setzero_si256();
    for (size_t g = 0; g < k4; g++) {
      const int16_t* a = ap + g * MR * kGroupK;
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++) {
        __m256i bv[NP];
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++)
          bv[p] = _mm256_load_si256(reinterpret_cast<const __m256i*>(bw + p * wstride + (2 * g + h) * 16));
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
          int32_t a2;
          std::memcpy(&a2, a + r * kGroupK + 2 * h, 4);
          const __m256i av = _mm256_set1_epi32(a2);
#pragma GCC unroll 2
          for (int p = 0; p < NP; p++) acc[r][p] = madd_acc(acc[r][p], av, bv[p]);
        }
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
      for (int p = 0; p < NP; p++)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * tld + p * kPanelN), acc[r][p]);
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

  static void epilogue_tile(const int32_t* tile, size_t tld, int mr, const int32_t* rowsum,
                            const EpiChunk& e, const Output& out, size_t from, size_t to, uint8_t* dst,
                            size_t ldc_bytes) {
    epilogue_tile_avx2(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes);
  }

  // Vectorized pack_row (driver.h): dst[g * stride4 * 4 + j] = a[4g + j] - shift, 0 beyond K;
  // returns the sum of the packed values over k < K. 16 values per step; the last partial step
  // (K >= 16) loads the 16 bytes that end at a[K - 1] and moves its new bytes down with a shuffle
  // that zeroes the rest, so nothing outside a[0, K) is read. K < 16: plain loop.
  static constexpr bool kHasPackRow16 = true;
  // bytes [k, K) of a in lanes [0, K - k), zeros above (requires K >= 16, 0 < K - k < 16)
  static inline __m128i tail_bytes(const uint8_t* a, size_t k, size_t K, __m128i* valid) {
    static const int8_t kCtl[32] = {0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
                                    11,   12,   13,   14,   15,   -128, -128, -128, -128, -128, -128,
                                    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128};
    const __m128i ctl = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kCtl + 16 - (K - k)));
    *valid = _mm_cmpgt_epi8(ctl, _mm_set1_epi8(-1));
    return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + K - 16)), ctl);
  }
  template <typename TA, typename TP>
  static int32_t pack_row_scalar(const TA* a, size_t K, int32_t shift, size_t step, TP* dst) {
    int32_t sum = 0;
    size_t k = 0;
    for (; k < K; k++) {
      const int32_t p = (int32_t)a[k] - shift;
      sum += p;
      dst[(k / kGroupK) * step + k % kGroupK] = (TP)p;
    }
    for (; k % kGroupK; k++) dst[(k / kGroupK) * step + k % kGroupK] = 0;
    return sum;
  }
  // int16, no shift
  template <typename TA>
  static int32_t pack_row16(const TA* a, size_t K, size_t stride4, int16_t* dst) {
    const size_t step = stride4 * kGroupK;
    if (K < 16) return pack_row_scalar(a, K, 0, step, dst);
    constexpr bool sgn = TA(-1) < TA(0);
    const uint8_t* a8 = reinterpret_cast<const uint8_t*>(a);
    __m256i vs = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t k = 0; k < K; k += 16) {
      __m128i valid;
      const __m128i x = k + 16 <= K ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(a8 + k))
                                    : tail_bytes(a8, k, K, &valid);
      const __m256i w = sgn ? _mm256_cvtepi8_epi16(x) : _mm256_cvtepu8_epi16(x);
      vs = _mm256_add_epi32(vs, _mm256_madd_epi16(w, ones));
      const size_t ng = k + 16 <= K ? 4 : (K - k + kGroupK - 1) / kGroupK;
      int16_t* d = dst + (k / kGroupK) * step;
      const __m128i l = _mm256_castsi256_si128(w), h = _mm256_extracti128_si256(w, 1);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(d), l);
      if (ng > 1) _mm_storel_epi64(reinterpret_cast<__m128i*>(d + step), _mm_unpackhi_epi64(l, l));
      if (ng > 2) _mm_storel_epi64(reinterpret_cast<__m128i*>(d + 2 * step), h);
      if (ng > 3) _mm_storel_epi64(reinterpret_cast<__m128i*>(d + 3 * step), _mm_unpackhi_epi64(h, h));
    }
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(vs), _mm256_extracti128_si256(vs, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
  }
  // 8-bit operand p = a - shift: the driver guarantees 0 <= p <= 255, so the byte subtraction
  // modulo 256 is exact and vpsadbw sums p as unsigned
  template <typename TA>
  static int32_t pack_row8(const TA* a, size_t K, int32_t shift, size_t stride4, uint8_t* dst) {
    const size_t step = stride4 * kGroupK;
    if (K < 16) return pack_row_scalar(a, K, shift, step, dst);
    const uint8_t* a8 = reinterpret_cast<const uint8_t*>(a);
    const __m128i vsh = _mm_set1_epi8((char)shift);
    __m128i sum2 = _mm_setzero_si128();
    for (size_t k = 0; k < K; k += 16) {
      __m128i p;
      size_t ng = 4;
      if (k + 16 <= K) {
        p = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a8 + k)), vsh);
      } else {
        __m128i valid;
        const __m128i x = tail_bytes(a8, k, K, &valid);
        p = _mm_and_si128(_mm_sub_epi8(x, vsh), valid);
        ng = (K - k + kGroupK - 1) / kGroupK;
      }
      sum2 = _mm_add_epi64(sum2, _mm_sad_epu8(p, _mm_setzero_si128()));
      uint8_t* d = dst + (k / kGroupK) * step;
      const int32_t w[4] = {_mm_cvtsi128_si32(p), _mm_extract_epi32(p, 1), _mm_extract_epi32(p, 2),
                            _mm_extract_epi32(p, 3)};
      for (size_t g = 0; g < ng; g++) std::memcpy(d + g * step, &w[g], 4);
    }
    return (int32_t)(_mm_cvtsi128_si64(sum2) + _mm_extract_epi64(sum2, 1));
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

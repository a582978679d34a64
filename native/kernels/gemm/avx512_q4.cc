// AVX-512 VNNI 4-bit GEMM (q4.h). vpdpbusd multiplies an unsigned by a signed operand, four
// products per int32 lane, with no intermediate saturation; here the unsigned operand is the
// nibbles u = q + 8 and the signed one A - 128 (driver: kAShift), so that A comes straight from
// memory as a broadcast load (a load-port op, no shuffle).
//
// Two kernels:
// - tile (2+ rows): up to 16 rows x 2 panels, both panels' chunks in one zmm (16 columns): per
//   chunk one 32-byte load + one 32-byte insert and three unpack ops feed 2 * MR vpdpbusd. A comes
//   tile-packed ([chunk][row][8 k], one pointer: with a pointer per row the 16 rows ran out of
//   general registers and spilled). Each group's int32 accumulators start at
//   -(8 * sum p + zp_eff * qsum), so a group ends with only cvt, mul and add into the fp32 sums
//   (kept in the output tile: the 16 accumulators, the nibbles and the mask fill the registers).
//   Measured at 64 x 4096 x 4096, group 128, no outliers: 0.45 (the ymm 4 x 8 panel kernel) ->
//   0.95-1.07 of the int8 VNNI GEMM's speed (native/bench/gemm_q4_bench.cc).
// - gemv (one row): up to 8 panels (4 zmm) per pass, every chain independent.
#include "kernels/gemm/q4_x86.h"

namespace lowbit {
namespace gemm {
namespace {

struct DotVnni {
  static constexpr int kAShift = 128;
  static constexpr bool kSplit = true;
  static inline __m256i two(__m256i acc, __m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i lo0, __m256i hi0,
                            __m256i lo1, __m256i hi1) {
    acc = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, lo0, a0), hi0, a1);
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, lo1, a2), hi1, a3);
  }
  static inline __m256i one(__m256i acc, __m256i a0, __m256i a1, __m256i lo, __m256i hi) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, lo, a0), hi, a1);
  }
};

// 16 columns of panels p and p + 1 (the upper half zero when there is only one panel)
template <int NP>
inline __m512i load2(const uint8_t* p0, size_t pstride) {
  const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(p0));
  if constexpr (NP == 1) return _mm512_zextsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_load_si256(reinterpret_cast<const __m256i*>(p0 + pstride)), 1);
}
template <int NP>
inline __m512i load2_i32(const int32_t* p0, size_t gstride) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0));
  if constexpr (NP == 1) return _mm512_zextsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + gstride)), 1);
}
template <int NP>
inline __m512 load2_f32(const float* p0, size_t gstride) {
  return _mm512_castsi512_ps(load2_i32<NP>(reinterpret_cast<const int32_t*>(p0), gstride));
}

// outlier_rows over NB * 16 rows: the sums stay in registers across the column's entries
template <int NB>
inline void outlier_block(const int16_t* at, size_t rs, const uint32_t* ks, const int8_t* vs, uint32_t e0, uint32_t e1,
                          int32_t* o) {
  __m512i acc[NB];
  for (int b = 0; b < NB; b++) acc[b] = _mm512_setzero_si512();
  for (uint32_t e = e0; e < e1; e++) {
    const int16_t* x = at + (size_t)ks[e] * rs;
    const __m512i v = _mm512_set1_epi32(vs[e]);
    for (int b = 0; b < NB; b++)
      acc[b] = _mm512_add_epi32(
          acc[b], _mm512_mullo_epi32(_mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16 * b))), v));
  }
  for (int b = 0; b < NB; b++) _mm512_storeu_si512(o + 16 * b, acc[b]);
}

// acc += lo * broadcast(p[0..3]) + hi * broadcast(p[4..7]) (u8 nibbles x s8 A), A straight from
// memory as an embedded broadcast. In asm: with the intrinsics GCC 12 copied the accumulator to
// another register and back around every pair (16 vector moves per 32 vpdpbusd in the 16-row tile).
inline void dot2(__m512i& acc, __m512i lo, __m512i hi, const uint8_t* p) {
  __asm__("vpdpbusd %[a0]%{1to16%}, %[lo], %[acc]\n\tvpdpbusd %[a1]%{1to16%}, %[hi], %[acc]"
          : [acc] "+v"(acc)
          : [lo] "v"(lo), [hi] "v"(hi), [a0] "m"(*reinterpret_cast<const int32_t*>(p)),
            [a1] "m"(*reinterpret_cast<const int32_t*>(p + 4)));
}

inline void dot1(__m512i& acc, __m512i u, const uint8_t* p) {
  __asm__("vpdpbusd %[a]%{1to16%}, %[u], %[acc]"
          : [acc] "+v"(acc)
          : [u] "v"(u), [a] "m"(*reinterpret_cast<const int32_t*>(p)));
}

struct Q4Avx512 : Q4X86<DotVnni> {
  // q4_driver.h's outlier contract, 64 rows per pass over a column (a zmm gather for the one-row
  // outlier_dot measured no faster than the scalar loop on Zen 4: not kept)
  static void outlier_rows(const int16_t* at, size_t rs, const uint32_t* ks, const int8_t* vs, uint32_t e0, uint32_t e1,
                           int32_t* o) {
    for (size_t i0 = 0; i0 < rs; i0 += 64) {
      switch ((rs - i0) / 16) {
        case 1: outlier_block<1>(at + i0, rs, ks, vs, e0, e1, o + i0); break;
        case 2: outlier_block<2>(at + i0, rs, ks, vs, e0, e1, o + i0); break;
        case 3: outlier_block<3>(at + i0, rs, ks, vs, e0, e1, o + i0); break;
        default: outlier_block<4>(at + i0, rs, ks, vs, e0, e1, o + i0); break;
      }
    }
  }

  static constexpr int kTileRows = 16, kTilePanels = 2, kGemvPanels = 8;
  // the largest tile height this kernel has, <= rows (rows >= 1; 1: the GEMV)
  static int tile_rows(size_t rows) { return rows >= 16 ? 16 : rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1; }

  // out[r * 16 + c] for c < 8 * NP: the q4_driver.h contract of panel, MR rows x NP panels
  template <int MR, int NP>
  __attribute__((noinline)) static void tile(const uint8_t* ap, size_t Kp, const int32_t* asum, const uint8_t* bp, size_t pstride,
                   const float* scales, const int32_t* qsum, size_t groups, size_t gch, int32_t zp, float* out) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    const __m512i vzp = _mm512_set1_epi32(zp);
    const size_t gstride = groups * kPanelN;
    for (int r = 0; r < MR; r++) _mm512_store_ps(out + r * 16, _mm512_setzero_ps());
    for (size_t g = 0; g < groups; g++) {
      const __m512i nzq = _mm512_sub_epi32(_mm512_setzero_si512(),
                                           _mm512_mullo_epi32(vzp, load2_i32<NP>(qsum + g * kPanelN, gstride)));
      // (named accumulators, rows >= MR compiled out: with an array GCC 12 copied every accumulator
      // to another register and back each chunk, 24 vector moves per 32 vpdpbusd)
#define LOWBIT_Q4_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define LOWBIT_Q4_INIT(r) \
  __m512i c##r = r < MR ? _mm512_sub_epi32(nzq, _mm512_set1_epi32(8 * asum[(r < MR ? r : 0) * groups + g])) : nzq;
      LOWBIT_Q4_ROWS(LOWBIT_Q4_INIT)
#undef LOWBIT_Q4_INIT
      const uint8_t* a = ap + g * gch * MR * kQ4ChunkK;
      const uint8_t* b = bp + g * gch * kQ4ChunkBytes;
      const uint8_t* const a_end = a + gch * MR * kQ4ChunkK;  // (gch >= 1: a group has >= 8 k)
      do {
        const __m512i x = load2<NP>(b, pstride);
        const __m512i lo = _mm512_and_si512(x, mask), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), mask);
#define LOWBIT_Q4_DOT(r) \
  if constexpr (r < MR) dot2(c##r, lo, hi, a + r * kQ4ChunkK);
        LOWBIT_Q4_ROWS(LOWBIT_Q4_DOT)
#undef LOWBIT_Q4_DOT
        a += MR * kQ4ChunkK;
        b += kQ4ChunkBytes;
      } while (a != a_end);
      const __m512 sc = load2_f32<NP>(scales + g * kPanelN, gstride);
#define LOWBIT_Q4_SUM(r)                                                                             \
  if constexpr (r < MR) {                                                                            \
    const __m512 f = _mm512_load_ps(out + r * 16);                                                   \
    _mm512_store_ps(out + r * 16, _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(c##r), sc)));   \
  }
      LOWBIT_Q4_ROWS(LOWBIT_Q4_SUM)
#undef LOWBIT_Q4_SUM
#undef LOWBIT_Q4_ROWS
    }
  }
  // One row, NP <= 8 panels (4 zmm of 16 columns): eight independent accumulator chains (the low
  // and high nibbles of each zmm apart) and the fp32 sums in registers, so the weight stream is the
  // limit rather than the latency of a chain (1 x 11008 x 4096 without outliers: 1.28 -> 1.45 of
  // the int8 GEMV, against the ymm four-panel kernel)
  template <int NP>
  static void gemv(const uint8_t* ap, const int32_t* asum, const uint8_t* bp, size_t pstride, const float* scales,
                   const int32_t* qsum, size_t groups, size_t gch, int32_t zp, float* out) {
    constexpr int NZ = (NP + 1) / 2;
    const __m512i mask = _mm512_set1_epi8(0x0F);
    const __m512i vzp = _mm512_set1_epi32(zp);
    const size_t gstride = groups * kPanelN;
    __m512 f[NZ];
    for (int z = 0; z < NZ; z++) f[z] = _mm512_setzero_ps();
    for (size_t g = 0; g < groups; g++) {
      __m512i lo_acc[NZ], hi_acc[NZ];
      const __m512i a8 = _mm512_set1_epi32(8 * asum[g]);
      for (int z = 0; z < NZ; z++) {
        const int32_t* q = qsum + 2 * z * gstride + g * kPanelN;
        const __m512i zq = _mm512_mullo_epi32(vzp, 2 * z + 1 < NP ? load2_i32<2>(q, gstride) : load2_i32<1>(q, gstride));
        lo_acc[z] = _mm512_sub_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), zq), a8);
        hi_acc[z] = _mm512_setzero_si512();
      }
      const uint8_t* a = ap + g * gch * kQ4ChunkK;
      const uint8_t* b = bp + g * gch * kQ4ChunkBytes;
      for (size_t t = 0; t < gch; t++, a += kQ4ChunkK, b += kQ4ChunkBytes) {
        for (int z = 0; z < NZ; z++) {
          const uint8_t* bz = b + 2 * z * pstride;
          const __m512i x = 2 * z + 1 < NP ? load2<2>(bz, pstride) : load2<1>(bz, pstride);
          dot1(lo_acc[z], _mm512_and_si512(x, mask), a);
          dot1(hi_acc[z], _mm512_and_si512(_mm512_srli_epi16(x, 4), mask), a + 4);
        }
      }
      for (int z = 0; z < NZ; z++) {
        const float* sp = scales + 2 * z * gstride + g * kPanelN;
        const __m512 sc = 2 * z + 1 < NP ? load2_f32<2>(sp, gstride) : load2_f32<1>(sp, gstride);
        const __m512i i = _mm512_add_epi32(lo_acc[z], hi_acc[z]);
        f[z] = _mm512_add_ps(f[z], _mm512_mul_ps(_mm512_cvtepi32_ps(i), sc));
      }
    }
    for (int z = 0; z < NZ; z++) _mm512_store_ps(out + 16 * z, f[z]);
  }
  static void call_tile(int mr, int np, const uint8_t* ap, size_t Kp, const int32_t* as, const uint8_t* bp, size_t ps,
                        const float* sc, const int32_t* qs, size_t groups, size_t gch, int32_t zp, float* f) {
#define LOWBIT_Q4_TILE(MR)                                                   \
  if (np == 2)                                                               \
    tile<MR, 2>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f);             \
  else                                                                       \
    tile<MR, 1>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f);
    if (mr == 1) {
      switch (np) {
        case 1: gemv<1>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 2: gemv<2>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 3: gemv<3>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 4: gemv<4>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 5: gemv<5>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 6: gemv<6>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        case 7: gemv<7>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
        default: gemv<8>(ap, as, bp, ps, sc, qs, groups, gch, zp, f); break;
      }
      return;
    }
    switch (mr) {
      case 16: LOWBIT_Q4_TILE(16) break;
      case 8: LOWBIT_Q4_TILE(8) break;
      case 4: LOWBIT_Q4_TILE(4) break;
      default: LOWBIT_Q4_TILE(2) break;
    }
#undef LOWBIT_Q4_TILE
  }
};

}  // namespace

void q4_gemm__avx512(const Q4Weights& w, const Q4Call& c, const Range& r) { q4_run<Q4Avx512>(w, c, r); }

}  // namespace gemm
}  // namespace lowbit

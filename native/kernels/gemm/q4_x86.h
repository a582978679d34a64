// The x86 4-bit panel kernel shared by AVX2 and AVX-512 (q4_driver.h's Traits), parameterized by
// the int8 dot step, which is all that differs: AVX2 vpmaddubsw + vpmaddwd, AVX-512 VNNI vpdpbusd.
// The nibbles are multiplied unsigned (u = q + 8 in [0, 15]: vpand, vpsrlw + vpand, no shift per
// nibble) and the group's 8 * sum(p) subtracted once per group and row, p = a - Dot::kAShift:
//   sum (a - zp) q = sum p u - 8 sum p - (zp - kAShift) sum q.
// Included by avx2_q4.cc and avx512_q4.cc only (each with its own -m flags; anonymous namespace).
#pragma once

#include <immintrin.h>

#include "kernels/gemm/q4_driver.h"

namespace lowbit {
namespace gemm {
namespace {

// Dot::two(acc, a, lo, hi) adds the dot products of two chunks (a[0], a[1]: k 0-3 and 4-7 of the
// first, a[2], a[3] of the second) with their low / high nibbles; Dot::one one chunk. Exact.
// q4_driver.h's outlier_rows over NB * 8 rows: the sums stay in registers across a column's
// entries (the plain loop kept them in memory: at 64 x 4096 x 4096 with 1% outliers on AVX-512 the
// 4-bit layer went from 0.79 to 0.85-0.88 of its speed without outliers)
template <int NB>
inline void q4_outlier_block_ymm(const int16_t* at, size_t rs, const uint32_t* ks, const int8_t* vs, uint32_t e0,
                                 uint32_t e1, int32_t* o) {
  __m256i acc[NB];
  for (int b = 0; b < NB; b++) acc[b] = _mm256_setzero_si256();
  for (uint32_t e = e0; e < e1; e++) {
    const int16_t* x = at + (size_t)ks[e] * rs;
    const __m256i v = _mm256_set1_epi32(vs[e]);
    for (int b = 0; b < NB; b++)
      acc[b] = _mm256_add_epi32(
          acc[b], _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 8 * b))), v));
  }
  for (int b = 0; b < NB; b++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 8 * b), acc[b]);
}

template <class Dot>
struct Q4X86 {
  static constexpr int kAShift = Dot::kAShift;
  // rows [0, rs) in passes of 32 (rs is a multiple of 16)
  static void outlier_rows(const int16_t* at, size_t rs, const uint32_t* ks, const int8_t* vs, uint32_t e0, uint32_t e1,
                           int32_t* o) {
    for (size_t i0 = 0; i0 < rs; i0 += 32) {
      if (rs - i0 >= 32)
        q4_outlier_block_ymm<4>(at + i0, rs, ks, vs, e0, e1, o + i0);
      else
        q4_outlier_block_ymm<2>(at + i0, rs, ks, vs, e0, e1, o + i0);
    }
  }
  // NP panels at once (GEMV: independent weight streams in flight), pstride bytes apart; their
  // scales and qsum groups * 8 apart; out[r * 8 * NP + p * 8 + c].
  template <int MR, int NP>
  static void panel(const uint8_t* ap, size_t Kp, const int32_t* asum, const uint8_t* bp, size_t pstride,
                    const float* scales, const int32_t* qsum, size_t groups, size_t gch, int32_t zp, float* out) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i vzp = _mm256_set1_epi32(zp);
    const size_t gstride = groups * kPanelN;
    __m256 f[MR][NP];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) f[r][p] = _mm256_setzero_ps();
    for (size_t g = 0; g < groups; g++) {
      // Dot::kSplit (VNNI, 32 registers): the second chunk of a pair goes to acc2, so that each
      // accumulator's chain of dependent vpdpbusd is 2 long per pair instead of 4 (the kernel was
      // latency-bound at 4 rows x 1 panel; measured at M = 64: 97 -> 131 GOPS in one run, within this
      // machine's noise in another)
      __m256i acc[MR][NP], acc2[MR][NP];
      for (int r = 0; r < MR; r++)
        for (int p = 0; p < NP; p++) acc[r][p] = acc2[r][p] = _mm256_setzero_si256();
      const size_t t0 = g * gch, t1 = (g + 1) * gch;
      size_t t = t0;
      for (; t + 2 <= t1; t += 2) {
        for (int p = 0; p < NP; p++) {
          const uint8_t* b = bp + p * pstride + t * kQ4ChunkBytes;
          const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
          const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + kQ4ChunkBytes));
          const __m256i lo0 = _mm256_and_si256(x0, mask), hi0 = _mm256_and_si256(_mm256_srli_epi16(x0, 4), mask);
          const __m256i lo1 = _mm256_and_si256(x1, mask), hi1 = _mm256_and_si256(_mm256_srli_epi16(x1, 4), mask);
          for (int r = 0; r < MR; r++) {
            int32_t v[4];
            std::memcpy(v, ap + r * Kp + t * kQ4ChunkK, 16);
            if constexpr (Dot::kSplit) {
              acc[r][p] = Dot::one(acc[r][p], _mm256_set1_epi32(v[0]), _mm256_set1_epi32(v[1]), lo0, hi0);
              acc2[r][p] = Dot::one(acc2[r][p], _mm256_set1_epi32(v[2]), _mm256_set1_epi32(v[3]), lo1, hi1);
            } else {
              acc[r][p] = Dot::two(acc[r][p], _mm256_set1_epi32(v[0]), _mm256_set1_epi32(v[1]), _mm256_set1_epi32(v[2]),
                                   _mm256_set1_epi32(v[3]), lo0, hi0, lo1, hi1);
            }
          }
        }
      }
      if (t < t1) {  // an odd chunk count (per-channel groups)
        for (int p = 0; p < NP; p++) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + p * pstride + t * kQ4ChunkBytes));
          const __m256i lo = _mm256_and_si256(x, mask), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
          for (int r = 0; r < MR; r++) {
            int32_t v[2];
            std::memcpy(v, ap + r * Kp + t * kQ4ChunkK, 8);
            acc[r][p] = Dot::one(acc[r][p], _mm256_set1_epi32(v[0]), _mm256_set1_epi32(v[1]), lo, hi);
          }
        }
      }
      if constexpr (Dot::kSplit)
        for (int r = 0; r < MR; r++)
          for (int p = 0; p < NP; p++) acc[r][p] = _mm256_add_epi32(acc[r][p], acc2[r][p]);
      for (int p = 0; p < NP; p++) {
        const __m256i zq =
            _mm256_mullo_epi32(vzp, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qsum + p * gstride + g * kPanelN)));
        const __m256 sc = _mm256_loadu_ps(scales + p * gstride + g * kPanelN);
        for (int r = 0; r < MR; r++) {
          const __m256i a8 = _mm256_set1_epi32(8 * asum[r * groups + g]);
          const __m256i i = _mm256_sub_epi32(_mm256_sub_epi32(acc[r][p], a8), zq);
          f[r][p] = _mm256_add_ps(f[r][p], _mm256_mul_ps(_mm256_cvtepi32_ps(i), sc));
        }
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) _mm256_store_ps(out + (r * NP + p) * kPanelN, f[r][p]);
  }
};

}  // namespace
}  // namespace gemm
}  // namespace lowbit

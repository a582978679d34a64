// The x86 4-bit panel kernel shared by AVX2 and AVX-512 (q4_driver.h's Traits), parameterized by
// the int8 dot step, which is all that differs: AVX2 vpmaddubsw + vpmaddwd, AVX-512 VNNI vpdpbusd.
// Included by avx2_q4.cc and avx512_q4.cc only (each with its own -m flags; anonymous namespace).
#pragma once

#include <immintrin.h>

#include "kernels/gemm/q4_driver.h"

namespace lowbit {
namespace gemm {
namespace {

// Dot::step(acc, a0, a1, lo, hi): acc + the four-k dot products of a0 (k 0-3 of each column) with
// lo and of a1 (k 4-7) with hi, per column, exactly (int32 lanes = the panel's 8 columns).
template <class Dot>
struct Q4X86 {
  static constexpr int kAShift = 0;
  template <int MR>
  static void panel(const uint8_t* ap, size_t Kp, const uint8_t* bp, const float* scales, const int32_t* qsum,
                    size_t groups, size_t gch, int32_t zp, float* out) {
    const __m256i mask = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    const __m256i vzp = _mm256_set1_epi32(zp);
    __m256 f[MR];
    for (int r = 0; r < MR; r++) f[r] = _mm256_setzero_ps();
    for (size_t g = 0; g < groups; g++) {
      __m256i acc[MR];
      for (int r = 0; r < MR; r++) acc[r] = _mm256_setzero_si256();
      for (size_t t = g * gch; t < (g + 1) * gch; t++) {
        const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + t * kQ4ChunkBytes));
        const __m256i lo = _mm256_sub_epi8(_mm256_and_si256(x, mask), eight);
        const __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(x, 4), mask), eight);
        for (int r = 0; r < MR; r++) {
          int32_t a0, a1;
          std::memcpy(&a0, ap + r * Kp + t * kQ4ChunkK, 4);
          std::memcpy(&a1, ap + r * Kp + t * kQ4ChunkK + 4, 4);
          acc[r] = Dot::step(acc[r], _mm256_set1_epi32(a0), _mm256_set1_epi32(a1), lo, hi);
        }
      }
      const __m256i zq = _mm256_mullo_epi32(vzp, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qsum + g * kPanelN)));
      const __m256 sc = _mm256_loadu_ps(scales + g * kPanelN);
      for (int r = 0; r < MR; r++)
        f[r] = _mm256_add_ps(f[r], _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r], zq)), sc));
    }
    for (int r = 0; r < MR; r++) _mm256_store_ps(out + r * kPanelN, f[r]);
  }
};

}  // namespace
}  // namespace gemm
}  // namespace lowbit

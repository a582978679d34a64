// What the x86 sparse FC kernels share: the 8x8 int32 transpose that packs X tiles and turns their
// per-channel results into the epilogue's [row][channel] tile, and the one-row kernel (at high
// sparsity a row has a few blocks, where a 16-lane gather's fixed cost lost to it: 1.6 vs 0.4 us
// for 256 x 512 at 98%). Include after <immintrin.h> and impl.h; an
// anonymous namespace, so that each ISA's translation unit keeps its own copy (compiled with its
// flags: a shared inline copy could be the AVX-512 one on an AVX2 CPU).
#pragma once

#include "kernels/gemm/epilogue_avx2.h"
#include "kernels/sparse_fc/impl.h"

namespace lowbit {
namespace sparse_fc {
namespace {

// In place: r[i] holds row i of an 8x8 int32 matrix; afterwards r[i] holds column i.
inline void transpose8x8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int h = 0; h < 2; h++) {
    t[4 * h + 0] = _mm256_unpacklo_epi32(r[4 * h + 0], r[4 * h + 1]);
    t[4 * h + 1] = _mm256_unpackhi_epi32(r[4 * h + 0], r[4 * h + 1]);
    t[4 * h + 2] = _mm256_unpacklo_epi32(r[4 * h + 2], r[4 * h + 3]);
    t[4 * h + 3] = _mm256_unpackhi_epi32(r[4 * h + 2], r[4 * h + 3]);
    u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x31);
  }
}

inline int32_t load_w4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// One row: X widened to int16 (x16, k_groups * 4 entries, zero past K); 4 blocks per vpmaddwd.
inline int32_t row1(const SparseFcInt8Weights& w, size_t n, const int16_t* x16) {
  const uint32_t* kg = w.kg.data();
  const int8_t* wb = w.w.data();
  uint32_t b = w.row_ptr[n];
  const uint32_t e = w.row_ptr[n + 1];
  __m256i acc = _mm256_setzero_si256();
  auto q = [&](uint32_t i) { return reinterpret_cast<const double*>(x16 + (size_t)kg[i] * 4); };
  for (; b + 4 <= e; b += 4) {
    const __m128i lo = _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(q(b)), q(b + 1)));
    const __m128i hi = _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(q(b + 2)), q(b + 3)));
    const __m256i xv = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + (size_t)b * 4)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv));
  }
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  uint32_t sum = (uint32_t)_mm_cvtsi128_si32(s);
  for (; b < e; b++)
    for (size_t i = 0; i < kBlockK; i++)
      sum += (uint32_t)((int32_t)x16[(size_t)kg[b] * 4 + i] * (int32_t)wb[(size_t)b * 4 + i]);
  return (int32_t)sum;
}

// One row of X (xr, K bytes) for the channels [n0, n1): widened to int16 in x16 (k_groups * 4
// entries), then 64 channels at a time through the GEMM's AVX2 epilogue.
inline void run_row1(const SparseFcInt8Weights& w, const uint8_t* xr, int16_t* x16, const Window& win, size_t n0,
                     size_t n1, const gemm::Output& out, uint8_t* dst, size_t esz) {
  for (size_t k = 0; k < w.k_groups * kBlockK; k++) x16[k] = k < w.K ? xr[k] : 0;
  alignas(32) int32_t tile[kNC];
  for (size_t c0 = n0; c0 < n1; c0 += kNC) {
    const size_t cnt = gemm::dmin(kNC, n1 - c0);
    for (size_t i = 0; i < cnt; i++) tile[i] = row1(w, c0 + i, x16);
    for (size_t i = cnt; i < gemm::round_up(cnt, 8); i++) tile[i] = 0;
    gemm::epilogue_tile_avx2(tile, kNC, 1, nullptr, chunk_params(win, c0 - n0), out, 0, cnt, dst + (c0 - n0) * esz,
                             out.ldc * esz);
  }
}

}  // namespace
}  // namespace sparse_fc
}  // namespace lowbit

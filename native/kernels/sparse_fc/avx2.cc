// AVX2 sparse FC, int8 (README.md: "AVX2"). Tiles of 8 rows of X, packed per call as
// [k group][row][4 k]; each nonzero 1x4 block is one broadcast of its 4 weights against one 32-byte
// (uint8, vpmaddubsw, only when the weights are proven safe) or two 32-byte (int16, vpmaddwd,
// always exact) loads of the tile. A single remaining row runs a 4-blocks-per-vpmaddwd kernel.
#include <immintrin.h>

#include "kernels/gemm/epilogue_avx2.h"
#include "kernels/sparse_fc/impl.h"
#include "kernels/sparse_fc/x86_shared.h"

namespace lowbit {
namespace sparse_fc {
namespace {

using gemm::Output;

// Packs rows [0, mr) of X (zeros for rows >= mr and k >= K) as [g][row][4]: uint8 (x8) or int16 (x16).
template <bool kFast>
void pack_tile(const uint8_t* x, size_t ldx, size_t mr, size_t K, size_t G, void* dst) {
  uint8_t* d8 = static_cast<uint8_t*>(dst);
  int16_t* d16 = static_cast<int16_t*>(dst);
  size_t g = 0;
  if (mr == kMR) {
    for (; (g + 8) * kBlockK <= K; g += 8) {  // 8 groups x 8 rows: one 8x8 transpose of int32
      __m256i r[8];
      for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * ldx + g * kBlockK));
      transpose8x8(r);
      for (int c = 0; c < 8; c++) {
        if (kFast) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d8 + (g + c) * 32), r[c]);
        } else {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d16 + (g + c) * 32),
                              _mm256_cvtepu8_epi16(_mm256_castsi256_si128(r[c])));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d16 + (g + c) * 32 + 16),
                              _mm256_cvtepu8_epi16(_mm256_extracti128_si256(r[c], 1)));
        }
      }
    }
  }
  for (; g < G; g++)
    for (size_t r = 0; r < kMR; r++)
      for (size_t i = 0; i < kBlockK; i++) {
        const size_t k = g * kBlockK + i;
        const uint8_t v = r < mr && k < K ? x[r * ldx + k] : 0;
        if (kFast)
          d8[(g * kMR + r) * kBlockK + i] = v;
        else
          d16[(g * kMR + r) * kBlockK + i] = v;
      }
}

// sum over the blocks of row n of X * W for the 8 rows of the tile: lane r = row r (mod 2^32).
template <bool kFast>
inline __m256i column8(const SparseFcInt8Weights& w, size_t n, const void* xp) {
  const uint32_t* kg = w.kg.data();
  const int8_t* wb = w.w.data();
  uint32_t b = w.row_ptr[n];
  const uint32_t e = w.row_ptr[n + 1];
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  if (kFast) {
    // vpmaddubsw: u8 x s8 pairs into int16, cannot saturate (maddubs_safe); vpmaddwd by 1 sums the
    // two pairs of a row into its int32 lane.
    const uint8_t* x8 = static_cast<const uint8_t*>(xp);
    const __m256i ones = _mm256_set1_epi16(1);
    for (; b + 2 <= e; b += 2) {
      const __m256i p0 = _mm256_maddubs_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x8 + (size_t)kg[b] * 32)),
          _mm256_set1_epi32(load_w4(wb + (size_t)b * 4)));
      const __m256i p1 = _mm256_maddubs_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x8 + (size_t)kg[b + 1] * 32)),
          _mm256_set1_epi32(load_w4(wb + (size_t)b * 4 + 4)));
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
      a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(p1, ones));
    }
    if (b < e) {
      const __m256i p0 = _mm256_maddubs_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x8 + (size_t)kg[b] * 32)),
          _mm256_set1_epi32(load_w4(wb + (size_t)b * 4)));
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
    }
    return _mm256_add_epi32(a0, a1);
  }
  // vpmaddwd on int16: rows 0-3 in a0, rows 4-7 in a1, two pair sums per row.
  const int16_t* x16 = static_cast<const int16_t*>(xp);
  for (; b < e; b++) {
    const __m256i wv = _mm256_cvtepi8_epi16(_mm_set1_epi32(load_w4(wb + (size_t)b * 4)));
    const int16_t* xg = x16 + (size_t)kg[b] * 32;
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xg)), wv));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xg + 16)), wv));
  }
  // [r0 r1 r4 r5 | r2 r3 r6 r7] -> r0..r7
  return _mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xD8);
}

template <bool kFast>
void run_tile(const SparseFcInt8Weights& w, const void* xp, size_t mr, const Window& win, size_t n0, size_t n1,
              const Output& out, uint8_t* dst_row0, size_t esz) {
  alignas(32) int32_t tt[kNC * kMR];  // [column][row]
  alignas(32) int32_t tile[kMR * kNC];  // [row][column]
  for (size_t c0 = n0; c0 < n1; c0 += kNC) {
    const size_t cnt = gemm::dmin(kNC, n1 - c0), cnt8 = gemm::round_up(cnt, 8);
    for (size_t i = 0; i < cnt; i++)
      _mm256_store_si256(reinterpret_cast<__m256i*>(tt + i * kMR), column8<kFast>(w, c0 + i, xp));
    for (size_t i = cnt; i < cnt8; i++) _mm256_store_si256(reinterpret_cast<__m256i*>(tt + i * kMR), _mm256_setzero_si256());
    for (size_t i0 = 0; i0 < cnt8; i0 += 8) {
      __m256i r[8];
      for (int i = 0; i < 8; i++) r[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(tt + (i0 + i) * kMR));
      transpose8x8(r);
      for (int i = 0; i < 8; i++) _mm256_store_si256(reinterpret_cast<__m256i*>(tile + i * kNC + i0), r[i]);
    }
    gemm::epilogue_tile_avx2(tile, kNC, (int)mr, nullptr, chunk_params(win, c0 - n0), out, 0, cnt,
                             dst_row0 + (c0 - n0) * esz, out.ldc * esz);
  }
}

}  // namespace

void sparse_fc_u8s8__avx2(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M, int32_t x_zp,
                          const Output& out, size_t n_begin, size_t n_end) {
  const size_t n0 = n_begin, n1 = gemm::dmin(n_end, w.N);
  if (n0 >= n1 || M == 0) return;
  const size_t K = w.K, G = w.k_groups, esz = gemm::out_elem_size(out.type);
  const bool fast = w.maddubs_safe;
  Window win;
  void* xp = call_scratch(w, x_zp, out, n0, n1, G * kMR * kBlockK * 2, &win);
  PathCounters& pc = path_counters();
  for (size_t j0 = 0; j0 < M; j0 += kMR) {
    const size_t mr = gemm::dmin(kMR, M - j0);
    const uint8_t* xr = x + j0 * ldx;
    uint8_t* dst = static_cast<uint8_t*>(out.c) + (j0 * out.ldc + n0) * esz;
    if (mr == 1) {
      run_row1(w, xr, static_cast<int16_t*>(xp), win, n0, n1, out, dst, esz);
      pc.exact_tiles++;
    } else if (fast) {
      pack_tile<true>(xr, ldx, mr, K, G, xp);
      run_tile<true>(w, xp, mr, win, n0, n1, out, dst, esz);
      pc.fast_tiles++;
    } else {
      pack_tile<false>(xr, ldx, mr, K, G, xp);
      run_tile<false>(w, xp, mr, win, n0, n1, out, dst, esz);
      pc.exact_tiles++;
    }
  }
}

}  // namespace sparse_fc
}  // namespace lowbit

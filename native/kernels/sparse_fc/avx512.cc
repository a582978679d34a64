// AVX-512 VNNI sparse FC, int8 (README.md: "AVX-512 VNNI"). Tiles of 16 rows of X, packed per call
// as [k group][row][4 k] (64 bytes per group); each nonzero 1x4 block is one vpdpbusd of its 4
// weights (broadcast) against the group's 64 bytes. vpdpbusd sums the four u8 x s8 products in
// int32 with no int16 step, so it is exact for any weights: no maddubs_safe split as on AVX2. One
// remaining row: the AVX2 one-row kernel (x86_shared.h), whose short per-row setup suits rows of a
// few blocks better than 16-block gathers did.
#include <immintrin.h>

#include "kernels/gemm/epilogue_avx2.h"
#include "kernels/sparse_fc/impl.h"
#include "kernels/sparse_fc/x86_shared.h"

namespace lowbit {
namespace sparse_fc {
namespace {

using gemm::Output;

constexpr size_t kMR16 = 16;  // rows of X per tile (the 16 int32 lanes of a zmm)
alignas(32) const uint8_t kZeroRow[32] = {0};

// Packs rows [0, mr) of X (zeros for rows >= mr and k >= K) as [g][row 0..15][4] uint8. Rows past
// mr read a zero vector, so a partial tile takes the transposing loop as a full one does.
void pack_tile16(const uint8_t* x, size_t ldx, size_t mr, size_t K, size_t G, uint8_t* d) {
  const uint8_t* row[kMR16];
  size_t step[kMR16];
  for (size_t r = 0; r < kMR16; r++) {
    row[r] = r < mr ? x + r * ldx : kZeroRow;
    step[r] = r < mr ? 8 * kBlockK : 0;
  }
  size_t g = 0;
  for (; (g + 8) * kBlockK <= K; g += 8) {  // 8 groups x 16 rows: two 8x8 transposes of int32
    for (size_t h = 0; h < 2; h++) {
      __m256i r[8];
      for (size_t i = 0; i < 8; i++) {
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[8 * h + i]));
        row[8 * h + i] += step[8 * h + i];
      }
      transpose8x8(r);
      for (size_t c = 0; c < 8; c++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + (g + c) * 64 + 32 * h), r[c]);
    }
  }
  for (; g < G; g++)
    for (size_t r = 0; r < kMR16; r++)
      for (size_t i = 0; i < kBlockK; i++) {
        const size_t k = g * kBlockK + i;
        d[(g * kMR16 + r) * kBlockK + i] = r < mr && k < K ? x[r * ldx + k] : 0;
      }
}

inline __m512i dot_block(__m512i acc, const uint8_t* x8, uint32_t kg, const int8_t* w4) {
  return _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x8 + (size_t)kg * 64), _mm512_set1_epi32(load_w4(w4)));
}

// sum over the blocks of row n of X * W for the 16 rows of the tile: lane r = row r (mod 2^32).
// Four accumulators: vpdpbusd's latency (4-5 cycles) would otherwise bound a row's block chain.
inline __m512i column16(const SparseFcInt8Weights& w, size_t n, const uint8_t* x8) {
  const uint32_t* kg = w.kg.data();
  const int8_t* wb = w.w.data();
  uint32_t b = w.row_ptr[n];
  const uint32_t e = w.row_ptr[n + 1];
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(),
          a3 = _mm512_setzero_si512();
  for (; b + 4 <= e; b += 4) {
    a0 = dot_block(a0, x8, kg[b], wb + (size_t)b * 4);
    a1 = dot_block(a1, x8, kg[b + 1], wb + (size_t)b * 4 + 4);
    a2 = dot_block(a2, x8, kg[b + 2], wb + (size_t)b * 4 + 8);
    a3 = dot_block(a3, x8, kg[b + 3], wb + (size_t)b * 4 + 12);
  }
  if (b < e) a0 = dot_block(a0, x8, kg[b], wb + (size_t)b * 4);
  if (b + 1 < e) a1 = dot_block(a1, x8, kg[b + 1], wb + (size_t)b * 4 + 4);
  if (b + 2 < e) a2 = dot_block(a2, x8, kg[b + 2], wb + (size_t)b * 4 + 8);
  return _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
}

void run_tile16(const SparseFcInt8Weights& w, const uint8_t* x8, size_t mr, const Window& win, size_t n0, size_t n1,
                const Output& out, uint8_t* dst_row0, size_t esz) {
  alignas(64) int32_t tt[kNC * kMR16];    // [column][row]
  alignas(64) int32_t tile[kMR16 * kNC];  // [row][column]
  const size_t halves = mr > 8 ? 2 : 1;
  for (size_t c0 = n0; c0 < n1; c0 += kNC) {
    const size_t cnt = gemm::dmin(kNC, n1 - c0), cnt8 = gemm::round_up(cnt, 8);
    for (size_t i = 0; i < cnt; i++) _mm512_store_si512(tt + i * kMR16, column16(w, c0 + i, x8));
    for (size_t i = cnt; i < cnt8; i++) _mm512_store_si512(tt + i * kMR16, _mm512_setzero_si512());
    for (size_t i0 = 0; i0 < cnt8; i0 += 8)
      for (size_t h = 0; h < halves; h++) {
        __m256i r[8];
        for (size_t i = 0; i < 8; i++) r[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(tt + (i0 + i) * kMR16 + 8 * h));
        transpose8x8(r);
        for (size_t i = 0; i < 8; i++) _mm256_store_si256(reinterpret_cast<__m256i*>(tile + (8 * h + i) * kNC + i0), r[i]);
      }
    gemm::epilogue_tile_avx2(tile, kNC, (int)mr, nullptr, chunk_params(win, c0 - n0), out, 0, cnt,
                             dst_row0 + (c0 - n0) * esz, out.ldc * esz);
  }
}

}  // namespace

void sparse_fc_u8s8__avx512(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M, int32_t x_zp,
                            const Output& out, size_t n_begin, size_t n_end) {
  const size_t n0 = n_begin, n1 = gemm::dmin(n_end, w.N);
  if (n0 >= n1 || M == 0) return;
  const size_t K = w.K, G = w.k_groups, esz = gemm::out_elem_size(out.type);
  Window win;
  uint8_t* xp = call_scratch(w, x_zp, out, n0, n1, G * kMR16 * kBlockK, &win);
  PathCounters& pc = path_counters();
  for (size_t j0 = 0; j0 < M; j0 += kMR16) {
    const size_t mr = gemm::dmin(kMR16, M - j0);
    const uint8_t* xr = x + j0 * ldx;
    uint8_t* dst = static_cast<uint8_t*>(out.c) + (j0 * out.ldc + n0) * esz;
    if (mr == 1) {
      run_row1(w, xr, reinterpret_cast<int16_t*>(xp), win, n0, n1, out, dst, esz);
    } else {
      pack_tile16(xr, ldx, mr, K, G, xp);
      run_tile16(w, xp, mr, win, n0, n1, out, dst, esz);
    }
    pc.vnni_tiles++;
  }
}

}  // namespace sparse_fc
}  // namespace lowbit

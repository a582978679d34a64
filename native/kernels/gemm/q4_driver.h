// The 4-bit GEMM driver shared by the SIMD kernels (q4.h): A rows copied once per call into a
// zero-padded buffer (K padded to the groups), then for each 8-column panel of the range (or pair of
// panels, for an ISA with a tile kernel) and each tile of up to 4 rows (16 with a tile kernel) the
// ISA's kernel (the groups' int32 sums scaled into fp32), then the outliers and the output in
// scalar code, in the fp32 order of q4.h.
//
// Loop order: panels outside, row tiles inside, so that a panel (Kp / 2 bytes per column group,
// 16 KiB at K = 4096) stays in L1/L2 while every row tile reads it; A (M x Kp bytes) stays in L2.
// Included by exactly one .cc per ISA, in an anonymous namespace and without std:: templates for
// the reason driver.h states (per-ISA -m flags).
//
// Traits T provide:
//   static constexpr int kAShift;   // 0: A packed as is (u8 x s8 instructions); 128: A - 128 (s8 x s8)
//   template <int MR> static void panel(const uint8_t* ap, size_t Kp, const int32_t* asum,
//       const uint8_t* bp, const float* scales, const int32_t* qsum, size_t groups, size_t group_chunks,
//       int32_t zp_eff, float* f /* MR x 8 */);
//     f[r * 8 + c] = sum_g float(sum_{k in g} p[r][k] * q[k][c] - zp_eff * qsum[g][c]) * scales[g][c],
//     accumulated in that order from 0 (p = packed A, zp_eff = a_zp - kAShift). asum[r * groups + g]
//     = sum_{k in g} p[r][k], for kernels that multiply the unsigned nibbles q + 8 and subtract
//     8 * asum (one instruction less per 8 k than shifting every nibble).
//   Optionally (announced by kTileRows) a tile kernel that replaces panel for every row count:
//   static int tile_rows(size_t rows);  // the tile height to use for `rows` remaining (<= rows)
//   static void call_tile(int mr, int np, ...same as panel...);  // mr rows x np panels, np <=
//     kTilePanels (mr > 1) or kGemvPanels (mr = 1), f[r * 8 * those + c]; A as
//     [chunk][mr rows][8 k] (ap[(t * mr + r) * 8 + j])
#pragma once

#include <type_traits>

#include <cstring>

#include "cpu/scratch.h"
#include "kernels/gemm/q4.h"

namespace lowbit {
namespace gemm {
namespace {

inline Scratch& q4_scratch() {
  static thread_local Scratch s;
  return s;
}

template <class T>
void q4_call_panel(int mr, int np, const uint8_t* ap, size_t Kp, const int32_t* as, const uint8_t* bp, size_t ps,
                   const float* sc, const int32_t* qs, size_t groups, size_t gch, int32_t zp, float* f) {
  if (np == 4) {
    T::template panel<1, 4>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f);
    return;
  }
  switch (mr) {
    case 1: T::template panel<1, 1>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f); break;
    case 2: T::template panel<2, 1>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f); break;
    case 3: T::template panel<3, 1>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f); break;
    default: T::template panel<4, 1>(ap, Kp, as, bp, ps, sc, qs, groups, gch, zp, f); break;
  }
}

template <class T, class = void>
struct Q4TileOf {
  static constexpr bool has = false;
  static constexpr int panels = 1, gemv_panels = 4;
};
template <class T>
struct Q4TileOf<T, std::void_t<decltype(T::kTileRows)>> {
  static constexpr bool has = true;
  static constexpr int panels = T::kTilePanels;
  static constexpr int gemv_panels = T::kGemvPanels;
};

// The outlier sums: one row (a32[k] = A[k] - a_zp) against entries [e0, e1) of a column, or rows
// [0, rs) of the transposed activations (at[k * rs + i], rs a multiple of 16) into o[0, rs). Plain
// loops unless the traits have their own (T::outlier_dot / T::outlier_rows, same contracts).
template <class T, class = void>
struct HasOutlierDot : std::false_type {};
template <class T>
struct HasOutlierDot<T, std::void_t<decltype(&T::outlier_dot)>> : std::true_type {};
template <class T, class = void>
struct HasOutlierRows : std::false_type {};
template <class T>
struct HasOutlierRows<T, std::void_t<decltype(&T::outlier_rows)>> : std::true_type {};

template <class T>
inline int32_t q4_outlier_dot(const int32_t* a32, const uint32_t* ks, const int8_t* vs, uint32_t e0, uint32_t e1) {
  if constexpr (HasOutlierDot<T>::value) return T::outlier_dot(a32, ks, vs, e0, e1);
  uint32_t u = 0;  // (modulo 2^32: the sum is small, but the loop vectorizes unsigned)
  for (uint32_t e = e0; e < e1; e++) u += (uint32_t)(a32[ks[e]] * (int32_t)vs[e]);
  return (int32_t)u;
}
template <class T>
inline void q4_outlier_rows(const int16_t* at, size_t rs, const uint32_t* ks, const int8_t* vs, uint32_t e0,
                            uint32_t e1, int32_t* o) {
  if constexpr (HasOutlierRows<T>::value) {
    T::outlier_rows(at, rs, ks, vs, e0, e1, o);
    return;
  }
  uint32_t* u = reinterpret_cast<uint32_t*>(o);
  for (size_t i = 0; i < rs; i++) u[i] = 0;
  for (uint32_t e = e0; e < e1; e++) {
    const int16_t* x = at + (size_t)ks[e] * rs;
    const int32_t v = vs[e];
    for (size_t i = 0; i < rs; i++) u[i] += (uint32_t)((int32_t)x[i] * v);
  }
}

template <class T>
void q4_run(const Q4Weights& w, const Q4Call& c, const Range& r) {
  const size_t n0 = r.n_begin, n1 = r.n_end < w.N ? r.n_end : w.N;
  const size_t m0 = r.m_begin, m1 = r.m_end;
  if (n0 >= n1 || m0 >= m1) return;
  const size_t rows = m1 - m0, Kp = w.Kp, K = w.K, chunks = w.chunks();
  const size_t abytes = (rows * Kp + 63) / 64 * 64;
  // the outliers, vectorized over rows when there are 8 or more (as the int8 residual, driver.h):
  // at[k * rs + i] = A[i][k] - a_zp as int16, then per panel and column, osum[j * rs + i] =
  // sum over the column's outliers of at[k] * v (each ISA's compiler flags vectorize the loops)
  const bool vec_out = rows >= 8 && !w.out_v.empty();
  const size_t rs = (rows + 15) / 16 * 16;
  const size_t sbytes = (rows * w.groups * 4 + 63) / 64 * 64;
  // below 8 rows: each row's A - a_zp as int32 (the outlier sums then gather 32-bit values)
  const bool row_out = !vec_out && !w.out_v.empty();
  const size_t tbytes = vec_out ? (K * rs * 2 + 63) / 64 * 64 : row_out ? (rows * K * 4 + 63) / 64 * 64 : 0;
  constexpr int kTP = Q4TileOf<T>::panels;  // the tile kernel's panels per call (the GEMV: kGP)
  const bool use_tile = Q4TileOf<T>::has;
  const size_t nw = n1 - n0;  // the columns of the range
  const size_t obytes = vec_out ? kTP * kPanelN * rs * 4 : row_out ? (rows * nw * 4 + 63) / 64 * 64 : 0;
  uint8_t* ap = q4_scratch().get(abytes + sbytes + tbytes + obytes + (use_tile ? abytes : 0) + 64);
  int32_t* a32 = reinterpret_cast<int32_t*>(ap + abytes + sbytes);
  if (row_out)
    for (size_t i = 0; i < rows; i++) {
      const uint8_t* src = c.a + (m0 + i) * c.lda;
      for (size_t k = 0; k < K; k++) a32[i * K + k] = (int32_t)src[k] - c.a_zp;
    }
  int32_t* asum = reinterpret_cast<int32_t*>(ap + abytes);
  int16_t* at = reinterpret_cast<int16_t*>(ap + abytes + sbytes);
  int32_t* osum = reinterpret_cast<int32_t*>(ap + abytes + sbytes + tbytes);
  // below 8 rows, every column's outlier sums in one pass before the 4-bit kernel, while a32 stays
  // in L1 (interleaved with the weight stream, each lookup missed L1: 1x4096x4096 at 1% ran at
  // 0.55-0.66 of the speed without outliers)
  if (row_out)
    for (size_t i = 0; i < rows; i++)
      for (size_t n = n0; n < n1; n++)
        osum[i * nw + (n - n0)] =
            q4_outlier_dot<T>(a32 + i * K, w.out_k.data(), w.out_v.data(), w.out_start[n], w.out_start[n + 1]);
  if (vec_out) {
    for (size_t kb = 0; kb < K; kb += 64) {  // blocks of 64 k: the destination lines stay in L1
      const size_t ke = kb + 64 < K ? kb + 64 : K;
      for (size_t i = 0; i < rows; i++) {
        const uint8_t* src = c.a + (m0 + i) * c.lda;
        for (size_t k = kb; k < ke; k++) at[k * rs + i] = (int16_t)((int32_t)src[k] - c.a_zp);
      }
      for (size_t k = kb; k < ke; k++)
        for (size_t i = rows; i < rs; i++) at[k * rs + i] = 0;
    }
  }
  for (size_t i = 0; i < rows; i++) {
    uint8_t* d = ap + i * Kp;
    std::memcpy(d, c.a + (m0 + i) * c.lda, K);
    std::memset(d + K, 0, Kp - K);
    if (T::kAShift)
      for (size_t k = 0; k < Kp; k++) d[k] = (uint8_t)(d[k] ^ 0x80);  // a - 128 as int8 (0 padding -> -128: see below)
    for (size_t g = 0; g < w.groups; g++) {
      int32_t s = 0;
      for (size_t k = g * w.group; k < (g + 1) * w.group; k++) s += T::kAShift ? (int32_t)(int8_t)d[k] : (int32_t)d[k];
      asum[i * w.groups + g] = s;
    }
  }
  // (with kAShift the padding holds -128, multiplied by the padding weights, which are 0)
  // The tile kernel reads A tile by tile as [chunk][row][8 k] (one pointer for all its rows): the
  // tile of rows t..t+mr-1 at apt + t * Kp.
  uint8_t* apt = ap + abytes + sbytes + tbytes + obytes;
  if constexpr (Q4TileOf<T>::has) {
    if (use_tile)
      for (size_t t = 0; t < rows;) {
        const size_t mr = (size_t)T::tile_rows(rows - t);
        for (size_t i = 0; i < mr; i++)
          for (size_t ch = 0; ch < chunks; ch++)
            std::memcpy(apt + t * Kp + (ch * mr + i) * kQ4ChunkK, ap + (t + i) * Kp + ch * kQ4ChunkK, kQ4ChunkK);
        t += mr;
      }
  }
  const int32_t zp_eff = c.a_zp - T::kAShift;
  const size_t p0 = n0 / kPanelN, p1 = (n1 + kPanelN - 1) / kPanelN;
  // tiles: MR x 8 (4 rows), 1 x 32 (GEMV), or the tile kernel's 16 rows x 8 * kTP or 1 x 8 * kGP
  constexpr int kGP = Q4TileOf<T>::gemv_panels;
  alignas(64) float f[(Q4TileOf<T>::has ? (16 * kTP > kGP ? 16 * kTP : kGP) : 4) * kPanelN];
  const size_t pstride = chunks * kQ4ChunkBytes, gstride = w.groups * kPanelN;
  // the tile kernel's panels and rows per call; else for one row (GEMV) 4 panels per call (4 weight
  // streams in flight), and for more one panel and tiles of 4 rows
  for (size_t p = p0; p < p1;) {
    const size_t tp = rows == 1 ? (size_t)kGP : (size_t)kTP;  // the tile kernel's panels per call
    const int np = use_tile ? (int)(p1 - p < tp ? p1 - p : tp) : rows == 1 ? (p + 4 <= p1 ? 4 : 1) : 1;
    const uint8_t* bp = w.data.data() + p * pstride;
    const float* sc = w.scales.data() + p * gstride;
    const int32_t* qs = w.qsum.data() + p * gstride;
    const size_t c0 = p * kPanelN, cw = (size_t)np * kPanelN, fw = use_tile ? tp * kPanelN : cw;
    const size_t from = c0 < n0 ? n0 - c0 : 0, to = (n1 - c0) < cw ? n1 - c0 : cw;
    if (vec_out)
      for (size_t j = from; j < to; j++) {
        const size_t n = c0 + j;
        q4_outlier_rows<T>(at, rs, w.out_k.data(), w.out_v.data(), w.out_start[n], w.out_start[n + 1], osum + j * rs);
      }
    for (size_t t = 0; t < rows;) {
      int mr = (int)(rows - t < 4 ? rows - t : 4);
      if constexpr (Q4TileOf<T>::has) {
        if (use_tile) {
          mr = T::tile_rows(rows - t);
          T::call_tile(mr, np, apt + t * Kp, Kp, asum + t * w.groups, bp, pstride, sc, qs, w.groups, w.group / kQ4ChunkK,
                       zp_eff, f);
        }
      }
      if (!use_tile)
        q4_call_panel<T>(mr, np, ap + t * Kp, Kp, asum + t * w.groups, bp, pstride, sc, qs, w.groups,
                         w.group / kQ4ChunkK, zp_eff, f);
      for (int i = 0; i < mr; i++) {
        const size_t m = m0 + t + i;
        for (size_t j = from; j < to; j++) {
          const size_t n = c0 + j;
          float v = f[i * fw + j];
          const uint32_t e0 = w.out_start[n], e1 = w.out_start[n + 1];
          if (e0 != e1) {  // (a column without outliers adds +0: no change, f is never -0)
            int32_t o = 0;
            if (vec_out) {
              o = osum[j * rs + t + i];
            } else {
              o = osum[(t + i) * nw + (n - n0)];
            }
            v = v + (float)o * w.out_scale[n];
          }
          float y = v * c.a_scale;
          y = y + (c.bias ? c.bias[n] : 0.0f);
          if (c.relu) y = y > 0.0f ? y : 0.0f;
          c.y[m * c.ldy + n] = y;
        }
      }
      t += (size_t)mr;
    }
    p += (size_t)np;
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

// The 4-bit GEMM driver shared by the SIMD kernels (q4.h): A rows copied once per call into a
// zero-padded buffer (K padded to the groups), then for each 8-column panel of the range and each
// tile of up to 4 rows the ISA's panel kernel (the groups' int32 sums scaled into fp32), then the
// outliers and the output in scalar code, in the fp32 order of q4.h.
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
#pragma once

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
  uint8_t* ap = q4_scratch().get(abytes + sbytes + tbytes + (vec_out ? kPanelN * rs * 4 : 0) + 64);
  int32_t* a32 = reinterpret_cast<int32_t*>(ap + abytes + sbytes);
  if (row_out)
    for (size_t i = 0; i < rows; i++) {
      const uint8_t* src = c.a + (m0 + i) * c.lda;
      for (size_t k = 0; k < K; k++) a32[i * K + k] = (int32_t)src[k] - c.a_zp;
    }
  int32_t* asum = reinterpret_cast<int32_t*>(ap + abytes);
  int16_t* at = reinterpret_cast<int16_t*>(ap + abytes + sbytes);
  int32_t* osum = reinterpret_cast<int32_t*>(ap + abytes + sbytes + tbytes);
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
  const int32_t zp_eff = c.a_zp - T::kAShift;
  const size_t p0 = n0 / kPanelN, p1 = (n1 + kPanelN - 1) / kPanelN;
  alignas(64) float f[4 * kPanelN];  // MR x 8 or 1 x 32
  const size_t pstride = chunks * kQ4ChunkBytes, gstride = w.groups * kPanelN;
  // one row (GEMV): 4 panels per call, 4 weight streams in flight; else one panel, tiles of 4 rows
  for (size_t p = p0; p < p1;) {
    const int np = rows == 1 && p + 4 <= p1 ? 4 : 1;
    const uint8_t* bp = w.data.data() + p * pstride;
    const float* sc = w.scales.data() + p * gstride;
    const int32_t* qs = w.qsum.data() + p * gstride;
    const size_t c0 = p * kPanelN, cw = (size_t)np * kPanelN;
    const size_t from = c0 < n0 ? n0 - c0 : 0, to = (n1 - c0) < cw ? n1 - c0 : cw;
    if (vec_out) {  // (np == 1 here: rows > 1)
      for (size_t j = from; j < to; j++) {
        const size_t n = c0 + j;
        uint32_t* o = reinterpret_cast<uint32_t*>(osum + j * rs);
        for (size_t i = 0; i < rs; i++) o[i] = 0;
        for (uint32_t e = w.out_start[n]; e < w.out_start[n + 1]; e++) {
          const int16_t* x = at + (size_t)w.out_k[e] * rs;
          const int32_t v = w.out_v[e];
          for (size_t i = 0; i < rs; i++) o[i] += (uint32_t)((int32_t)x[i] * v);
        }
      }
    }
    for (size_t t = 0; t < rows; t += 4) {
      const int mr = (int)(rows - t < 4 ? rows - t : 4);
      q4_call_panel<T>(mr, np, ap + t * Kp, Kp, asum + t * w.groups, bp, pstride, sc, qs, w.groups, w.group / kQ4ChunkK,
                       zp_eff, f);
      for (int i = 0; i < mr; i++) {
        const size_t m = m0 + t + i;
        for (size_t j = from; j < to; j++) {
          const size_t n = c0 + j;
          float v = f[i * cw + j];
          const uint32_t e0 = w.out_start[n], e1 = w.out_start[n + 1];
          if (e0 != e1) {  // (a column without outliers adds +0: no change, f is never -0)
            int32_t o = 0;
            if (vec_out) {
              o = osum[j * rs + t + i];
            } else {
              const int32_t* ar = a32 + (t + i) * K;
              const uint32_t* ks = w.out_k.data();
              const int8_t* vs = w.out_v.data();
              uint32_t u = 0;  // (modulo 2^32: the sum is small, but the loop vectorizes unsigned)
              for (uint32_t e = e0; e < e1; e++) u += (uint32_t)(ar[ks[e]] * (int32_t)vs[e]);
              o = (int32_t)u;
            }
            v = v + (float)o * w.out_scale[n];
          }
          float y = v * c.a_scale;
          y = y + (c.bias ? c.bias[n] : 0.0f);
          if (c.relu) y = y > 0.0f ? y : 0.0f;
          c.y[m * c.ldy + n] = y;
        }
      }
    }
    p += (size_t)np;
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

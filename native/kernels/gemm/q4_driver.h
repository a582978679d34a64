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
//   template <int MR> static void panel(const uint8_t* ap, size_t Kp, const uint8_t* bp,
//       const float* scales, const int32_t* qsum, size_t groups, size_t group_chunks, int32_t zp_eff,
//       float* f /* MR x 8 */);
//     f[r * 8 + c] = sum_g float(sum_{k in g} p[r][k] * q[k][c] - zp_eff * qsum[g][c]) * scales[g][c],
//     accumulated in that order from 0 (p = packed A, zp_eff = a_zp - kAShift).
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
void q4_call_panel(int mr, const uint8_t* ap, size_t Kp, const uint8_t* bp, const float* sc, const int32_t* qs,
                   size_t groups, size_t gch, int32_t zp, float* f) {
  switch (mr) {
    case 1: T::template panel<1>(ap, Kp, bp, sc, qs, groups, gch, zp, f); break;
    case 2: T::template panel<2>(ap, Kp, bp, sc, qs, groups, gch, zp, f); break;
    case 3: T::template panel<3>(ap, Kp, bp, sc, qs, groups, gch, zp, f); break;
    default: T::template panel<4>(ap, Kp, bp, sc, qs, groups, gch, zp, f); break;
  }
}

template <class T>
void q4_run(const Q4Weights& w, const Q4Call& c, const Range& r) {
  const size_t n0 = r.n_begin, n1 = r.n_end < w.N ? r.n_end : w.N;
  const size_t m0 = r.m_begin, m1 = r.m_end;
  if (n0 >= n1 || m0 >= m1) return;
  const size_t rows = m1 - m0, Kp = w.Kp, K = w.K, chunks = w.chunks();
  uint8_t* ap = q4_scratch().get(rows * Kp + 64);
  for (size_t i = 0; i < rows; i++) {
    uint8_t* d = ap + i * Kp;
    std::memcpy(d, c.a + (m0 + i) * c.lda, K);
    std::memset(d + K, 0, Kp - K);
    if (T::kAShift)
      for (size_t k = 0; k < Kp; k++) d[k] = (uint8_t)(d[k] ^ 0x80);  // a - 128 as int8 (0 padding -> -128: see below)
  }
  // (with kAShift the padding holds -128, multiplied by the padding weights, which are 0)
  const int32_t zp_eff = c.a_zp - T::kAShift;
  const size_t p0 = n0 / kPanelN, p1 = (n1 + kPanelN - 1) / kPanelN;
  alignas(64) float f[4 * kPanelN];
  for (size_t p = p0; p < p1; p++) {
    const uint8_t* bp = w.data.data() + p * chunks * kQ4ChunkBytes;
    const float* sc = w.scales.data() + p * w.groups * kPanelN;
    const int32_t* qs = w.qsum.data() + p * w.groups * kPanelN;
    const size_t c0 = p * kPanelN;
    const size_t from = c0 < n0 ? n0 - c0 : 0, to = (n1 - c0) < kPanelN ? n1 - c0 : kPanelN;
    for (size_t t = 0; t < rows; t += 4) {
      const int mr = (int)(rows - t < 4 ? rows - t : 4);
      q4_call_panel<T>(mr, ap + t * Kp, Kp, bp, sc, qs, w.groups, w.group / kQ4ChunkK, zp_eff, f);
      for (int i = 0; i < mr; i++) {
        const size_t m = m0 + t + i;
        const uint8_t* a = c.a + m * c.lda;
        for (size_t j = from; j < to; j++) {
          const size_t n = c0 + j;
          float v = f[i * kPanelN + j];
          const uint32_t e0 = w.out_start[n], e1 = w.out_start[n + 1];
          if (e0 != e1) {  // (a column without outliers adds +0: no change, f is never -0)
            int32_t o = 0;
            for (uint32_t e = e0; e < e1; e++) o += ((int32_t)a[w.out_k[e]] - c.a_zp) * w.out_v[e];
            v = v + (float)o * w.out_scale[n];
          }
          float y = v * c.a_scale;
          y = y + (c.bias ? c.bias[n] : 0.0f);
          if (c.relu) y = y > 0.0f ? y : 0.0f;
          c.y[m * c.ldy + n] = y;
        }
      }
    }
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

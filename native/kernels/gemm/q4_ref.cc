// Scalar reference of the 4-bit GEMM (q4.h): the oracle every SIMD kernel is checked against.
// Plain loops on the unpacked math, in the fp32 order q4.h states.
#include "kernels/gemm/q4.h"

namespace lowbit {
namespace gemm {

void q4_gemm__ref(const Q4Weights& w, const Q4Call& c, const Range& r) {
  const size_t n1 = r.n_end < w.N ? r.n_end : w.N;
  for (size_t m = r.m_begin; m < r.m_end; m++) {
    const uint8_t* a = c.a + m * c.lda;
    for (size_t n = r.n_begin; n < n1; n++) {
      float f = 0.0f;
      for (size_t g = 0; g < w.groups; g++) {
        int32_t s = 0;
        const size_t k1 = (g + 1) * w.group < w.K ? (g + 1) * w.group : w.K;
        for (size_t k = g * w.group; k < k1; k++) s += ((int32_t)a[k] - c.a_zp) * w.q(k, n);
        f = f + (float)s * w.scale(n, g);
      }
      int32_t o = 0;
      for (uint32_t e = w.out_start[n]; e < w.out_start[n + 1]; e++) o += ((int32_t)a[w.out_k[e]] - c.a_zp) * w.out_v[e];
      f = f + (float)o * w.out_scale[n];
      float y = f * c.a_scale;
      y = y + (c.bias ? c.bias[n] : 0.0f);
      if (c.relu) y = y > 0.0f ? y : 0.0f;
      c.y[m * c.ldy + n] = y;
    }
  }
}

}  // namespace gemm
}  // namespace lowbit

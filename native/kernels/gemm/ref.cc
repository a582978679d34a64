// Scalar reference: the oracle for every GEMM kernel. Plain loops on the unpacked math
// (README.md), int64 sums wrapped to int32 at the end, compiled without auto-vectorization.
#include <cstring>

#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace gemm {
namespace {

// Output elements need not be aligned to their type (Output::c is any byte address; the tests
// misalign it on purpose): store through memcpy, not through a cast pointer.
template <typename T>
inline void store_at(void* c, size_t at, T v) {
  std::memcpy(static_cast<uint8_t*>(c) + at * sizeof(T), &v, sizeof(T));
}

template <typename TA>
void gemm_ref(const TA* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
              const Range& r, const Options& opt) {
  const size_t m1 = r.m_end, n1 = r.n_end < b.N ? r.n_end : b.N;
  for (size_t m = r.m_begin; m < m1; m++) {
    for (size_t n = r.n_begin; n < n1; n++) {
      int64_t s = 0;
      for (size_t k = 0; k < b.K; k++)
        s += ((int64_t)a[m * lda + k] - a_zp) * ((int64_t)b.weight(k, n) - b.b_zp[n]);
      if (opt.residual.col_start)  // B = packed + residual (residual.h)
        for (uint32_t e = opt.residual.col_start[n]; e < opt.residual.col_start[n + 1]; e++)
          s += ((int64_t)a[m * lda + opt.residual.k_index[e]] - a_zp) * (int64_t)opt.residual.value[e];
      uint32_t u = (uint32_t)(uint64_t)s;
      if (out.bias_s32) u += (uint32_t)out.bias_s32[n];
      const int32_t acc = (int32_t)u;
      const size_t at = m * out.ldc + n;
      const float scale = out.scale ? out.scale[out.scale_per_channel ? n : 0] : 1.0f;
      const float bias = out.bias_f32 ? out.bias_f32[n] : 0.0f;
      switch (out.type) {
        case OutType::s32: store_at<int32_t>(out.c, at, acc); break;
        case OutType::u8:
          static_cast<uint8_t*>(out.c)[at] = (uint8_t)(int32_t)requant_one(
              acc, scale, bias, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::s8:
          static_cast<int8_t*>(out.c)[at] = (int8_t)(int32_t)requant_one(
              acc, scale, bias, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::f32: store_at<float>(out.c, at, dequant_one(acc, scale, bias, out.relu)); break;
      }
    }
  }
}

}  // namespace

void gemm_u8s8__ref(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                    const Range& r, const Options& opt) {
  gemm_ref(a, lda, a_zp, b, out, r, opt);
}
void gemm_s8s8__ref(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                    const Range& r, const Options& opt) {
  gemm_ref(a, lda, a_zp, b, out, r, opt);
}

}  // namespace gemm
}  // namespace lowbit

// Scalar reference: the oracle for every sparse FC kernel. Plain loops over the blocks, int64 sums
// wrapped to int32, then gemm.h's requant_one / dequant_one (compiled without auto-vectorization).
#include <cstring>

#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace sparse_fc {
namespace {

// Output elements need not be aligned to their type (gemm::Output::c is any byte address): store
// through memcpy, not through a cast pointer.
template <typename T>
inline void store_at(void* c, size_t at, T v) {
  std::memcpy(static_cast<uint8_t*>(c) + at * sizeof(T), &v, sizeof(T));
}

}  // namespace

void sparse_fc_u8s8__ref(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M, int32_t x_zp,
                         const gemm::Output& out, size_t n_begin, size_t n_end) {
  using gemm::OutType;
  const size_t n1 = n_end < w.N ? n_end : w.N;
  for (size_t j = 0; j < M; j++) {
    const uint8_t* xr = x + j * ldx;
    for (size_t n = n_begin; n < n1; n++) {
      int64_t s = 0;
      for (uint32_t b = w.row_ptr[n]; b < w.row_ptr[n + 1]; b++)
        for (size_t i = 0; i < kBlockK; i++) {
          const size_t k = (size_t)w.kg[b] * kBlockK + i;
          if (k < w.K) s += ((int64_t)xr[k] - x_zp) * (int64_t)w.w[(size_t)b * kBlockK + i];
        }
      uint32_t u = (uint32_t)(uint64_t)s;
      if (out.bias_s32) u += (uint32_t)out.bias_s32[n];
      const int32_t acc = (int32_t)u;
      const size_t at = j * out.ldc + n;
      const float scale = out.scale ? out.scale[out.scale_per_channel ? n : 0] : 1.0f;
      const float bias = out.bias_f32 ? out.bias_f32[n] : 0.0f;
      switch (out.type) {
        case OutType::s32: store_at<int32_t>(out.c, at, acc); break;
        case OutType::u8:
          static_cast<uint8_t*>(out.c)[at] = (uint8_t)(int32_t)gemm::requant_one(
              acc, scale, bias, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::s8:
          static_cast<int8_t*>(out.c)[at] = (int8_t)(int32_t)gemm::requant_one(
              acc, scale, bias, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::f32:
          store_at<float>(out.c, at, gemm::dequant_one(acc, scale, bias, out.relu));
          break;
      }
    }
  }
}

}  // namespace sparse_fc
}  // namespace lowbit

// NEON convolution kernels: sparse tile 1 channel x 64 pixels (16 q-register accumulators of 32),
// dense GEMM microkernel 6 x 16 (24 accumulators). Partial vectors go through a small stack copy
// (NEON has no masked loads). See impl.h.
#include <arm_neon.h>

#include <cstring>

#include "kernels/conv/impl.h"

namespace lowbit {
namespace conv {
namespace {

struct VecNeon {
  using T = float32x4_t;
  static constexpr int N = 4;
  static constexpr int kTileVecs = 16;
  static constexpr int kGemmVecs = 4;
  static constexpr bool kChannelLanes = true;
  static LOWBIT_CONV_INLINE T zero() { return vdupq_n_f32(0.0f); }
  static LOWBIT_CONV_INLINE T set1(float x) { return vdupq_n_f32(x); }
  static LOWBIT_CONV_INLINE T load(const float* p) { return vld1q_f32(p); }
  static LOWBIT_CONV_INLINE void store(float* p, T v) { vst1q_f32(p, v); }
  static LOWBIT_CONV_INLINE T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static LOWBIT_CONV_INLINE T add(T a, T b) { return vaddq_f32(a, b); }
  static LOWBIT_CONV_INLINE T max0(T a) { return vmaxq_f32(a, vdupq_n_f32(0.0f)); }
  static LOWBIT_CONV_INLINE T load_n(const float* p, int n) {
    float t[4] = {0, 0, 0, 0};
    std::memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
  }
  static LOWBIT_CONV_INLINE void store_n(float* p, T v, int n) {
    float t[4];
    vst1q_f32(t, v);
    std::memcpy(p, t, (size_t)n * sizeof(float));
  }
  using Mask = uint32x4_t;
  static LOWBIT_CONV_INLINE Mask lanes_from(int n) {
    static const uint32_t lane[4] = {0, 1, 2, 3};
    return vcgeq_u32(vld1q_u32(lane), vdupq_n_u32((uint32_t)n));
  }
  static LOWBIT_CONV_INLINE T blend(T a, T b, Mask m) { return vbslq_f32(m, b, a); }
};

}  // namespace

void sparse_conv_f32__neon(const SparseBinding& b, const float* padded, const float* bias, bool relu,
                           float* out, int oc_begin, int oc_end) {
  sparse_conv_impl<VecNeon>(b, padded, bias, relu, out, oc_begin, oc_end);
}

void dense_conv_f32__neon(const DenseConvWeights& w, const ConvLayout& layout, const float* padded,
                          const float* bias, bool relu, float* out, int oc_begin, int oc_end) {
  dense_conv_impl<VecNeon, VecNeon::kGemmVecs>(w, layout, padded, bias, relu, out, oc_begin, oc_end);
}

void sparse_fc_f32__neon(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias,
                         bool relu, float* y, int oc_begin, int oc_end) {
  sparse_fc_impl<VecNeon>(w, x, ncols, bias, relu, y, oc_begin, oc_end);
}

}  // namespace conv
}  // namespace lowbit

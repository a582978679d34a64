// NEON Winograd kernel: transforms on pairs of q-registers (8 channels), GEMM microkernel 6 tiles
// x 16 output channels (24 q-register accumulators). See winograd_impl.h.
#include <arm_neon.h>

#include "kernels/conv/winograd_impl.h"

namespace lowbit {
namespace conv {
namespace {

struct ChanNeon {
  struct T {
    float32x4_t lo, hi;
  };
  static LOWBIT_WINO_INLINE T zero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static LOWBIT_WINO_INLINE T load(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static LOWBIT_WINO_INLINE void store(float* p, T v) {
    vst1q_f32(p, v.lo);
    vst1q_f32(p + 4, v.hi);
  }
  static LOWBIT_WINO_INLINE T add(T a, T b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
  static LOWBIT_WINO_INLINE T sub(T a, T b) { return {vsubq_f32(a.lo, b.lo), vsubq_f32(a.hi, b.hi)}; }
  static LOWBIT_WINO_INLINE T mul(T a, float k) { return {vmulq_n_f32(a.lo, k), vmulq_n_f32(a.hi, k)}; }
  static LOWBIT_WINO_INLINE T fmadd(T a, float k, T c) {
    return {vfmaq_n_f32(c.lo, a.lo, k), vfmaq_n_f32(c.hi, a.hi, k)};
  }
  static LOWBIT_WINO_INLINE T max0(T a) {
    return {vmaxq_f32(a.lo, vdupq_n_f32(0.0f)), vmaxq_f32(a.hi, vdupq_n_f32(0.0f))};
  }
};

struct GemmNeon {
  using T = float32x4_t;
  static constexpr int N = 4, NV = 4, kRows = 6;
  static LOWBIT_WINO_INLINE T zero() { return vdupq_n_f32(0.0f); }
  static LOWBIT_WINO_INLINE T load(const float* p) { return vld1q_f32(p); }
  static LOWBIT_WINO_INLINE void store(float* p, T v) { vst1q_f32(p, v); }
  static LOWBIT_WINO_INLINE T set1(float x) { return vdupq_n_f32(x); }
  static LOWBIT_WINO_INLINE T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
};

}  // namespace

void winograd_conv_f32__neon(const WinogradWeights& w, const WinoLayout& L, const float* nhwc, const float* bias,
                             bool relu, float* out, size_t tile_begin, size_t tile_end, int panel_begin, int panel_end) {
  winograd_entry<ChanNeon, GemmNeon>(w, L, nhwc, bias, relu, out, tile_begin, tile_end, panel_begin, panel_end);
}

}  // namespace conv
}  // namespace lowbit

// NEON depthwise kernels: 8 lanes as two q-registers over depthwise_impl.h.
#include <arm_neon.h>

#include <cstring>

#include "kernels/conv/depthwise_impl.h"

namespace lowbit {
namespace conv {
namespace {

struct DwVecNeon {
  struct T {
    float32x4_t lo, hi;
  };
  struct IT {
    int32x4_t lo, hi;
  };
  static LOWBIT_DW_INLINE T zero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static LOWBIT_DW_INLINE T set1(float v) { return {vdupq_n_f32(v), vdupq_n_f32(v)}; }
  static LOWBIT_DW_INLINE T load(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static LOWBIT_DW_INLINE void store(float* p, T v) {
    vst1q_f32(p, v.lo);
    vst1q_f32(p + 4, v.hi);
  }
  static LOWBIT_DW_INLINE void store_n(float* p, T v, int n) {
    float t[8];
    store(t, v);
    std::memcpy(p, t, sizeof(float) * (n < 8 ? n : 8));
  }
  static LOWBIT_DW_INLINE T from_u8(uint8x8_t b, float zp) {
    const uint16x8_t w = vmovl_u8(b);
    const float32x4_t z = vdupq_n_f32(zp);
    return {vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), z), vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_high_u16(w))), z)};
  }
  static LOWBIT_DW_INLINE T load_u8(const uint8_t* p, float zp) { return from_u8(vld1_u8(p), zp); }
  static LOWBIT_DW_INLINE void deint(const float* p, T* even, T* odd) {
    const float32x4x2_t a = vld2q_f32(p), b = vld2q_f32(p + 8);
    *even = {a.val[0], b.val[0]};
    *odd = {a.val[1], b.val[1]};
  }
  static LOWBIT_DW_INLINE void deint_u8(const uint8_t* p, float zp, T* even, T* odd) {
    const uint8x8x2_t v = vld2_u8(p);
    *even = from_u8(v.val[0], zp);
    *odd = from_u8(v.val[1], zp);
  }
  static LOWBIT_DW_INLINE T fma(T a, T b, T c) { return {vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE T add(T a, T b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE T mul(T a, T b) { return {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE T max(T a, T b) { return {vmaxq_f32(a.lo, b.lo), vmaxq_f32(a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE T min(T a, T b) { return {vminq_f32(a.lo, b.lo), vminq_f32(a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE T max0(T a) { return max(a, zero()); }
  static LOWBIT_DW_INLINE T round(T a) { return {vrndnq_f32(a.lo), vrndnq_f32(a.hi)}; }
  static LOWBIT_DW_INLINE IT cvt_i(T a) { return {vcvtnq_s32_f32(a.lo), vcvtnq_s32_f32(a.hi)}; }
  static LOWBIT_DW_INLINE T cvt_f(IT a) { return {vcvtq_f32_s32(a.lo), vcvtq_f32_s32(a.hi)}; }
  static LOWBIT_DW_INLINE IT add_i(IT a, IT b) { return {vaddq_s32(a.lo, b.lo), vaddq_s32(a.hi, b.hi)}; }
  static LOWBIT_DW_INLINE IT set1_i(int32_t v) { return {vdupq_n_s32(v), vdupq_n_s32(v)}; }
  static LOWBIT_DW_INLINE void store_i32_n(int32_t* p, IT v, int n) {
    int32_t t[8];
    vst1q_s32(t, v.lo);
    vst1q_s32(t + 4, v.hi);
    std::memcpy(p, t, sizeof(int32_t) * (n < 8 ? n : 8));
  }
  static LOWBIT_DW_INLINE int16x8_t pack16(IT v) { return vcombine_s16(vqmovn_s32(v.lo), vqmovn_s32(v.hi)); }
  static LOWBIT_DW_INLINE void store_u8_n(uint8_t* p, IT v, int n) {
    uint8_t t[8];
    vst1_u8(t, vqmovun_s16(pack16(v)));
    std::memcpy(p, t, n < 8 ? n : 8);
  }
  static LOWBIT_DW_INLINE void store_s8_n(int8_t* p, IT v, int n) {
    int8_t t[8];
    vst1_s8(t, vqmovn_s16(pack16(v)));
    std::memcpy(p, t, n < 8 ? n : 8);
  }
};

}  // namespace

void depthwise_f32__neon(const ConvLayout& L, const float* x, const float* w, const float* bias, bool relu,
                         float* out, size_t plane_begin, size_t plane_end) {
  depthwise_f32_impl<DwVecNeon>(L, x, w, bias, relu, out, plane_begin, plane_end);
}

void depthwise_u8s8__neon(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf,
                          const QConvOutput& out, size_t plane_begin, size_t plane_end) {
  depthwise_u8s8_impl<DwVecNeon>(L, x, x_zp, wf, out, plane_begin, plane_end);
}

}  // namespace conv
}  // namespace lowbit

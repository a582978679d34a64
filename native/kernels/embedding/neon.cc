// NEON (aarch64) embedding bag: the row primitives for driver.h, which holds the bag loop. A
// vector is 8 fp32 columns in two q registers (a column block: 64 floats, 16 registers); vfmaq is
// one rounding, as std::fma in ref.cc. q8/q4/q2 groups read 8/4/4 bytes, kept inside the row by the
// scale/bias trailer; f32/f16 tails and output tails (fp32 or fp16) go through a small stack buffer.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/embedding/driver.h"

namespace lowbit {
namespace embedding {
namespace {

struct F8 {
  float32x4_t lo, hi;
};

inline F8 widen_u8(uint8x8_t b) {
  const uint16x8_t w = vmovl_u8(b);
  return {vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w)))};
}

struct Neon {
  using V = F8;
  static constexpr int kLanes = 8;
  struct Tail {
    int tail;  // dim % 8
  };
  static Tail make_tail(int64_t dim) { return {(int)(dim % 8)}; }
  static V zero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static V set1(float x) { return {vdupq_n_f32(x), vdupq_n_f32(x)}; }
  static V add(V a, V b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
  static V mul(V a, V b) { return {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)}; }
  static V fma(V a, V x, V acc) { return {vfmaq_f32(acc.lo, a.lo, x.lo), vfmaq_f32(acc.hi, a.hi, x.hi)}; }
  static void store(float* p, V v) {
    vst1q_f32(p, v.lo);
    vst1q_f32(p + 4, v.hi);
  }
  static void store_tail(float* p, V v, const Tail& t) {
    float tmp[8];
    vst1q_f32(tmp, v.lo);
    vst1q_f32(tmp + 4, v.hi);
    std::memcpy(p, tmp, (size_t)t.tail * 4);
  }
  // fcvtn rounds by FPCR (nearest even unless a caller changed it, as every fp32 op here assumes);
  // NaN quiet with the payload's top bits, overflow Inf, subnormals kept: fp16_from_float.
  static uint16x8_t to_f16(V v) {
    return vreinterpretq_u16_f16(vcombine_f16(vcvt_f16_f32(v.lo), vcvt_f16_f32(v.hi)));
  }
  static void store_f16(uint16_t* p, V v) { vst1q_u16(p, to_f16(v)); }
  static void store_f16_tail(uint16_t* p, V v, const Tail& t) {
    uint16_t tmp[8];
    vst1q_u16(tmp, to_f16(v));
    std::memcpy(p, tmp, (size_t)t.tail * 2);
  }
  static V load_buf(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static void store_buf(float* p, V v) { store(p, v); }
  static float half_to_float(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vcreate_u16((uint64_t)h))), 0);
  }

  template <Format F>
  static V load(const uint8_t* row, int64_t col, const Tail& t, bool partial) {
    if constexpr (F == Format::f32) {
      const float* p = reinterpret_cast<const float*>(row) + col;
      if (!partial) return {vld1q_f32(p), vld1q_f32(p + 4)};
      float tmp[8] = {};
      std::memcpy(tmp, p, (size_t)t.tail * 4);
      return {vld1q_f32(tmp), vld1q_f32(tmp + 4)};
    } else if constexpr (F == Format::f16) {
      uint16x8_t h;
      if (!partial) {
        h = vld1q_u16(reinterpret_cast<const uint16_t*>(row + 2 * col));
      } else {
        uint16_t tmp[8] = {};
        std::memcpy(tmp, row + 2 * col, (size_t)t.tail * 2);
        h = vld1q_u16(tmp);
      }
      return {vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)))};
    } else if constexpr (F == Format::q8) {
      return widen_u8(vld1_u8(row + col));
    } else if constexpr (F == Format::q4) {
      uint32_t v;
      std::memcpy(&v, row + col / 2, 4);
      const uint8x8_t b = vcreate_u8((uint64_t)v);
      const uint8x8_t lo = vand_u8(b, vdup_n_u8(15)), hi = vshr_n_u8(b, 4);
      return widen_u8(vzip1_u8(lo, hi));  // lo0 hi0 lo1 hi1 lo2 hi2 lo3 hi3
    } else {
      uint32_t v;
      std::memcpy(&v, row + col / 4, 4);  // 2 bytes used; 4 stay inside the row (4-byte trailer)
      const uint32x4_t w = vdupq_n_u32(v);
      const int32x4_t s0 = {0, -2, -4, -6}, s1 = {-8, -10, -12, -14};
      const uint32x4_t three = vdupq_n_u32(3);
      return {vcvtq_f32_u32(vandq_u32(vshlq_u32(w, s0), three)), vcvtq_f32_u32(vandq_u32(vshlq_u32(w, s1), three))};
    }
  }
};

}  // namespace

void embedding_bag__neon(const Request& r, int64_t bag_begin, int64_t bag_end) {
  run_kernel<Neon>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

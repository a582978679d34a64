// NEON quantization: 16 elements per iteration; the tail through a zero-padded stack block so that
// it takes exactly the vector path.
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace quant {
namespace {

struct QuantizeConsts {
  float32x4_t inv_scale, zp, lo, hi;
};

inline int32x4_t quantize4(const float* x, const QuantizeConsts& c) {
  float32x4_t v = vmulq_f32(vld1q_f32(x), c.inv_scale);
  v = vrndnq_f32(v);  // round to nearest, ties to even
  v = vaddq_f32(v, c.zp);
  v = vbslq_f32(vceqq_f32(v, v), v, c.zp);  // NaN -> zero point
  v = vminq_f32(vmaxq_f32(v, c.lo), c.hi);
  return vcvtq_s32_f32(v);
}

inline int16x8_t quantize8(const float* x, const QuantizeConsts& c) {
  return vcombine_s16(vmovn_s32(quantize4(x, c)), vmovn_s32(quantize4(x + 4, c)));
}

inline void store16(uint8_t* y, int16x8_t a, int16x8_t b) {
  vst1q_u8(y, vcombine_u8(vmovn_u16(vreinterpretq_u16_s16(a)), vmovn_u16(vreinterpretq_u16_s16(b))));
}
inline void store16(int8_t* y, int16x8_t a, int16x8_t b) {
  vst1q_s8(y, vcombine_s8(vmovn_s16(a), vmovn_s16(b)));
}

template <typename T>
void quantize_neon(const float* x, T* y, size_t n, float scale, int32_t zero_point, int32_t qmin,
                   int32_t qmax) {
  const QuantizeConsts c{vdupq_n_f32(1.0f / scale), vdupq_n_f32((float)zero_point),
                         vdupq_n_f32((float)qmin), vdupq_n_f32((float)qmax)};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, quantize8(x + i, c), quantize8(x + i + 8, c));
  if (i < n) {
    float xt[16] = {};
    T yt[16];
    std::memcpy(xt, x + i, (n - i) * sizeof(float));
    store16(yt, quantize8(xt, c), quantize8(xt + 8, c));
    std::memcpy(y + i, yt, (n - i) * sizeof(T));
  }
}

inline void dequantize8(int16x8_t w, float* y, int32x4_t zp, float32x4_t s) {
  const int32x4_t a = vsubq_s32(vmovl_s16(vget_low_s16(w)), zp);
  const int32x4_t b = vsubq_s32(vmovl_s16(vget_high_s16(w)), zp);
  vst1q_f32(y, vmulq_f32(vcvtq_f32_s32(a), s));
  vst1q_f32(y + 4, vmulq_f32(vcvtq_f32_s32(b), s));
}

inline int16x8_t widen(uint8x8_t b) { return vreinterpretq_s16_u16(vmovl_u8(b)); }
inline int16x8_t widen(int8x8_t b) { return vmovl_s8(b); }
inline uint8x8_t load8(const uint8_t* q) { return vld1_u8(q); }
inline int8x8_t load8(const int8_t* q) { return vld1_s8(q); }

template <typename T>
void dequantize_neon(const T* q, float* y, size_t n, float scale, int32_t zero_point) {
  const int32x4_t zp = vdupq_n_s32(zero_point);
  const float32x4_t s = vdupq_n_f32(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) dequantize8(widen(load8(q + i)), y + i, zp, s);
  if (i < n) {
    T qt[8] = {};
    float yt[8];
    std::memcpy(qt, q + i, (n - i) * sizeof(T));
    dequantize8(widen(load8(qt)), yt, zp, s);
    std::memcpy(y + i, yt, (n - i) * sizeof(float));
  }
}

}  // namespace

void minmax_f32__neon(const float* x, size_t n, float* min, float* max) {
  // vminnm / vmaxnm (IEEE minNum / maxNum) return the number when one operand is NaN.
  float32x4_t mn = vdupq_n_f32(INFINITY), mx = vdupq_n_f32(-INFINITY);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t a = vld1q_f32(x + i);
    mn = vminnmq_f32(mn, a);
    mx = vmaxnmq_f32(mx, a);
  }
  float a = vminnmvq_f32(mn), b = vmaxnmvq_f32(mx);
  for (; i < n; i++) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  finish_minmax(a, b, min, max);
}

void quantize_f32_u8__neon(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point,
                           int32_t qmin, int32_t qmax) {
  quantize_neon(x, y, n, scale, zero_point, qmin, qmax);
}
void quantize_f32_s8__neon(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,
                           int32_t qmin, int32_t qmax) {
  quantize_neon(x, y, n, scale, zero_point, qmin, qmax);
}
void dequantize_u8_f32__neon(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_neon(q, y, n, scale, zero_point);
}
void dequantize_s8_f32__neon(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_neon(q, y, n, scale, zero_point);
}

}  // namespace quant
}  // namespace lowbit

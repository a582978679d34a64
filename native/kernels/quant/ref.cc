// Scalar reference: the oracle for every SIMD quantization kernel. Compiled without
// auto-vectorization (see cmake/isa.cmake) so that it stays plain scalar code.
#include <cmath>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace quant {

template <typename T>
static void quantize_ref(const float* x, T* y, size_t n, float scale, int32_t zero_point, int32_t qmin,
                         int32_t qmax) {
  const float inv_scale = 1.0f / scale;
  const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
  for (size_t i = 0; i < n; i++) y[i] = (T)(int32_t)quantize_one(x[i], inv_scale, zp, lo, hi);
}

template <typename T>
static void dequantize_ref(const T* q, float* y, size_t n, float scale, int32_t zero_point) {
  for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)q[i] - zero_point) * scale;
}

void quantize_f32_u8__ref(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point,
                          int32_t qmin, int32_t qmax) {
  quantize_ref(x, y, n, scale, zero_point, qmin, qmax);
}
void quantize_f32_s8__ref(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,
                          int32_t qmin, int32_t qmax) {
  quantize_ref(x, y, n, scale, zero_point, qmin, qmax);
}
void dequantize_u8_f32__ref(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_ref(q, y, n, scale, zero_point);
}
void dequantize_s8_f32__ref(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_ref(q, y, n, scale, zero_point);
}

void minmax_f32__ref(const float* x, size_t n, float* min, float* max) {
  float mn = INFINITY, mx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (x[i] < mn) mn = x[i];  // NaN compares false: ignored
    if (x[i] > mx) mx = x[i];
  }
  finish_minmax(mn, mx, min, max);
}

}  // namespace quant
}  // namespace lowbit

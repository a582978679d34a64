// AVX-512 quantization: 64 elements per iteration, tails with masked loads and stores (no
// stack copies needed: masked lanes are never read or written).
#include <immintrin.h>

#include <cmath>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace quant {
namespace {

struct QuantizeConsts {
  __m512 inv_scale, zp, lo, hi;
};

inline __m512i quantize16(__m512 x, const QuantizeConsts& c) {
  __m512 v = _mm512_mul_ps(x, c.inv_scale);
  v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm512_add_ps(v, c.zp);
  v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), c.zp);  // NaN -> zero point
  v = _mm512_min_ps(_mm512_max_ps(v, c.lo), c.hi);
  return _mm512_cvtps_epi32(v);
}

template <typename T>
void quantize_avx512(const float* x, T* y, size_t n, float scale, int32_t zero_point, int32_t qmin,
                     int32_t qmax) {
  const QuantizeConsts c{_mm512_set1_ps(1.0f / scale), _mm512_set1_ps((float)zero_point),
                         _mm512_set1_ps((float)qmin), _mm512_set1_ps((float)qmax)};
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 64; j += 16) {
      // values are already clamped to the 8-bit range, so truncating narrowing is exact
      const __m128i b = _mm512_cvtepi32_epi8(quantize16(_mm512_loadu_ps(x + i + j), c));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + j), b);
    }
  }
  for (; i < n; i += 16) {
    const size_t left = n - i < 16 ? n - i : 16;
    const __mmask16 m = (__mmask16)((1u << left) - 1u);
    const __m128i b = _mm512_cvtepi32_epi8(quantize16(_mm512_maskz_loadu_ps(m, x + i), c));
    _mm_mask_storeu_epi8(y + i, m, b);
  }
}

template <typename T>
void dequantize_avx512(const T* q, float* y, size_t n, float scale, int32_t zero_point) {
  constexpr bool kSigned = T(-1) < T(0);
  const __m512i zp = _mm512_set1_epi32(zero_point);
  const __m512 s = _mm512_set1_ps(scale);
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i < 16 ? n - i : 16;
    const __mmask16 m = (__mmask16)((1u << left) - 1u);
    const __m128i b = _mm_maskz_loadu_epi8(m, q + i);
    const __m512i w = kSigned ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(w, zp)), s));
  }
}

}  // namespace

void minmax_f32__avx512(const float* x, size_t n, float* min, float* max) {
  // min_ps(a, b) returns b when either is NaN: with the input first, NaN inputs are ignored.
  __m512 mn = _mm512_set1_ps(INFINITY), mx = _mm512_set1_ps(-INFINITY);
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i < 16 ? n - i : 16;
    const __mmask16 m = (__mmask16)((1u << left) - 1u);
    const __m512 a = _mm512_maskz_loadu_ps(m, x + i);
    mn = _mm512_mask_min_ps(mn, m, a, mn);
    mx = _mm512_mask_max_ps(mx, m, a, mx);
  }
  alignas(64) float lo[16], hi[16];
  _mm512_store_ps(lo, mn);
  _mm512_store_ps(hi, mx);
  float a = lo[0], b = hi[0];
  for (int j = 1; j < 16; j++) {
    a = lo[j] < a ? lo[j] : a;
    b = hi[j] > b ? hi[j] : b;
  }
  finish_minmax(a, b, min, max);
}

void quantize_f32_u8__avx512(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point,
                             int32_t qmin, int32_t qmax) {
  quantize_avx512(x, y, n, scale, zero_point, qmin, qmax);
}
void quantize_f32_s8__avx512(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,
                             int32_t qmin, int32_t qmax) {
  quantize_avx512(x, y, n, scale, zero_point, qmin, qmax);
}
void dequantize_u8_f32__avx512(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_avx512(q, y, n, scale, zero_point);
}
void dequantize_s8_f32__avx512(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_avx512(q, y, n, scale, zero_point);
}

}  // namespace quant
}  // namespace lowbit

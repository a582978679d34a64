// AVX2 quantization: 32 elements per iteration, the tail through a zero-padded stack block so that
// it takes exactly the vector path (no scalar tail that could round differently).
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace quant {
namespace {

struct QuantizeConsts {
  __m256 inv_scale, zp, lo, hi;
};

inline __m256i quantize8(const float* x, const QuantizeConsts& c) {
  __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), c.inv_scale);
  v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_add_ps(v, c.zp);
  v = _mm256_blendv_ps(v, c.zp, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));  // NaN -> zero point
  v = _mm256_min_ps(_mm256_max_ps(v, c.lo), c.hi);
  return _mm256_cvtps_epi32(v);  // exact: v is integral and in range
}

// Packs 32 int32 (four vectors, in order) into 32 bytes, in order.
template <bool kSigned>
inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i bytes = kSigned ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
  // packs interleave 128-bit lanes: dwords come out as a0 b0 c0 d0 a1 b1 c1 d1 (4 bytes each)
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <typename T>
void quantize_avx2(const float* x, T* y, size_t n, float scale, int32_t zero_point, int32_t qmin,
                   int32_t qmax) {
  constexpr bool kSigned = sizeof(T) == 1 && T(-1) < T(0);
  const QuantizeConsts c{_mm256_set1_ps(1.0f / scale), _mm256_set1_ps((float)zero_point),
                         _mm256_set1_ps((float)qmin), _mm256_set1_ps((float)qmax)};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i r = pack32<kSigned>(quantize8(x + i, c), quantize8(x + i + 8, c),
                                      quantize8(x + i + 16, c), quantize8(x + i + 24, c));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), r);
  }
  if (i < n) {
    alignas(32) float xt[32] = {};
    alignas(32) T yt[32];
    std::memcpy(xt, x + i, (n - i) * sizeof(float));
    const __m256i r = pack32<kSigned>(quantize8(xt, c), quantize8(xt + 8, c), quantize8(xt + 16, c),
                                      quantize8(xt + 24, c));
    _mm256_store_si256(reinterpret_cast<__m256i*>(yt), r);
    std::memcpy(y + i, yt, (n - i) * sizeof(T));
  }
}

inline __m256 dequantize8(__m128i bytes8, bool is_signed, __m256i zp, __m256 scale) {
  const __m256i w = is_signed ? _mm256_cvtepi8_epi32(bytes8) : _mm256_cvtepu8_epi32(bytes8);
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(w, zp)), scale);
}

template <typename T>
void dequantize_avx2(const T* q, float* y, size_t n, float scale, int32_t zero_point) {
  constexpr bool kSigned = T(-1) < T(0);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i));
    const __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
    _mm256_storeu_ps(y + i, dequantize8(lo, kSigned, zp, s));
    _mm256_storeu_ps(y + i + 8, dequantize8(_mm_srli_si128(lo, 8), kSigned, zp, s));
    _mm256_storeu_ps(y + i + 16, dequantize8(hi, kSigned, zp, s));
    _mm256_storeu_ps(y + i + 24, dequantize8(_mm_srli_si128(hi, 8), kSigned, zp, s));
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, dequantize8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i)),
                                        kSigned, zp, s));
  }
  if (i < n) {
    alignas(16) T qt[16] = {};
    alignas(32) float yt[8];
    std::memcpy(qt, q + i, (n - i) * sizeof(T));
    _mm256_store_ps(yt, dequantize8(_mm_load_si128(reinterpret_cast<const __m128i*>(qt)), kSigned, zp, s));
    std::memcpy(y + i, yt, (n - i) * sizeof(float));
  }
}

}  // namespace

void minmax_f32__avx2(const float* x, size_t n, float* min, float* max) {
  // min_ps(a, b) returns b when either is NaN: with the input first, NaN inputs are ignored.
  __m256 mn0 = _mm256_set1_ps(INFINITY), mn1 = mn0, mx0 = _mm256_set1_ps(-INFINITY), mx1 = mx0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    mn0 = _mm256_min_ps(a, mn0);
    mx0 = _mm256_max_ps(a, mx0);
    mn1 = _mm256_min_ps(b, mn1);
    mx1 = _mm256_max_ps(b, mx1);
  }
  if (i < n) {
    alignas(32) float t[16];
    for (float& v : t) v = NAN;
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    const __m256 a = _mm256_load_ps(t), b = _mm256_load_ps(t + 8);
    mn0 = _mm256_min_ps(a, mn0);
    mx0 = _mm256_max_ps(a, mx0);
    mn1 = _mm256_min_ps(b, mn1);
    mx1 = _mm256_max_ps(b, mx1);
  }
  alignas(32) float lo[8], hi[8];
  _mm256_store_ps(lo, _mm256_min_ps(mn0, mn1));
  _mm256_store_ps(hi, _mm256_max_ps(mx0, mx1));
  float a = lo[0], b = hi[0];
  for (int j = 1; j < 8; j++) {
    a = lo[j] < a ? lo[j] : a;
    b = hi[j] > b ? hi[j] : b;
  }
  finish_minmax(a, b, min, max);
}

void quantize_f32_u8__avx2(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point,
                           int32_t qmin, int32_t qmax) {
  quantize_avx2(x, y, n, scale, zero_point, qmin, qmax);
}
void quantize_f32_s8__avx2(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,
                           int32_t qmin, int32_t qmax) {
  quantize_avx2(x, y, n, scale, zero_point, qmin, qmax);
}
void dequantize_u8_f32__avx2(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_avx2(q, y, n, scale, zero_point);
}
void dequantize_s8_f32__avx2(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point) {
  dequantize_avx2(q, y, n, scale, zero_point);
}

}  // namespace quant
}  // namespace lowbit

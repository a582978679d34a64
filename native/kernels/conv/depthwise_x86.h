// The 8-lane traits of the x86 depthwise kernels (depthwise_impl.h): AVX2 ymm, shared by the AVX2
// and AVX-512 translation units (each compiles its own copy with its own flags).
#pragma once

#include <immintrin.h>

#include <cstring>

#include "kernels/conv/depthwise_impl.h"

namespace lowbit {
namespace conv {
namespace {

struct DwVecX86 {
  using T = __m256;
  using IT = __m256i;
  static LOWBIT_DW_INLINE T zero() { return _mm256_setzero_ps(); }
  static LOWBIT_DW_INLINE T set1(float v) { return _mm256_set1_ps(v); }
  static LOWBIT_DW_INLINE T load(const float* p) { return _mm256_loadu_ps(p); }
  static LOWBIT_DW_INLINE void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static LOWBIT_DW_INLINE void store_n(float* p, T v, int n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(p, m, v);
  }
  static LOWBIT_DW_INLINE T load_u8(const uint8_t* p, float zp) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_sub_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(zp));  // exact: small integers
  }
  static LOWBIT_DW_INLINE void deint(const float* p, T* even, T* odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
  }
  static LOWBIT_DW_INLINE void deint_u8(const uint8_t* p, float zp, T* even, T* odd) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i s = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
    const __m256 z = _mm256_set1_ps(zp);
    *even = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(s)), z);
    *odd = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(s, 8))), z);
  }
  static LOWBIT_DW_INLINE T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static LOWBIT_DW_INLINE T add(T a, T b) { return _mm256_add_ps(a, b); }
  static LOWBIT_DW_INLINE T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static LOWBIT_DW_INLINE T max(T a, T b) { return _mm256_max_ps(a, b); }
  static LOWBIT_DW_INLINE T min(T a, T b) { return _mm256_min_ps(a, b); }
  static LOWBIT_DW_INLINE T max0(T a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
  static LOWBIT_DW_INLINE T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static LOWBIT_DW_INLINE IT cvt_i(T a) { return _mm256_cvtps_epi32(a); }
  static LOWBIT_DW_INLINE T cvt_f(IT a) { return _mm256_cvtepi32_ps(a); }
  static LOWBIT_DW_INLINE IT add_i(IT a, IT b) { return _mm256_add_epi32(a, b); }
  static LOWBIT_DW_INLINE IT set1_i(int32_t v) { return _mm256_set1_epi32(v); }
  static LOWBIT_DW_INLINE void store_i32_n(int32_t* p, IT v, int n) {
    if (n == 8) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
    alignas(32) int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
    std::memcpy(p, t, sizeof(int32_t) * (n < 8 ? n : 8));
  }
  static LOWBIT_DW_INLINE __m128i pack16(IT v) {
    return _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  }
  static LOWBIT_DW_INLINE void store_bytes(void* p, __m128i b, int n) {
    if (n == 8) return _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b);
    alignas(16) uint8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), b);
    std::memcpy(p, t, n < 8 ? n : 8);
  }
  static LOWBIT_DW_INLINE void store_u8_n(uint8_t* p, IT v, int n) {
    const __m128i w = pack16(v);
    store_bytes(p, _mm_packus_epi16(w, w), n);
  }
  static LOWBIT_DW_INLINE void store_s8_n(int8_t* p, IT v, int n) {
    const __m128i w = pack16(v);
    store_bytes(p, _mm_packs_epi16(w, w), n);
  }
};

}  // namespace
}  // namespace conv
}  // namespace lowbit

// The Winograd transforms on ymm vectors of 8 channels (the NHWC packing every ISA shares), for
// the AVX2 and AVX-512 kernels alike. In an unnamed namespace on purpose: each TU that includes it
// compiles its own copy with its own ISA flags, so the linker never merges the two builds.
#pragma once

#include <immintrin.h>

#include "kernels/conv/winograd_impl.h"

namespace lowbit {
namespace conv {
namespace {

struct ChanYmm {
  using T = __m256;
  static LOWBIT_WINO_INLINE T zero() { return _mm256_setzero_ps(); }
  static LOWBIT_WINO_INLINE T load(const float* p) { return _mm256_loadu_ps(p); }
  static LOWBIT_WINO_INLINE void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static LOWBIT_WINO_INLINE T add(T a, T b) { return _mm256_add_ps(a, b); }
  static LOWBIT_WINO_INLINE T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static LOWBIT_WINO_INLINE T mul(T a, float k) { return _mm256_mul_ps(a, _mm256_set1_ps(k)); }
  static LOWBIT_WINO_INLINE T fmadd(T a, float k, T c) { return _mm256_fmadd_ps(a, _mm256_set1_ps(k), c); }
  static LOWBIT_WINO_INLINE T max0(T a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
};

}  // namespace
}  // namespace conv
}  // namespace lowbit

// AVX2 + FMA convolution kernels: sparse tile 1 channel x 64 pixels (8 ymm accumulators, one
// broadcast per nonzero), dense GEMM microkernel 6 x 16 (12 ymm accumulators). See impl.h.
#include <immintrin.h>

#include "kernels/conv/impl.h"

namespace lowbit {
namespace conv {
namespace {

struct VecAvx2 {
  using T = __m256;
  static constexpr int N = 8;
  static constexpr int kTileVecs = 8;
  static constexpr int kGemmVecs = 2;
  static constexpr bool kChannelLanes = true;
  static LOWBIT_CONV_INLINE T zero() { return _mm256_setzero_ps(); }
  static LOWBIT_CONV_INLINE T set1(float x) { return _mm256_set1_ps(x); }
  static LOWBIT_CONV_INLINE T load(const float* p) { return _mm256_loadu_ps(p); }
  static LOWBIT_CONV_INLINE void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static LOWBIT_CONV_INLINE T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static LOWBIT_CONV_INLINE T add(T a, T b) { return _mm256_add_ps(a, b); }
  static LOWBIT_CONV_INLINE T max0(T a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
  static LOWBIT_CONV_INLINE __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static LOWBIT_CONV_INLINE T load_n(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static LOWBIT_CONV_INLINE void store_n(float* p, T v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
  using Mask = __m256;
  static LOWBIT_CONV_INLINE Mask lanes_from(int n) {
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n - 1)));
  }
  static LOWBIT_CONV_INLINE T blend(T a, T b, Mask m) { return _mm256_blendv_ps(a, b, m); }
};

}  // namespace

void sparse_conv_f32__avx2(const SparseBinding& b, const float* padded, const float* bias, bool relu,
                           float* out, int oc_begin, int oc_end) {
  sparse_conv_impl<VecAvx2>(b, padded, bias, relu, out, oc_begin, oc_end);
}

void dense_conv_f32__avx2(const DenseConvWeights& w, const ConvLayout& layout, const float* padded,
                          const float* bias, bool relu, float* out, int oc_begin, int oc_end) {
  dense_conv_impl<VecAvx2, VecAvx2::kGemmVecs>(w, layout, padded, bias, relu, out, oc_begin, oc_end);
}

void sparse_fc_f32__avx2(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias,
                         bool relu, float* y, int oc_begin, int oc_end) {
  sparse_fc_impl<VecAvx2>(w, x, ncols, bias, relu, y, oc_begin, oc_end);
}

}  // namespace conv
}  // namespace lowbit

// AVX-512 convolution kernels: sparse tile 1 channel x 128 pixels (8 zmm accumulators), dense GEMM
// microkernel 6 x 32 (12 zmm accumulators), masks for partial vectors. See impl.h.
#include <immintrin.h>

#include "kernels/conv/impl.h"

namespace lowbit {
namespace conv {
namespace {

struct VecAvx512 {
  using T = __m512;
  static constexpr int N = 16;
  static constexpr int kTileVecs = 8;
  static constexpr int kGemmVecs = 2;
  static constexpr bool kChannelLanes = false;  // 1 zmm of 16 channels x 6 rows: too few accumulators; untested here
  static LOWBIT_CONV_INLINE T zero() { return _mm512_setzero_ps(); }
  static LOWBIT_CONV_INLINE T set1(float x) { return _mm512_set1_ps(x); }
  static LOWBIT_CONV_INLINE T load(const float* p) { return _mm512_loadu_ps(p); }
  static LOWBIT_CONV_INLINE void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static LOWBIT_CONV_INLINE T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static LOWBIT_CONV_INLINE T add(T a, T b) { return _mm512_add_ps(a, b); }
  static LOWBIT_CONV_INLINE T max0(T a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
  static LOWBIT_CONV_INLINE __mmask16 mask(int n) { return (__mmask16)((1u << n) - 1u); }
  static LOWBIT_CONV_INLINE T load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static LOWBIT_CONV_INLINE void store_n(float* p, T v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  using Mask = __mmask16;
  static LOWBIT_CONV_INLINE Mask lanes_from(int n) { return (__mmask16)(0xFFFFu << n); }
  static LOWBIT_CONV_INLINE T blend(T a, T b, Mask m) { return _mm512_mask_blend_ps(m, a, b); }
};

}  // namespace

void sparse_conv_f32__avx512(const SparseBinding& b, const float* padded, const float* bias, bool relu,
                             float* out, int oc_begin, int oc_end) {
  sparse_conv_impl<VecAvx512>(b, padded, bias, relu, out, oc_begin, oc_end);
}

void dense_conv_f32__avx512(const DenseConvWeights& w, const ConvLayout& layout, const float* padded,
                            const float* bias, bool relu, float* out, int oc_begin, int oc_end) {
  dense_conv_impl<VecAvx512, VecAvx512::kGemmVecs>(w, layout, padded, bias, relu, out, oc_begin, oc_end);
}

void sparse_fc_f32__avx512(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias,
                           bool relu, float* y, int oc_begin, int oc_end) {
  sparse_fc_impl<VecAvx512>(w, x, ncols, bias, relu, y, oc_begin, oc_end);
}

}  // namespace conv
}  // namespace lowbit

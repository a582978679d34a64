// AVX2 + FMA Winograd kernel: transforms on ymm vectors of 8 channels, GEMM microkernel 6 tiles x
// 16 output channels (12 ymm accumulators, one broadcast per tile and k). See winograd_impl.h.
#include <immintrin.h>

#include "kernels/conv/winograd_ymm.h"

namespace lowbit {
namespace conv {
namespace {

struct GemmAvx2 {
  using T = __m256;
  static constexpr int N = 8, NV = 2, kRows = 6;
  static LOWBIT_WINO_INLINE T zero() { return _mm256_setzero_ps(); }
  static LOWBIT_WINO_INLINE T load(const float* p) { return _mm256_loadu_ps(p); }
  static LOWBIT_WINO_INLINE void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static LOWBIT_WINO_INLINE T set1(float x) { return _mm256_set1_ps(x); }
  static LOWBIT_WINO_INLINE T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
};

}  // namespace

void winograd_conv_f32__avx2(const WinogradWeights& w, const WinoLayout& L, const float* nhwc, const float* bias,
                             bool relu, float* out, size_t tile_begin, size_t tile_end, int panel_begin, int panel_end) {
  winograd_entry<ChanYmm, GemmAvx2>(w, L, nhwc, bias, relu, out, tile_begin, tile_end, panel_begin, panel_end);
}

}  // namespace conv
}  // namespace lowbit

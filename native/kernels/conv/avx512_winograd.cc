// AVX-512 Winograd kernel: transforms on ymm vectors of 8 channels (the NHWC layout is shared by
// every ISA), GEMM microkernel 12 tiles x 16 output channels (12 zmm accumulators). See
// winograd_impl.h.
#include <immintrin.h>

#include "kernels/conv/winograd_ymm.h"

namespace lowbit {
namespace conv {
namespace {

struct GemmAvx512 {
  using T = __m512;
  static constexpr int N = 16, NV = 1, kRows = 12;
  static LOWBIT_WINO_INLINE T zero() { return _mm512_setzero_ps(); }
  static LOWBIT_WINO_INLINE T load(const float* p) { return _mm512_loadu_ps(p); }
  static LOWBIT_WINO_INLINE void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static LOWBIT_WINO_INLINE T set1(float x) { return _mm512_set1_ps(x); }
  static LOWBIT_WINO_INLINE T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
};

}  // namespace

void winograd_conv_f32__avx512(const WinogradWeights& w, const WinoLayout& L, const float* nhwc, const float* bias,
                               bool relu, float* out, size_t tile_begin, size_t tile_end, int panel_begin,
                               int panel_end) {
  winograd_entry<ChanYmm, GemmAvx512>(w, L, nhwc, bias, relu, out, tile_begin, tile_end, panel_begin, panel_end);
}

}  // namespace conv
}  // namespace lowbit

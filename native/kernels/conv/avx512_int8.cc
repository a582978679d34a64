// AVX-512 VNNI direct int8 convolution (int8.h: qconv_u8s8_direct__avx512), exact.
//
// The AVX2 direct kernel's design (avx2_int8.cc, direct_int8_x86.h: output channels as rows,
// 16-pixel panels gathered from padded rows, the NCHW epilogue without a transpose) with one
// microkernel: vpdpbusd sums four u8 x s8 products in int32 with no int16 step, so the raw uint8
// panel of the fast path (shift 0, [k4][16 pixels][4], 64 bytes per k quadruple = one zmm) times
// the raw int8 weights (QConvDirect::w8) is exact for any activations and weights:
//   acc = S - xz wsum[co] - wz[co] colsum[p] + bias_s32[co]   (mod 2^32), S = sum x w.
// Before this kernel the AVX-512 level ran im2col + the VNNI GEMM + a [pixels][cout] -> NCHW
// transpose (qconv_u8s8_task). Tile: 8 channels (two of w8's 4-channel tiles) x 32 pixels (two
// panels), 16 zmm accumulators; per k quadruple 2 panel loads and 8 embedded weight broadcasts.
#include <immintrin.h>

#include "kernels/conv/vnni_int8_kern.h"

namespace lowbit {
namespace conv {

void qconv_u8s8_direct__avx512(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                               int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  direct_task<VnniKern>(w, l, plan, x, x_zp, out, opt, task);
}

}  // namespace conv
}  // namespace lowbit

// The AVX-512 VNNI direct int8 convolution (avx512_int8.cc) for CPUs where AMX tiles may be used
// (dispatch checks amx_ready): the blocks that run im2col + the GEMM (planes of <= 64 pixels that
// would waste >= 10% of the 16-pixel panels: 7x7) take the AMX GEMM (kernels/gemm/amx.cc), 1.4-1.6x
// the direct kernel there (resnet 3x3 512@7: 456 vs 323 GOPS; 1x1 2048>512@7: 551 vs 355).
#include <immintrin.h>

#include "kernels/conv/vnni_int8_kern.h"

namespace lowbit {
namespace conv {
namespace {

struct VnniAmxKern : VnniKern {
  static constexpr gemm::GemmU8S8Fn gemm = gemm::gemm_u8s8__amx;
};

}  // namespace

void qconv_u8s8_direct__avx512_amx(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                                   int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  direct_task<VnniAmxKern>(w, l, plan, x, x_zp, out, opt, task);
}

}  // namespace conv
}  // namespace lowbit

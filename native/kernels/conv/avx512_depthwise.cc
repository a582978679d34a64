// avx512 depthwise kernels: 8-lane ymm traits (depthwise_x86.h) over depthwise_impl.h.
#include "kernels/conv/depthwise_x86.h"

namespace lowbit {
namespace conv {

void depthwise_f32__avx512(const ConvLayout& L, const float* x, const float* w, const float* bias, bool relu,
                           float* out, size_t plane_begin, size_t plane_end) {
  depthwise_f32_impl<DwVecX86>(L, x, w, bias, relu, out, plane_begin, plane_end);
}

void depthwise_u8s8__avx512(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf,
                            const QConvOutput& out, size_t plane_begin, size_t plane_end) {
  depthwise_u8s8_impl<DwVecX86>(L, x, x_zp, wf, out, plane_begin, plane_end);
}

}  // namespace conv
}  // namespace lowbit

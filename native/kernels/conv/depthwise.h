// Depthwise convolution (groups = channels, one filter per channel), fp32 and exact int8, 3x3 and
// 5x5, stride 1 and 2, NCHW in and out.
//
// Why a kernel of its own: a depthwise layer is 9 or 25 multiply-adds per output with no reuse
// across channels, so the dense GEMM (6-row weight panels of one channel's 9 taps) wastes most of
// its work and the sparse kernel pays a padded copy of the whole input. Here every (image,
// channel) plane is padded (stride 2: split into 4 phase planes) into a small thread-local buffer
// that stays in L1/L2, and output rows are computed as vectors of consecutive pixels: per tap one
// broadcast weight, one unaligned load, one FMA; two output rows per pass at stride 1, so the
// compiler reuses the input row loads they share.
//
// int8 runs the same fp32 loop on (x - x_zp) and (w - w_zp) as floats: every product is an
// integer of magnitude <= 255 * 255 and every partial sum <= 25 * 65025 < 2^24, so each FMA is
// exact and the sum equals the int32 accumulator bit for bit; then + bias_s32 (mod 2^32) and the
// GEMM's output pipeline formulas (kernels/gemm/gemm.h), in the same fp32 order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/isa.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"

namespace lowbit {
namespace conv {

// groups == cin == cout, kh == kw in {3, 5}, stride_h == stride_w in {1, 2}, dilation 1.
bool depthwise_eligible(const ConvGeometry& g);

// fp32: planes [plane_begin, plane_end) (plane = image * channels + channel) of
// out = act(bias + conv). w: [c][k][k] (the layer's weights as given).
using DepthwiseF32Fn = void (*)(const ConvLayout& L, const float* x, const float* w, const float* bias, bool relu,
                                float* out, size_t plane_begin, size_t plane_end);
// int8: x uint8 NCHW with zero point x_zp (also the padding value); wf[c][k][k] = w - w_zp[c] as
// floats (depthwise_int8_weights); out: QConvOutput (bias_s32 and the requantization as for the
// other int8 paths).
using DepthwiseU8Fn = void (*)(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf,
                               const QConvOutput& out, size_t plane_begin, size_t plane_end);

#define LOWBIT_DW_DECLARE(isa)                                                                          \
  void depthwise_f32__##isa(const ConvLayout& L, const float* x, const float* w, const float* bias,     \
                            bool relu, float* out, size_t plane_begin, size_t plane_end);               \
  void depthwise_u8s8__##isa(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf,      \
                             const QConvOutput& out, size_t plane_begin, size_t plane_end);
LOWBIT_DW_DECLARE(ref)
LOWBIT_DW_DECLARE(avx2)
LOWBIT_DW_DECLARE(avx512)
LOWBIT_DW_DECLARE(neon)
#undef LOWBIT_DW_DECLARE

struct DepthwiseKernels {
  DepthwiseF32Fn f32;
  DepthwiseU8Fn u8s8;
};
// The kernels of an ISA (the scalar reference where the build has none for it).
DepthwiseKernels depthwise_kernels(Isa isa);

// wf[c * k * k + t] = w[c * k * k + t] - w_zp[per_channel ? c : 0], as floats (exact).
void depthwise_int8_weights(const ConvGeometry& g, const int8_t* w, const int32_t* w_zp, bool per_channel, float* wf);

}  // namespace conv
}  // namespace lowbit

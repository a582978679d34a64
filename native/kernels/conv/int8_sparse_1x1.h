// int8 1x1 convolution on the sparse fully-connected kernel (kernels/sparse_fc/sparse_fc.h),
// bit-identical to the dense path of int8.h.
//
// Why: a 1x1, stride-1, unpadded, ungrouped convolution is a fully-connected layer over pixels:
// out[pixel][co] = Σ_ci (x[ci][pixel] − x_zp) · w[co][ci], i.e. the sparse FC kernel with M =
// pixels, K = cin, N = cout and X = the input as [pixels][cin]. Both the dense path (im2col, GEMM,
// transpose) and this one compute the same exact int32 sum and then the GEMM's output pipeline
// (the sparse kernel's is the GEMM's, sparse_fc/README.md), so every output type matches bit for
// bit. The sparse kernel needs symmetric weights (no weight zero point).
//
// Per task (image, block of pixels, range of output channels): the block's NCHW input is
// transposed into scratch as [pixels][cin] (8x8 byte tiles), the kernel writes [pixels][cout] into
// scratch, and that tile is transposed into the NCHW output, as int8.cc does for the GEMM's tile.
// Tasks write disjoint outputs, so any number of threads gives identical results.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"
#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace conv {

// True when the geometry is a 1x1, stride-1, unpadded, ungrouped convolution (dilation is
// irrelevant for a 1x1 kernel): the layers this path serves.
bool qconv_sparse_1x1_applies(const ConvGeometry& g);

// How a call is cut into tasks: (image, pixel block, output-channel range).
struct QConvSparsePlan {
  size_t pixels = 0;  // oh * ow (= h * w)
  size_t block = 0;   // pixels per block
  size_t blocks = 0;  // blocks per image
  size_t parts = 1;   // output-channel ranges (bounds: parts + 1 entries, split by nonzero blocks)
  size_t bounds[65] = {0};
  size_t tasks = 0;   // n * blocks * parts
};
// A plan with at least `threads` tasks where the shape allows it (smaller pixel blocks, then
// ranges of output channels balanced by nonzero blocks).
QConvSparsePlan plan_qconv_sparse_1x1(const ConvLayout& l, const sparse_fc::SparseFcInt8Weights& w, int threads);

// Runs task `task`: x is the NCHW uint8 input (n * cin * h * w), x_zp its zero point; out as for
// qconv_u8s8_task (parameters indexed by output channel). Writes only its own outputs; thread-safe
// (thread-local scratch). w: the layer's weights as N = cout rows of K = cin (pack_sparse_fc_int8).
void qconv_sparse_1x1_task(sparse_fc::SparseFcU8S8Fn fn, const sparse_fc::SparseFcInt8Weights& w, const ConvLayout& l,
                           const QConvSparsePlan& plan, const uint8_t* x, int32_t x_zp, const QConvOutput& out, size_t task);

}  // namespace conv
}  // namespace lowbit

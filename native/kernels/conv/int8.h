// int8 dense convolution (ONNX QLinearConv / ConvInteger semantics), exact, over lowbit's int8 GEMM.
//
// Why this shape:
// - Per (image, group, block of output pixels) the input is unfolded (im2col) into rows of output
//   pixels, [pixels][K] uint8 with K = cin/groups * kh * kw in the weights' tap order, padding
//   filled with the input zero point (the quantized zero, as ONNX); then the exact GEMM multiplies
//   the rows by the group's packed weights (gemm::PackedB of the K x cout_g matrix) with its fused
//   output pipeline into [pixels][cout_g], and that tile is transposed into the NCHW output.
//   So every value is the GEMM's value: acc = Σ (x − x_zp)(w − w_zp[co]) (+ bias_s32[co]) exactly,
//   then the requantization / dequantization documented in kernels/gemm/README.md.
// - This file is baseline code (no ISA flags): it calls the GEMM through the function pointer the
//   caller passes in (gemm_kernels(isa).gemm_u8s8), so the AVX2 fast path (activations spanning
//   <= 128 values in a row block, i.e. 7-bit activations, or pair-safe weights) is picked by the
//   GEMM itself and stays exact.
// - Work is cut into independent tasks (image, group, pixel block, column chunk) writing disjoint
//   outputs, so the binding runs them on any number of threads with identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace conv {

// The weights again, for a direct kernel (qconv_u8s8_direct__avx2 / __avx512): output channels are its rows,
// output pixels its columns, so each is packed once here in the tiles the kernel broadcasts from.
//   w16: per group, ceil(cout_g / 6) tiles of [ceil(K/2)][6][2] int16 holding w - w_zp[co]
//        (the exact vpmaddwd kernel: one 32-bit broadcast = one k pair of one channel);
//   w8:  per group, ceil(cout_g / 4) tiles of [ceil(K/4)][4][4] int8 holding w as is
//        (the vpmaddubsw kernel: one 32-bit broadcast = 4 k of one channel);
// zeros beyond K and beyond cout_g (so padded k and rows contribute 0).
struct QConvDirect {
  static constexpr size_t kMRExact = 6, kMRFast = 4;
  size_t k2 = 0, k4 = 0;            // ceil(K / 2), ceil(K / 4)
  size_t group16 = 0, group8 = 0;   // int16 elements of w16 / bytes of w8 per group
  gemm::AlignedBytes w16, w8;
  std::vector<int32_t> wsum;        // cout: sum over k < K of (w - w_zp[co])  (modulo 2^32)
  std::vector<int32_t> wz;          // cout: w_zp[co]
  bool wz_all_zero = true;
  bool empty() const { return k2 == 0; }
};

// The weights as AMX B tiles for the AMX direct convolution (amx_int8.cc): K ordered (tap, channel)
// with each group's input channels padded to cpad (a multiple of 64; below 64 channels, of 16: one
// chunk whose tiles use cpad / 4 rows), one 1 KiB tile per (group,
// 16-channel output panel, tap, 64-channel chunk): byte r * 64 + i * 4 + j = w[co][ci][ky][kx] for
// co = panel * 16 + i, ci = chunk * 64 + 4 r + j (0 past cout_g or cin_g). Symmetric weights only
// (every w_zp 0): the kernel needs no per-pixel input sums then.
struct QConvAmx {
  size_t cpad = 0, chunks = 0, taps = 0, panels = 0;  // panels: ceil(cout_g / 16)
  gemm::AlignedBytes tiles;
  bool empty() const { return panels == 0; }
  size_t tile_offset(size_t grp, size_t panel, size_t tap, size_t chunk) const {
    return (((grp * panels + panel) * taps + tap) * chunks + chunk) * 1024;
  }
  const uint8_t* tile(size_t grp, size_t panel, size_t tap, size_t chunk) const {
    return tiles.data() + tile_offset(grp, panel, tap, chunk);
  }
};

// The geometries the AMX convolution serves (symmetric weights aside): >= 16 channels a group,
// kernels of <= 64 taps, and not thin (K = cin_g kh kw >= 256 and >= 32 outputs a group; thin
// layers, MobileNetV2's pointwise ones, are bound by writing their outputs, which the VNNI direct
// kernel does straight into NCHW: 24>144@56 126 vs 71 GOPS, 16>96@112 122 vs 77, 144>24@56 128 vs
// 84; from 256>64@56 on AMX wins). QConvWeights::pack builds QConvAmx only for these.
bool qconv_amx_eligible(const ConvGeometry& g);

// Packed int8 weights of a convolution: one PackedB (K x cout_g) per group (im2col + GEMM), and,
// when asked, the direct kernel's form and the AMX tiles.
struct QConvWeights {
  ConvGeometry geo;
  std::vector<gemm::PackedB> groups;
  QConvDirect direct;
  QConvAmx amx;

  // w: [cout][cin/groups][kh][kw] int8; w_zp: 1 value (per tensor) or cout values. geo must be valid.
  // with_direct: also build `direct` (when the CPU has a direct kernel: qconv_kernels()).
  // with_amx: also build `amx` where the weights are symmetric and qconv_amx_eligible(geo) (the
  // caller asks where amx_ready()).
  static QConvWeights pack(const ConvGeometry& geo, const int8_t* w, const int32_t* w_zp, bool zp_per_channel,
                           bool with_direct = false, bool with_amx = false);
  size_t memory_bytes() const;
  // true when every group's weights make the AVX2 fast path exact for any input (PackedB::maddubs_safe)
  bool maddubs_safe() const;
};

// Output of a quantized convolution, parameters indexed by global output channel (cout entries
// when per channel). Same meaning as gemm::Output: `scale` is the requantization multiplier
// (u8/s8) or dequantization scale (f32), bias_f32 in accumulator units for u8/s8, real for f32.
struct QConvOutput {
  gemm::OutType type = gemm::OutType::s32;
  void* y = nullptr;  // NCHW, n * cout * oh * ow elements of the type
  const int32_t* bias_s32 = nullptr;
  const float* scale = nullptr;
  bool scale_per_channel = false;
  const float* bias_f32 = nullptr;
  int32_t out_zp = 0, qmin = 0, qmax = 255;
  bool relu = false;  // f32 only
};

// The tiles the im2col + GEMM path and the sparse 1x1 path compute, [rows][ld] of the output type
// (row = output pixel, column = channel of the group starting at global channel co0):
// tile_output: the gemm::Output writing such a tile into `tmp` with out's parameters at co0;
// write_tile_nchw: its columns [c0, c1) into out.y (NCHW) at y_off + c * plane + row.
gemm::Output tile_output(const QConvOutput& out, size_t co0, void* tmp, size_t ld);
void write_tile_nchw(const QConvOutput& out, const void* tmp, size_t ld, size_t rows, size_t c0, size_t c1,
                     size_t y_off, size_t plane);
// Bytes per output element of a type (tile buffers).
size_t elem_size(gemm::OutType t);

// In-place transpose of an 8x8 byte matrix held as 8 rows of 8 bytes (byte j of r[i] is element
// (i, j) in memory order).
void transpose_8x8_bytes(uint64_t r[8]);

// im2col of output pixels [p_begin, p_end) (p = oy * ow + ox) of one image and one group:
// col[(p - p_begin) * K + t] = x[ci][iy][ix] for tap t = (ci * kh + ky) * kw + kx, or `pad` when
// (iy, ix) lies outside the image. x_group points at the group's first channel of the image (NCHW).
void im2col_u8(const ConvLayout& l, const uint8_t* x_group, uint8_t pad, size_t p_begin, size_t p_end,
               uint8_t* col);

// How a call is cut into tasks. Every task is (image, group, pixel block, column chunk).
// (For a direct kernel the chunks are of output channels, in multiples of 12, and blocks of pixels
// in multiples of 16.)
struct QConvPlan {
  size_t pixels = 0;          // oh * ow
  size_t block = 0;           // pixels per block
  size_t blocks = 0;          // blocks per image
  size_t chunk = 0;           // output channels per column chunk (multiple of 8, or cout_g)
  size_t chunks = 0;          // chunks per group
  size_t tasks = 0;           // n * groups * blocks * chunks
};
// A plan with at least `threads` tasks where the shape allows it (smaller blocks, then column chunks).
// direct: the plan of a direct kernel (its blocks hold K x block int16 values within L2).
QConvPlan plan_qconv(const ConvLayout& l, int threads, bool direct = false);

// Runs task `task` of `plan`: x is the NCHW uint8 input (n * cin * h * w), x_zp its zero point
// (also the padding value). Writes only its own outputs. Thread-safe (thread-local scratch).
void qconv_u8s8_task(gemm::GemmU8S8Fn gemm_fn, const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan,
                     const uint8_t* x, int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task);

// A direct kernel: runs task `task` of a direct plan, same contract as qconv_u8s8_task (w packed with
// with_direct). x_zp in [0, 255].
// What task `task` of a plan covers (the numbering every path shares: chunk fastest, then pixel
// block, group, image): image, group, output pixels [p0, p1), group-local channels [c0, c1).
struct QConvTaskRange {
  size_t img = 0, grp = 0, p0 = 0, p1 = 0, c0 = 0, c1 = 0;
};
QConvTaskRange qconv_task_range(const QConvPlan& plan, const ConvGeometry& g, size_t task);

using QConvDirectFn = void (*)(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                               int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task);
void qconv_u8s8_direct__avx2(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                             int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task);
void qconv_u8s8_direct__avx512(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                               int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task);
// The same with AMX for its im2col blocks: only where amx_ready() (cpu/cpu_features.h).
void qconv_u8s8_direct__avx512_amx(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                                   int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task);

// Rows [py0, py0 + rows) of the zero-point-padded image of one group (padded coordinates: row py is
// input row py - pad_h, column px input column px - pad_w), every channel of the group:
// buf[(ci * rows + r) * wp + px] = x[ci][py0 + r - pad_h][px - pad_w], or `pad` outside the image.
// x_group as in im2col_u8. Writes rows * cin_g * wp bytes.
void pad_rows_u8(const ConvLayout& l, const uint8_t* x_group, uint8_t pad, int py0, int rows, uint8_t* buf);

// The oracle: plain int64 loops, acc[n][co][oy][ox] = Σ (x − x_zp)(w − w_zp[co]) + bias_s32[co]
// (bias may be null). Exact integers.
void qconv_direct_s64__ref(const ConvGeometry& g, int n, int h, int w, const int8_t* weights, const int32_t* w_zp,
                           bool zp_per_channel, const uint8_t* x, int32_t x_zp, const int32_t* bias, int64_t* acc);

}  // namespace conv
}  // namespace lowbit

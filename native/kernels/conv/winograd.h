// Winograd fp32 convolution for 3x3, stride-1, undilated layers: F(2x2, 3x3) and F(4x4, 3x3).
//
// Why this shape (README.md "Winograd" states the math and the error bound):
// - Y = A^T [ sum_ci (G g_ci G^T) (.) (B^T d_ci B) ] A per m x m output tile (Lavin & Gray 2016),
//   alpha = m + 2: F(2,3) does 16 multiplies per tile and channel pair instead of 36 (2.25x fewer),
//   F(4,3) 36 instead of 144 (4x), at the price of transforms and a larger fp32 error.
// - The element-wise products over all channels are alpha^2 independent GEMMs
//   M[xi][tile][co] = sum_ci V[xi][tile][ci] U[xi][ci][co]: the kernels' time goes there.
// - Activations are re-laid out once per call as zero-padded NHWC (channels contiguous, padded to
//   multiples of 8 per group: winograd_pack_input), so both transforms work on vectors of 8
//   channels with plain loads and stores. U is transformed once at construction (in double),
//   packed as panels of 16 output channels [ci][16] for the GEMM's contiguous loads.
// - Tiles (batch included) are walked in blocks small enough that the block's V and M stay in L2;
//   a kernel call computes tiles [tile_begin, tile_end) for the output-channel panels
//   [panel_begin, panel_end) (threads split one or the other), writing NCHW output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/isa.h"
#include "kernels/conv/conv.h"

namespace lowbit {
namespace conv {

constexpr int kWinoPanel = 16;  // output channels per U panel and per GEMM column block
constexpr int kWinoChan = 8;    // channels per transform vector (input and output)

// True when Winograd applies: 3x3 kernel, stride 1, dilation 1.
bool winograd_eligible(const ConvGeometry& g);

// Everything that follows from (geometry, m, input shape).
struct WinoLayout {
  ConvGeometry geo;
  int m = 4, alpha = 6;      // output tile m x m, transform size alpha = m + 2
  int n = 0, h = 0, w = 0;   // input
  int oh = 0, ow = 0;        // output
  int ty = 0, tx = 0;        // tiles per image: ceil(oh / m) x ceil(ow / m)
  size_t tiles = 0;          // n * ty * tx
  int hp = 0, wp = 0;        // padded NHWC image: ty * m + 2 rows, tx * m + 2 columns
  int cig_p = 0;             // input channels per group rounded up to kWinoChan
  int cogp = 0;              // output channels per group rounded up to kWinoPanel
  int cp = 0;                // NHWC channel stride: groups * cig_p
  int mcols = 0;             // M's columns: groups * cogp
  int panels = 0;            // mcols / kWinoPanel
  size_t nhwc_floats = 0;    // n * hp * wp * cp
  int tile_block = 0;        // tiles per block (V and M of a block fit ~L2)
  size_t out_floats() const { return (size_t)n * geo.cout * oh * ow; }
  size_t in_floats() const { return (size_t)n * geo.cin * h * w; }
};

// "" or the reason (not eligible, m not 2 or 4, input smaller than the kernel, too large).
std::string make_wino_layout(const ConvGeometry& g, int m, int n, int h, int w, WinoLayout* out);

// Transformed weights U = G g G^T, per group and xi = i * alpha + j, panels of kWinoPanel output
// channels: u[((g * alpha^2 + xi) * ppg + p) * cig_p * 16 + ci * 16 + c] (ppg = cogp / 16), zero
// for padded channels. Computed in double, rounded once.
struct WinogradWeights {
  ConvGeometry geo;
  int m = 4, alpha = 6, cig_p = 0, cogp = 0;
  std::vector<float> u;
  // Sparse Winograd (Li, Park, Tang 2017: pruning in the Winograd domain), after prune(): per
  // (group, xi, panel) = index b, the rows ci of U whose 16 coefficients are not all zero:
  // sp_ci[sp_ptr[b] .. sp_ptr[b + 1]), their 16 values at sp_u[(sp_ptr[b] + j) * 16]. The kernels
  // then run the GEMM over those rows only. `u` keeps the pruned values (zeros included).
  bool sparse = false;
  std::vector<int32_t> sp_ptr, sp_ci;
  std::vector<float> sp_u;
  static WinogradWeights transform(const ConvGeometry& geo, int m, const float* w);
  // Zeroes the round(sparsity * blocks) blocks of U with the smallest sum |u| (a block: one input
  // channel x one panel of 16 output channels of one xi; ties by position) and builds the sparse
  // index. sparsity in [0, 1]. Returns the fraction of U's real coefficients that are zero.
  double prune(double sparsity);
  double density() const;  // nonzero blocks / blocks (1 when not pruned)
  size_t memory_bytes() const { return sizeof(*this) + u.size() * sizeof(float); }
  int panels_per_group() const { return cogp / kWinoPanel; }
};

// NCHW input -> zero-padded NHWC (L.nhwc_floats): pixel (b, y, x) of padded channel
// g * cig_p + c at ((b * hp + y) * wp + x) * cp + g * cig_p + c; input pixel (y, x) lands at
// (y + pad_h, x + pad_w). Rows [row_begin, row_end) of the n * hp padded rows (threads split them).
void winograd_pack_input(const WinoLayout& L, const float* input, float* nhwc, size_t row_begin, size_t row_end);

// Computes tiles [tile_begin, tile_end) of output-channel panels [panel_begin, panel_end) (global
// panel index j: group j / ppg): out (NCHW) = act(bias + conv). nhwc is winograd_pack_input's
// buffer. Never writes output channels outside the panels nor pixels outside the tiles.
using WinogradFn = void (*)(const WinogradWeights& w, const WinoLayout& L, const float* nhwc, const float* bias,
                            bool relu, float* out, size_t tile_begin, size_t tile_end, int panel_begin,
                            int panel_end);

#define LOWBIT_WINO_DECLARE(isa)                                                                    \
  void winograd_conv_f32__##isa(const WinogradWeights& w, const WinoLayout& L, const float* nhwc,   \
                                const float* bias, bool relu, float* out, size_t tile_begin,        \
                                size_t tile_end, int panel_begin, int panel_end);
LOWBIT_WINO_DECLARE(ref)
LOWBIT_WINO_DECLARE(avx2)
LOWBIT_WINO_DECLARE(avx512)
LOWBIT_WINO_DECLARE(neon)
#undef LOWBIT_WINO_DECLARE

// The kernel of an ISA (the scalar reference where the build has none for it).
WinogradFn winograd_kernel(Isa isa);

// The error scale of the README's bound, per output (same NCHW order as the output), in double:
// E = |bias| + |A^T| ( sum_ci (|G| |g_ci| |G|^T) (.) (|B^T| |d_ci| |B|) ) |A| per tile.
// The bound: |y - y_exact| <= (cin_g + 4 alpha + 4) * 2^-23 * E.
void winograd_error_scale(const ConvGeometry& g, int m, int n, int h, int w, const float* weights,
                          const float* input, const float* bias, double* scale);

// The transform matrices (row-major): BT alpha x alpha, G alpha x 3, AT m x alpha.
const double* winograd_bt(int m);
const double* winograd_g(int m);
const double* winograd_at(int m);

}  // namespace conv
}  // namespace lowbit

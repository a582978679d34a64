// fp32 convolution kernel core: direct sparse convolution and the dense baseline.
//
// Why this shape of API:
// - The activations are NCHW fp32. A convolution reads its input through a *padded* copy
//   (pad_input): zero borders of `pad` pixels, and for stride s > 1 the padded image split into
//   s*s phase planes (space-to-depth), so that for every stride the pixels a kernel tap touches
//   for consecutive output columns are consecutive floats. Then every kernel tap (ci, ky, kx) is
//   one integer offset into the padded input, and output pixel q reads tap t at offset[t] + q:
//   no im2col for the sparse kernel (Park et al. 2017, "direct sparse convolution").
// - Offsets depend on the input shape (the padded width), so weights are bound once per input
//   shape: SparseConvWeights::bind() builds (and caches) the (value, offset) stream per nonzero.
// - Output pixels are computed on a "virtual" grid of OH rows x Wq columns (Wq = padded width / s,
//   rounded up); columns ox >= OW are computed into registers and dropped. So a register tile of
//   output pixels is always one contiguous run of input floats for each tap.
// - The dense path (the fallback and the baseline the sparse path must beat) is a packed-weight
//   fp32 GEMM: out[co][p] = sum_k W[co][k] * col[k][p], where col is never materialised: the
//   kernel packs panels of NR pixels straight from the padded input with the same tap offsets.
// - Every kernel of a family has one signature (ref = plain loops), computes a range of output
//   channels [oc_begin, oc_end) for all images of the batch, keeps only thread-local scratch, and
//   never reads outside the padded input (ConvLayout::padded_floats) or writes outside its output
//   channels. Weights and bindings are read-only once built: threads may share them.
// README.md in this folder states the math, the layouts and the tolerance model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lowbit {
namespace conv {

// Convolution geometry. Weights are [cout][cin / groups][kh][kw] (PyTorch / ONNX order).
struct ConvGeometry {
  int cin = 0, cout = 0;
  int kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;

  int cin_g() const { return cin / groups; }
  int cout_g() const { return cout / groups; }
  int taps() const { return cin_g() * kh * kw; }  // K: reduction length of one output
  // 1x1, stride 1, unpadded: an output pixel is its input pixel (dilation does not matter)
  bool pointwise() const { return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0; }
};

// "" if the geometry is valid, else the reason (channels, kernel, stride, dilation >= 1;
// 0 <= pad < kernel extent; groups divide both channel counts).
std::string validate_geometry(const ConvGeometry& g);

// Everything that follows from (geometry, input shape): output shape, padded layout, tap offsets.
struct ConvLayout {
  ConvGeometry geo;
  int n = 0, h = 0, w = 0;  // input batch, height, width
  int oh = 0, ow = 0;       // output height, width
  int sh = 1, sw = 1;       // strides (= phases per axis)
  int hp = 0, wp = 0;       // padded image: h + 2 pad_h, w + 2 pad_w
  int hq = 0, wq = 0;       // one phase plane: ceil(hp / sh) x ceil(wp / sw)
  size_t plane = 0;         // hq * wq
  size_t chan_stride = 0;   // sh * sw * plane: floats per input channel in the padded buffer
  size_t image_stride = 0;  // cin * chan_stride
  size_t padded_floats = 0; // n * image_stride + slack: size of the padded buffer
  size_t q_virtual = 0;     // oh * wq: virtual output pixels per image (columns >= ow dropped)
  // True when the kernels read the caller's NCHW input as is (1x1, stride 1, no padding):
  // then pad_input is a no-op and the "padded" buffer is the input itself (no slack needed).
  bool direct = false;
  // koff[t], t = (ci * kh + ky) * kw + kx (ci group-local): offset of tap t in the padded buffer,
  // relative to the group's first channel and to the output pixel's virtual index q.
  std::vector<int32_t> koff;

  size_t out_pixels() const { return (size_t)oh * ow; }
  // Output length in floats: n * cout * oh * ow.
  size_t out_floats() const { return (size_t)n * geo.cout * oh * ow; }
  size_t in_floats() const { return (size_t)n * geo.cin * h * w; }
};

// Builds the layout; returns "" or the reason (bad geometry, input smaller than the kernel,
// or more than 2^31 floats per image). n, h, w >= 1.
std::string make_layout(const ConvGeometry& g, int n, int h, int w, ConvLayout* out);

// Copies NCHW input (layout.in_floats()) into the padded, phase-split buffer of
// layout.padded_floats floats (borders and slack zeroed). For a direct layout it only copies.
void pad_input(const ConvLayout& layout, const float* input, float* padded);

// ---------------------------------------------------------------------------------------------
// Sparse weights: CSR per output channel over the taps, exact zeros dropped.

struct Nonzero {  // one element of a bound nonzero stream: weight and its input offset
  float w;
  int32_t off;
};

struct SparseBinding {
  ConvLayout layout;
  std::vector<int32_t> row_ptr;  // cout + 1, as SparseConvWeights::row_ptr
  std::vector<Nonzero> nz;       // same order as SparseConvWeights::values
};

// A small thread-safe cache of bindings; a copy starts empty (bindings belong to one weights object).
struct BindingCache {
  BindingCache() = default;
  BindingCache(const BindingCache&) {}
  BindingCache& operator=(const BindingCache&) {
    std::lock_guard<std::mutex> lock(mu);
    entries.clear();
    return *this;
  }
  std::mutex mu;
  std::vector<std::shared_ptr<const SparseBinding>> entries;
};

class SparseConvWeights {
 public:
  ConvGeometry geo;
  std::vector<int32_t> row_ptr;  // cout + 1: nonzeros of channel co are [row_ptr[co], row_ptr[co+1])
  std::vector<int32_t> tap;      // tap index t = (ci * kh + ky) * kw + kx, ci group-local, ascending
  std::vector<float> values;

  // From dense weights [cout][cin/groups][kh][kw]; drops exact zeros (+0 and -0). geo must be valid.
  static SparseConvWeights from_dense(const ConvGeometry& geo, const float* w);

  size_t nnz() const { return values.size(); }
  size_t nnz(int co) const { return (size_t)(row_ptr[co + 1] - row_ptr[co]); }
  double sparsity() const {  // fraction of zero weights
    const double total = (double)geo.cout * geo.taps();
    return total > 0 ? 1.0 - (double)nnz() / total : 0.0;
  }
  // The binding for an input shape; the last few shapes are cached (thread-safe).
  // Returns nullptr and sets *err if the shape is invalid.
  std::shared_ptr<const SparseBinding> bind(int n, int h, int w, std::string* err = nullptr) const;
  size_t memory_bytes() const;

 private:
  mutable BindingCache cache_;
};

// Splits [0, cout) into `parts` contiguous ranges of about equal work (nonzeros plus a per-channel
// store cost). bounds gets parts + 1 entries, bounds[0] = 0, bounds[parts] = cout; some ranges may
// be empty when parts > cout.
void split_by_nonzeros(const SparseConvWeights& w, int parts, std::vector<int>* bounds);

// Sparse convolution of output channels [oc_begin, oc_end), all images: out (NCHW, n*cout*oh*ow)
// = bias[co] (nullptr: 0) + sum of w * padded[offset + ...], then max(0, .) if relu.
// `padded` is pad_input's buffer (binding.layout.padded_floats floats), or the input itself when
// the layout is direct.
using SparseConvFn = void (*)(const SparseBinding& b, const float* padded, const float* bias,
                              bool relu, float* out, int oc_begin, int oc_end);

// ---------------------------------------------------------------------------------------------
// Dense weights, packed for the fp32 GEMM: per group, per K block of kKc taps, panels of kMr output
// channels, each panel [k][kMr] (zero rows past cout_g). The same layout serves every ISA.

constexpr int kMr = 6;
constexpr int kKc = 256;
// Output channels per panel of the channel-lane layout (lanes()).
constexpr int kCn = 16;

class DenseConvWeights {
 public:
  ConvGeometry geo;
  int m_pad = 0;            // cout_g rounded up to kMr
  size_t group_floats = 0;  // taps * m_pad
  std::vector<float> packed;

  // The same weights for the channel-lane kernel (small planes, impl.h): per group, panels of kCn
  // output channels, each [K][kCn] (zero channels past cout_g). Packed on first use (most layers
  // never need it), thread-safe; lanes_panels() panels per group.
  const std::vector<float>& lanes() const;
  int lanes_panels() const { return (geo.cout_g() + kCn - 1) / kCn; }

  static DenseConvWeights pack(const ConvGeometry& geo, const float* w);
  // W[co][t] read back from the packed layout (co global, t tap index).
  float at(int co, int t) const {
    const int g = co / geo.cout_g(), m = co % geo.cout_g();
    const int K = geo.taps(), k0 = t / kKc * kKc, kc = (K - k0) < kKc ? (K - k0) : kKc;
    return packed[g * group_floats + (size_t)k0 * m_pad + (size_t)(m / kMr) * kMr * kc +
                  (size_t)(t - k0) * kMr + m % kMr];
  }
  size_t memory_bytes() const { return sizeof(*this) + packed.size() * sizeof(float); }

 private:
  struct LanesCache;
  std::shared_ptr<LanesCache> lanes_;  // packed from `packed` on first use
};

// The dense kernels' blocking and the work they compute for a layout, padding included (output
// rows x pixels per image and group), which picks between them and feeds the performance model:
// - pixel panels (V::N-lane vectors, NR-pixel panels): pixels in blocks of pixel_block(P, NR),
//   whole panels, a tail of <= N pixels as one vector; rows rounded to kMr;
// - channel lanes: kCn-channel panels, lane_rows(P) pixels per microkernel row group.
// Pixels per B block: about 192 (flat within noise for 96..768 on Zen 3), balanced so that the
// last block is not a sliver (196 pixels run as 2 x 112, not 192 + 4: every block streams A once).
size_t pixel_block(size_t P, size_t NR);
// The R in [4, 6] with the fewest padded pixels (the larger on ties: fewer calls).
int lane_rows(size_t P);
double dense_panel_work(const ConvLayout& L, int N, int NR);
double dense_lane_work(const ConvLayout& L);
// The channel-lane kernel packs its B rows with scalar copies and keeps its sums in memory across
// K blocks, so it is chosen only when it computes clearly (8%) less padding.
inline bool prefer_channel_lanes(const ConvLayout& L, int N, int NR) {
  return dense_lane_work(L) * 1.08 < dense_panel_work(L, N, NR);
}

// Which dense kernel runs (tests and benches force one; kAuto picks by the work each wastes).
enum class DenseVariant { kAuto, kPixelPanels, kChannelLanes };
void set_dense_variant(DenseVariant v);
DenseVariant dense_variant();

// Dense convolution of output channels [oc_begin, oc_end), all images; same contract as SparseConvFn.
using DenseConvFn = void (*)(const DenseConvWeights& w, const ConvLayout& layout, const float* padded,
                             const float* bias, bool relu, float* out, int oc_begin, int oc_end);

// ---------------------------------------------------------------------------------------------
// Sparse fully-connected: Y[co][j] = bias[co] + sum_k W[co][k] X[g*K + k][j] (g = co's group,
// K = cin / groups), X is cin x ncols row-major
// (feature-major: for a 1x1 convolution of one image, ncols = H*W and X is the image itself;
// for a batch-major FC, transpose first). W is a SparseConvWeights of a 1x1 geometry (cin = K).
// Never reads past X[K * ncols). Rows [oc_begin, oc_end) of Y (cout x ncols) are written.
using SparseFcFn = void (*)(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias,
                            bool relu, float* y, int oc_begin, int oc_end);

#define LOWBIT_CONV_DECLARE(isa)                                                                     \
  void sparse_conv_f32__##isa(const SparseBinding& b, const float* padded, const float* bias,        \
                              bool relu, float* out, int oc_begin, int oc_end);                      \
  void dense_conv_f32__##isa(const DenseConvWeights& w, const ConvLayout& layout, const float* padded, \
                             const float* bias, bool relu, float* out, int oc_begin, int oc_end);    \
  void sparse_fc_f32__##isa(const SparseConvWeights& w, const float* x, size_t ncols,                \
                            const float* bias, bool relu, float* y, int oc_begin, int oc_end);

LOWBIT_CONV_DECLARE(ref)
LOWBIT_CONV_DECLARE(avx2)
LOWBIT_CONV_DECLARE(avx512)
LOWBIT_CONV_DECLARE(neon)
#undef LOWBIT_CONV_DECLARE

// The oracle: plain loops on the unpadded NCHW input and the original dense weights, accumulated
// in double; also returns, when absw_x is not null, sum |bias| + sum |w * x| per output (the scale
// of the tolerance). Dilation, any stride and padding.
void conv2d_direct_f64__ref(const ConvGeometry& g, int n, int h, int w, const float* weights,
                            const float* input, const float* bias, bool relu, double* out,
                            double* absw_x);

// ---------------------------------------------------------------------------------------------
// Magnitude pruning: zeroes the round(sparsity * count) weights (or blocks) of smallest magnitude.
// The weights are viewed as a matrix rows x cols (for a convolution: cout x taps). Blocks are
// block_rows x block_cols tiles (edge tiles smaller), ranked by the sum of |w| over the tile;
// 1 x 1 is unstructured pruning. Ties are broken by position (the earlier one is pruned first),
// so the result is deterministic. out may equal w. Returns the number of weights zeroed by the
// call (already-zero weights inside pruned blocks count too).
size_t prune_magnitude(const float* w, int rows, int cols, double sparsity, float* out,
                       int block_rows = 1, int block_cols = 1);

}  // namespace conv
}  // namespace lowbit

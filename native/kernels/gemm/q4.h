// 4-bit weights with outliers kept in int8 (value-aware quantization, Park et al. 1804.07802):
// y[m][n] = a_scale * ( sum_g s[n][g] * I4[m][n][g]  +  so[n] * Io[m][n] )  (+ bias[n], ReLU)
//   I4[m][n][g] = sum_{k in group g} (A[m][k] - a_zp) * q[k][n],   q in [-8, 7]   (exact int32)
//   Io[m][n]    = sum_{outliers (k, v) of column n} (A[m][k] - a_zp) * v,  v in [-127, 127]
// A is uint8 (dynamic 8-bit activations), K x N weights with groups of `group` consecutive k per
// output (32, 64, 128, or one group per output: per channel). The largest-magnitude weights are
// taken out before the 4-bit scales are chosen, so the groups' scales fit the rest.
//
// The fp32 steps are separate IEEE operations in this order on every ISA (-ffp-contract=off):
//   f = 0;  for g ascending: f = f + float(I4_g) * s[n][g];   f = f + float(Io) * so[n];
//   y = f * a_scale;  y = y + bias[n];  if relu: y = y > 0 ? y : 0
// so every kernel returns the same bits as q4_ref (the integer sums are exact by construction:
// |a * q| <= 255 * 8, vpmaddubsw pairs <= 4080, never saturating).
//
// Packed layout (the same on every ISA): panels of 8 columns; per panel, chunks of 8 k, 32 bytes:
//   byte c * 4 + j of chunk t:  low nibble q[8t + j][c] + 8,  high nibble q[8t + 4 + j][c] + 8
// so the low nibbles form the int8 GEMM's 8-column x 4-k block of k 8t..8t+3 (gemm.h), the high
// nibbles that of 8t+4..8t+7. K is padded with zero weights (nibble 8) to groups * group.
// Scales: [panel][group][8] fp32; qsum[panel][group][8] = sum of q over the group (the a_zp term).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace gemm {

constexpr size_t kQ4ChunkK = 8;       // k values per 32-byte chunk of a panel
constexpr size_t kQ4ChunkBytes = 32;  // 8 columns x 8 k x 4 bits

struct Q4Weights {
  size_t K = 0, N = 0;
  size_t group = 0;   // k per group (32, 64, 128, or Kp when per channel)
  size_t groups = 0;  // ceil(K / group)
  size_t Kp = 0;      // groups * group
  size_t panels = 0;  // ceil(N / 8)
  bool per_channel = false;
  AlignedBytes data;            // panels * (Kp / 8) * 32
  std::vector<float> scales;    // panels * groups * 8 (0 beyond N)
  std::vector<int32_t> qsum;    // panels * groups * 8
  // outliers in compressed columns (k ascending per column), int8 values with one scale per column
  std::vector<uint32_t> out_start;  // N + 1
  std::vector<uint32_t> out_k;
  std::vector<int8_t> out_v;
  std::vector<float> out_scale;     // N
  std::vector<int32_t> out_vsum;    // N: sum of column n's values (the a_zp term)

  size_t chunks() const { return Kp / kQ4ChunkK; }
  size_t memory_bytes() const {
    return sizeof(*this) + data.size() + scales.size() * 4 + qsum.size() * 4 + out_start.size() * 4 +
           out_k.size() * 4 + out_v.size() + out_scale.size() * 4 + out_vsum.size() * 4;
  }
  int q(size_t k, size_t n) const {  // the 4-bit weight at (k, n), in [-8, 7]
    const uint8_t b = data.data()[((n / kPanelN) * chunks() + k / kQ4ChunkK) * kQ4ChunkBytes + (n % kPanelN) * 4 + k % 4];
    return ((k % kQ4ChunkK) < 4 ? (b & 15) : (b >> 4)) - 8;
  }
  float scale(size_t n, size_t g) const { return scales[((n / kPanelN) * groups + g) * kPanelN + n % kPanelN]; }
};

struct Q4Options {
  size_t group = 128;         // 32, 64, 128; 0: per output channel
  double outlier_fraction = 0.01;  // of all weights, the largest |w| (ignored when threshold > 0)
  double outlier_threshold = 0;    // > 0: every |w| >= threshold is an outlier
};

// Quantizes fp32 weights given N x K (w[n * K + k], PyTorch's Linear.weight). Finite values only
// (the caller checks). Returns the packed form.
Q4Weights quantize_q4(const float* w_nk, size_t K, size_t N, const Q4Options& o);

// Packs given 4-bit values (q_nk in [-8, 7], N x K), scales (N x groups) and outliers (per column,
// k ascending, values in [-127, 127]). The tests build weights with it; quantize_q4 calls it.
Q4Weights pack_q4(const int8_t* q_nk, const float* scales_ng, size_t K, size_t N, size_t group,
                  bool per_channel, const std::vector<uint32_t>& out_start, const std::vector<uint32_t>& out_k,
                  const std::vector<int8_t>& out_v, const float* out_scale);

// The weights as fp32 (what the product uses: dequantized 4-bit + outliers), N x K.
std::vector<float> dequantize_q4(const Q4Weights& w);

// Portable bytes ("LBQ4", version 1, little-endian) and back; deserialize checks every field
// (sizes, group, finite scales, zero padding, outlier indices in range and ascending) and returns
// false on any inconsistency, leaving *out unchanged.
std::vector<uint8_t> serialize_q4(const Q4Weights& w);
bool deserialize_q4(const uint8_t* bytes, size_t size, Q4Weights* out);

// One call: rows [r.m_begin, r.m_end) and columns [r.n_begin, r.n_end) of y (fp32, y[m * ldy + n]).
// a: uint8, row m at a + m * lda, K bytes read per row.
struct Q4Call {
  const uint8_t* a = nullptr;
  size_t lda = 0;
  int32_t a_zp = 0;
  float a_scale = 1.0f;
  const float* bias = nullptr;  // N or null
  bool relu = false;
  float* y = nullptr;
  size_t ldy = 0;
};
using Q4GemmFn = void (*)(const Q4Weights& w, const Q4Call& c, const Range& r);

void q4_gemm__ref(const Q4Weights& w, const Q4Call& c, const Range& r);
void q4_gemm__avx2(const Q4Weights& w, const Q4Call& c, const Range& r);
void q4_gemm__avx512(const Q4Weights& w, const Q4Call& c, const Range& r);
void q4_gemm__dotprod(const Q4Weights& w, const Q4Call& c, const Range& r);

// The kernel for an ISA (the best compiled one that ISA can run; ref where none).
Q4GemmFn q4_kernel(int isa);

}  // namespace gemm
}  // namespace lowbit

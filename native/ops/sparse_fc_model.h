// The performance model that picks the sparse or the dense int8 kernel for a QuantizedLinear call.
//
// Why a calibrated model and not a sparsity threshold: the break-even block sparsity moves with
// the batch M (README.md, "Performance": ~80% at M = 1, below 70% at M >= 16), with whether the
// dense GEMM may take its vpmaddubsw path (weights or activations narrow enough) and with the ISA
// (a VNNI dense GEMM leaves the sparse kernel less room). So both times are predicted from what
// the layer fixes and what the call brings:
//
//   sparse(M) = tiles(M) * (nnz * tile_block + N * tile_row) + partial(M) * K * partial_k
//             + ones(M) * (nnz * one_block + N * one_row)
//       tiles(M): R-row tiles with 2..R rows (a 2-row tile costs as much as a full one), R the
//       kernel's tile_rows (8 on AVX2 and NEON, 16 on AVX-512 VNNI);
//       partial(M) = 1 when the last tile has 2..R-1 rows (packed by a slower loop where the
//       kernel has one);
//       ones(M) = 1 when M mod R == 1 (the last row runs the one-row kernel), else 0;
//       tile_* for the fast (vpmaddubsw, maddubs_safe weights) or the exact tile path (VNNI: one
//       path, exact for any weights, calibrated as both);
//   dense(M)  = W * d(W, M),  W = round_up(N, 8) * round_up(K, 4) weights
//       d: seconds per weight, measured on two layer sizes (weights streaming from L3, and in L2
//       with the fixed costs weighing more), interpolated between them in log W (clamped), and at
//       M = 1, 2, 4, ..., 64, interpolated linearly in M (extrapolated per row beyond 64); for
//       full-range and for narrow (7-bit) activations: the dense AVX2 kernel runs vpmaddubsw on those.
//
// The rates are measured once per ISA level on the running CPU by calibrate() (~20 ms: a dense
// GEMM at 7 batch sizes and the three sparse paths at two sparsities, interleaved, best of 3
// rounds, thread CPU time so that a busy neighbour does not skew one variant). The scalar level is
// calibrated on a smaller layer (its kernels are ~50x slower); it only serves debugging.
#pragma once

#include <cstddef>
#include <string>

#include "cpu/dispatch.h"
#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace sparse_fc {

// What the model needs to know of a layer's weights (kept even where the packed sparse weights
// are not, so that explain() can still predict).
struct SparseShape {
  size_t N = 0, K = 0, nnz_blocks = 0;
  bool maddubs_safe = false;
  double block_sparsity() const {
    const double total = (double)N * (double)((K + kBlockK - 1) / kBlockK);
    return total > 0 ? 1.0 - (double)nnz_blocks / total : 0.0;
  }
};
SparseShape shape_of(const SparseFcInt8Weights& w);
// The same counts from N x K weights without packing them (pack.cc's block and pair rules).
SparseShape shape_of(const int8_t* w, size_t N, size_t K);

struct Prediction {
  double sparse_s = 0, dense_s = 0;  // predicted seconds for one call on one thread
  bool use_sparse = false;
};

struct PerfModel {
  static constexpr int kTableSize = 7;
  static constexpr size_t kTableM[kTableSize] = {1, 2, 4, 8, 16, 32, 64};
  // dense_s_per_weight[layer][narrow][i]: dense call time at M = kTableM[i] over the weights
  // round_up(N,8)*round_up(K,4) of calibration layer `layer` (dense_weights[layer] of them).
  // Defaults: Zen 3 AVX2 figures, so that an uncalibrated model is sane.
  double dense_weights[2] = {786432, 81920};
  double dense_s_per_weight[2][2][kTableSize] = {
      {{24e-12, 26e-12, 32e-12, 57e-12, 115e-12, 225e-12, 450e-12}, {22e-12, 24e-12, 28e-12, 45e-12, 85e-12, 170e-12, 340e-12}},
      {{28e-12, 30e-12, 36e-12, 60e-12, 125e-12, 245e-12, 480e-12}, {26e-12, 28e-12, 32e-12, 50e-12, 95e-12, 185e-12, 360e-12}}};
  size_t tile_rows = 8;                                       // R: rows per sparse tile
  double one_block_s = 0.7e-9, one_row_s = 2e-9;              // one-row kernel (M mod R == 1)
  double tile_block_s[2] = {1.1e-9, 1.0e-9}, tile_row_s[2] = {8e-9, 8e-9};  // [fast] R-row tile
  double partial_k_s = 2.5e-9;  // packing a tile of 2..R-1 rows, per k
  // Sparse is chosen when predicted faster than dense by this factor: near break-even the model's
  // error (~5% on the shared machines it was measured on) could pick the slower kernel, and dense
  // (no per-call activation packing of its own, the better-tuned kernel) is the safe side. The
  // cost: where sparse is really up to 4% faster, auto runs dense.
  double margin = 1.04;

  // narrow: the dense kernel may use its fast path for this call's activations (they span at most
  // 128 values, or the packed dense weights are maddubs-safe).
  Prediction predict(const SparseShape& w, size_t M, bool narrow) const;
  double dense_seconds(size_t N, size_t K, size_t M, bool narrow) const;
  double sparse_seconds(const SparseShape& w, size_t M) const;
  // True if sparse is predicted faster for some batch size (M = 1, 2, 8, 9, 16, 64, 1024, either
  // kind of activations), or within `band` of dense there (a layer whose calls are timed when the
  // two predictions are that close must keep the sparse weights to time them): where it is not, a
  // layer need not keep the sparse weights at all.
  bool sparse_can_win(const SparseShape& w, double band = 1.0) const;
  std::string describe() const;  // the rates, one line
};

// Measures the rates with the kernels of `isa` (which must be supported).
PerfModel calibrate(Isa isa);

// The model of `isa`, calibrated on first use and cached for the process (thread-safe).
const PerfModel& model_for(Isa isa);

}  // namespace sparse_fc
}  // namespace lowbit

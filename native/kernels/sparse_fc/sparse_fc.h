// int8 sparse fully-connected / 1x1 kernel core: Y = (X - x_zp) * W^T, int32 exact, with the
// output pipelines of the int8 GEMM (kernels/gemm/gemm.h), bit-identical to the dense GEMM on the
// same weights.
//
// Why this shape of API:
// - W (int8, N x K, row n = output channel n) is packed once into 1x4 blocks: for each row n the
//   list of its nonzero blocks, each a k-group index g (k0 = 4g) and the 4 weights W[n][4g..4g+3].
//   A block is kept if any of its 4 weights is nonzero; K is padded to a multiple of 4 with zeros.
//   The format is the same on every ISA (AVX2 consumes a block as one broadcast 32-bit lane, NEON
//   as 4 multiply-by-lane steps), so one object serves every level.
// - Pack time also stores the row sums of W (the zero-point correction x_zp * rowsum[n]) and
//   whether vpmaddubsw is provably exact for these weights (the pair check of gemm.h).
// - X is M x K uint8, row-major (row j at x + j * ldx): M = batch (FC) or pixels (1x1 conv, NHWC).
//   The output has the GEMM's layout: element (j, n) at out.c[j * ldc + n].
// - A call computes all M rows for the output channels [n_begin, n_end): threads split N
//   (split_by_blocks balances the nonzero work) and write disjoint outputs.
// - Kernels read X rows j < M, bytes [0, K) only; the N-entry parameter arrays; write only
//   out.c[j * ldc + n] for j < M, n in [n_begin, min(n_end, N)). Thread-local scratch only.
// README.md in this folder states the math, the format and the exactness argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace sparse_fc {

constexpr size_t kBlockK = 4;  // weights per block (1 x 4)

class SparseFcInt8Weights {
 public:
  size_t N = 0, K = 0;
  size_t k_groups = 0;            // ceil(K / 4)
  std::vector<uint32_t> row_ptr;  // N + 1: blocks of row n are [row_ptr[n], row_ptr[n + 1])
  std::vector<uint32_t> kg;       // per block: its k group (k0 = 4 * kg), ascending within a row
  std::vector<int8_t> w;          // per block: 4 weights W[n][k0 + i], i = 0..3 (0 past K)
  std::vector<int32_t> row_sum;   // N: sum over k < K of W[n][k]
  // For every block, pairs (w0, w1) and (w2, w3): 255*(max(a,0)+max(b,0)) <= 32767 and
  // 255*(max(-a,0)+max(-b,0)) <= 32768, i.e. vpmaddubsw with any uint8 X cannot saturate.
  bool maddubs_safe = true;

  size_t nnz_blocks() const { return kg.size(); }
  size_t nnz_blocks(size_t n) const { return (size_t)(row_ptr[n + 1] - row_ptr[n]); }
  double block_sparsity() const {  // fraction of the N * ceil(K/4) blocks that are all zero
    const double total = (double)N * (double)k_groups;
    return total > 0 ? 1.0 - (double)nnz_blocks() / total : 0.0;
  }
  int8_t weight(size_t n, size_t k) const;  // W[n][k] read back (binary search; tests)
  size_t memory_bytes() const {             // everything this object owns
    return sizeof(*this) + (row_ptr.size() + kg.size()) * sizeof(uint32_t) + w.size() +
           row_sum.size() * sizeof(int32_t);
  }
};

// Packs W, N x K row-major (element (n, k) at w[n * K + k]); N >= 1, K >= 1, and the number of
// nonzero blocks < 2^32.
SparseFcInt8Weights pack_sparse_fc_int8(const int8_t* w, size_t N, size_t K);

// Splits [0, N) into `parts` contiguous ranges of about equal work (blocks plus a per-row cost);
// bounds gets parts + 1 entries, bounds[0] = 0, bounds[parts] = N (some ranges may be empty).
void split_by_blocks(const SparseFcInt8Weights& w, size_t parts, std::vector<size_t>* bounds);

// out(j, n) = pipeline( sum_k (X[j][k] - x_zp) * W[n][k]  (+ bias_s32[n]) )  modulo 2^32,
// for j < M, n in [n_begin, min(n_end, N)); gemm::Output as for the GEMM (README.md there).
using SparseFcU8S8Fn = void (*)(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M,
                                int32_t x_zp, const gemm::Output& out, size_t n_begin, size_t n_end);

#define LOWBIT_SPARSE_FC_DECLARE(isa)                                                                \
  void sparse_fc_u8s8__##isa(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M, \
                             int32_t x_zp, const gemm::Output& out, size_t n_begin, size_t n_end);

LOWBIT_SPARSE_FC_DECLARE(ref)
LOWBIT_SPARSE_FC_DECLARE(avx2)
LOWBIT_SPARSE_FC_DECLARE(avx512)
LOWBIT_SPARSE_FC_DECLARE(neon)
#undef LOWBIT_SPARSE_FC_DECLARE

// Per-thread counters of the row tiles each x86 path ran (tests prove which path ran): the AVX2
// exact and vpmaddubsw tiles, the AVX-512 VNNI tiles (16 rows, or one row).
struct PathCounters {
  uint64_t exact_tiles = 0, fast_tiles = 0, vnni_tiles = 0;
};
PathCounters& path_counters();

}  // namespace sparse_fc
}  // namespace lowbit

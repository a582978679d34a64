// The sparse side of the QuantizedLinear binding (gemm.cc): running the int8 sparse FC kernel with
// the binding's arguments, and the conversions between the dense and the sparse packed weights.
//
// Why here and not in the kernel core: these are the binding's concerns (int8 activations, the
// `threads` option, rebuilding one packed form from the other for serialize), while the kernels
// stay one signature over uint8 activations.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace napi {

// out(j, n) for j < M, every n: the sparse kernel on `threads` threads, N split by nonzero blocks
// (split_by_blocks). int8 activations are shifted to uint8 first (x + 128, zero point + 128: the
// same differences x - zp, so the same exact result).
void run_sparse_fc(const SparseFcKernels& k, const sparse_fc::SparseFcInt8Weights& w, const uint8_t* x, bool x_signed,
                   size_t ldx, size_t M, int32_t x_zp, const gemm::Output& out, int threads);

// True if the M rows (K values each, row j at a + j * lda) span at most 128 values: the dense AVX2
// GEMM then takes its vpmaddubsw path (gemm/README.md), which the performance model must know.
bool activations_narrow(const uint8_t* a, bool a_signed, size_t lda, size_t M, size_t K);

// W as N x K row-major (element (n, k) = B[k][n]), from either packed form.
std::vector<int8_t> weights_nk(const gemm::PackedB& b);
std::vector<int8_t> weights_nk(const sparse_fc::SparseFcInt8Weights& w);

}  // namespace napi
}  // namespace lowbit

// Sparse residual for the AVX2 fast path: full-range int8 weights B split at pack time into a
// dense part D whose vpmaddubsw pairs cannot saturate with any uint8 activations, and a sparse
// residual R = B - D (README.md, "Residual split"). Every kernel adds R's product to its int32
// tile before the epilogue (driver.h), so the result is exactly the product with B.
//
// Why a residual and not two dense halves: splitting every element (B = 2*Bhi + Blo) doubles the
// multiply work, which cost more than the exact int16 kernel; here only a pair whose two weights
// have the same sign and |b0| + |b1| > 128 moves one weight, so the residual is ~1% of the weights
// for Gaussian (per-channel quantized) weights and the dense part runs the fast kernel unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lowbit {
namespace gemm {

// R in compressed columns: the entries of column n are [col_start[n], col_start[n + 1]), k
// ascending; value in [-128, 127], never 0. col_value_sum[n] = sum of column n's values.
struct Residual {
  size_t K = 0, N = 0;
  std::vector<uint32_t> col_start;  // N + 1
  std::vector<uint32_t> k_index;
  std::vector<int8_t> value;
  std::vector<int32_t> col_value_sum;  // N
  size_t nnz() const { return value.size(); }
  double density() const { return K && N ? (double)value.size() / ((double)K * (double)N) : 0.0; }
  size_t memory_bytes() const {
    return sizeof(*this) + col_start.size() * 4 + k_index.size() * 4 + value.size() + col_value_sum.size() * 4;
  }
};

// The largest |b0| + |b1| of a same-signed pair that vpmaddubsw multiplies by 255 without
// saturating (255 * 128 = 32640 <= 32767; 255 * 129 > 32767).
constexpr int kMaddubsPairLimit = 128;

// Splits B given N x K (element (k, n) at w_nk[n * K + k]): dense_nk (same layout) gets D, *r gets
// R. The pairs are those of the packed layout: (2j, 2j + 1) for j < ceil(K / 2) (the padding
// weight beyond K is 0). In a pair over the limit, the first weight stays and the second becomes
// sign * (128 - |b0|); R holds the difference (one entry per such pair, in [-128, 127]).
void split_for_maddubs(const int8_t* w_nk, size_t K, size_t N, int8_t* dense_nk, Residual* r);

// Counts what split_for_maddubs would move, without building anything (the kernel choice).
size_t residual_count(const int8_t* w_nk, size_t K, size_t N);

}  // namespace gemm
}  // namespace lowbit

// QuantizedLinear.forward: fp32 rows in, fp32 out, with the activations quantized on the fly.
//
// The algorithm (PyTorch's dynamic quantization, exact in its integer part):
//   1. the range of x, per tensor or per row; any NaN or infinity refuses the call;
//   2. quantization parameters from the range (quant::choose_quant_params; 7-bit when
//      reduce_range, which lets the AVX2 GEMM take its exact fast path by construction);
//   3. the rows quantized to uint8;
//   4a. per tensor: one exact product with the dequantization (scale, bias, ReLU) fused, or
//   4b. per row: the exact int32 product with zero point 0, then each row's zero point removed,
//       acc = acc0 - zp_m * (colsum[n] - K * b_zp[n]) (modulo 2^32, exact), and dequantized.
// The product itself is the caller's (dense GEMM or sparse kernel, on its threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace ops {

struct DynamicLinear {
  const float* x = nullptr;  // M rows of K values, row m at x + m * ldx
  size_t ldx = 0, M = 0, K = 0, N = 0;
  bool per_row = false, reduce_range = true;
  const float* w_scales = nullptr;  // 1 or N
  size_t w_scale_count = 1;
  const float* bias = nullptr;  // N or null
  bool relu = false;
  float* y = nullptr;  // M x N, row-major
  // Σ_k (w[k][n] - b_zp[n]) for each n: the per-row correction's column term (N values).
  const uint32_t* colterm = nullptr;
};

// The exact product of the quantized rows a (M x K, row-major) with zero point a_zp into out.
using ProductFn = std::function<void(const uint8_t* a, int32_t a_zp, const gemm::Output& out)>;

// Runs the algorithm above. Returns -1 when done, else the first row holding NaN or infinity
// (nothing is written then).
int64_t linear_dynamic(const QuantKernels& qk, const DynamicLinear& d, const ProductFn& product);

}  // namespace ops
}  // namespace lowbit

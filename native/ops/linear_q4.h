// A QuantizedLinear with 4-bit weights (kernels/gemm/q4.h): what one call does between the binding
// and the kernel. Activations are uint8 (int8 ones are shifted by 128 first); the kernel writes
// fp32 (y = a_scale * sum + bias, ReLU); requantized outputs are formed from that fp32 value as
//   q = clamp(nearbyint(y / out_scale) + out_zp, qmin, qmax)
// in scalar code (the same bits on every ISA). forward quantizes fp32 rows on the fly
// (per tensor, or per row: one product per row), as ops/linear_dynamic.h does for int8 weights.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/q4.h"

namespace lowbit {
namespace ops {

struct Q4Product {
  const gemm::Q4Weights* w = nullptr;
  gemm::Q4GemmFn fn = nullptr;
  int threads = 1;
};

struct Q4Output {
  gemm::OutType type = gemm::OutType::f32;  // f32, u8 or s8
  void* c = nullptr;                        // element (m, n) at c[m * ldc + n]
  size_t ldc = 0;
  const float* bias = nullptr;  // N real-valued, or null
  bool relu = false;            // f32
  float out_scale = 1.0f;       // u8 / s8
  int32_t out_zp = 0, qmin = 0, qmax = 255;
};

// The product of M rows of quantized activations (uint8 or int8: a_signed) with the weights.
void linear_q4_gemm(const Q4Product& p, const uint8_t* a, bool a_signed, size_t lda, size_t M, int32_t a_zp,
                    float a_scale, const Q4Output& out);

// fp32 in, fp32 out (y: M x N). Returns -1 when done, else the first row holding NaN or infinity
// (nothing written then: every row is checked first).
int64_t linear_q4_forward(const QuantKernels& qk, const Q4Product& p, const float* x, size_t ldx, size_t M,
                          bool per_row, bool reduce_range, const float* bias, bool relu, float* y);

}  // namespace ops
}  // namespace lowbit

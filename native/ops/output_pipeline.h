// The quantized output pipeline shared by QuantizedLinear (GEMM) and QuantizedConv2d: the
// per-call multipliers and bias in the kernels' units.
//
// Why one place: both layers promise the same bits for the same product (the GEMM's documented
// fp32 pipeline, kernels/gemm/README.md), so the folding must be one function, not two copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm/gemm.h"


namespace lowbit {
namespace ops {

// What a call asks of its output.
struct OutputSpec {
  gemm::OutType type = gemm::OutType::s32;
  float a_scale = 1.0f;                // the activations' scale (f32, u8, s8 outputs)
  const float* w_scales = nullptr;     // 1 or n weight scales
  size_t w_scale_count = 0;
  float out_scale = 1.0f;              // u8/s8
  int32_t out_zp = 0, qmin = 0, qmax = 255;
  const float* bias_f32 = nullptr;     // n real-valued biases, or null
  const int32_t* bias_s32 = nullptr;   // n biases in accumulator units, or null
  bool relu = false;                   // f32
};

// The folded pipeline: owns the per-channel values the kernel's Output points into.
struct FoldedOutput {
  std::vector<float> scales;  // requantization multipliers (u8/s8) or dequantization scales (f32)
  std::vector<float> bias;    // in the kernel's units; empty when there is none
  bool per_channel = false;
  // The kernel's Output for c/ldc, pointing into this object (keep it alive while it runs).
  gemm::Output output(void* c, size_t ldc) const;
  gemm::OutType type = gemm::OutType::s32;
  const int32_t* bias_s32 = nullptr;
  int32_t out_zp = 0, qmin = 0, qmax = 255;
  bool relu = false;
};

// n: output channels. Every value in fixed fp32 order (gemm.h's helpers).
FoldedOutput fold_output(const OutputSpec& spec, size_t n);

}  // namespace ops
}  // namespace lowbit

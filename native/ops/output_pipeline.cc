#include "ops/output_pipeline.h"

namespace lowbit {
namespace ops {

FoldedOutput fold_output(const OutputSpec& s, size_t n) {
  using gemm::OutType;
  FoldedOutput f;
  const bool quantized = s.type == OutType::u8 || s.type == OutType::s8;
  f.type = s.type;
  f.per_channel = s.w_scale_count > 1;
  f.scales.resize(s.w_scale_count);
  for (size_t c = 0; c < s.w_scale_count; c++) {
    f.scales[c] = quantized ? gemm::requant_multiplier(s.a_scale, s.w_scales[c], s.out_scale)
                            : gemm::dequant_scale(s.a_scale, s.w_scales[c]);
  }
  if (s.bias_f32 && s.type != OutType::s32) {
    f.bias.resize(n);
    for (size_t c = 0; c < n; c++) {
      f.bias[c] = quantized ? gemm::requant_float_bias(s.bias_f32[c], s.a_scale, s.w_scales[f.per_channel ? c : 0]) : s.bias_f32[c];
    }
  }
  f.bias_s32 = s.type == OutType::s32 ? nullptr : s.bias_s32;
  if (quantized) {
    f.out_zp = s.out_zp;
    f.qmin = s.qmin;
    f.qmax = s.qmax;
  }
  f.relu = s.relu && s.type == OutType::f32;
  return f;
}

gemm::Output FoldedOutput::output(void* c, size_t ldc) const {
  gemm::Output o;
  o.type = type;
  o.c = c;
  o.ldc = ldc;
  o.scale = scales.empty() ? nullptr : scales.data();
  o.scale_per_channel = per_channel;
  o.bias_f32 = bias.empty() ? nullptr : bias.data();
  o.bias_s32 = bias_s32;
  o.out_zp = out_zp;
  o.qmin = qmin;
  o.qmax = qmax;
  o.relu = relu;
  return o;
}

}  // namespace ops
}  // namespace lowbit

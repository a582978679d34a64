#include "ops/linear_dynamic.h"

#include <algorithm>
#include <cmath>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace ops {

int64_t linear_dynamic(const QuantKernels& qk, const DynamicLinear& d, const ProductFn& product) {
  const size_t M = d.M, K = d.K, N = d.N;
  // 1. ranges, validated before anything is written (minmax kernels skip NaN: it is looked for
  //    separately)
  const size_t groups = d.per_row ? M : 1;
  std::vector<quant::QuantParams> params(groups);
  float gmin = 0, gmax = 0;
  for (size_t m = 0; m < M; m++) {
    const float* row = d.x + m * d.ldx;
    float mn, mx;
    qk.minmax(row, K, &mn, &mx);
    bool nan = false;
    for (size_t k = 0; k < K; k++) nan |= row[k] != row[k];  // (vectorizes: no early exit)
    if (nan || !std::isfinite(mn) || !std::isfinite(mx)) return (int64_t)m;
    if (d.per_row) {
      params[m] = quant::choose_quant_params(mn, mx, false, false, d.reduce_range);
    } else {
      gmin = m == 0 ? mn : std::min(gmin, mn);
      gmax = m == 0 ? mx : std::max(gmax, mx);
    }
  }
  if (!d.per_row) params[0] = quant::choose_quant_params(gmin, gmax, false, false, d.reduce_range);
  // 2-3. quantized rows
  std::vector<uint8_t> a(M * K);
  for (size_t m = 0; m < M; m++) {
    const quant::QuantParams& p = params[d.per_row ? m : 0];
    qk.quantize_u8(d.x + m * d.ldx, a.data() + m * K, K, p.scale, p.zero_point, p.qmin, p.qmax);
  }
  const bool pc = d.w_scale_count > 1;
  if (!d.per_row) {
    // 4a. one product with the dequantization fused
    std::vector<float> sc(d.w_scale_count);
    for (size_t n = 0; n < d.w_scale_count; n++) sc[n] = gemm::dequant_scale(params[0].scale, d.w_scales[n]);
    gemm::Output out;
    out.type = gemm::OutType::f32;
    out.c = d.y;
    out.ldc = N;
    out.scale = sc.data();
    out.scale_per_channel = pc;
    out.bias_f32 = d.bias;
    out.relu = d.relu;
    product(a.data(), params[0].zero_point, out);
    return -1;
  }
  // 4b. per row
  std::vector<int32_t> acc(M * N);
  gemm::Output out;
  out.type = gemm::OutType::s32;
  out.c = acc.data();
  out.ldc = N;
  product(a.data(), 0, out);
  for (size_t m = 0; m < M; m++) {
    const quant::QuantParams& p = params[m];
    for (size_t n = 0; n < N; n++) {
      const int32_t c = (int32_t)((uint32_t)acc[m * N + n] - (uint32_t)p.zero_point * d.colterm[n]);
      d.y[m * N + n] = gemm::dequant_one(c, gemm::dequant_scale(p.scale, d.w_scales[pc ? n : 0]), d.bias ? d.bias[n] : 0.0f, d.relu);
    }
  }
  return -1;
}

}  // namespace ops
}  // namespace lowbit

// Choosing scale and zero point from an observed range. Scalar code, no ISA variants: it runs
// once per tensor (or per row in dynamic quantization), not per element.
#include <algorithm>
#include <cmath>

#include "kernels/quant/quant.h"

namespace lowbit {
namespace quant {

void quant_range(bool is_signed, bool reduce_range, int32_t* qmin, int32_t* qmax) {
  if (is_signed) {
    *qmin = reduce_range ? -64 : -128;
    *qmax = reduce_range ? 63 : 127;
  } else {
    *qmin = 0;
    *qmax = reduce_range ? 127 : 255;
  }
}

QuantParams choose_quant_params(float min, float max, bool is_signed, bool symmetric, bool reduce_range) {
  QuantParams p;
  quant_range(is_signed, reduce_range, &p.qmin, &p.qmax);
  const double qmin = p.qmin, qmax = p.qmax;
  // 0 must be exactly representable (zero padding, sparsity), so the range always includes it.
  const double lo = std::min(min, 0.0f), hi = std::max(max, 0.0f);
  double scale;
  if (symmetric) {
    // zero point at the middle: 0 for int8, 128 (64 reduced) for uint8
    p.zero_point = is_signed ? 0 : (p.qmax + 1) / 2;
    const double below = p.zero_point - qmin, above = qmax - p.zero_point;
    scale = std::max(-lo / below, hi / above);
  } else {
    scale = (hi - lo) / (qmax - qmin);
  }
  // An all-zero range: any scale represents it; FBGEMM picks 0.1.
  if (scale == 0) scale = 0.1;
  // Keep 1/scale finite in fp32 (the quantizer multiplies by it).
  scale = std::max(scale, 1e-37);
  p.scale = (float)scale;
  if (!symmetric) {
    // Solve the affine map from the end whose terms are smaller (less rounding error), then
    // nudge to an integer inside [qmin, qmax].
    const double zp_from_min = qmin - lo / scale, zp_from_max = qmax - hi / scale;
    const double err_min = std::fabs(qmin) + std::fabs(lo / scale);
    const double err_max = std::fabs(qmax) + std::fabs(hi / scale);
    const double zp = err_min < err_max ? zp_from_min : zp_from_max;
    if (zp < qmin) p.zero_point = p.qmin;
    else if (zp > qmax) p.zero_point = p.qmax;
    else p.zero_point = (int32_t)std::nearbyint(zp);
  }
  return p;
}

void quantize_weights_symmetric(const float* w, size_t K, size_t N, bool transposed, bool per_channel,
                                int8_t* q, float* scales) {
  auto at = [&](size_t k, size_t n) -> size_t { return transposed ? n * K + k : k * N + n; };
  const size_t groups = per_channel ? N : 1;
  for (size_t g = 0; g < groups; g++) {
    const size_t n_begin = per_channel ? g : 0, n_end = per_channel ? g + 1 : N;
    float amax = 0.0f;
    for (size_t n = n_begin; n < n_end; n++)
      for (size_t k = 0; k < K; k++) amax = std::max(amax, std::fabs(w[at(k, n)]));
    float scale = amax / 127.0f;
    if (!(scale > 0.0f) || !std::isfinite(1.0f / scale)) scale = 1.0f;
    scales[g] = scale;
    const float inv = 1.0f / scale;
    for (size_t n = n_begin; n < n_end; n++)
      for (size_t k = 0; k < K; k++) q[at(k, n)] = (int8_t)quantize_one(w[at(k, n)], inv, 0.0f, -127.0f, 127.0f);
  }
}

}  // namespace quant
}  // namespace lowbit

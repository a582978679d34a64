#include "ops/linear_q4.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/quant/quant.h"
#include "ops/gemm_split.h"

namespace lowbit {
namespace ops {
namespace {

// fp32 rows of the product (a uint8) into y (ldy), on the product's threads.
void run_f32(const Q4Product& p, const uint8_t* a, size_t lda, size_t M, int32_t a_zp, float a_scale,
             const float* bias, bool relu, float* y, size_t ldy) {
  gemm::Q4Call c;
  c.a = a;
  c.lda = lda;
  c.a_zp = a_zp;
  c.a_scale = a_scale;
  c.bias = bias;
  c.relu = relu;
  c.y = y;
  c.ldy = ldy;
  run_gemm_split(M, p.w->N, p.threads, [&](const gemm::Range& r) { p.fn(*p.w, c, r); });
}

}  // namespace

void linear_q4_gemm(const Q4Product& p, const uint8_t* a, bool a_signed, size_t lda, size_t M, int32_t a_zp,
                    float a_scale, const Q4Output& out) {
  const size_t N = p.w->N, K = p.w->K;
  std::vector<uint8_t> shifted;
  if (a_signed) {  // int8 a - zp == (a + 128) - (zp + 128): the kernel's uint8 form
    shifted.resize(M * K);
    for (size_t m = 0; m < M; m++)
      for (size_t k = 0; k < K; k++) shifted[m * K + k] = (uint8_t)(a[m * lda + k] ^ 0x80);
    a = shifted.data();
    lda = K;
    a_zp += 128;
  }
  if (out.type == gemm::OutType::f32) {
    run_f32(p, a, lda, M, a_zp, a_scale, out.bias, out.relu, static_cast<float*>(out.c), out.ldc);
    return;
  }
  std::vector<float> y(M * N);
  run_f32(p, a, lda, M, a_zp, a_scale, out.bias, false, y.data(), N);
  const float lo = (float)out.qmin, hi = (float)out.qmax, zp = (float)out.out_zp;
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      float f = std::nearbyint(y[m * N + n] / out.out_scale);
      f = f + zp;
      f = f > lo ? f : lo;
      f = f < hi ? f : hi;
      if (out.type == gemm::OutType::u8)
        static_cast<uint8_t*>(out.c)[m * out.ldc + n] = (uint8_t)(int32_t)f;
      else
        static_cast<int8_t*>(out.c)[m * out.ldc + n] = (int8_t)(int32_t)f;
    }
}

int64_t linear_q4_forward(const QuantKernels& qk, const Q4Product& p, const float* x, size_t ldx, size_t M,
                          bool per_row, bool reduce_range, const float* bias, bool relu, float* y) {
  const size_t K = p.w->K, N = p.w->N;
  std::vector<quant::QuantParams> params(per_row ? M : 1);
  float gmin = 0, gmax = 0;
  for (size_t m = 0; m < M; m++) {
    const float* row = x + m * ldx;
    float mn, mx;
    qk.minmax(row, K, &mn, &mx);
    bool nan = false;
    for (size_t k = 0; k < K; k++) nan |= row[k] != row[k];
    if (nan || !std::isfinite(mn) || !std::isfinite(mx)) return (int64_t)m;
    if (per_row) {
      params[m] = quant::choose_quant_params(mn, mx, false, false, reduce_range);
    } else {
      gmin = m == 0 ? mn : std::min(gmin, mn);
      gmax = m == 0 ? mx : std::max(gmax, mx);
    }
  }
  if (!per_row) params[0] = quant::choose_quant_params(gmin, gmax, false, false, reduce_range);
  std::vector<uint8_t> a(M * K);
  for (size_t m = 0; m < M; m++) {
    const quant::QuantParams& q = params[per_row ? m : 0];
    qk.quantize_u8(x + m * ldx, a.data() + m * K, K, q.scale, q.zero_point, q.qmin, q.qmax);
  }
  if (!per_row) {
    run_f32(p, a.data(), K, M, params[0].zero_point, params[0].scale, bias, relu, y, N);
  } else {
    for (size_t m = 0; m < M; m++)
      run_f32(p, a.data() + m * K, K, 1, params[m].zero_point, params[m].scale, bias, relu, y + m * N, N);
  }
  return -1;
}

}  // namespace ops
}  // namespace lowbit

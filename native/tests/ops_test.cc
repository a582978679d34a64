// The ops layer (native/ops): the dynamic-quantization forward against plain loops, the output
// pipeline's folding against gemm.h's helpers, and the GEMM split covering every element once.
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/quant/quant.h"
#include "ops/gemm_split.h"
#include "ops/linear_choice.h"
#include "ops/linear_dynamic.h"
#include "ops/output_pipeline.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

struct Layer {
  size_t K, N;
  std::vector<int8_t> w;    // N x K
  std::vector<int32_t> zp;  // N
  std::vector<float> ws;    // 1 or N
  std::vector<float> bias;  // N or empty
};

// exact Σ (a - a_zp)(w - zp) into out, the plain way (the callback a real binding gives a kernel)
ops::ProductFn plain_product(const Layer& L, size_t M) {
  return [&L, M](const uint8_t* a, int32_t a_zp, const gemm::Output& out) {
    for (size_t m = 0; m < M; m++)
      for (size_t n = 0; n < L.N; n++) {
        int64_t c = 0;
        for (size_t k = 0; k < L.K; k++) c += (int64_t)((int)a[m * L.K + k] - a_zp) * ((int)L.w[n * L.K + k] - L.zp[n]);
        if (out.type == gemm::OutType::s32) {
          static_cast<int32_t*>(out.c)[m * out.ldc + n] = (int32_t)c;
        } else {
          static_cast<float*>(out.c)[m * out.ldc + n] =
              gemm::dequant_one((int32_t)c, out.scale[out.scale_per_channel ? n : 0], out.bias_f32 ? out.bias_f32[n] : 0.0f, out.relu);
        }
      }
  };
}

}  // namespace

LOWBIT_TEST(ops_linear_dynamic_matches_plain_loops) {
  for_each_isa([](Isa isa) {
    const QuantKernels& qk = quant_kernels(isa);
    const QuantKernels& ref = quant_kernels(Isa::scalar);
    for (int rep = 0; rep < 24; rep++) {
      Layer L;
      const size_t M = (size_t)rand_int(1, 9);
      L.K = (size_t)rand_int(1, 70);
      L.N = (size_t)rand_int(1, 20);
      L.w.resize(L.N * L.K);
      for (auto& v : L.w) v = (int8_t)rand_int(-128, 127);
      L.zp.resize(L.N);
      for (auto& z : L.zp) z = rep % 3 == 0 ? 0 : (int32_t)rand_int(-128, 127);
      L.ws.resize(rep % 2 ? L.N : 1);
      for (auto& s : L.ws) s = rand_float(0.001f, 0.05f);
      if (rep % 4 != 1) {
        L.bias.resize(L.N);
        for (auto& b : L.bias) b = rand_float(-2, 2);
      }
      const size_t ldx = L.K + (size_t)rand_int(0, 3);
      std::vector<float> x(M * ldx);
      for (auto& v : x) v = rand_float(-3, 3) * (rep % 5 == 0 ? 1000.0f : 1.0f);
      std::vector<uint32_t> colterm(L.N);
      for (size_t n = 0; n < L.N; n++) {
        uint32_t s = 0;
        for (size_t k = 0; k < L.K; k++) s += (uint32_t)((int)L.w[n * L.K + k] - L.zp[n]);
        colterm[n] = s;
      }
      for (int per_row = 0; per_row < 2; per_row++) {
        ops::DynamicLinear d;
        d.x = x.data(), d.ldx = ldx, d.M = M, d.K = L.K, d.N = L.N;
        d.per_row = per_row == 1;
        d.reduce_range = rep % 2 == 0;
        d.w_scales = L.ws.data(), d.w_scale_count = L.ws.size();
        d.bias = L.bias.empty() ? nullptr : L.bias.data();
        d.relu = rep % 3 == 2;
        std::vector<float> y(M * L.N, -7.0f);
        d.y = y.data();
        d.colterm = colterm.data();
        LOWBIT_CHECK(ops::linear_dynamic(qk, d, plain_product(L, M)) == -1, "refused finite input");
        // the same algorithm written out: parameters, quantized rows, Σ (q - zp)(w - b_zp), dequantized
        std::vector<quant::QuantParams> params(M);
        float gmin = 0, gmax = 0;
        for (size_t m = 0; m < M; m++) {
          float mn, mx;
          ref.minmax(x.data() + m * ldx, L.K, &mn, &mx);
          params[m] = quant::choose_quant_params(mn, mx, false, false, d.reduce_range);
          gmin = m == 0 ? mn : std::min(gmin, mn);
          gmax = m == 0 ? mx : std::max(gmax, mx);
        }
        if (!d.per_row) params.assign(M, quant::choose_quant_params(gmin, gmax, false, false, d.reduce_range));
        bool same = true;
        for (size_t m = 0; m < M; m++) {
          std::vector<uint8_t> q(L.K);
          ref.quantize_u8(x.data() + m * ldx, q.data(), L.K, params[m].scale, params[m].zero_point, params[m].qmin, params[m].qmax);
          for (size_t n = 0; n < L.N; n++) {
            int64_t c = 0;
            for (size_t k = 0; k < L.K; k++) c += (int64_t)((int)q[k] - params[m].zero_point) * ((int)L.w[n * L.K + k] - L.zp[n]);
            const float want = gemm::dequant_one((int32_t)c, gemm::dequant_scale(params[m].scale, L.ws[L.ws.size() > 1 ? n : 0]),
                                                 d.bias ? d.bias[n] : 0.0f, d.relu);
            same = same && same_bits(want, y[m * L.N + n]);
          }
        }
        LOWBIT_CHECK(same, "M=" << M << " K=" << L.K << " N=" << L.N << " perRow=" << per_row);
      }
    }
  });
}

LOWBIT_TEST(ops_linear_dynamic_refuses_nan_and_infinity_before_writing) {
  const QuantKernels& qk = quant_kernels(active_isa());
  Layer L;
  L.K = 5, L.N = 3;
  L.w.assign(15, 1);
  L.zp.assign(3, 0);
  L.ws.assign(1, 0.1f);
  std::vector<uint32_t> colterm(3, 5);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    for (size_t at : {0, 4, 7}) {
      std::vector<float> x(10, 0.5f);
      x[at] = bad;
      std::vector<float> y(6, -7.0f);
      ops::DynamicLinear d;
      d.x = x.data(), d.ldx = 5, d.M = 2, d.K = 5, d.N = 3;
      d.w_scales = L.ws.data(), d.w_scale_count = 1;
      d.y = y.data();
      d.colterm = colterm.data();
      for (int per_row = 0; per_row < 2; per_row++) {
        d.per_row = per_row == 1;
        bool called = false;
        const int64_t row = ops::linear_dynamic(qk, d, [&](const uint8_t*, int32_t, const gemm::Output&) { called = true; });
        LOWBIT_CHECK(row == (int64_t)(at / 5), "bad value at " << at << " reported in row " << row);
        LOWBIT_CHECK(!called, "the product ran on a refused input");
        bool untouched = true;
        for (float v : y) untouched = untouched && v == -7.0f;
        LOWBIT_CHECK(untouched, "output written on a refused input");
      }
    }
  }
}

LOWBIT_TEST(ops_fold_output_matches_gemm_helpers) {
  const size_t n = 5;
  std::vector<float> ws = {0.5f, 0.25f, 0.125f, 1e-3f, 3.0f};
  std::vector<float> bias = {1.0f, -2.0f, 0.0f, 7.5f, -0.25f};
  for (int t = 0; t < 4; t++) {
    for (size_t count : {size_t(1), n}) {
      ops::OutputSpec s;
      s.type = (gemm::OutType)t;
      s.a_scale = 0.03f;
      s.w_scales = ws.data();
      s.w_scale_count = count;
      s.out_scale = 0.2f;
      s.bias_f32 = bias.data();
      s.relu = true;
      s.out_zp = 3, s.qmin = 1, s.qmax = 200;
      const ops::FoldedOutput f = ops::fold_output(s, n);
      const bool q = s.type == gemm::OutType::u8 || s.type == gemm::OutType::s8;
      bool same = f.scales.size() == count;
      for (size_t c = 0; c < count && same; c++) {
        const float want = q ? gemm::requant_multiplier(s.a_scale, ws[c], s.out_scale) : gemm::dequant_scale(s.a_scale, ws[c]);
        same = same_bits(want, f.scales[c]);
      }
      LOWBIT_CHECK(same, "scales, type " << t << " count " << count);
      LOWBIT_CHECK(f.bias.size() == (s.type == gemm::OutType::s32 ? 0 : n), "bias size, type " << t);
      for (size_t c = 0; c < f.bias.size(); c++) {
        const float want = q ? gemm::requant_float_bias(bias[c], s.a_scale, ws[count > 1 ? c : 0]) : bias[c];
        LOWBIT_CHECK(same_bits(want, f.bias[c]), "bias " << c << ", type " << t);
      }
      const gemm::Output o = f.output(nullptr, 9);
      LOWBIT_CHECK(o.relu == (s.type == gemm::OutType::f32), "relu only for f32 outputs");
      LOWBIT_CHECK(o.out_zp == (q ? 3 : 0) && o.ldc == 9 && o.scale_per_channel == (count > 1), "fields, type " << t);
    }
  }
}

LOWBIT_TEST(ops_gemm_split_covers_each_element_once) {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t M : {1, 2, 5, 64, 300}) {
      for (size_t N : {1, 7, 8, 9, 100}) {
        std::vector<std::atomic<int>> hits(M * N);
        for (auto& h : hits) h = 0;
        ops::run_gemm_split(M, N, threads, [&](const gemm::Range& r) {
          for (size_t m = r.m_begin; m < r.m_end; m++)
            for (size_t j = r.n_begin; j < r.n_end; j++) hits[m * N + j]++;
        });
        bool once = true;
        for (auto& h : hits) once = once && h == 1;
        LOWBIT_CHECK(once, "threads=" << threads << " M=" << M << " N=" << N);
      }
    }
  }
}

LOWBIT_TEST(ops_linear_choice_fixed_kernels_and_buckets) {
  ops::TrialCache trials;
  const sparse_fc::SparseShape shape{};
  bool scanned = false;
  auto scan = [&] { scanned = true; return false; };
  const ops::LinearChoice dense_only = ops::choose_linear_kernel(shape, false, true, trials, 8, -1, 1, scan);
  LOWBIT_CHECK(!dense_only.sparse && !dense_only.trial_needed, "dense-only layer chose sparse or a trial");
  const ops::LinearChoice sparse_only = ops::choose_linear_kernel(shape, true, false, trials, 8, -1, 1, scan);
  LOWBIT_CHECK(sparse_only.sparse && !sparse_only.trial_needed, "sparse-only layer chose dense or a trial");
  LOWBIT_CHECK(!scanned, "the activations were scanned where only one kernel is held");
  // buckets: every M up to 16 on its own, then grow only per power of two (and M mod 8 == 1)
  for (size_t m = 1; m <= 16; m++) LOWBIT_CHECK(ops::m_bucket(m) == (int64_t)m, "bucket of " << m);
  LOWBIT_CHECK(ops::m_bucket(64) == ops::m_bucket(100) && ops::m_bucket(64) != ops::m_bucket(128), "power-of-two buckets");
  LOWBIT_CHECK(ops::m_bucket(65) != ops::m_bucket(64) && ops::m_bucket(73) != ops::m_bucket(64) && ops::m_bucket(73) != ops::m_bucket(65),
               "M mod 16 == 1 and M mod 16 == 9 have their own buckets");
}

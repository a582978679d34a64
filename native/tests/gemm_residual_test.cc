// The residual split (kernels/gemm/residual.h): D + R = B, D's vpmaddubsw pairs are safe, and every
// kernel on (D, R) returns exactly the reference product with B, for every output pipeline, both
// activation types, zero points at the extremes, sub-rectangles and awkward shapes; on AVX2 the
// split weights take the fast path with full-range activations.
#include <cmath>
#include <cstring>

#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/residual.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;
using gemm::OutType;

namespace {

enum WMode { w_full, w_gauss, w_extremes, w_safe };

int8_t draw_w(WMode m) {
  switch (m) {
    case w_full: return (int8_t)rand_int(-128, 127);
    case w_gauss: {
      // a per-channel quantized Gaussian: sigma ~ 127 / 3.3
      std::normal_distribution<double> d(0.0, 38.0);
      const double v = std::nearbyint(d(rng()));
      return (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    case w_extremes: return rand_int(0, 1) ? 127 : -128;
    case w_safe: return (int8_t)rand_int(-64, 63);
  }
  return 0;
}

gemm::ResidualView view_of(const gemm::Residual& r) {
  return gemm::ResidualView{r.col_start.data(), r.k_index.data(), r.value.data(), r.col_value_sum.data()};
}

struct RCase {
  size_t M, N, K;
  WMode w = w_full;
  bool a_signed = false, per_channel = true, sub_range = false, exact_only = false;
  int32_t a_zp = 0;
  OutType type = OutType::s32;
};

template <typename TA, typename Fn, typename RefFn>
void check(const RCase& c, Fn fn, RefFn ref, const char* isa) {
  const size_t lda = c.K + 3, ldc = c.N + 1;
  Guarded<TA> a((c.M - 1) * lda + c.K, 1);
  for (size_t i = 0; i < a.size(); i++) a[i] = (TA)rand_int(c.a_signed ? -128 : 0, c.a_signed ? 127 : 255);
  std::vector<int8_t> w(c.N * c.K), d(c.N * c.K);
  for (auto& v : w) v = draw_w(c.w);
  std::vector<int32_t> bzp(c.per_channel ? c.N : 1);
  for (size_t i = 0; i < bzp.size(); i++) bzp[i] = i == 0 ? -128 : i == 1 ? 127 : (int32_t)rand_int(-128, 127);
  gemm::Residual res;
  gemm::split_for_maddubs(w.data(), c.K, c.N, d.data(), &res);
  const gemm::PackedB full = gemm::pack_b(w.data(), c.K, true, c.K, c.N, bzp.data(), c.per_channel);
  const gemm::PackedB dense = gemm::pack_b(d.data(), c.K, true, c.K, c.N, bzp.data(), c.per_channel);
  LOWBIT_CHECK(dense.maddubs_safe, "the dense part of the split is not maddubs-safe, K=" << c.K);
  std::vector<float> scale(c.N), biasf(c.N);
  for (auto& v : scale) v = rand_float(0.1f, 4.0f) / (float)(c.K * 200 + 1);
  for (auto& v : biasf) v = rand_float(-3, 3);
  gemm::Output out;
  out.type = c.type;
  out.ldc = ldc;
  out.scale = scale.data();
  out.scale_per_channel = true;
  out.bias_f32 = c.type == OutType::s32 ? nullptr : biasf.data();
  if (c.type == OutType::u8) out.out_zp = 128, out.qmin = 0, out.qmax = 255;
  if (c.type == OutType::s8) out.out_zp = 3, out.qmin = -128, out.qmax = 127;
  gemm::Range r{0, c.M, 0, c.N};
  if (c.sub_range) {
    r.m_begin = (size_t)rand_int(0, (int64_t)c.M - 1);
    r.m_end = (size_t)rand_int((int64_t)r.m_begin + 1, (int64_t)c.M);
    r.n_begin = (size_t)rand_int(0, (int64_t)c.N - 1);
    r.n_end = (size_t)rand_int((int64_t)r.n_begin + 1, (int64_t)c.N);
  }
  const size_t bytes = c.M * ldc * (c.type == OutType::s32 || c.type == OutType::f32 ? 4 : 1);
  Guarded<uint8_t> y(bytes, 3), y_ref(bytes), y_ref_split(bytes);
  std::memset(y.data(), 0x5A, bytes);
  std::memset(y_ref.data(), 0x5A, bytes);
  std::memset(y_ref_split.data(), 0x5A, bytes);
  gemm::Options plain, split;
  split.residual = view_of(res);
  split.exact_only = c.exact_only;
  out.c = y_ref.data();
  ref(a.data(), lda, c.a_zp, full, out, r, plain);
  out.c = y_ref_split.data();
  ref(a.data(), lda, c.a_zp, dense, out, r, split);
  out.c = y.data();
  fn(a.data(), lda, c.a_zp, dense, out, r, split);
  LOWBIT_CHECK(std::memcmp(y_ref.data(), y_ref_split.data(), bytes) == 0,
               "ref on the split differs from ref on B, M=" << c.M << " N=" << c.N << " K=" << c.K);
  size_t bad = bytes;
  for (size_t i = 0; i < bytes && bad == bytes; i++)
    if (y[i] != y_ref[i]) bad = i;
  LOWBIT_CHECK(bad == bytes, isa << " split differs from the reference: M=" << c.M << " N=" << c.N << " K=" << c.K
                                 << " w=" << c.w << " signed=" << c.a_signed << " a_zp=" << c.a_zp
                                 << " type=" << (int)c.type << " sub=" << c.sub_range << " at byte " << bad);
  LOWBIT_CHECK(y.guards_intact(), "write outside the output, M=" << c.M << " N=" << c.N << " K=" << c.K);
}

void run(const RCase& c, const GemmKernels& k, const char* isa) {
  if (c.a_signed)
    check<int8_t>(c, k.gemm_s8s8, gemm::gemm_s8s8__ref, isa);
  else
    check<uint8_t>(c, k.gemm_u8s8, gemm::gemm_u8s8__ref, isa);
}

}  // namespace

LOWBIT_TEST(residual_split_properties) {
  for (size_t K : {1, 2, 3, 7, 64, 257}) {
    for (WMode m : {w_full, w_gauss, w_extremes, w_safe}) {
      const size_t N = 13;
      std::vector<int8_t> w(N * K), d(N * K);
      for (auto& v : w) v = draw_w(m);
      gemm::Residual r;
      gemm::split_for_maddubs(w.data(), K, N, d.data(), &r);
      LOWBIT_CHECK(r.nnz() == gemm::residual_count(w.data(), K, N), "count");
      std::vector<int> sum(d.begin(), d.end());
      for (size_t n = 0; n < N; n++) {
        int32_t vs = 0;
        for (uint32_t e = r.col_start[n]; e < r.col_start[n + 1]; e++) {
          LOWBIT_CHECK(r.value[e] != 0 && r.k_index[e] < K, "entry");
          if (e > r.col_start[n]) LOWBIT_CHECK(r.k_index[e] > r.k_index[e - 1], "k ascending");
          sum[n * K + r.k_index[e]] += r.value[e];
          vs += r.value[e];
        }
        LOWBIT_CHECK(vs == r.col_value_sum[n], "column value sum");
      }
      bool same = true;
      for (size_t i = 0; i < w.size(); i++) same = same && sum[i] == w[i];
      LOWBIT_CHECK(same, "D + R != B, K=" << K << " mode=" << m);
      const std::vector<int32_t> zp(1, 0);
      LOWBIT_CHECK(gemm::pack_b(d.data(), K, true, K, N, zp.data(), false).maddubs_safe, "D not safe, K=" << K);
      if (m == w_safe) LOWBIT_CHECK(r.nnz() == 0, "safe weights moved");
      if (m == w_extremes && K >= 64) LOWBIT_CHECK(r.nnz() > 0, "extremes kept");
    }
  }
}

LOWBIT_TEST(residual_matches_reference) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    const char* name = isa_name(isa);
    for (size_t M : {1, 2, 4, 5, 7, 13})
      for (size_t N : {1, 7, 8, 9, 33})
        for (size_t K : {1, 2, 5, 16, 67}) {
          RCase c{M, N, K};
          c.w = (WMode)rand_int(0, 2);
          c.a_signed = rand_int(0, 1) == 1;
          c.a_zp = c.a_signed ? (int32_t)rand_int(-128, 127) : (int32_t)rand_int(0, 255);
          c.type = (OutType)rand_int(0, 3);
          c.per_channel = rand_int(0, 1) == 1;
          run(c, k, name);
        }
    for (int i = 0; i < 24; i++) {
      RCase c{(size_t)rand_int(1, 140), (size_t)rand_int(1, 70), (size_t)rand_int(1, 600)};
      c.w = (WMode)rand_int(0, 2);
      c.a_signed = rand_int(0, 1) == 1;
      c.a_zp = rand_int(0, 1) ? (c.a_signed ? -128 : 255) : (c.a_signed ? 127 : 0);
      c.type = (OutType)(i % 4);
      c.sub_range = i % 3 == 0;
      c.exact_only = i % 5 == 0;
      run(c, k, name);
    }
    // tall blocks (several row blocks, the wide kernel on AVX2 at small K)
    for (size_t K : {36, 300, 1100}) {
      RCase c{(size_t)(K < 100 ? 200 : 130), 24, K};
      c.w = w_gauss;
      c.a_zp = 255;
      run(c, k, name);
    }
    if (isa == Isa::avx2) {
      gemm::path_counters() = gemm::PathCounters{};
      RCase c{16, 32, 256};
      c.w = w_full;
      run(c, k, name);
      LOWBIT_CHECK(gemm::path_counters().fast_blocks > 0 && gemm::path_counters().exact_blocks == 0,
                   "split weights with full-range activations did not take the fast path");
    }
  });
}

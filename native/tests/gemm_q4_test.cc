// 4-bit GEMM with int8 outliers (kernels/gemm/q4.h): every ISA's kernel against the scalar
// reference, bit-exact fp32 (same integer sums, same fp32 order), over shapes around every tile
// and group (M = 1, K not a multiple of 8 or of the group, N < 8), zero points at the extremes,
// extreme 4-bit values and outliers, bias / ReLU, sub-rectangles; plus the quantizer (outlier
// count, error bound) and the byte form (round trip, corrupted bytes refused).
#include <cmath>
#include <cstring>

#include "kernels/gemm/q4.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

struct QCase {
  size_t M, N, K, group;  // group 0: per channel
  bool extremes = false, bias = false, relu = false, sub = false;
  double outliers = 0.02;
  int32_t a_zp = 0;
};

gemm::Q4Weights random_weights(const QCase& c) {
  const bool pc = c.group == 0;
  const size_t group = pc ? (c.K + 7) / 8 * 8 : c.group, groups = (c.K + group - 1) / group;
  std::vector<int8_t> q(c.N * c.K);
  for (auto& v : q) v = (int8_t)(c.extremes ? (rand_int(0, 1) ? 7 : -8) : rand_int(-8, 7));
  std::vector<float> s(c.N * groups);
  for (auto& v : s) v = rand_int(0, 9) == 0 ? 0.0f : rand_float(1e-4f, 2e-2f);
  std::vector<uint32_t> start(c.N + 1, 0), ks;
  std::vector<int8_t> vs;
  std::vector<float> os(c.N);
  for (size_t n = 0; n < c.N; n++) {
    for (size_t k = 0; k < c.K; k++)
      if (rand_float(0, 1) < c.outliers) {
        ks.push_back((uint32_t)k);
        vs.push_back((int8_t)(c.extremes ? (rand_int(0, 1) ? 127 : -127) : rand_int(-127, 127)));
      }
    start[n + 1] = (uint32_t)ks.size();
    os[n] = rand_float(0.01f, 0.2f);
  }
  return gemm::pack_q4(q.data(), s.data(), c.K, c.N, c.group, pc, start, ks, vs, os.data());
}

void check(const QCase& c, gemm::Q4GemmFn fn, const char* isa) {
  const gemm::Q4Weights w = random_weights(c);
  const size_t lda = c.K + 5, ldy = c.N + 2;
  Guarded<uint8_t> a((c.M - 1) * lda + c.K, 1);
  for (size_t i = 0; i < a.size(); i++) a[i] = (uint8_t)(c.extremes ? (rand_int(0, 1) ? 255 : 0) : rand_int(0, 255));
  std::vector<float> bias(c.N);
  for (auto& v : bias) v = rand_float(-1, 1);
  gemm::Q4Call call;
  call.a = a.data();
  call.lda = lda;
  call.a_zp = c.a_zp;
  call.a_scale = rand_float(0.001f, 0.1f);
  call.bias = c.bias ? bias.data() : nullptr;
  call.relu = c.relu;
  call.ldy = ldy;
  gemm::Range r{0, c.M, 0, c.N};
  if (c.sub) {
    r.m_begin = (size_t)rand_int(0, (int64_t)c.M - 1);
    r.m_end = (size_t)rand_int((int64_t)r.m_begin + 1, (int64_t)c.M);
    r.n_begin = (size_t)rand_int(0, (int64_t)c.N - 1);
    r.n_end = (size_t)rand_int((int64_t)r.n_begin + 1, (int64_t)c.N);
  }
  Guarded<float> y(c.M * ldy, 0), y_ref(c.M * ldy);
  std::memset(y.data(), 0x5A, c.M * ldy * 4);
  std::memset(y_ref.data(), 0x5A, c.M * ldy * 4);
  call.y = y_ref.data();
  gemm::q4_gemm__ref(w, call, r);
  call.y = y.data();
  fn(w, call, r);
  size_t bad = c.M * ldy;
  for (size_t i = 0; i < c.M * ldy && bad == c.M * ldy; i++)
    if (std::memcmp(&y[i], &y_ref[i], 4) != 0) bad = i;
  LOWBIT_CHECK(bad == c.M * ldy, isa << " q4 differs from the reference: M=" << c.M << " N=" << c.N << " K=" << c.K
                                     << " group=" << c.group << " a_zp=" << c.a_zp << " extremes=" << c.extremes
                                     << " at m=" << bad / ldy << " n=" << bad % ldy << ": " << y[bad % (c.M * ldy)]
                                     << " vs " << y_ref[bad % (c.M * ldy)]);
  LOWBIT_CHECK(y.guards_intact(), "q4 write outside the output");
}

}  // namespace

LOWBIT_TEST(q4_matches_reference) {
  for_each_isa([](Isa isa) {
    const gemm::Q4GemmFn fn = gemm::q4_kernel((int)isa);
    const char* name = isa_name(isa);
    for (size_t group : {0, 32, 64, 128})
      for (size_t M : {1, 2, 3, 4, 5, 9, 16, 31})  // (31: AVX-512 tiles of 16, 8, 4, 2 and 1 rows)
        for (size_t N : {1, 7, 8, 9, 17, 33, 65})  // (65: an AVX-512 GEMV pass of 8 panels and one of 1)
          for (size_t K : {1, 7, 8, 9, 33, 100, 257}) {
            QCase c{M, N, K, group};
            c.a_zp = (int32_t)rand_int(0, 255);
            c.bias = rand_int(0, 1) == 1;
            c.relu = rand_int(0, 2) == 0;
            check(c, fn, name);
          }
    for (int i = 0; i < 30; i++) {
      const size_t groups[] = {0, 32, 64, 128};
      QCase c{(size_t)rand_int(1, 70), (size_t)rand_int(1, 90), (size_t)rand_int(1, 1300), groups[i % 4]};
      c.extremes = i % 3 == 0;
      c.a_zp = i % 2 ? 0 : 255;
      c.sub = i % 4 == 1;
      c.outliers = i % 5 == 0 ? 0.0 : 0.03;
      c.bias = true;
      check(c, fn, name);
    }
  });
}

LOWBIT_TEST(q4_quantize) {
  const size_t K = 200, N = 19;
  std::vector<float> w(N * K);
  for (auto& v : w) v = rand_float(-1, 1) * (rand_int(0, 50) == 0 ? 20.0f : 1.0f);
  for (size_t group : {0, 32, 128}) {
    gemm::Q4Options o;
    o.group = group;
    o.outlier_fraction = 0.01;
    const gemm::Q4Weights q = gemm::quantize_q4(w.data(), K, N, o);
    LOWBIT_CHECK(q.out_v.size() <= (size_t)std::llround(0.01 * K * N) && q.out_v.size() + 2 >= (size_t)std::llround(0.01 * K * N),
                 "outlier count " << q.out_v.size());
    const std::vector<float> d = gemm::dequantize_q4(q);
    bool ok = true;
    for (size_t n = 0; n < N; n++) {
      std::vector<bool> out(K, false);
      for (uint32_t e = q.out_start[n]; e < q.out_start[n + 1]; e++) out[q.out_k[e]] = true;
      for (size_t k = 0; k < K; k++) {
        const float bound = out[k] ? q.out_scale[n] * 0.5001f : q.scale(n, k / q.group) * 0.5001f + 1e-7f;
        ok = ok && std::fabs(d[n * K + k] - w[n * K + k]) <= bound;
      }
    }
    LOWBIT_CHECK(ok, "quantization error above half a step, group " << group);
    // threshold form
    o.outlier_threshold = 5.0;
    const gemm::Q4Weights t = gemm::quantize_q4(w.data(), K, N, o);
    size_t big = 0;
    for (float v : w) big += std::fabs(v) >= 5.0f;
    LOWBIT_CHECK(t.out_v.size() == big, "threshold outliers " << t.out_v.size() << " want " << big);
  }
}

LOWBIT_TEST(q4_serialize) {
  for (size_t group : {0, 32, 64, 128}) {
    QCase c{1, 13, 77, group};
    const gemm::Q4Weights w = random_weights(c);
    const std::vector<uint8_t> b = gemm::serialize_q4(w);
    gemm::Q4Weights back;
    LOWBIT_CHECK(gemm::deserialize_q4(b.data(), b.size(), &back), "round trip refused");
    LOWBIT_CHECK(gemm::serialize_q4(back) == b, "round trip differs");
    LOWBIT_CHECK(back.qsum == w.qsum && back.out_vsum == w.out_vsum, "derived fields differ");
    // truncated, trailing, corrupted header fields
    LOWBIT_CHECK(!gemm::deserialize_q4(b.data(), b.size() - 1, &back), "truncated accepted");
    std::vector<uint8_t> x = b;
    x.push_back(0);
    LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "trailing accepted");
    x = b;
    x[24] = 48;  // group 48
    LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "bad group accepted");
    x = b;
    x[8] = (uint8_t)(x[8] + 64);  // K + 64: other sizes
    LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "wrong K accepted");
    // a NaN scale
    x = b;
    const size_t data_bytes = w.data.size();
    const uint32_t nan = 0x7fc00000;
    std::memcpy(&x[28 + data_bytes], &nan, 4);
    LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "NaN scale accepted");
    // padding nibble (column 13..15 of the last panel) not 8
    x = b;
    x[28 + data_bytes - 1] = 0x11;
    LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "nonzero padding accepted");
    // an outlier index out of range
    if (!w.out_k.empty()) {
      x = b;
      const size_t off = 28 + data_bytes + w.scales.size() * 4 + 8 + 4 * (w.N + 1);
      const uint32_t big = 1000;
      std::memcpy(&x[off], &big, 4);
      LOWBIT_CHECK(!gemm::deserialize_q4(x.data(), x.size(), &back), "outlier k out of range accepted");
    }
  }
}

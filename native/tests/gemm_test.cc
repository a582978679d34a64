// int8 GEMM kernels against the scalar reference, on every ISA the host can run: shapes around
// every tile and vector width, strides, zero points at the extremes, adversarial values that would
// saturate vpmaddubsw, every output pipeline, sub-rectangles (threading), guard bytes.
#include <cstring>
#include <limits>

#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;
using gemm::OutType;

namespace {

enum BMode { b_full, b_safe, b_max, b_min, b_extremes, b_pairs_safe, b_small };
enum AMode { a_full, a_max, a_min, a_7bit, a_const_mid };

struct Case {
  size_t M, N, K;
  bool a_signed = false;
  BMode bmode = b_full;
  AMode amode = a_full;
  bool transposed = false;
  bool per_channel = false;
  int32_t a_zp = 0;
  int32_t bzp_fixed = 1000;  // 1000: random
  OutType type = OutType::s32;
  bool bias_s32 = false, bias_f32 = false, relu = false, scale_pc = false;
  size_t lda_extra = 0, ldc_extra = 0;
  bool sub_range = false;
  bool exact_only = false;
};

int8_t draw_b(BMode m, size_t k, size_t n) {
  switch (m) {
    case b_full: return (int8_t)rand_int(-128, 127);
    case b_safe: return (int8_t)rand_int(-64, 63);
    case b_max: return 127;
    case b_min: return -128;
    case b_extremes: return rand_int(0, 1) ? 127 : -128;
    case b_pairs_safe: return (k % 2 == 0) ? 127 : -128;  // (127, -128) pairs: safe, and extreme
    case b_small: return (int8_t)rand_int(-3, 3);
  }
  return 0;
}

int32_t draw_a(AMode m, bool is_signed, int32_t base7) {
  const int lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  switch (m) {
    case a_full: return (int32_t)rand_int(lo, hi);
    case a_max: return hi;
    case a_min: return lo;
    case a_7bit: return base7 + (int32_t)rand_int(0, 127);
    case a_const_mid: return is_signed ? 0 : 128;
  }
  return 0;
}

size_t out_size(OutType t) { return t == OutType::s32 || t == OutType::f32 ? 4 : 1; }

// Runs one case on `fn` and on the reference; returns false on any difference.
template <typename TA, typename Fn, typename RefFn>
void check_case(const Case& c, Fn fn, RefFn ref, const char* isa) {
  const size_t lda = c.K + c.lda_extra, ldc = c.N + c.ldc_extra;
  // A: exactly (M-1)*lda + K bytes, so a read past the last row would leave the buffer.
  Guarded<TA> a((c.M - 1) * lda + c.K, 1);
  const int32_t base7 = c.a_signed ? (int32_t)rand_int(-128, 0) : (int32_t)rand_int(0, 128);
  for (size_t i = 0; i < a.size(); i++) a[i] = (TA)draw_a(c.amode, c.a_signed, base7);
  // B
  const size_t ldb = c.transposed ? c.K + 3 : c.N + 5;
  std::vector<int8_t> b((c.transposed ? c.N : c.K) * ldb, 0x55);
  for (size_t k = 0; k < c.K; k++)
    for (size_t n = 0; n < c.N; n++)
      (c.transposed ? b[n * ldb + k] : b[k * ldb + n]) = draw_b(c.bmode, k, n);
  std::vector<int32_t> bzp(c.per_channel ? c.N : 1);
  for (int32_t& z : bzp) z = c.bzp_fixed != 1000 ? c.bzp_fixed : (int32_t)rand_int(-128, 127);
  const gemm::PackedB pb = gemm::pack_b(b.data(), ldb, c.transposed, c.K, c.N, bzp.data(), c.per_channel);
  // output parameters
  std::vector<int32_t> bias_i(c.N);
  std::vector<float> bias_f(c.N), scale(c.N);
  for (auto& v : bias_i) v = (int32_t)rand_int(-(1 << 20), 1 << 20);
  const bool quant = c.type == OutType::u8 || c.type == OutType::s8;
  for (auto& v : bias_f) v = quant ? (float)rand_int(-4000, 4000) * 0.5f : rand_float(-3, 3);
  const float mag = 1.0f / (float)(c.K * 200 + 1);
  for (auto& v : scale) {
    // powers of two make exact rounding ties; random values exercise ordinary rounding
    v = rand_int(0, 2) == 0 ? std::ldexp(1.0f, -(int)rand_int(0, 12)) : rand_float(0.1f, 4.0f) * mag;
  }
  gemm::Output out;
  out.type = c.type;
  out.ldc = ldc;
  out.bias_s32 = c.bias_s32 ? bias_i.data() : nullptr;
  out.bias_f32 = c.bias_f32 ? bias_f.data() : nullptr;
  out.scale = scale.data();
  out.scale_per_channel = c.scale_pc;
  if (c.type == OutType::u8) {
    out.out_zp = (int32_t)rand_int(0, 255);
    out.qmin = c.relu ? out.out_zp : 0;
    out.qmax = 255;
  } else if (c.type == OutType::s8) {
    out.out_zp = (int32_t)rand_int(-128, 127);
    out.qmin = -128;
    out.qmax = c.relu ? 100 : 127;
  }
  out.relu = c.relu;
  gemm::Range r{0, c.M, 0, c.N};
  if (c.sub_range) {
    r.m_begin = (size_t)rand_int(0, (int64_t)c.M - 1);
    r.m_end = (size_t)rand_int((int64_t)r.m_begin + 1, (int64_t)c.M);
    r.n_begin = (size_t)rand_int(0, (int64_t)c.N - 1);
    r.n_end = (size_t)rand_int((int64_t)r.n_begin + 1, (int64_t)c.N);
  }
  gemm::Options opt;
  opt.exact_only = c.exact_only;
  const size_t bytes = c.M * ldc * out_size(c.type);
  Guarded<uint8_t> y(bytes, 3), y_ref(bytes);
  std::memset(y.data(), 0x5A, bytes);
  std::memset(y_ref.data(), 0x5A, bytes);
  out.c = y_ref.data();
  ref(a.data(), lda, c.a_zp, pb, out, r, opt);
  out.c = y.data();
  fn(a.data(), lda, c.a_zp, pb, out, r, opt);
  size_t bad = bytes;
  for (size_t i = 0; i < bytes && bad == bytes; i++)
    if (y[i] != y_ref[i]) bad = i;
  const size_t e = bad / out_size(c.type);
  LOWBIT_CHECK(bad == bytes, "M=" << c.M << " N=" << c.N << " K=" << c.K << " signed=" << c.a_signed
                                  << " bmode=" << c.bmode << " amode=" << c.amode << " a_zp=" << c.a_zp
                                  << " pc=" << c.per_channel << " type=" << (int)c.type << " exact_only="
                                  << c.exact_only << " sub=" << c.sub_range << " at m=" << e / ldc
                                  << " n=" << e % ldc);
  LOWBIT_CHECK(y.guards_intact(), "write outside the output, M=" << c.M << " N=" << c.N << " K=" << c.K);
  (void)isa;
}

void run_case(const Case& c, const GemmKernels& k, const char* isa) {
  if (c.a_signed)
    check_case<int8_t>(c, k.gemm_s8s8, gemm::gemm_s8s8__ref, isa);
  else
    check_case<uint8_t>(c, k.gemm_u8s8, gemm::gemm_u8s8__ref, isa);
}

// The exact mathematical sum for a few closed-form adversarial cases (independent of ref.cc).
void check_closed_form(const GemmKernels& k, bool a_signed, int a_val, int b_val, int32_t a_zp,
                       int32_t b_zp, size_t M, size_t N, size_t K) {
  std::vector<uint8_t> a(M * K, (uint8_t)a_val);
  std::vector<int8_t> b(K * N, (int8_t)b_val);
  const gemm::PackedB pb = gemm::pack_b(b.data(), N, false, K, N, &b_zp, false);
  std::vector<int32_t> y(M * N, 0);
  gemm::Output out;
  out.c = y.data();
  out.ldc = N;
  const gemm::Range r{0, M, 0, N};
  if (a_signed)
    k.gemm_s8s8(reinterpret_cast<const int8_t*>(a.data()), K, a_zp, pb, out, r, gemm::Options{});
  else
    k.gemm_u8s8(a.data(), K, a_zp, pb, out, r, gemm::Options{});
  const int64_t av = a_signed ? (int8_t)a_val : (uint8_t)a_val;
  const int64_t want = (int64_t)K * (av - a_zp) * ((int64_t)b_val - b_zp);
  bool ok = true;
  for (int32_t v : y) ok = ok && v == (int32_t)want;
  LOWBIT_CHECK(ok, "closed form a=" << av << " b=" << b_val << " a_zp=" << a_zp << " b_zp=" << b_zp
                                    << " K=" << K << " got " << y[0] << " want " << want);
}

}  // namespace

LOWBIT_TEST(gemm_pack_layout) {
  for (int rep = 0; rep < 20; rep++) {
    const size_t K = (size_t)rand_int(1, 40), N = (size_t)rand_int(1, 40);
    const bool tr = rep % 2 == 1, pc = rep % 3 == 0;
    const size_t ldb = tr ? K + 1 : N + 2;
    std::vector<int8_t> b((tr ? N : K) * ldb);
    for (auto& v : b) v = (int8_t)rand_int(-128, 127);
    std::vector<int32_t> zp(N);
    for (auto& z : zp) z = (int32_t)rand_int(-128, 127);
    const gemm::PackedB p = gemm::pack_b(b.data(), ldb, tr, K, N, zp.data(), pc);
    bool ok = true;
    for (size_t n = 0; n < N; n++) {
      int32_t s = 0;
      for (size_t k = 0; k < K; k++) {
        const int8_t v = tr ? b[n * ldb + k] : b[k * ldb + n];
        ok = ok && p.weight(k, n) == v;
        s += v;
      }
      ok = ok && p.col_sum[n] == s && p.b_zp[n] == (pc ? zp[n] : zp[0]);
    }
    LOWBIT_CHECK(ok, "pack K=" << K << " N=" << N << " transposed=" << tr);
    const std::vector<uint8_t> bytes = gemm::serialize(p);
    gemm::PackedB q;
    LOWBIT_CHECK(gemm::deserialize(bytes.data(), bytes.size(), &q), "deserialize");
    LOWBIT_CHECK(q.K == K && q.N == N && q.data.size() == p.data.size() &&
                     std::memcmp(q.data.data(), p.data.data(), p.data.size()) == 0 && q.col_sum == p.col_sum &&
                     q.b_zp == p.b_zp && q.maddubs_safe == p.maddubs_safe,
                 "round trip");
    gemm::PackedB r;
    LOWBIT_CHECK(!gemm::deserialize(bytes.data(), bytes.size() - 1, &r), "truncated bytes accepted");
    std::vector<uint8_t> bad = bytes;
    bad.push_back(0);
    LOWBIT_CHECK(!gemm::deserialize(bad.data(), bad.size(), &r), "trailing byte accepted");
    bad = bytes;
    bad[28] = 200, bad[29] = bad[30] = bad[31] = 0;  // the first zero point: 200, outside int8
    LOWBIT_CHECK(!gemm::deserialize(bad.data(), bad.size(), &r), "zero point 200 accepted");
  }
  // the safety flag
  const int32_t z = 0;
  const int8_t safe[8] = {127, -128, 1, 127, -64, 63, -63, -65};
  const int8_t unsafe[4] = {127, 2, 0, 0};
  LOWBIT_CHECK(gemm::pack_b(safe, 1, true, 8, 1, &z, false).maddubs_safe, "(127,-128),(1,127) pairs are safe");
  LOWBIT_CHECK(!gemm::pack_b(unsafe, 1, true, 4, 1, &z, false).maddubs_safe, "(127,2) is not safe");
  const int8_t unsafe_neg[4] = {0, 0, -128, -1};
  LOWBIT_CHECK(!gemm::pack_b(unsafe_neg, 1, true, 4, 1, &z, false).maddubs_safe, "(-128,-1) is not safe");
}

LOWBIT_TEST(gemm_closed_form_extremes) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    for (size_t K : {1, 3, 4, 37, 4099}) {
      for (bool exact_b : {true, false}) {
        (void)exact_b;
        check_closed_form(k, false, 255, 127, 0, 0, 3, 9, K);
        check_closed_form(k, false, 255, -128, 0, 0, 7, 17, K);
        check_closed_form(k, false, 255, -128, 0, 127, 2, 5, K);   // (255)(-255)
        check_closed_form(k, false, 0, 127, 255, -128, 1, 8, K);   // (-255)(255)
        check_closed_form(k, true, -128, -128, 127, 127, 6, 16, K);  // (-255)(-255)
        check_closed_form(k, true, 127, 127, -128, -128, 5, 3, K);
        check_closed_form(k, true, -128, 127, 0, 0, 1, 1, K);
      }
    }
  });
}

LOWBIT_TEST(gemm_matches_reference_shapes) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    const size_t Ms[] = {1, 2, 3, 5, 6, 7, 12, 13};
    const size_t Ns[] = {1, 3, 7, 8, 9, 16, 17, 31, 33, 40};
    const size_t Ks[] = {1, 2, 3, 4, 5, 7, 8, 31, 64, 67};
    for (size_t M : Ms)
      for (size_t N : Ns)
        for (size_t K : Ks) {
          Case c{M, N, K};
          c.a_signed = rand_int(0, 1);
          c.bmode = rand_int(0, 2) == 0 ? b_safe : b_full;
          c.amode = rand_int(0, 3) == 0 ? a_7bit : a_full;
          c.transposed = rand_int(0, 1);
          c.per_channel = rand_int(0, 1);
          c.a_zp = (int32_t)(c.a_signed ? rand_int(-128, 127) : rand_int(0, 255));
          c.lda_extra = (size_t)rand_int(0, 3);
          c.ldc_extra = (size_t)rand_int(0, 3);
          c.exact_only = rand_int(0, 3) == 0;
          run_case(c, k, isa_name(isa));
        }
  });
}

LOWBIT_TEST(gemm_matches_reference_values) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    const BMode bms[] = {b_full, b_safe, b_max, b_min, b_extremes, b_pairs_safe, b_small};
    const AMode ams[] = {a_full, a_max, a_min, a_7bit, a_const_mid};
    for (BMode bm : bms)
      for (AMode am : ams)
        for (bool sgn : {false, true})
          for (int zpk = 0; zpk < 3; zpk++) {
            Case c{(size_t)rand_int(1, 14), (size_t)rand_int(1, 30), (size_t)rand_int(1, 80)};
            c.a_signed = sgn;
            c.bmode = bm;
            c.amode = am;
            c.per_channel = zpk == 2;
            const int32_t lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
            c.a_zp = zpk == 0 ? lo : zpk == 1 ? hi : (int32_t)rand_int(lo, hi);
            c.bzp_fixed = zpk == 0 ? 127 : zpk == 1 ? -128 : 1000;
            c.exact_only = false;
            run_case(c, k, isa_name(isa));
          }
    // large K with full-range values: int32 accumulation near its limit
    for (size_t K : {4099, 9001}) {
      for (AMode am : {a_full, a_max, a_min}) {
        Case c{3, 11, K};
        c.amode = am;
        c.bmode = am == a_full ? b_full : b_min;
        c.a_signed = am == a_min;
        c.a_zp = c.a_signed ? 127 : 0;
        c.bzp_fixed = 127;
        run_case(c, k, isa_name(isa));
      }
    }
    // past K = 33025 the int32 result wraps (modulo 2^32, gemm/README.md), and b zero points may be
    // any int32: identical on every ISA, and (under UBSan) without signed-overflow UB on the way
    for (int32_t bzp : {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), 127}) {
      for (bool sgn : {false, true}) {
        Case c{3, 11, bzp == 127 ? (size_t)40000 : (size_t)37};
        c.a_signed = sgn;
        c.amode = sgn ? a_min : a_max;
        c.bmode = b_min;
        c.a_zp = sgn ? 127 : 0;
        c.bzp_fixed = bzp;
        run_case(c, k, isa_name(isa));
      }
    }
  });
}

LOWBIT_TEST(gemm_output_pipelines) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    const OutType types[] = {OutType::s32, OutType::u8, OutType::s8, OutType::f32};
    for (OutType t : types)
      for (int variant = 0; variant < 16; variant++) {
        Case c{(size_t)rand_int(1, 15), (size_t)rand_int(1, 35), (size_t)rand_int(1, 70)};
        c.type = t;
        c.a_signed = variant & 1;
        c.bias_s32 = variant & 2;
        c.bias_f32 = variant & 4;
        c.relu = variant & 8;
        c.scale_pc = rand_int(0, 1);
        c.per_channel = rand_int(0, 1);
        c.bmode = rand_int(0, 1) ? b_safe : b_full;
        c.a_zp = (int32_t)(c.a_signed ? rand_int(-128, 127) : rand_int(0, 255));
        c.ldc_extra = (size_t)rand_int(0, 5);
        c.exact_only = rand_int(0, 1);
        run_case(c, k, isa_name(isa));
      }
  });
}

LOWBIT_TEST(gemm_sub_ranges) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    for (int rep = 0; rep < 40; rep++) {
      Case c{(size_t)rand_int(1, 20), (size_t)rand_int(1, 50), (size_t)rand_int(1, 40)};
      c.sub_range = true;
      c.type = (OutType)rand_int(0, 3);
      c.a_signed = rand_int(0, 1);
      c.per_channel = rand_int(0, 1);
      c.bmode = rand_int(0, 1) ? b_safe : b_full;
      c.ldc_extra = (size_t)rand_int(0, 5);
      run_case(c, k, isa_name(isa));
    }
  });
}

LOWBIT_TEST(gemm_blocks_and_paths) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    // M large enough for several row blocks (the block size depends on K)
    for (size_t K : {300, 1000}) {
      for (int v = 0; v < 3; v++) {
        Case c{(size_t)(v == 0 ? 233 : 70), 20, K};
        c.bmode = v == 1 ? b_safe : b_full;
        c.amode = v == 2 ? a_7bit : a_full;
        c.per_channel = true;
        c.a_zp = 17;
        run_case(c, k, isa_name(isa));
      }
    }
    if (isa == Isa::avx2) {
      // the fast path must really run where it is proven safe, and only there
      gemm::path_counters() = gemm::PathCounters{};
      Case c{8, 16, 64};
      c.bmode = b_safe;
      run_case(c, k, "avx2");
      LOWBIT_CHECK(gemm::path_counters().fast_blocks > 0, "safe weights did not take the fast path");
      gemm::path_counters() = gemm::PathCounters{};
      c.bmode = b_full;
      c.amode = a_full;
      run_case(c, k, "avx2");
      LOWBIT_CHECK(gemm::path_counters().fast_blocks == 0, "unsafe weights took the fast path");
      gemm::path_counters() = gemm::PathCounters{};
      c.amode = a_7bit;
      run_case(c, k, "avx2");
      LOWBIT_CHECK(gemm::path_counters().fast_blocks > 0, "7-bit activations did not take the fast path");
    }
  });
}

// Tall, small-K shapes (FBGEMM's 156800 x {4,8,16} x 36 family): many rows per block, so the AVX2
// wide kernel (row blocks of >= 48 rows, K <= 512), the vectorized int16 A packing and the tile
// epilogue all run; N and K around every vector width, every output type.
LOWBIT_TEST(gemm_tall_small_k) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    const OutType types[] = {OutType::s32, OutType::u8, OutType::s8, OutType::f32};
    for (size_t N = 1; N <= 17; N++) {
      for (int rep = 0; rep < 6; rep++) {
        Case c{(size_t)rand_int(40, 300), N, (size_t)rand_int(1, 40)};
        if (rep == 0) c.K = N + 23;  // 24..40
        if (rep == 1) c.K = (size_t)rand_int(1, 4);
        c.type = types[(N + rep) % 4];
        c.a_signed = rand_int(0, 1);
        c.bmode = rep == 5 ? b_extremes : b_full;
        c.amode = rep == 4 ? a_max : a_full;
        c.per_channel = rand_int(0, 1);
        c.a_zp = (int32_t)(c.a_signed ? rand_int(-128, 127) : rand_int(0, 255));
        c.bias_s32 = rand_int(0, 1);
        c.bias_f32 = rand_int(0, 1);
        c.relu = rand_int(0, 1);
        c.scale_pc = rand_int(0, 1);
        c.lda_extra = (size_t)rand_int(0, 3);
        c.ldc_extra = (size_t)rand_int(0, 3);
        c.sub_range = rep == 3;
        c.exact_only = rand_int(0, 2) == 0;
        run_case(c, k, isa_name(isa));
      }
    }
    if (isa == Isa::avx2) {
      // the wide kernel really runs on an eligible block, and not beyond its limits
      gemm::path_counters() = gemm::PathCounters{};
      Case c{60, 16, 36};
      c.exact_only = true;
      run_case(c, k, "avx2");
      LOWBIT_CHECK(gemm::path_counters().wide_blocks > 0, "the wide kernel did not run");
      gemm::path_counters() = gemm::PathCounters{};
      c.M = 47;
      run_case(c, k, "avx2");
      c.M = 60;
      c.K = 513;
      run_case(c, k, "avx2");
      LOWBIT_CHECK(gemm::path_counters().wide_blocks == 0, "the wide kernel ran outside its limits");
    }
    // around the wide kernel's limits: 47/48/49 rows, K 511..513, row counts that leave every
    // remainder tile (1..5 rows), fast-path weights with exact_only
    for (size_t M : {47, 48, 49, 50, 53, 96, 101}) {
      for (size_t K : {15, 16, 17, 33, 511, 512, 513}) {
        Case c{M, (size_t)rand_int(1, 40), K};
        c.type = (OutType)rand_int(0, 3);
        c.a_signed = rand_int(0, 1);
        c.bmode = rand_int(0, 1) ? b_safe : b_full;
        c.per_channel = rand_int(0, 1);
        c.a_zp = (int32_t)(c.a_signed ? rand_int(-128, 127) : rand_int(0, 255));
        c.bzp_fixed = rand_int(0, 1) ? 0 : 1000;
        c.exact_only = rand_int(0, 1);
        c.ldc_extra = (size_t)rand_int(0, 2);
        run_case(c, k, isa_name(isa));
      }
    }
  });
}

#if defined(LOWBIT_HAVE_AMX) && defined(LOWBIT_HAVE_AVX512)
// The AMX kernel (amx.cc) where the CPU and the OS allow it: row counts around its 16-row tiles and
// 32-row blocks, K around its 64-byte k blocks, N around its 16-column tiles, every output type,
// zero points at the extremes, sub-rectangles, large K; against the reference, and proof that the
// tiles ran (calls of fewer than 8 rows or with a residual run the VNNI kernel by design).
LOWBIT_TEST(gemm_amx) {
  if (!amx_ready()) {
    std::printf("  (no AMX here: skipped)\n");
    return;
  }
  const GemmKernels amx{Isa::avx512, gemm::gemm_u8s8__amx, gemm::gemm_s8s8__amx};
  LOWBIT_CHECK(gemm_kernels(Isa::avx512).gemm_u8s8 == gemm::gemm_u8s8__amx, "the AVX-512 level uses AMX here");
  const uint64_t before = gemm::path_counters().amx_blocks;
  const size_t Ms[] = {8, 15, 16, 17, 31, 32, 33, 70};
  const size_t Ns[] = {1, 7, 15, 16, 17, 32, 33, 50};
  const size_t Ks[] = {1, 3, 4, 63, 64, 65, 130, 257};
  int variant = 0;
  for (size_t M : Ms)
    for (size_t N : Ns)
      for (size_t K : Ks) {
        Case c{M, N, K};
        c.a_signed = variant % 2;
        c.bmode = variant % 5 == 0 ? b_extremes : b_full;
        c.amode = variant % 7 == 0 ? (c.a_signed ? a_min : a_max) : a_full;
        c.transposed = variant % 3 == 0;
        c.per_channel = variant % 4 < 2;
        const int32_t lo = c.a_signed ? -128 : 0, hi = c.a_signed ? 127 : 255;
        c.a_zp = variant % 6 == 0 ? lo : variant % 6 == 1 ? hi : (int32_t)rand_int(lo, hi);
        c.bzp_fixed = variant % 8 == 0 ? 127 : variant % 8 == 1 ? -128 : 1000;
        c.type = (OutType)(variant % 4);
        c.bias_s32 = variant % 3 == 1;
        c.bias_f32 = variant % 5 == 2;
        c.relu = variant % 9 == 4;
        c.scale_pc = variant % 2 == 0;
        c.lda_extra = (size_t)rand_int(0, 3);
        c.ldc_extra = (size_t)rand_int(0, 3);
        c.sub_range = variant % 11 == 3;
        run_case(c, amx, "amx");
        variant++;
      }
  for (size_t K : {4099, 9001}) {
    Case c{40, 19, K};
    c.amode = a_max;
    c.bmode = b_min;
    c.a_zp = 0;
    c.bzp_fixed = 127;
    run_case(c, amx, "amx");
  }
  // several column chunks (large K: 32-64 columns a chunk) and several 1024-row super-blocks
  for (const Case& c0 : {Case{40, 100, 4099}, Case{1100, 40, 70}, Case{1057, 70, 300}}) {
    Case c = c0;
    c.per_channel = true;
    c.type = OutType::u8;
    c.a_zp = 131;
    c.ldc_extra = 3;
    run_case(c, amx, "amx");
  }
  LOWBIT_CHECK(gemm::path_counters().amx_blocks > before, "AMX tiles ran");
}
#endif

LOWBIT_TEST(gemm_dispatch) {
  for (Isa isa : supported_isas()) {
    const GemmKernels& k = gemm_kernels(isa);
    LOWBIT_CHECK(isa_at_or_below(k.isa, isa), "gemm kernel above the level asked for");
    LOWBIT_CHECK(k.gemm_u8s8 && k.gemm_s8s8, "missing kernel");
  }
#if defined(LOWBIT_HAVE_AVX2)
  if (isa_supported(Isa::avx2)) LOWBIT_CHECK(gemm_kernels(Isa::avx2).isa == Isa::avx2, "avx2 table");
#endif
  LOWBIT_CHECK(gemm_kernels(Isa::scalar).gemm_u8s8 == gemm::gemm_u8s8__ref, "scalar table is ref");
}

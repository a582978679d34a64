// int8 dense convolution (kernels/conv/int8.h): im2col against a direct loop, and the whole
// convolution on every ISA against the int64 oracle (exact), with every output type, 7-bit and
// full-range activations, and any thread plan writing exactly its outputs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::conv;
using namespace lowbit::test;

namespace {

struct QCase {
  int cin, cout, kh, kw, s, p, d, groups, n, h, w;
};

std::vector<QCase> qcases() {
  return {
      // cin cout kh kw  s  p  d  g  n   h   w
      {3, 5, 1, 1, 1, 0, 1, 1, 1, 7, 9},     // 1x1
      {16, 13, 1, 1, 1, 0, 1, 1, 2, 11, 13},  // 1x1 batch 2
      {8, 8, 1, 1, 2, 0, 1, 1, 1, 14, 15},    // 1x1 stride 2
      {6, 7, 3, 3, 1, 1, 1, 1, 1, 13, 13},    // 3x3 pad 1
      {6, 9, 3, 3, 1, 0, 1, 1, 2, 10, 12},
      {8, 14, 3, 3, 2, 1, 1, 1, 1, 15, 14},   // stride 2
      {4, 6, 3, 3, 1, 1, 1, 2, 1, 9, 8},      // groups 2
      {8, 8, 3, 3, 1, 1, 1, 8, 1, 12, 11},    // depthwise
      {6, 10, 5, 5, 1, 2, 1, 2, 2, 9, 10},    // 5x5 groups 2 batch 2
      {3, 7, 7, 7, 2, 3, 1, 1, 1, 23, 21},    // stem-like
      {4, 5, 3, 3, 1, 2, 2, 1, 1, 11, 12},    // dilation 2
      {3, 5, 3, 2, 2, 1, 1, 1, 1, 6, 5},      // rectangular kernel
      {40, 72, 3, 3, 1, 1, 1, 1, 1, 30, 29},  // several pixel blocks, several panels
  };
}

ConvGeometry geo_of(const QCase& c) {
  ConvGeometry g;
  g.cin = c.cin, g.cout = c.cout, g.kh = c.kh, g.kw = c.kw;
  g.stride_h = g.stride_w = c.s;
  g.pad_h = g.pad_w = c.p;
  g.dil_h = g.dil_w = c.d;
  g.groups = c.groups;
  return g;
}

}  // namespace

LOWBIT_TEST(qconv_im2col_vs_direct_loop) {
  for (const QCase& c : qcases()) {
    const ConvGeometry g = geo_of(c);
    ConvLayout L;
    LOWBIT_CHECK(make_layout(g, 1, c.h, c.w, &L).empty(), "layout");
    std::vector<uint8_t> x((size_t)c.cin * c.h * c.w);
    for (auto& v : x) v = (uint8_t)rand_int(0, 255);
    const size_t K = (size_t)g.taps(), P = L.out_pixels();
    const uint8_t pad = 77;
    // an arbitrary pixel range
    const size_t p0 = P > 3 ? 1 : 0, p1 = P;
    Guarded<uint8_t> col((p1 - p0) * K);
    im2col_u8(L, x.data(), pad, p0, p1, col.data());
    LOWBIT_CHECK(col.guards_intact(), "im2col wrote outside its rows");
    bool ok = true;
    for (size_t p = p0; p < p1; p++) {
      const int oy = (int)(p / L.ow), ox = (int)(p % L.ow);
      for (int ci = 0; ci < g.cin_g(); ci++)
        for (int ky = 0; ky < g.kh; ky++)
          for (int kx = 0; kx < g.kw; kx++) {
            const int iy = oy * c.s - c.p + ky * c.d, ix = ox * c.s - c.p + kx * c.d;
            const uint8_t want = (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) ? pad : x[((size_t)ci * c.h + iy) * c.w + ix];
            ok &= col[(p - p0) * K + ((size_t)ci * g.kh + ky) * g.kw + kx] == want;
          }
    }
    LOWBIT_CHECK(ok, "im2col case cin=" << c.cin << " k=" << c.kh << "x" << c.kw << " s=" << c.s << " p=" << c.p << " d=" << c.d);
  }
}

LOWBIT_TEST(qconv_exact_vs_int64_oracle) {
  for_each_isa([](Isa isa) {
    const GemmKernels& k = gemm_kernels(isa);
    int idx = 0;
    for (const QCase& c : qcases()) {
      const ConvGeometry g = geo_of(c);
      ConvLayout L;
      LOWBIT_CHECK(make_layout(g, c.n, c.h, c.w, &L).empty(), "layout");
      const bool per_channel = (idx % 2) == 0;
      const bool seven_bit = (idx % 3) == 1;
      idx++;
      std::vector<int8_t> w((size_t)g.cout * g.taps());
      for (auto& v : w) v = (int8_t)rand_int(-128, 127);
      std::vector<int32_t> wz(per_channel ? g.cout : 1);
      for (auto& v : wz) v = (int32_t)rand_int(-128, 127);
      std::vector<uint8_t> x((size_t)c.n * c.cin * c.h * c.w);
      for (auto& v : x) v = seven_bit ? (uint8_t)rand_int(60, 187) : (uint8_t)rand_int(0, 255);
      const int32_t xz = seven_bit ? 100 : (int32_t)rand_int(0, 255);
      std::vector<int32_t> bias(g.cout);
      for (auto& v : bias) v = (int32_t)rand_int(-100000, 100000);
      std::vector<int64_t> ref(L.out_floats());
      qconv_direct_s64__ref(g, c.n, c.h, c.w, w.data(), wz.data(), per_channel, x.data(), xz, bias.data(), ref.data());
      const QConvWeights qw = QConvWeights::pack(g, w.data(), wz.data(), per_channel);

      // int32 output, several thread plans (tasks run in reverse order: no task depends on another)
      for (int threads : {1, 3, 64}) {
        const QConvPlan plan = plan_qconv(L, threads);
        Guarded<int32_t> y(L.out_floats());
        QConvOutput out;
        out.type = gemm::OutType::s32;
        out.y = y.data();
        out.bias_s32 = bias.data();
        for (size_t t = plan.tasks; t-- > 0;) qconv_u8s8_task(k.gemm_u8s8, qw, L, plan, x.data(), xz, out, gemm::Options{}, t);
        LOWBIT_CHECK(y.guards_intact(), "wrote outside the output");
        bool ok = true;
        for (size_t i = 0; i < ref.size(); i++) ok &= (int64_t)y[i] == ref[i];
        LOWBIT_CHECK(ok, isa_name(isa) << " s32 case " << idx - 1 << " threads " << threads);
      }
      // uint8 requantized and fp32 outputs against the scalar formulas of gemm.h
      std::vector<float> mult(g.cout), deq(g.cout);
      for (int co = 0; co < g.cout; co++) {
        const float ws = 0.001f + 0.0001f * (float)co;
        mult[co] = gemm::requant_multiplier(0.02f, ws, 0.5f);
        deq[co] = gemm::dequant_scale(0.02f, ws);
      }
      const QConvPlan plan = plan_qconv(L, 2);
      Guarded<uint8_t> yq(L.out_floats());
      Guarded<float> yf(L.out_floats());
      QConvOutput oq;
      oq.type = gemm::OutType::u8;
      oq.y = yq.data();
      oq.bias_s32 = bias.data();
      oq.scale = mult.data();
      oq.scale_per_channel = true;
      oq.out_zp = 128, oq.qmin = 128, oq.qmax = 255;  // fused ReLU
      QConvOutput of = oq;
      of.type = gemm::OutType::f32;
      of.y = yf.data();
      of.scale = deq.data();
      of.relu = true;
      for (size_t t = 0; t < plan.tasks; t++) {
        qconv_u8s8_task(k.gemm_u8s8, qw, L, plan, x.data(), xz, oq, gemm::Options{}, t);
        qconv_u8s8_task(k.gemm_u8s8, qw, L, plan, x.data(), xz, of, gemm::Options{}, t);
      }
      LOWBIT_CHECK(yq.guards_intact() && yf.guards_intact(), "wrote outside the output");
      bool okq = true, okf = true;
      const size_t plane = L.out_pixels();
      for (size_t i = 0; i < ref.size(); i++) {
        const int co = (int)((i / plane) % g.cout);
        const int32_t acc = (int32_t)ref[i];
        okq &= yq[i] == (uint8_t)gemm::requant_one(acc, mult[co], 0.0f, 128.0f, 128.0f, 255.0f);
        const float f = gemm::dequant_one(acc, deq[co], 0.0f, true);
        okf &= std::memcmp(&yf[i], &f, 4) == 0;
      }
      LOWBIT_CHECK(okq, isa_name(isa) << " u8 case " << idx - 1);
      LOWBIT_CHECK(okf, isa_name(isa) << " f32 case " << idx - 1);
    }
  });
}

namespace {

// Shapes for the direct kernel: its panel runs (ow below, at and above 16, one pixel), K modulo 2
// and 4, channel tails of the 6- and 4-row tiles, strides, padding, dilation, groups, batch.
std::vector<QCase> direct_cases() {
  std::vector<QCase> v = qcases();
  const std::vector<QCase> more = {
      // cin cout kh kw  s  p  d  g  n   h   w
      {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1},      // one pixel, K = 1
      {5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // one pixel, padding only around it
      {3, 11, 1, 1, 1, 0, 1, 1, 1, 1, 40},    // one row of 40: runs across panels
      {7, 13, 3, 3, 1, 1, 1, 1, 1, 17, 16},   // ow = 16
      {2, 9, 3, 3, 1, 1, 1, 1, 1, 9, 2},      // ow = 2, 18 pixels (a small block: im2col + GEMM)
      {2, 9, 3, 3, 1, 1, 1, 1, 1, 40, 2},     // ow = 2, 80 pixels: > 4 runs a panel (gather)
      {16, 20, 3, 3, 1, 1, 1, 1, 1, 8, 8},    // 64 pixels: the direct kernel, no tail
      {9, 25, 3, 3, 2, 2, 1, 1, 2, 12, 19},   // stride 2, pad 2, batch 2
      {12, 18, 3, 3, 1, 1, 1, 3, 1, 7, 7},    // groups 3, 6 channels a group
      {6, 5, 2, 3, 1, 1, 2, 1, 1, 10, 9},     // K = 36, rectangular, dilation 2
      {33, 50, 1, 1, 1, 0, 1, 1, 1, 14, 14},  // K = 33 (odd, 1 mod 4), cout tails
      {130, 19, 3, 3, 1, 1, 1, 1, 1, 9, 11},  // K = 1170 (2 mod 4)
      {64, 64, 3, 3, 1, 1, 1, 1, 1, 56, 56},  // several blocks
      // column phases (stride > 1 along x): padded widths below 16, odd and even, stride 3, dilation
      {5, 9, 3, 3, 2, 1, 1, 1, 1, 9, 9},      // wp = 11 (< 16: scalar split only)
      {6, 10, 3, 3, 2, 1, 1, 1, 1, 30, 29},   // wp = 31 (odd: overlapping last block + 1 column)
      {4, 7, 3, 3, 2, 0, 1, 1, 2, 17, 40},    // wp = 40, unpadded, batch 2
      {5, 8, 5, 5, 3, 2, 1, 1, 1, 23, 26},    // stride 3
      {3, 6, 3, 3, 2, 2, 2, 1, 1, 20, 21},    // stride 2, dilation 2
      {8, 12, 1, 1, 2, 0, 1, 1, 1, 15, 33},   // 1x1 stride 2 (ResNet downsample)
      {128, 128, 3, 3, 2, 1, 1, 1, 1, 28, 28},  // ResNet-50 3x3 stride 2
      // the AMX direct kernel (symmetric weights, >= 16 channels a group, >= 8 output columns)
      {64, 32, 3, 3, 1, 1, 1, 2, 1, 13, 13},  // groups 2, 32 channels a group (cpad 64)
      {32, 24, 3, 3, 1, 2, 2, 1, 1, 15, 17},  // dilation 2, pad 2, cout 24 (panel tail)
      {48, 40, 5, 5, 1, 2, 1, 1, 2, 27, 27},  // AlexNet conv2-like, batch 2
      {70, 17, 3, 3, 2, 1, 1, 1, 1, 21, 37},  // stride 2, 70 channels (2 chunks, tails)
      {16, 16, 1, 1, 1, 0, 1, 1, 1, 9, 41},   // 1x1, row of 41: segments across rows
      {32, 20, 1, 1, 1, 0, 1, 1, 1, 7, 7},    // 1x1 at 7x7: segments across rows
      {64, 48, 1, 1, 1, 0, 1, 1, 3, 5, 3},    // 1x1, ow = 3, batch 3
      {16, 16, 3, 3, 1, 1, 1, 1, 1, 5, 70},   // rows of 70: the 64-pixel NHWC copy, padded
      {48, 32, 1, 1, 1, 0, 1, 1, 1, 6, 30},   // 1x1: one run of 180 pixels (64-pixel copies)
      {32, 48, 3, 3, 1, 1, 1, 1, 1, 12, 20},  // AMX with 32 channels (one chunk of 32)
      {16, 64, 5, 5, 1, 2, 1, 1, 1, 10, 18},  // AMX with 16 channels, 5x5
      {256, 40, 1, 1, 1, 0, 1, 1, 1, 7, 7},   // AMX 1x1 at 7x7 (segments across rows)
      {320, 96, 1, 1, 1, 0, 1, 1, 2, 9, 70},  // AMX 1x1, 5 chunks, rows of 70, batch 2
  };
  v.insert(v.end(), more.begin(), more.end());
  return v;
}

}  // namespace

LOWBIT_TEST(qconv_direct_vs_int64_oracle) {
  std::vector<std::pair<Isa, QConvDirectFn>> kernels;
  for (Isa isa : supported_isas())
    if (qconv_kernels(isa).qconv_u8s8_direct) kernels.push_back({isa, qconv_kernels(isa).qconv_u8s8_direct});
#if defined(LOWBIT_HAVE_AVX512)
  // where AMX is in use the table holds the AMX variant: the plain VNNI one too
  if (isa_supported(Isa::avx512) && qconv_kernels(Isa::avx512).qconv_u8s8_direct != qconv_u8s8_direct__avx512)
    kernels.push_back({Isa::avx512, qconv_u8s8_direct__avx512});
#endif
  const uint64_t amx_before = gemm::path_counters().amx_blocks;
  for (const auto& [isa, direct] : kernels) {
    int idx = 0;
    for (const QCase& c : direct_cases()) {
      const ConvGeometry g = geo_of(c);
      ConvLayout L;
      LOWBIT_CHECK(make_layout(g, c.n, c.h, c.w, &L).empty(), "layout");
      // activations: 0 full range, 1 7-bit (fast kernel), 2 full range with pair-safe weights (fast)
      for (int kind = 0; kind < 3; kind++) {
        const bool per_channel = (idx % 2) == 0;
        const bool zero_wz = (idx % 3) == 0;
        idx++;
        std::vector<int8_t> w((size_t)g.cout * g.taps());
        for (auto& v : w) v = kind == 2 ? (int8_t)rand_int(-64, 63) : (int8_t)rand_int(-128, 127);
        std::vector<int32_t> wz(per_channel ? g.cout : 1);
        for (auto& v : wz) v = zero_wz ? 0 : (int32_t)rand_int(-128, 127);
        std::vector<uint8_t> x((size_t)c.n * c.cin * c.h * c.w);
        for (auto& v : x) v = kind == 1 ? (uint8_t)rand_int(60, 187) : (uint8_t)rand_int(0, 255);
        const int32_t xz = kind == 1 ? (int32_t)rand_int(60, 187) : (int32_t)rand_int(0, 255);
        std::vector<int32_t> bias(g.cout);
        for (auto& v : bias) v = (int32_t)rand_int(-100000, 100000);
        std::vector<int64_t> ref(L.out_floats());
        qconv_direct_s64__ref(g, c.n, c.h, c.w, w.data(), wz.data(), per_channel, x.data(), xz, bias.data(), ref.data());
        const QConvWeights qw = QConvWeights::pack(g, w.data(), wz.data(), per_channel, true, amx_ready());
        LOWBIT_CHECK(kind != 2 || qw.maddubs_safe(), "weights in [-64, 63] are pair-safe");
        const std::string what = std::string(isa_name(isa)) + " direct case " + std::to_string(idx - 1) + " kind " +
                                 std::to_string(kind) + " cin=" + std::to_string(c.cin) + " k=" + std::to_string(c.kh) +
                                 "x" + std::to_string(c.kw) + " hw=" + std::to_string(c.h) + "x" + std::to_string(c.w);

        // int32, several thread plans, the fast kernel allowed or not (tasks in reverse order)
        for (int threads : {1, 3, 64}) {
          for (bool exact_only : {false, true}) {
            const QConvPlan plan = plan_qconv(L, threads, true);
            Guarded<int32_t> y(L.out_floats());
            QConvOutput out;
            out.type = gemm::OutType::s32;
            out.y = y.data();
            out.bias_s32 = bias.data();
            gemm::Options opt;
            opt.exact_only = exact_only;
            const gemm::PathCounters before = gemm::path_counters();
            for (size_t t = plan.tasks; t-- > 0;) direct(qw, L, plan, x.data(), xz, out, opt, t);
            const bool ran_fast = gemm::path_counters().fast_blocks > before.fast_blocks;
            LOWBIT_CHECK(y.guards_intact(), "wrote outside the output: " << what);
            bool ok = true;
            for (size_t i = 0; i < ref.size(); i++) ok &= (int64_t)y[i] == (int64_t)(int32_t)ref[i];
            LOWBIT_CHECK(ok, what << " s32 threads " << threads << " exact_only " << exact_only);
            // the fast kernel runs where it is proven safe (kind 1: every block spans <= 128 values, the
            // padding's zero point included; kind 2: pair-safe weights; kind 0 too when a block
            // happens to span <= 128 values or the random weights happen to be pair-safe), never
            // with exact_only. Planes of <= 64 pixels may run as im2col + the GEMM (small blocks,
            // avx2_int8.cc), whose own size rules may keep a tiny GEMM on its exact kernel.
            // (AVX-512 has one kernel, VNNI, exact for any input: nothing to choose)
            if (isa == Isa::avx512) continue;
            if (exact_only) LOWBIT_CHECK(!ran_fast, what << ": fast kernel ran with exact_only");
            else if (kind != 0 && L.out_pixels() > 64) LOWBIT_CHECK(ran_fast, what << ": fast kernel did not run");
          }
        }
        // u8 (fused ReLU, float bias), s8 and f32 outputs against the scalar formulas of gemm.h
        std::vector<float> mult(g.cout), deq(g.cout), bf(g.cout);
        for (int co = 0; co < g.cout; co++) {
          const float ws = 0.001f + 0.0001f * (float)co;
          mult[co] = gemm::requant_multiplier(0.02f, ws, 0.5f);
          deq[co] = gemm::dequant_scale(0.02f, ws);
          bf[co] = (float)rand_int(-3000, 3000) * 0.37f;
        }
        const QConvPlan plan = plan_qconv(L, 2, true);
        Guarded<uint8_t> yq(L.out_floats());
        Guarded<int8_t> ys(L.out_floats());
        Guarded<float> yf(L.out_floats());
        QConvOutput oq;
        oq.type = gemm::OutType::u8;
        oq.y = yq.data();
        oq.bias_s32 = bias.data();
        oq.bias_f32 = bf.data();
        oq.scale = mult.data();
        oq.scale_per_channel = true;
        oq.out_zp = 128, oq.qmin = 128, oq.qmax = 255;  // fused ReLU
        QConvOutput os = oq;
        os.type = gemm::OutType::s8;
        os.y = ys.data();
        os.scale = &mult[0];
        os.scale_per_channel = false;
        os.bias_f32 = nullptr;
        os.out_zp = -3, os.qmin = -128, os.qmax = 127;
        QConvOutput of = oq;
        of.type = gemm::OutType::f32;
        of.y = yf.data();
        of.scale = deq.data();
        of.relu = true;
        for (size_t t = 0; t < plan.tasks; t++) {
          direct(qw, L, plan, x.data(), xz, oq, gemm::Options{}, t);
          direct(qw, L, plan, x.data(), xz, os, gemm::Options{}, t);
          direct(qw, L, plan, x.data(), xz, of, gemm::Options{}, t);
        }
        LOWBIT_CHECK(yq.guards_intact() && ys.guards_intact() && yf.guards_intact(), "wrote outside the output: " << what);
        bool okq = true, oks = true, okf = true;
        const size_t plane = L.out_pixels();
        for (size_t i = 0; i < ref.size(); i++) {
          const int co = (int)((i / plane) % g.cout);
          const int32_t acc = (int32_t)ref[i];
          okq &= yq[i] == (uint8_t)gemm::requant_one(acc, mult[co], bf[co], 128.0f, 128.0f, 255.0f);
          oks &= ys[i] == (int8_t)gemm::requant_one(acc, mult[0], 0.0f, -3.0f, -128.0f, 127.0f);
          float f = gemm::dequant_one(acc, deq[co], bf[co], true);
          okf &= std::memcmp(&yf[i], &f, 4) == 0;
        }
        LOWBIT_CHECK(okq, what << " u8");
        LOWBIT_CHECK(oks, what << " s8");
        LOWBIT_CHECK(okf, what << " f32");
      }
    }
  }
  // where AMX is in use, its direct kernel ran (symmetric weights, wide enough layers)
  if (amx_ready()) LOWBIT_CHECK(gemm::path_counters().amx_blocks > amx_before, "AMX direct convolution ran");
}

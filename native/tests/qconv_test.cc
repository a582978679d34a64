// int8 dense convolution (kernels/conv/int8.h): im2col against a direct loop, and the whole
// convolution on every ISA against the int64 oracle (exact), with every output type, 7-bit and
// full-range activations, and any thread plan writing exactly its outputs.
#include <algorithm>
#include <cmath>
#include <vector>

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

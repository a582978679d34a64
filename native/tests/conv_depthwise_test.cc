// Depthwise convolution (kernels/conv/depthwise.h), every ISA the host runs and the reference:
// fp32 against the double oracle within the direct kernels' tolerance (README), int8 bit-exact
// against the int64 oracle through every output type (s32, u8, s8, f32 with the GEMM pipeline's
// formulas), 3x3 / 5x5, stride 1 / 2, odd and tiny planes, batch 2, plane splits, zero points at
// the extremes, per-channel weight zero points.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/conv/depthwise.h"
#include "kernels/gemm/gemm.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::conv;
using namespace lowbit::test;

namespace {

struct DCase {
  int c, k, s, p, n, h, w;
};

const std::vector<DCase>& dw_cases() {
  static const std::vector<DCase> cases = {
      // c  k  s  p  n   h   w
      {3, 3, 1, 1, 1, 7, 9},   {8, 3, 2, 1, 1, 12, 11},  {5, 5, 1, 2, 2, 9, 10}, {4, 5, 2, 2, 1, 13, 14},
      {2, 3, 1, 0, 1, 3, 3},   {6, 3, 2, 0, 1, 5, 6},    {16, 3, 1, 1, 1, 40, 37}, {7, 3, 2, 1, 2, 33, 35},
      {3, 5, 1, 1, 1, 6, 5},   {9, 3, 1, 2, 1, 1, 1},    {10, 5, 2, 4, 1, 2, 3},
  };
  return cases;
}

ConvGeometry geo_of(const DCase& c) {
  ConvGeometry g;
  g.cin = g.cout = g.groups = c.c;
  g.kh = g.kw = c.k;
  g.stride_h = g.stride_w = c.s;
  g.pad_h = g.pad_w = c.p;
  return g;
}

void run_f32(const char* what, DepthwiseF32Fn fn, const DCase& c, bool relu, int parts) {
  const ConvGeometry g = geo_of(c);
  ConvLayout L;
  const std::string err = make_layout(g, c.n, c.h, c.w, &L);
  LOWBIT_CHECK(err.empty(), err);
  if (!err.empty()) return;
  std::vector<float> w((size_t)g.cout * g.taps()), in(L.in_floats()), bias(g.cout);
  for (auto& v : w) v = rand_float(-1.0f, 1.0f);
  for (auto& v : in) v = rand_float(-1.0f, 1.0f);
  for (auto& v : bias) v = rand_float(-1.0f, 1.0f);
  std::vector<double> ref(L.out_floats()), mag(L.out_floats());
  conv2d_direct_f64__ref(g, c.n, c.h, c.w, w.data(), in.data(), bias.data(), relu, ref.data(), mag.data());
  Guarded<float> out(L.out_floats(), 4);
  const size_t planes = (size_t)c.n * c.c;
  for (int t = 0; t < parts; t++) fn(L, in.data(), w.data(), bias.data(), relu, out.data(), planes * t / parts, planes * (t + 1) / parts);
  LOWBIT_CHECK(out.guards_intact(), what << ": wrote outside its output");
  const double u = std::ldexp(1.0, -23);
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    const double tol = u * (g.taps() + 2) * mag[i] + 1e-30;
    if (!(std::fabs((double)out[i] - ref[i]) <= tol) && bad++ < 2)
      LOWBIT_CHECK(false, what << " c=" << c.c << " k=" << c.k << " s=" << c.s << " p=" << c.p << " n=" << c.n
                               << " hw=" << c.h << "x" << c.w << " i=" << i << " got=" << out[i] << " want=" << ref[i]);
  }
}

void run_u8(const char* what, DepthwiseU8Fn fn, const DCase& c, gemm::OutType type, int32_t xz, bool per_channel,
            int parts) {
  const ConvGeometry g = geo_of(c);
  ConvLayout L;
  if (!make_layout(g, c.n, c.h, c.w, &L).empty()) return;
  std::vector<int8_t> w((size_t)g.cout * g.taps());
  std::vector<uint8_t> x(L.in_floats());
  std::vector<int32_t> wz(per_channel ? g.cout : 1), bias(g.cout);
  std::vector<float> scale(per_channel ? g.cout : 1), bias_f(g.cout);
  for (auto& v : w) v = (int8_t)rand_int(-128, 127);
  for (auto& v : x) v = (uint8_t)rand_int(0, 255);
  for (size_t i = 0; i < wz.size(); i++) wz[i] = i == 0 ? -128 : i == 1 ? 127 : (int32_t)rand_int(-128, 127);
  for (auto& v : bias) v = (int32_t)rand_int(-100000, 100000);
  if (c.c > 2) bias[2] = INT32_MAX;  // wraps modulo 2^32
  for (auto& v : scale) v = rand_float(1e-4f, 3e-3f);
  for (auto& v : bias_f) v = rand_float(-50.0f, 50.0f);
  // all-extreme planes in the first image: every product at its largest
  for (size_t i = 0; i < (size_t)c.h * c.w && c.c > 1; i++) x[i] = 0, x[(size_t)c.h * c.w + i] = 255;
  std::vector<int64_t> acc(L.out_floats());
  qconv_direct_s64__ref(g, c.n, c.h, c.w, w.data(), wz.data(), per_channel, x.data(), xz, bias.data(), acc.data());
  std::vector<float> wf(w.size());
  depthwise_int8_weights(g, w.data(), wz.data(), per_channel, wf.data());
  QConvOutput o;
  o.type = type;
  o.bias_s32 = bias.data();
  o.scale = scale.data();
  o.scale_per_channel = per_channel;
  o.bias_f32 = type == gemm::OutType::s32 ? nullptr : bias_f.data();
  o.out_zp = type == gemm::OutType::u8 ? 128 : 3;
  o.qmin = type == gemm::OutType::u8 ? 0 : -128;
  o.qmax = type == gemm::OutType::u8 ? 255 : 127;
  o.relu = type == gemm::OutType::f32;
  const size_t esz = elem_size(type), planes = (size_t)c.n * c.c;
  Guarded<uint8_t> out(L.out_floats() * esz, 3);
  o.y = out.data();
  for (int t = 0; t < parts; t++) fn(L, x.data(), xz, wf.data(), o, planes * t / parts, planes * (t + 1) / parts);
  LOWBIT_CHECK(out.guards_intact(), what << ": wrote outside its output");
  size_t bad = 0;
  const size_t plane = L.out_pixels();
  for (size_t i = 0; i < acc.size(); i++) {
    const int co = (int)(i / plane % g.cout);
    const int32_t a = (int32_t)(uint32_t)(uint64_t)acc[i];
    const float s = scale[per_channel ? co : 0];
    bool ok;
    if (type == gemm::OutType::s32) {
      int32_t v;
      std::memcpy(&v, out.data() + 4 * i, 4);
      ok = v == a;
    } else if (type == gemm::OutType::f32) {
      float v;
      std::memcpy(&v, out.data() + 4 * i, 4);
      const float want = gemm::dequant_one(a, s, bias_f[co], true);
      ok = std::memcmp(&v, &want, 4) == 0;
    } else {
      const float want = gemm::requant_one(a, s, bias_f[co], (float)o.out_zp, (float)o.qmin, (float)o.qmax);
      ok = type == gemm::OutType::u8 ? out[i] == (uint8_t)(int32_t)want : (int8_t)out[i] == (int8_t)(int32_t)want;
    }
    if (!ok && bad++ < 2)
      LOWBIT_CHECK(false, what << " type " << (int)type << " c=" << c.c << " k=" << c.k << " s=" << c.s << " p=" << c.p
                               << " hw=" << c.h << "x" << c.w << " xz=" << xz << " i=" << i << " acc=" << a);
  }
}

}  // namespace

LOWBIT_TEST(depthwise_f32_matches_oracle) {
  for_each_isa([](Isa isa) {
    const DepthwiseF32Fn fn = depthwise_kernels(isa).f32;
    for (const DCase& c : dw_cases()) {
      run_f32("kernel", fn, c, false, 1);
      run_f32("kernel split", fn, c, true, 3);
    }
  });
  for (const DCase& c : dw_cases()) run_f32("ref", depthwise_f32__ref, c, true, 2);
}

LOWBIT_TEST(depthwise_int8_bit_exact) {
  for_each_isa([](Isa isa) {
    const DepthwiseU8Fn fn = depthwise_kernels(isa).u8s8;
    for (const DCase& c : dw_cases())
      for (gemm::OutType t : {gemm::OutType::s32, gemm::OutType::u8, gemm::OutType::s8, gemm::OutType::f32}) {
        run_u8("kernel", fn, c, t, 0, false, 1);
        run_u8("kernel", fn, c, t, 255, true, 2);
        run_u8("kernel", fn, c, t, 131, true, 3);
      }
  });
  for (const DCase& c : dw_cases()) run_u8("ref", depthwise_u8s8__ref, c, gemm::OutType::u8, 77, true, 2);
}

LOWBIT_TEST(depthwise_eligibility) {
  ConvGeometry g = geo_of({8, 3, 1, 1, 1, 8, 8});
  LOWBIT_CHECK(depthwise_eligible(g), "3x3 s1 depthwise");
  ConvGeometry m = g;
  m.cout = 16;  // channel multiplier 2
  LOWBIT_CHECK(!depthwise_eligible(m), "multiplier refused");
  ConvGeometry k7 = g;
  k7.kh = k7.kw = 7;
  LOWBIT_CHECK(!depthwise_eligible(k7), "7x7 refused");
  ConvGeometry s3 = g;
  s3.stride_h = s3.stride_w = 3;
  LOWBIT_CHECK(!depthwise_eligible(s3), "stride 3 refused");
  ConvGeometry d = g;
  d.dil_h = d.dil_w = 2;
  LOWBIT_CHECK(!depthwise_eligible(d), "dilation refused");
}

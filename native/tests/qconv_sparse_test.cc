// int8 1x1 convolution on the sparse FC kernel (kernels/conv/int8_sparse_1x1.h): exact int32
// against the direct oracle (qconv_direct_s64__ref), and every output type bit-identical to the
// dense path (qconv_u8s8_task), on every ISA, for plans of 1..5 threads' tasks run in any order,
// with guard bytes around the output.
#include <algorithm>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/conv/int8.h"
#include "kernels/conv/int8_sparse_1x1.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::conv;
using namespace lowbit::test;

namespace {

struct Case {
  int cin, cout, n, h, w;
  double sp;  // fraction of 1x4 blocks (4 input channels) all zero
};

// Runs the sparse path (plan for `threads`, tasks in reverse order) and the dense path into
// guarded outputs of `type`; returns whether they match bit for bit and the guards are intact.
template <typename T>
bool compare_paths(Isa isa, const Case& c, const ConvLayout& l, const QConvWeights& dw, const sparse_fc::SparseFcInt8Weights& sw,
                   const std::vector<uint8_t>& x, int32_t x_zp, QConvOutput out, int threads, std::vector<T>* sparse_out) {
  const size_t len = l.out_floats();
  Guarded<T> ys(len, 4), yd(len);
  out.y = ys.data();
  const QConvSparsePlan sp = plan_qconv_sparse_1x1(l, sw, threads);
  for (size_t t = sp.tasks; t-- > 0;) qconv_sparse_1x1_task(sparse_fc_kernels(isa).sparse_fc_u8s8, sw, l, sp, x.data(), x_zp, out, t);
  out.y = yd.data();
  const QConvPlan dp = plan_qconv(l, 1);
  for (size_t t = 0; t < dp.tasks; t++) qconv_u8s8_task(gemm_kernels(isa).gemm_u8s8, dw, l, dp, x.data(), x_zp, out, gemm::Options{}, t);
  if (sparse_out) sparse_out->assign(ys.data(), ys.data() + len);
  (void)c;
  return ys.guards_intact() && std::memcmp(ys.data(), yd.data(), len * sizeof(T)) == 0;
}

void run_case(Isa isa, const Case& c) {
  ConvGeometry g;
  g.cin = c.cin, g.cout = c.cout;
  std::vector<int8_t> w((size_t)c.cout * c.cin, 0);
  for (int o = 0; o < c.cout; o++)
    for (int c0 = 0; c0 < c.cin; c0 += 4) {
      if (rand_float(0, 1) < c.sp) continue;
      for (int i = c0; i < std::min(c.cin, c0 + 4); i++) w[(size_t)o * c.cin + i] = (int8_t)rand_int(-128, 127);
    }
  ConvLayout l;
  LOWBIT_CHECK(make_layout(g, c.n, c.h, c.w, &l).empty(), "layout");
  LOWBIT_CHECK(qconv_sparse_1x1_applies(g), "1x1 applies");
  const int32_t zero = 0;
  const QConvWeights dw = QConvWeights::pack(g, w.data(), &zero, false);
  const sparse_fc::SparseFcInt8Weights sw = sparse_fc::pack_sparse_fc_int8(w.data(), (size_t)c.cout, (size_t)c.cin);
  std::vector<uint8_t> x((size_t)c.n * c.cin * c.h * c.w);
  const int hi = rand_int(0, 1) ? 255 : 127;
  for (auto& v : x) v = (uint8_t)rand_int(0, hi);
  const int32_t x_zp = (int32_t)rand_int(0, hi);
  std::vector<int32_t> bias(c.cout);
  for (auto& b : bias) b = (int32_t)rand_int(-100000, 100000);
  std::vector<float> scales(c.cout), biasf(c.cout);
  for (int o = 0; o < c.cout; o++) scales[o] = rand_float(1e-4f, 1e-2f), biasf[o] = rand_float(-50, 50);
  const std::string tag = "cin " + std::to_string(c.cin) + " cout " + std::to_string(c.cout) + " n " + std::to_string(c.n) + " " +
                          std::to_string(c.h) + "x" + std::to_string(c.w) + " sp " + std::to_string(c.sp);
  for (int threads : {1, 2, 5}) {
    // int32 with an int32 bias: the oracle's exact sums (wrapped to int32)
    QConvOutput o;
    o.type = gemm::OutType::s32;
    o.bias_s32 = bias.data();
    std::vector<int32_t> got;
    LOWBIT_CHECK(compare_paths<int32_t>(isa, c, l, dw, sw, x, x_zp, o, threads, &got), "s32 sparse == dense, " + tag);
    std::vector<int64_t> ref(l.out_floats());
    qconv_direct_s64__ref(g, c.n, c.h, c.w, w.data(), &zero, false, x.data(), x_zp, bias.data(), ref.data());
    bool exact = true;
    for (size_t i = 0; i < ref.size(); i++) exact = exact && got[i] == (int32_t)(uint32_t)(uint64_t)ref[i];
    LOWBIT_CHECK(exact, "s32 == direct oracle, " + tag);
    // uint8 / int8 requantized (per-channel multipliers, float bias), fp32 with ReLU
    o.bias_s32 = nullptr;
    o.type = gemm::OutType::u8;
    o.scale = scales.data();
    o.scale_per_channel = true;
    o.bias_f32 = biasf.data();
    o.out_zp = 100, o.qmin = 0, o.qmax = 255;
    LOWBIT_CHECK(compare_paths<uint8_t>(isa, c, l, dw, sw, x, x_zp, o, threads, nullptr), "u8 sparse == dense, " + tag);
    o.type = gemm::OutType::s8;
    o.out_zp = -3, o.qmin = -3, o.qmax = 127;
    o.scale_per_channel = false;
    LOWBIT_CHECK(compare_paths<int8_t>(isa, c, l, dw, sw, x, x_zp, o, threads, nullptr), "s8 sparse == dense, " + tag);
    o.type = gemm::OutType::f32;
    o.relu = true;
    o.scale_per_channel = true;
    LOWBIT_CHECK(compare_paths<float>(isa, c, l, dw, sw, x, x_zp, o, threads, nullptr), "f32 sparse == dense, " + tag);
  }
}

}  // namespace

LOWBIT_TEST(qconv_sparse_1x1_applies) {
  ConvGeometry g;
  g.cin = 8, g.cout = 8;
  LOWBIT_CHECK(qconv_sparse_1x1_applies(g), "1x1");
  g.dil_h = 2;
  LOWBIT_CHECK(qconv_sparse_1x1_applies(g), "dilation is irrelevant for 1x1");
  ConvGeometry k3 = g;
  k3.kh = k3.kw = 3;
  ConvGeometry s2 = g;
  s2.stride_w = 2;
  ConvGeometry p1 = g;
  p1.kh = p1.kw = 3, p1.pad_h = 1;
  ConvGeometry g2 = g;
  g2.groups = 2;
  for (const ConvGeometry& b : {k3, s2, p1, g2}) LOWBIT_CHECK(!qconv_sparse_1x1_applies(b), "not 1x1 / stride 1 / unpadded / ungrouped");
}

LOWBIT_TEST(qconv_sparse_1x1_vs_dense_and_oracle) {
  for_each_isa([](Isa isa) {
    const Case cases[] = {{8, 16, 1, 5, 5, 0.8}, {67, 33, 2, 3, 7, 0.9}, {64, 24, 1, 8, 8, 0.7}, {5, 3, 1, 1, 1, 0.5},
                          {1, 9, 1, 4, 4, 0.0},  {36, 40, 3, 2, 5, 1.0}, {130, 17, 1, 9, 9, 0.95}, {256, 64, 1, 12, 12, 0.9},
                          {16, 8, 2, 33, 35, 0.6}};
    for (const Case& c : cases) run_case(isa, c);
  });
}

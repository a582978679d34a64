// Winograd fp32 convolution, F(2x2,3x3) and F(4x4,3x3), every ISA the host runs and the scalar
// reference: against the double-precision oracle within the bound of kernels/conv/README.md
// ("Winograd"), with tile and panel splits (the threads' two ways to divide a call), groups,
// padding 0..2, channel counts off the 8 / 16 multiples, batch > 1; plus the layout's refusals.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/conv/winograd.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::conv;
using namespace lowbit::test;

namespace {

struct WCase {
  int cin, cout, p, groups, n, h, w;
};

// One case's data, oracle and error scale (computed once, run through every kernel and split).
struct WData {
  WCase c;
  int m = 4;
  bool relu = false, with_bias = true;
  ConvGeometry g;
  WinoLayout L;
  std::vector<float> in, bias, nhwc;
  std::vector<double> ref, scale;
  WinogradWeights W;
};

bool make_wdata(const WCase& c, int m, bool relu, bool with_bias, WData* d) {
  d->c = c, d->m = m, d->relu = relu, d->with_bias = with_bias;
  ConvGeometry& g = d->g;
  g.cin = c.cin, g.cout = c.cout, g.kh = g.kw = 3, g.pad_h = g.pad_w = c.p, g.groups = c.groups;
  const std::string err = make_wino_layout(g, m, c.n, c.h, c.w, &d->L);
  LOWBIT_CHECK(err.empty(), err);
  if (!err.empty()) return false;
  std::vector<float> w((size_t)g.cout * g.taps());
  d->in.resize(d->L.in_floats());
  d->bias.resize(g.cout);
  for (auto& v : w) v = rand_float(-1.0f, 1.0f);
  for (auto& v : d->in) v = rand_float(-1.0f, 1.0f);
  for (auto& v : d->bias) v = rand_float(-1.0f, 1.0f);
  const float* bp = with_bias ? d->bias.data() : nullptr;
  d->ref.resize(d->L.out_floats());
  d->scale.resize(d->L.out_floats());
  conv2d_direct_f64__ref(g, c.n, c.h, c.w, w.data(), d->in.data(), bp, relu, d->ref.data(), nullptr);
  winograd_error_scale(g, m, c.n, c.h, c.w, w.data(), d->in.data(), bp, d->scale.data());
  d->W = WinogradWeights::transform(g, m, w.data());
  d->nhwc.resize(d->L.nhwc_floats);
  for (int t = 0; t < 3; t++)
    winograd_pack_input(d->L, d->in.data(), d->nhwc.data(), (size_t)c.n * d->L.hp * t / 3, (size_t)c.n * d->L.hp * (t + 1) / 3);
  return true;
}

// Runs a case through `fn`, split into `tparts` tile ranges x `pparts` panel ranges, with tile
// blocks of `block` tiles (0: the layout's own), against the oracle within the bound.
void run_wino_case(const char* what, WinogradFn fn, const WData& d, int tparts, int pparts, int block = 0) {
  WinoLayout L = d.L;
  if (block > 0) L.tile_block = block;  // several blocks and a short last one on small layers
  const float* bp = d.with_bias ? d.bias.data() : nullptr;
  Guarded<float> out(L.out_floats(), 8);
  for (size_t i = 0; i < out.size(); i++) out[i] = NAN;  // every output must be written
  for (int tp = 0; tp < tparts; tp++)
    for (int pp = 0; pp < pparts; pp++)
      fn(d.W, L, d.nhwc.data(), bp, d.relu, out.data(), L.tiles * tp / tparts, L.tiles * (tp + 1) / tparts,
         L.panels * pp / pparts, L.panels * (pp + 1) / pparts);
  LOWBIT_CHECK(out.guards_intact(), what << ": wrote outside its output");
  const WCase& c = d.c;
  const double u = std::ldexp(1.0, -23), K = d.g.cin_g() + 4.0 * (d.m + 2) + 4;
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < d.ref.size(); i++) {
    const double tol = K * u * d.scale[i] + 1e-30, e = std::fabs((double)out[i] - d.ref[i]);
    worst = std::max(worst, e / tol);
    if (!(e <= tol) && bad++ < 2)
      LOWBIT_CHECK(false, what << " F(" << d.m << ",3) cin=" << c.cin << " cout=" << c.cout << " p=" << c.p << " g="
                               << c.groups << " n=" << c.n << " hw=" << c.h << "x" << c.w << " i=" << i
                               << " got=" << out[i] << " want=" << d.ref[i] << " tol=" << tol);
  }
  LOWBIT_CHECK(worst <= 1.0, what << " worst error / bound " << worst);
}

// Every case's data for both tiles, made once for all the tests of the process.
const std::vector<WData>& wino_data();

const std::vector<WCase>& wino_cases() {
  static const std::vector<WCase> cases = {
      // cin cout p  g  n   h   w
      {1, 1, 1, 1, 1, 5, 5},
      {3, 5, 1, 1, 1, 7, 9},       // channels off both multiples, odd sizes
      {8, 16, 0, 1, 1, 10, 12},    // no padding
      {6, 9, 2, 1, 2, 6, 5},       // pad 2, batch 2
      {16, 24, 1, 2, 1, 13, 13},   // groups 2, cout_g 12 (a padded panel)
      {12, 20, 1, 4, 1, 9, 11},    // groups 4, cin_g 3
      {32, 40, 1, 1, 1, 17, 16},   // many tiles (blocks forced small in the tests)
      {20, 33, 1, 1, 3, 7, 7},     // 7 x 7 planes, batch 3
      {64, 17, 1, 1, 1, 3, 3},     // plane smaller than one F(4,3) tile
  };
  return cases;
}

}  // namespace

namespace {
const std::vector<WData>& wino_data() {
  static const std::vector<WData> data = [] {
    std::vector<WData> v;
    int i = 0;
    for (int m : {2, 4})
      for (const WCase& c : wino_cases()) {
        WData d;
        if (make_wdata(c, m, i % 2 == 1, i % 3 != 2, &d)) v.push_back(std::move(d));
        i++;
      }
    return v;
  }();
  return data;
}
}  // namespace

LOWBIT_TEST(winograd_matches_oracle) {
  for_each_isa([](Isa isa) {
    const WinogradFn fn = winograd_kernel(isa);
    for (const WData& d : wino_data()) {
      run_wino_case("kernel", fn, d, 1, 1);
      run_wino_case("kernel split tiles, blocks of 5", fn, d, 3, 1, 5);
      run_wino_case("kernel split panels, blocks of 7", fn, d, 2, 2, 7);
    }
  });
}

LOWBIT_TEST(winograd_reference_matches_oracle) {
  for (const WData& d : wino_data()) run_wino_case("ref", winograd_conv_f32__ref, d, 2, 2);
}

LOWBIT_TEST(winograd_layout_refusals) {
  ConvGeometry g;
  g.cin = 4, g.cout = 4, g.kh = g.kw = 3, g.pad_h = g.pad_w = 1;
  WinoLayout L;
  LOWBIT_CHECK(make_wino_layout(g, 4, 1, 8, 8, &L).empty(), "3x3 s1 is eligible");
  LOWBIT_CHECK(L.oh == 8 && L.ty == 2 && L.hp == 10 && L.cp == 8 && L.mcols == 16, "layout " << L.oh << " " << L.hp);
  LOWBIT_CHECK(!make_wino_layout(g, 3, 1, 8, 8, &L).empty(), "m = 3 refused");
  ConvGeometry s2 = g;
  s2.stride_h = s2.stride_w = 2;
  LOWBIT_CHECK(!winograd_eligible(s2) && !make_wino_layout(s2, 4, 1, 8, 8, &L).empty(), "stride 2 refused");
  ConvGeometry d2 = g;
  d2.dil_h = d2.dil_w = 2;
  LOWBIT_CHECK(!winograd_eligible(d2), "dilation refused");
  ConvGeometry p0 = g;
  p0.pad_h = p0.pad_w = 0;
  LOWBIT_CHECK(!make_wino_layout(p0, 2, 1, 2, 2, &L).empty(), "input smaller than the kernel refused");
}

LOWBIT_TEST(winograd_sparse_equals_dense_on_pruned_weights) {
  for_each_isa([](Isa isa) {
    const WinogradFn fn = winograd_kernel(isa);
    for (int m : {2, 4})
      for (const WCase& c : {WCase{16, 24, 1, 1, 1, 13, 11}, WCase{12, 40, 1, 2, 2, 9, 9}, WCase{5, 7, 0, 1, 1, 8, 8}})
        for (double sp : {0.0, 0.7, 0.95, 1.0}) {
          ConvGeometry g;
          g.cin = c.cin, g.cout = c.cout, g.kh = g.kw = 3, g.pad_h = g.pad_w = c.p, g.groups = c.groups;
          WinoLayout L;
          LOWBIT_CHECK(make_wino_layout(g, m, c.n, c.h, c.w, &L).empty(), "layout");
          std::vector<float> w((size_t)g.cout * g.taps()), in(L.in_floats()), bias(g.cout);
          for (auto& v : w) v = rand_float(-1.0f, 1.0f);
          for (auto& v : in) v = rand_float(-1.0f, 1.0f);
          for (auto& v : bias) v = rand_float(-1.0f, 1.0f);
          WinogradWeights sw = WinogradWeights::transform(g, m, w.data());
          const double zeros = sw.prune(sp);
          // (padded columns lower a block's score: the zero fraction of real coefficients may be below sp)
          LOWBIT_CHECK(sp == 0.0 ? zeros == 0.0 : zeros >= sp / 2, "pruned " << zeros << " of U, asked " << sp);
          LOWBIT_CHECK(std::fabs(sw.density() - (1.0 - sp)) <= 0.02 || sp == 0.0, "density " << sw.density());
          WinogradWeights dw = sw;  // the same pruned U, run dense (zeros multiplied)
          dw.sparse = false;
          std::vector<float> nhwc(L.nhwc_floats);
          winograd_pack_input(L, in.data(), nhwc.data(), 0, (size_t)c.n * L.hp);
          Guarded<float> ys(L.out_floats(), 4), yd(L.out_floats(), 4);
          fn(sw, L, nhwc.data(), bias.data(), true, ys.data(), 0, L.tiles, 0, L.panels / 2);
          fn(sw, L, nhwc.data(), bias.data(), true, ys.data(), 0, L.tiles, L.panels / 2, L.panels);
          fn(dw, L, nhwc.data(), bias.data(), true, yd.data(), 0, L.tiles, 0, L.panels);
          LOWBIT_CHECK(ys.guards_intact(), "sparse wrote outside its output");
          size_t bad = 0;
          for (size_t i = 0; i < ys.size(); i++) bad += !(ys[i] == yd[i]);  // same sums: zero products add exactly 0
          LOWBIT_CHECK(bad == 0, "sparse != dense on " << bad << " outputs, F(" << m << ") sparsity " << sp);
        }
  });
}

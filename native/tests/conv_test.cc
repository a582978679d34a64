// fp32 convolution: sparse and dense kernels of every ISA against the double-precision oracle,
// within the tolerance of kernels/conv/README.md; sparse FC; layout; pruning; thread splits.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "ops/conv_model.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::conv;
using namespace lowbit::test;

namespace {

struct Case {
  int cin, cout, kh, kw, s, p, d, groups, n, h, w;
};

std::vector<Case> conv_cases() {
  return {
      // cin cout kh kw  s  p  d  g  n   h   w
      {3, 5, 1, 1, 1, 0, 1, 1, 1, 7, 9},      // 1x1 direct, odd sizes
      {16, 13, 1, 1, 1, 0, 1, 1, 2, 11, 13},  // 1x1 direct, batch 2, plane < one tile
      {8, 7, 1, 1, 1, 0, 1, 1, 1, 17, 19},    // 1x1 direct, plane > one tile (overlap path)
      {8, 8, 1, 1, 2, 0, 1, 1, 1, 14, 15},    // 1x1 stride 2 (phase layout)
      {6, 7, 3, 3, 1, 1, 1, 1, 1, 13, 13},
      {6, 9, 3, 3, 1, 0, 1, 1, 2, 10, 12},
      {8, 14, 3, 3, 2, 1, 1, 1, 1, 15, 14},   // stride 2
      {4, 6, 3, 3, 1, 1, 1, 2, 1, 9, 8},      // groups 2
      {8, 8, 3, 3, 1, 1, 1, 8, 1, 12, 11},    // depthwise
      {8, 8, 3, 3, 2, 1, 1, 8, 1, 12, 11},    // depthwise stride 2
      {5, 11, 5, 5, 1, 2, 1, 1, 1, 15, 14},
      {4, 6, 5, 5, 2, 1, 1, 2, 2, 13, 17},
      {3, 7, 7, 7, 2, 3, 1, 1, 1, 23, 21},    // ResNet stem-like
      {3, 5, 7, 7, 1, 0, 1, 1, 1, 9, 10},
      {3, 8, 11, 11, 4, 0, 1, 1, 1, 35, 35},  // AlexNet conv1-like
      {4, 5, 3, 3, 1, 2, 2, 1, 1, 11, 12},    // dilation 2
      {3, 4, 3, 2, 2, 1, 1, 1, 1, 9, 7},      // non-square kernel
      {20, 30, 3, 3, 1, 1, 1, 1, 1, 28, 28},  // several tiles and blocks, cout not a multiple of 6
      {24, 18, 3, 3, 1, 1, 1, 2, 1, 27, 27},
  };
}

// Random weights with an exact fraction of zeros (by random positions); channel 0 all zero
// when zero_channel.
std::vector<float> make_weights(const ConvGeometry& g, double sparsity, bool zero_channel) {
  const size_t K = g.taps(), total = (size_t)g.cout * K;
  std::vector<float> w(total);
  for (auto& v : w) {
    v = rand_float(-1.0f, 1.0f);
    if (v == 0.0f) v = 0.5f;
  }
  std::vector<size_t> idx(total);
  for (size_t i = 0; i < total; i++) idx[i] = i;
  std::shuffle(idx.begin(), idx.end(), rng());
  const size_t z = (size_t)std::llround(sparsity * (double)total);
  for (size_t i = 0; i < z; i++) w[idx[i]] = (i & 1) ? 0.0f : -0.0f;
  if (zero_channel)
    for (size_t t = 0; t < K; t++) w[t] = 0.0f;
  return w;
}

// Checks out against the oracle; returns the number of bad elements (first few reported).
size_t compare(const char* what, const Case& c, double sp, const float* out, const std::vector<double>& ref,
               const std::vector<double>& mag, int K) {
  const double u = std::ldexp(1.0, -23);
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    const double tol = u * (K + 2) * mag[i] + 1e-30;
    if (!(std::fabs((double)out[i] - ref[i]) <= tol)) {
      if (bad++ < 2)
        LOWBIT_CHECK(false, what << " cin=" << c.cin << " cout=" << c.cout << " k=" << c.kh << "x" << c.kw
                                 << " s=" << c.s << " p=" << c.p << " d=" << c.d << " g=" << c.groups << " n="
                                 << c.n << " hw=" << c.h << "x" << c.w << " sparsity=" << sp << " i=" << i
                                 << " got=" << out[i] << " want=" << ref[i] << " tol=" << tol);
    }
  }
  return bad;
}

void run_conv_case(Isa isa, const Case& c, double sp, bool zero_channel, bool relu, bool with_bias, int parts) {
  const ConvKernels& k = conv_kernels(isa);
  ConvGeometry g;
  g.cin = c.cin, g.cout = c.cout, g.kh = c.kh, g.kw = c.kw, g.stride_h = g.stride_w = c.s;
  g.pad_h = g.pad_w = c.p, g.dil_h = g.dil_w = c.d, g.groups = c.groups;
  ConvLayout L;
  const std::string err = make_layout(g, c.n, c.h, c.w, &L);
  LOWBIT_CHECK(err.empty(), err);
  if (!err.empty()) return;
  const std::vector<float> w = make_weights(g, sp, zero_channel);
  std::vector<float> in(L.in_floats()), bias(g.cout);
  for (auto& v : in) v = rand_float(-1.0f, 1.0f);
  for (auto& v : bias) v = rand_float(-1.0f, 1.0f);
  const float* bp = with_bias ? bias.data() : nullptr;

  std::vector<double> ref(L.out_floats()), mag(L.out_floats());
  conv2d_direct_f64__ref(g, c.n, c.h, c.w, w.data(), in.data(), bp, relu, ref.data(), mag.data());

  std::vector<float> padded(L.padded_floats);
  const float* src = in.data();
  if (!L.direct) {
    pad_input(L, in.data(), padded.data());
    src = padded.data();
  }

  const SparseConvWeights sw = SparseConvWeights::from_dense(g, w.data());
  // the packed weights' sparsity is exactly the fraction of zeros in w (the zeroed channel adds its
  // remaining nonzeros, a random count: compare with the count, not with sp)
  const double zeros = (double)std::count(w.begin(), w.end(), 0.0f);
  LOWBIT_CHECK(std::fabs(sw.sparsity() - zeros / (double)w.size()) <= 1e-12,
               "sparsity " << sw.sparsity() << " vs " << zeros / (double)w.size() << " (requested " << sp << ")");
  const auto bd = sw.bind(c.n, c.h, c.w);
  LOWBIT_CHECK(bd && sw.bind(c.n, c.h, c.w) == bd, "binding is cached");
  std::vector<int> bounds;
  split_by_nonzeros(sw, parts, &bounds);
  Guarded<float> out_s(L.out_floats(), 4);
  for (int t = 0; t < parts; t++) k.sparse_conv_f32(*bd, src, bp, relu, out_s.data(), bounds[t], bounds[t + 1]);
  LOWBIT_CHECK(out_s.guards_intact(), "sparse wrote outside its output");
  compare("sparse", c, sp, out_s.data(), ref, mag, g.taps());

  const DenseConvWeights dw = DenseConvWeights::pack(g, w.data());
  // dense, both kernels (pixel panels, channel lanes) and the automatic choice: split at arbitrary
  // channel boundaries (not multiples of the 6-row or 16-channel panels)
  for (DenseVariant v : {DenseVariant::kAuto, DenseVariant::kPixelPanels, DenseVariant::kChannelLanes}) {
    set_dense_variant(v);
    Guarded<float> out_d(L.out_floats(), 8);
    for (int t = 0; t < parts; t++)
      k.dense_conv_f32(dw, L, src, bp, relu, out_d.data(), g.cout * t / parts, g.cout * (t + 1) / parts);
    LOWBIT_CHECK(out_d.guards_intact(), "dense wrote outside its output (variant " << (int)v << ")");
    compare(v == DenseVariant::kChannelLanes ? "dense lanes" : "dense", c, sp, out_d.data(), ref, mag, g.taps());
  }
  set_dense_variant(DenseVariant::kAuto);
}

}  // namespace

LOWBIT_TEST(conv_layout_and_validation) {
  ConvGeometry g;
  g.cin = 4, g.cout = 6, g.kh = 3, g.kw = 3, g.pad_h = g.pad_w = 1;
  ConvLayout L;
  LOWBIT_CHECK(make_layout(g, 1, 5, 5, &L).empty(), "valid");
  LOWBIT_CHECK(L.oh == 5 && L.ow == 5 && L.wq == 7 && L.hq == 7 && !L.direct, "3x3 p1 layout");
  LOWBIT_CHECK(L.koff[1 * 9 + 2 * 3 + 1] == (int)(1 * 49 + 2 * 7 + 1), "tap offset");
  ConvGeometry b = g;
  b.groups = 3;
  LOWBIT_CHECK(!validate_geometry(b).empty(), "groups must divide channels");
  b = g, b.stride_h = 0;
  LOWBIT_CHECK(!validate_geometry(b).empty(), "zero stride");
  b = g, b.pad_h = 5;
  LOWBIT_CHECK(!validate_geometry(b).empty(), "padding larger than the kernel");
  b = g, b.kh = 0;
  LOWBIT_CHECK(!validate_geometry(b).empty(), "kernel 0");
  LOWBIT_CHECK(!make_layout(g, 1, 0, 5, &L).empty(), "empty input");
  ConvGeometry big = g;
  big.kh = big.kw = 9, big.pad_h = big.pad_w = 0;
  LOWBIT_CHECK(!make_layout(big, 1, 5, 5, &L).empty(), "input smaller than kernel");
  std::string e;
  const std::vector<float> w(6 * 4 * 9, 1.0f);
  LOWBIT_CHECK(SparseConvWeights::from_dense(g, w.data()).bind(1, 0, 3, &e) == nullptr && !e.empty(), "bind error");
  // stride 1 to 3 layouts: pad_input puts padded pixel (y, x) in phase (y%s, x%s) at (y/s, x/s), for
  // even and odd widths and paddings, writing every float of the buffer (it starts at -1 here)
  for (int s = 1; s <= 3; s++)
    for (int p = 0; p <= 2; p++)
      for (int w = 5; w <= 6; w++) {
        g.stride_h = g.stride_w = s;
        g.pad_h = g.pad_w = p;
        LOWBIT_CHECK(make_layout(g, 1, 5, w, &L).empty(), "stride layout");
        std::vector<float> in(4 * 5 * w), pad(L.padded_floats, -1.0f);
        for (size_t i = 0; i < in.size(); i++) in[i] = (float)i + 1;
        pad_input(L, in.data(), pad.data());
        bool ok = true;
        for (int c = 0; c < 4; c++)
          for (int y = 0; y < L.hp; y++)
            for (int x = 0; x < L.wp; x++) {
              const int iy = y - p, ix = x - p;
              const float want = (iy >= 0 && iy < 5 && ix >= 0 && ix < w) ? in[(c * 5 + iy) * w + ix] : 0.0f;
              ok &= pad[c * L.chan_stride + ((y % s) * s + x % s) * L.plane + (y / s) * L.wq + x / s] == want;
            }
        for (size_t i = 4 * L.chan_stride; i < L.padded_floats; i++) ok &= pad[i] == 0.0f;  // the slack
        LOWBIT_CHECK(ok, "phase layout, stride " + std::to_string(s) + " pad " + std::to_string(p) + " width " + std::to_string(w));
      }
}

LOWBIT_TEST(conv_sparse_dense_vs_oracle) {
  for_each_isa([](Isa isa) {
    int i = 0;
    for (const Case& c : conv_cases()) {
      for (double sp : {0.0, 0.5, 0.9, 1.0}) {
        i++;
        run_conv_case(isa, c, sp, sp == 0.5, (i & 1) != 0, (i % 3) != 0, 1 + i % 3);
      }
    }
  });
}

LOWBIT_TEST(conv_sparse_fc_vs_oracle) {
  for_each_isa([](Isa isa) {
    const ConvKernels& k = conv_kernels(isa);
    for (int ncols : {1, 3, 8, 13, 31, 64, 65, 100, 200}) {
      for (int groups : {1, 2}) {
        ConvGeometry g;
        g.cin = 18 * groups / groups * 2, g.cout = 10, g.groups = groups;
        const int K = g.cin_g();
        std::vector<float> w = make_weights(g, 0.6, ncols == 13);
        std::vector<float> x((size_t)g.cin * ncols), bias(g.cout);
        for (auto& v : x) v = rand_float(-1, 1);
        for (auto& v : bias) v = rand_float(-1, 1);
        // oracle: a 1x1 convolution over a 1 x ncols image
        std::vector<double> ref((size_t)g.cout * ncols), mag(ref.size());
        conv2d_direct_f64__ref(g, 1, 1, ncols, w.data(), x.data(), bias.data(), true, ref.data(), mag.data());
        const SparseConvWeights sw = SparseConvWeights::from_dense(g, w.data());
        Guarded<float> y((size_t)g.cout * ncols, 4);
        k.sparse_fc_f32(sw, x.data(), ncols, bias.data(), true, y.data(), 0, 4);
        k.sparse_fc_f32(sw, x.data(), ncols, bias.data(), true, y.data(), 4, g.cout);
        LOWBIT_CHECK(y.guards_intact(), "fc guards");
        const Case c{g.cin, g.cout, 1, 1, 1, 0, 1, groups, 1, 1, ncols};
        compare("fc", c, 0.6, y.data(), ref, mag, K);
      }
    }
  });
}

LOWBIT_TEST(conv_prune_magnitude) {
  // unstructured: exact count, smallest magnitudes, ties by position
  const std::vector<float> w = {0.5f, -0.1f, 0.1f, 2.0f, -0.1f, 0.3f, 0.0f, -4.0f};
  std::vector<float> out(w.size());
  // 3 of 8: the 0, then two of the three 0.1-magnitude ties (the earlier ones)
  const size_t z = prune_magnitude(w.data(), 2, 4, 3.0 / 8, out.data());
  const std::vector<float> want = {0.5f, 0.0f, 0.0f, 2.0f, -0.1f, 0.3f, 0.0f, -4.0f};
  LOWBIT_CHECK(z == 3 && out == want, "unstructured prune z=" << z);
  // blocks 1 x 2: block sums 0.6, 2.1, 0.4, 4.0 -> 50% prunes blocks 2 and 0
  prune_magnitude(w.data(), 2, 4, 0.5, out.data(), 1, 2);
  const std::vector<float> want_b = {0, 0, 0.1f, 2.0f, 0, 0, 0.0f, -4.0f};
  LOWBIT_CHECK(out == want_b, "block prune");
  // in place, 0% and 100%
  std::vector<float> v = w;
  LOWBIT_CHECK(prune_magnitude(v.data(), 2, 4, 0.0, v.data()) == 0 && v == w, "0%");
  prune_magnitude(v.data(), 2, 4, 1.0, v.data());
  LOWBIT_CHECK(std::all_of(v.begin(), v.end(), [](float f) { return f == 0.0f; }), "100%");
  // random, larger: the kept weights all have magnitude >= every pruned weight
  std::vector<float> r(64 * 72);
  for (auto& f : r) f = rand_float(-1, 1);
  std::vector<float> p(r.size());
  prune_magnitude(r.data(), 64, 72, 0.8, p.data());
  float max_pruned = 0, min_kept = 1e9f;
  size_t zeros = 0;
  for (size_t i = 0; i < r.size(); i++) {
    if (p[i] == 0.0f) zeros++, max_pruned = std::max(max_pruned, std::fabs(r[i]));
    else min_kept = std::min(min_kept, std::fabs(r[i]));
  }
  LOWBIT_CHECK(zeros == (size_t)std::llround(0.8 * r.size()) && max_pruned <= min_kept, "random prune");
}

LOWBIT_TEST(conv_split_by_nonzeros) {
  ConvGeometry g;
  g.cin = 16, g.cout = 40, g.kh = g.kw = 3;
  std::vector<float> w = make_weights(g, 0.7, false);
  for (size_t t = 0; t < (size_t)g.taps() * 10; t++) w[t] = 1.0f;  // first 10 channels dense
  const SparseConvWeights sw = SparseConvWeights::from_dense(g, w.data());
  for (int parts : {1, 2, 3, 7, 40, 64}) {
    std::vector<int> b;
    split_by_nonzeros(sw, parts, &b);
    bool ok = b.size() == (size_t)parts + 1 && b.front() == 0 && b.back() == g.cout;
    for (int i = 0; i < parts; i++) ok &= b[i] <= b[i + 1];
    LOWBIT_CHECK(ok, "bounds parts=" << parts);
    if (parts == 2) {
      size_t a = 0;
      for (int co = 0; co < b[1]; co++) a += sw.nnz(co);
      LOWBIT_CHECK(a > sw.nnz() * 0.35 && a < sw.nnz() * 0.65, "balanced halves " << a << " of " << sw.nnz());
    }
  }
}

LOWBIT_TEST(conv_model_choices) {
  // The bench layers (native/bench/conv_bench.cc) with the default (Zen 3 AVX2) rates: measured
  // there, dense wins at 50% sparsity on every layer but 512@7, sparse wins from 80% on.
  struct L {
    int cin, cout, k, s, p, g, hw;
  };
  const L layers[] = {{96, 256, 5, 1, 2, 2, 27},  {256, 384, 3, 1, 1, 1, 13}, {384, 384, 3, 1, 1, 2, 13},
                      {384, 256, 3, 1, 1, 2, 13}, {64, 64, 3, 1, 1, 1, 56},   {128, 128, 3, 1, 1, 1, 28},
                      {256, 256, 3, 1, 1, 1, 14}, {128, 128, 3, 2, 1, 1, 28}, {256, 64, 1, 1, 0, 1, 56},
                      {512, 128, 1, 1, 0, 1, 28}, {1024, 256, 1, 1, 0, 1, 14}, {2048, 512, 1, 1, 0, 1, 7}};
  const PerfModel model;
  for (const L& l : layers) {
    ConvGeometry g;
    g.cin = l.cin, g.cout = l.cout, g.kh = g.kw = l.k, g.stride_h = g.stride_w = l.s;
    g.pad_h = g.pad_w = l.p, g.groups = l.g;
    ConvLayout lay;
    LOWBIT_CHECK(make_layout(g, 1, l.hw, l.hw, &lay).empty(), "layout");
    for (double sp : {0.5, 0.8, 0.9, 0.95}) {
      // exact-count sparsity without the cost of random weights: zero the first sp of each row
      std::vector<float> w((size_t)g.cout * g.taps(), 1.0f);
      const int K = g.taps(), z = (int)std::llround(sp * K);
      for (int co = 0; co < g.cout; co++)
        for (int t = 0; t < z; t++) w[(size_t)co * K + t] = 0.0f;
      const SparseConvWeights sw = SparseConvWeights::from_dense(g, w.data());
      const Prediction pr = model.predict(sw, lay);
      LOWBIT_CHECK(pr.use_sparse == (sp >= 0.8), "cin=" << l.cin << " cout=" << l.cout << " k=" << l.k << " hw="
                                                         << l.hw << ": " << pr.explain);
      LOWBIT_CHECK(!pr.explain.empty() && pr.dense_s > 0 && pr.sparse_s > 0, "prediction");
    }
  }
#if defined(__x86_64__) || defined(_M_X64)
  // Calibration runs and gives finite, positive rates (a ~20 ms measurement; x86 only). No lower
  // bound on the rates: CI also runs this on an emulated CPU without AVX, hundreds of times slower.
  const PerfModel m = calibrate(conv_kernels());
  LOWBIT_CHECK(m.dense_flops_per_s > 0 && m.sparse_macs_per_s > 0 && m.sparse_1x1_macs_per_s > 0 &&
                   std::isfinite(m.dense_flops_per_s) && std::isfinite(m.sparse_macs_per_s) &&
                   std::isfinite(m.sparse_tile_s) && m.sparse_tile_s >= 0 && m.copy_bytes_per_s > 0,
               m.describe());
#endif
}

#include "ops/conv_model.h"

#include <map>
#include <memory>
#include <mutex>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace lowbit {
namespace conv {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Virtual pixels a sparse channel really computes over a plane of q virtual pixels.
double sparse_pixels(double q, int tile, int vec) {
  const double full = std::floor(q / tile) * tile;
  const double rest = q - full;
  return full + std::ceil(rest / vec) * vec;
}

}  // namespace

Prediction PerfModel::predict(const SparseConvWeights& w, const ConvLayout& L) const {
  const ConvGeometry& g = L.geo;
  Prediction p;
  const double Q = (double)L.q_virtual;
  const double copy_s = L.direct ? 0.0 : (double)L.padded_floats * 4 / copy_bytes_per_s;
  // dense: FLOPs with the padding its kernel computes (dense_panel_work / dense_lane_work)
  const double pan = dense_panel_work(L, gemm_nr / 2, gemm_nr), lan = dense_lane_work(L);
  const double work = lan * 1.08 < pan ? lan : pan;
  p.dense_s = 2.0 * work * g.groups * g.taps() * L.n / dense_flops_per_s + copy_s;
  // sparse: nonzeros x computed pixels, plus a fixed cost per (channel, tile)
  const double px = sparse_pixels(Q, tile_pixels, 8);
  const double tiles = std::ceil(Q / tile_pixels) * g.cout * L.n;
  const double rate = (g.kh == 1 && g.kw == 1) ? sparse_1x1_macs_per_s : sparse_macs_per_s;
  p.sparse_s = (double)w.nnz() * px * L.n / rate + tiles * sparse_tile_s + copy_s;
  p.use_sparse = p.sparse_s < p.dense_s;
  const double ratio = p.use_sparse ? p.dense_s / p.sparse_s : p.sparse_s / p.dense_s;
  p.close = ratio < trial_band;
  char buf[256];
  std::snprintf(buf, sizeof buf, "sparsity %.1f%%: predicted sparse %.3f ms, dense %.3f ms -> %s (%.2fx)%s",
                w.sparsity() * 100, p.sparse_s * 1e3, p.dense_s * 1e3, p.use_sparse ? "sparse" : "dense", ratio,
                p.close ? ", too close to call" : "");
  p.explain = buf;
  return p;
}

double PerfModel::winograd_seconds(const WinoLayout& L, double density) const {
  const ConvGeometry& g = L.geo;
  const double A2 = (double)L.alpha * L.alpha;
  const double tb = (double)L.tile_block, blocks = std::ceil((double)L.tiles / tb);
  const double rows = blocks * std::ceil(tb / wino_rows) * wino_rows;  // tiles the GEMM computes
  const double gemm = 2.0 * A2 * rows * L.cig_p * L.cogp * g.groups;
  const double elems = (double)L.tiles * A2 * (L.cp + L.mcols) + (double)L.tiles * L.m * L.m * g.cout +
                       (double)L.nhwc_floats;
  const double u_bytes = A2 * L.cig_p * L.mcols * 4.0 * blocks;
  return density * (gemm / wino_gemm_flops_per_s + u_bytes / wino_u_bytes_per_s) + elems * wino_elem_s;
}

WinoPrediction PerfModel::predict_winograd(const ConvGeometry& g, int n, int h, int w, double density) const {
  WinoPrediction p;
  WinoLayout L2, L4;
  if (!winograd_eligible(g) || !make_wino_layout(g, 2, n, h, w, &L2).empty() ||
      !make_wino_layout(g, 4, n, h, w, &L4).empty())
    return p;
  p.eligible = true;
  p.s2 = winograd_seconds(L2, density);
  p.s4 = winograd_seconds(L4, density);
  p.m = p.s4 <= p.s2 ? 4 : 2;
  p.s = std::min(p.s2, p.s4);
  return p;
}

std::string PerfModel::describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "dense %.1f GFLOPS, sparse %.1f GMAC/s (1x1: %.1f) + %.0f ns per tile, copy %.1f GB/s",
                dense_flops_per_s * 1e-9, sparse_macs_per_s * 1e-9, sparse_1x1_macs_per_s * 1e-9,
                sparse_tile_s * 1e9, copy_bytes_per_s * 1e-9);
  std::string out = buf;
  std::snprintf(buf, sizeof buf, "; winograd GEMM %.1f GFLOPS, %.2f ns per transformed element", wino_gemm_flops_per_s * 1e-9,
                wino_elem_s * 1e9);
  return out + buf;
}

namespace {

// Deterministic weights with a given fraction of exact zeros (no <random> engine state needed).
std::vector<float> calib_weights(size_t n, double sparsity, uint32_t seed) {
  std::vector<float> w(n);
  uint32_t s = seed;
  for (auto& v : w) {
    s = s * 1664525u + 1013904223u;
    const double u = (s >> 8) * (1.0 / 16777216.0);
    v = u < sparsity ? 0.0f : (float)(u - 0.5) + 0.75f;
  }
  return w;
}

template <typename Fn>
double best_time(Fn fn, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    fn();
    best = std::min(best, now() - t0);
  }
  return best;
}

struct CalibLayer {
  ConvGeometry g;
  ConvLayout L;
  std::vector<float> in, padded, out;
  CalibLayer(int cin, int cout, int k, int hw) {
    g.cin = cin, g.cout = cout, g.kh = g.kw = k, g.pad_h = g.pad_w = k / 2;
    make_layout(g, 1, hw, hw, &L);
    in = calib_weights(L.in_floats(), 0.0, 7);
    padded.assign(L.padded_floats, 0.0f);
    out.assign(L.out_floats(), 0.0f);
    pad_input(L, in.data(), padded.data());
  }
};

}  // namespace

namespace {

// Winograd rates from two F(4,3) layers: one transform-bound (8 channels: the GEMMs are short),
// one GEMM-bound (128 channels); each time is split by the other rate, twice (a fixed point).
void calibrate_winograd(WinogradFn wk, PerfModel* m) {
  struct WinoCalib {
    ConvGeometry g;
    WinoLayout L;
    WinogradWeights W;
    std::vector<float> in, nhwc, out;
    WinoCalib(int c, int hw) {
      g.cin = g.cout = c, g.kh = g.kw = 3, g.pad_h = g.pad_w = 1;
      make_wino_layout(g, 4, 1, hw, hw, &L);
      const std::vector<float> w = calib_weights((size_t)c * c * 9, 0.0, 5);
      W = WinogradWeights::transform(g, 4, w.data());
      in = calib_weights(L.in_floats(), 0.0, 9);
      nhwc.assign(L.nhwc_floats, 0.0f);
      out.assign(L.out_floats(), 0.0f);
    }
    void run(WinogradFn wk) {
      winograd_pack_input(L, in.data(), nhwc.data(), 0, (size_t)L.n * L.hp);
      wk(W, L, nhwc.data(), nullptr, false, out.data(), 0, L.tiles, 0, L.panels);
    }
  };
  WinoCalib small(8, 56), big(128, 28);
  double ts = 1e30, tb = 1e30;
  for (int r = 0; r < 5; r++) {
    ts = std::min(ts, best_time([&] { small.run(wk); }, 1));
    tb = std::min(tb, best_time([&] { big.run(wk); }, 1));
  }
  // the three terms of winograd_seconds separately, at unit rates
  auto terms = [&](const WinoLayout& L, double* gemm_flops, double* elems, double* u_s) {
    PerfModel p = *m;
    p.wino_gemm_flops_per_s = 1, p.wino_elem_s = 0, p.wino_u_bytes_per_s = 1e300;
    *gemm_flops = p.winograd_seconds(L);
    p.wino_gemm_flops_per_s = 1e300, p.wino_elem_s = 1;
    *elems = p.winograd_seconds(L);
    p.wino_elem_s = 0, p.wino_u_bytes_per_s = m->wino_u_bytes_per_s;
    *u_s = p.winograd_seconds(L);
  };
  double fs, es, us, fb, eb, ub;
  terms(small.L, &fs, &es, &us);
  terms(big.L, &fb, &eb, &ub);
  for (int it = 0; it < 3; it++) {  // each layer solved for the quantity it is bound by
    m->wino_elem_s = std::max(1e-12, (ts - fs / m->wino_gemm_flops_per_s - us) / es);
    m->wino_gemm_flops_per_s = fb / std::max(tb * 0.25, tb - eb * m->wino_elem_s - ub);
  }
}

}  // namespace

PerfModel calibrate(const ConvKernels& k, WinogradFn wk) {
  PerfModel m;
  // Layers with the working sets of real ones (input beyond L2 for the 1x1), small enough that
  // the whole calibration takes ~20 ms. Every variant runs once per round, interleaved, and keeps
  // its best round, so that a noisy neighbour disturbs all of them alike.
  CalibLayer a(128, 66, 3, 28), c(512, 64, 1, 28);
  const std::vector<float> wa = calib_weights((size_t)a.g.cout * a.g.taps(), 0.0, 3);
  const DenseConvWeights dw = DenseConvWeights::pack(a.g, wa.data());
  const double sp[3] = {0.5, 0.95, 0.5};
  SparseConvWeights sw[3];
  std::shared_ptr<const SparseBinding> bd[3];
  for (int i = 0; i < 3; i++) {
    CalibLayer& l = i < 2 ? a : c;
    const std::vector<float> w = calib_weights((size_t)l.g.cout * l.g.taps(), sp[i], 11 + i);
    sw[i] = SparseConvWeights::from_dense(l.g, w.data());
    bd[i] = sw[i].bind(1, l.L.h, l.L.w);
  }
  double t_dense = 1e30, t_sp[3] = {1e30, 1e30, 1e30}, t_copy = 1e30;
  for (int r = 0; r < 5; r++) {
    t_dense = std::min(t_dense, best_time([&] {
      k.dense_conv_f32(dw, a.L, a.padded.data(), nullptr, false, a.out.data(), 0, a.g.cout);
    }, 1));
    for (int i = 0; i < 3; i++) {
      CalibLayer& l = i < 2 ? a : c;
      t_sp[i] = std::min(t_sp[i], best_time([&] {
        k.sparse_conv_f32(*bd[i], l.padded.data(), nullptr, false, l.out.data(), 0, l.g.cout);
      }, 1));
    }
    t_copy = std::min(t_copy, best_time([&] { pad_input(a.L, a.in.data(), a.padded.data()); }, 1));
  }
  m.dense_flops_per_s = 2.0 * dense_panel_work(a.L, m.gemm_nr / 2, m.gemm_nr) * a.g.taps() / t_dense;
  // 3x3 at two sparsities: the per-MAC rate and the per-tile cost.
  const double q = (double)a.L.q_virtual;
  const double px = sparse_pixels(q, m.tile_pixels, 8), tiles = std::ceil(q / m.tile_pixels) * a.g.cout;
  const double n1 = (double)sw[0].nnz(), n2 = (double)sw[1].nnz();
  const double per_mac = std::max((t_sp[0] - t_sp[1]) / ((n1 - n2) * px), 1e-13);
  m.sparse_macs_per_s = 1.0 / per_mac;
  m.sparse_tile_s = std::max(0.0, (t_sp[1] - n2 * px * per_mac) / tiles);
  // 1x1: the same per-tile cost, its own per-MAC rate.
  const double q3 = (double)c.L.q_virtual, px3 = sparse_pixels(q3, m.tile_pixels, 8);
  const double rest = std::max(t_sp[2] - std::ceil(q3 / m.tile_pixels) * c.g.cout * m.sparse_tile_s, t_sp[2] * 0.5);
  m.sparse_1x1_macs_per_s = (double)sw[2].nnz() * px3 / rest;
  m.copy_bytes_per_s = (double)a.L.padded_floats * 4 / t_copy;
  m.wino_rows = k.isa == Isa::avx512 ? 12 : 6;  // winograd_impl.h's GEMM rows per ISA
  if (wk) calibrate_winograd(wk, &m);
  return m;
}

const PerfModel& model_for(Isa isa) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<PerfModel>> models;
  std::lock_guard<std::mutex> lock(mu);
  auto& m = models[(int)isa];
  if (!m) m.reset(new PerfModel(calibrate(conv_kernels(isa), winograd_kernel(isa))));
  return *m;
}

}  // namespace conv
}  // namespace lowbit

// The sparse-vs-dense performance model (model.h states the formulas and why).
#include "ops/sparse_fc_model.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace lowbit {
namespace sparse_fc {
namespace {

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Seconds per call: the fastest single call among calls repeated for at least min_s, after one
// untimed call (the variants before it evicted this one's weights from the caches; a layer in
// service stays warm). The minimum and not the mean: on the shared machines a neighbour's burst
// (L3 and memory traffic, a preemption that refills L2) inflates some calls by up to 2x, and the
// mean of a short batch then varied by +-30% between processes (measured in Node); the fastest
// call is what a warm layer runs at. Single calls are timed by the monotonic clock (a vDSO read,
// ~20 ns, against >= 1 us calls): the thread CPU clock is a system call.
template <typename Fn>
double per_call(Fn&& fn, double min_s) {
  using clock = std::chrono::steady_clock;
  fn();
  double best = 1e30, total = 0;
  int iters = 0;
  do {
    const auto t0 = clock::now();
    fn();
    const double t = std::chrono::duration<double>(clock::now() - t0).count();
    best = t < best ? t : best;
    total += t;
    iters++;
  } while (total < min_s || iters < 3);
  return best;
}

// Deterministic N x K weights, a fraction `sp` of the 1x4 blocks all zero, the others with values
// in [lo, hi] (no exact zeros, so that kept blocks are kept).
std::vector<int8_t> calib_weights(size_t N, size_t K, double sp, int lo, int hi, uint32_t seed) {
  std::vector<int8_t> w(N * K, 0);
  uint32_t s = seed;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  for (size_t n = 0; n < N; n++)
    for (size_t k0 = 0; k0 < K; k0 += kBlockK) {
      if ((double)next() * (1.0 / 16777216.0) < sp) continue;
      for (size_t k = k0; k < std::min(K, k0 + kBlockK); k++) {
        int v = lo + (int)(next() % (uint32_t)(hi - lo + 1));
        w[n * K + k] = (int8_t)(v == 0 ? 1 : v);
      }
    }
  return w;
}

}  // namespace

double PerfModel::dense_seconds(size_t N, size_t K, size_t M, bool narrow) const {
  const double weights = (double)round_up(N, 8) * (double)round_up(K, kBlockK);
  // Where this layer's size lies between the two calibrated ones (log scale, clamped).
  double f = (std::log(weights) - std::log(dense_weights[1])) / (std::log(dense_weights[0]) - std::log(dense_weights[1]));
  f = f < 0 ? 0 : f > 1 ? 1 : f;
  auto at = [&](int i) {
    return weights * (dense_s_per_weight[1][narrow][i] + f * (dense_s_per_weight[0][narrow][i] - dense_s_per_weight[1][narrow][i]));
  };
  constexpr int last = kTableSize - 1;
  if (M >= kTableM[last]) {
    const double slope = (at(last) - at(last - 1)) / (double)(kTableM[last] - kTableM[last - 1]);
    return at(last) + slope * (double)(M - kTableM[last]);
  }
  int i = 0;
  while (kTableM[i + 1] < M) i++;
  const double g = (double)(M - kTableM[i]) / (double)(kTableM[i + 1] - kTableM[i]);
  return at(i) + g * (at(i + 1) - at(i));
}

SparseShape shape_of(const SparseFcInt8Weights& w) {
  SparseShape s;
  s.N = w.N, s.K = w.K, s.nnz_blocks = w.nnz_blocks(), s.maddubs_safe = w.maddubs_safe;
  return s;
}

SparseShape shape_of(const int8_t* w, size_t N, size_t K) {
  auto pair_safe = [](int a, int b) {
    const int pos = (a > 0 ? a : 0) + (b > 0 ? b : 0), neg = (a < 0 ? -a : 0) + (b < 0 ? -b : 0);
    return 255 * pos <= 32767 && 255 * neg <= 32768;
  };
  SparseShape s;
  s.N = N, s.K = K, s.maddubs_safe = true;
  for (size_t n = 0; n < N; n++)
    for (size_t k0 = 0; k0 < K; k0 += kBlockK) {
      int q[kBlockK] = {0, 0, 0, 0};
      for (size_t i = 0; i < kBlockK && k0 + i < K; i++) q[i] = w[n * K + k0 + i];
      if (!q[0] && !q[1] && !q[2] && !q[3]) continue;
      s.nnz_blocks++;
      if (!pair_safe(q[0], q[1]) || !pair_safe(q[2], q[3])) s.maddubs_safe = false;
    }
  return s;
}

double PerfModel::sparse_seconds(const SparseShape& w, size_t M) const {
  const size_t R = tile_rows;
  const size_t ones = M % R == 1 ? 1 : 0;
  const size_t tiles = (M - ones + R - 1) / R;
  const size_t partial = (M - ones) % R != 0 ? 1 : 0;
  const int f = w.maddubs_safe ? 1 : 0;
  const double nnz = (double)w.nnz_blocks, N = (double)w.N;
  return (double)tiles * (nnz * tile_block_s[f] + N * tile_row_s[f]) + (double)partial * (double)w.K * partial_k_s +
         (double)ones * (nnz * one_block_s + N * one_row_s);
}

bool PerfModel::sparse_can_win(const SparseShape& w, double band) const {
  for (size_t M : {1, 2, 8, 9, 16, 64, 1024})
    for (bool narrow : {false, true}) {
      const Prediction p = predict(w, M, narrow);
      if (p.use_sparse || p.sparse_s < band * p.dense_s) return true;
    }
  return false;
}

Prediction PerfModel::predict(const SparseShape& w, size_t M, bool narrow) const {
  Prediction p;
  p.sparse_s = sparse_seconds(w, M);
  p.dense_s = dense_seconds(w.N, w.K, M, narrow);
  p.use_sparse = p.sparse_s * margin < p.dense_s;
  return p;
}

std::string PerfModel::describe() const {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "dense %.1f/%.1f GOPS at M=1, %.1f/%.1f at M=64 (8-bit/7-bit "
                "activations, the larger layer); sparse one-row %.2f ns per block + %.1f ns per channel, %zu-row tile %.2f ns per block + "
                "%.1f ns per channel (fast path %.2f + %.1f), partial tile %.2f ns per k",
                2e-9 / dense_s_per_weight[0][0][0], 2e-9 / dense_s_per_weight[0][1][0], 128e-9 / dense_s_per_weight[0][0][6],
                128e-9 / dense_s_per_weight[0][1][6], one_block_s * 1e9, one_row_s * 1e9, tile_rows,
                tile_block_s[0] * 1e9, tile_row_s[0] * 1e9, tile_block_s[1] * 1e9, tile_row_s[1] * 1e9, partial_k_s * 1e9);
  return buf;
}

PerfModel calibrate(Isa isa) {
  PerfModel m;
  const GemmKernels& gk = gemm_kernels(isa);
  const SparseFcKernels& sk = sparse_fc_kernels(isa);
  const size_t R = sk.tile_rows;
  m.tile_rows = R;
  // Dense: layer a's weights (768 KiB) stream from L3 at M = 1, layer b's (80 KiB) sit in L2 and
  // its fixed costs weigh more; the model interpolates between them by size. Sparse: layer a.
  // The scalar kernels get smaller layers (they are ~50x slower; that level only serves debugging).
  const bool slow = isa == Isa::scalar;
  const size_t Na = slow ? 64 : 768, Ka = slow ? 256 : 1024, Nb = slow ? 16 : 160, Kb = slow ? 128 : 512;
  const size_t Mmax = PerfModel::kTableM[PerfModel::kTableSize - 1];
  const double min_s = slow ? 1e-3 : 2e-4;
  const int rounds = slow ? 1 : 4;

  // Activations: full-range uint8 and 7-bit ones (what the dense fast path needs).
  std::vector<uint8_t> x_wide(Mmax * Ka), x_narrow(Mmax * Ka);
  uint32_t s = 12345;
  for (size_t i = 0; i < x_wide.size(); i++) {
    s = s * 1664525u + 1013904223u;
    x_wide[i] = (uint8_t)(s >> 24);
    x_narrow[i] = (uint8_t)(s >> 25);
  }
  std::vector<uint8_t> out_u8(Mmax * Na);
  const float scale = 1e-4f;
  gemm::Output o;  // uint8 output, as a quantized layer's; the epilogue is a small share of the time
  o.type = gemm::OutType::u8;
  o.c = out_u8.data();
  o.scale = &scale;

  const int32_t zero = 0;
  const std::vector<int8_t> wa = calib_weights(Na, Ka, 0.0, -128, 127, 1), wb = calib_weights(Nb, Kb, 0.0, -128, 127, 2);
  const gemm::PackedB dense[2] = {gemm::pack_b(wa.data(), Ka, true, Ka, Na, &zero, false),
                                  gemm::pack_b(wb.data(), Kb, true, Kb, Nb, &zero, false)};
  // Sparse (layer a's size): full-range (exact path) and [-64, 63] (maddubs-safe: fast path)
  // weights at two block sparsities.
  const double sp[2] = {0.6, 0.9};
  SparseFcInt8Weights sw[2][2];  // [fast][sparsity]
  for (int f = 0; f < 2; f++)
    for (int i = 0; i < 2; i++) {
      const std::vector<int8_t> w = calib_weights(Na, Ka, sp[i], f ? -64 : -128, f ? 63 : 127, 7 + 2 * f + i);
      sw[f][i] = pack_sparse_fc_int8(w.data(), Na, Ka);
    }

  constexpr int T = PerfModel::kTableSize;
  double t_dense[2][2][T], t_one[2], t_tile[2][2], t_partial = 1e30;  // t_dense[layer][narrow][M]
  for (auto& l : t_dense)
    for (auto& r : l) std::fill(r, r + T, 1e30);
  std::fill(t_one, t_one + 2, 1e30);
  for (auto& r : t_tile) std::fill(r, r + 2, 1e30);
  gemm::Options opt;
  // Every measurement is one item; a round runs them all with the sparse items spread between the
  // dense ones, so that a neighbour's burst of cache and memory traffic (which slows the dense
  // GEMM streaming its weights more than the sparse kernel) lands on both kinds alike, and the
  // minimum over the rounds keeps each item's quietest time.
  struct Item {
    std::function<void()> fn;
    double* best;
  };
  std::vector<Item> dense_items, sparse_items;
  for (int l = 0; l < 2; l++)
    for (int nar = 0; nar < 2; nar++)
      for (int i = 0; i < T; i++) {
        const size_t M = PerfModel::kTableM[i];
        const uint8_t* x = nar ? x_narrow.data() : x_wide.data();
        const gemm::PackedB* b = &dense[l];
        dense_items.push_back({[&gk, &o, &opt, x, b, M] {
                                 o.ldc = b->N;
                                 gk.gemm_u8s8(x, b->K, 0, *b, o, gemm::Range{0, M, 0, b->N}, opt);
                               },
                               &t_dense[l][nar][i]});
      }
  for (int i = 0; i < 2; i++) {
    sparse_items.push_back({[&, i] { o.ldc = Na; sk.sparse_fc_u8s8(sw[0][i], x_wide.data(), Ka, 1, 0, o, 0, Na); }, &t_one[i]});
    for (int f = 0; f < 2; f++)
      sparse_items.push_back({[&, i, f] { o.ldc = Na; sk.sparse_fc_u8s8(sw[f][i], x_wide.data(), Ka, R, 0, o, 0, Na); }, &t_tile[f][i]});
  }
  sparse_items.push_back({[&] { o.ldc = Na; sk.sparse_fc_u8s8(sw[0][1], x_wide.data(), Ka, 3, 0, o, 0, Na); }, &t_partial});
  std::vector<Item> order;
  for (size_t i = 0, j = 0; i < dense_items.size(); i++) {
    order.push_back(dense_items[i]);
    if (j < sparse_items.size() && (i + 1) * sparse_items.size() >= (j + 1) * dense_items.size()) order.push_back(sparse_items[j++]);
  }
  for (int r = 0; r < rounds; r++)
    for (const Item& it : order) *it.best = std::min(*it.best, per_call(it.fn, min_s));
  for (int l = 0; l < 2; l++) {
    const gemm::PackedB& b = dense[l];
    m.dense_weights[l] = (double)round_up(b.N, 8) * (double)round_up(b.K, kBlockK);
    for (int nar = 0; nar < 2; nar++)
      for (int i = 0; i < T; i++) m.dense_s_per_weight[l][nar][i] = t_dense[l][nar][i] / m.dense_weights[l];
  }
  // Sparse: between two sparsities the per-block cost is the slope, the per-channel cost the rest.
  auto fit = [&](const double t[2], const SparseFcInt8Weights* w, double* block_s, double* row_s) {
    const double n0 = (double)w[0].nnz_blocks(), n1 = (double)w[1].nnz_blocks();
    *block_s = std::max((t[0] - t[1]) / (n0 - n1), 1e-12);
    *row_s = std::max((t[1] - n1 * *block_s) / (double)Na, 0.0);
  };
  fit(t_one, sw[0], &m.one_block_s, &m.one_row_s);
  for (int f = 0; f < 2; f++) fit(t_tile[f], sw[f], &m.tile_block_s[f], &m.tile_row_s[f]);
  m.partial_k_s = std::max(0.0, (t_partial - t_tile[0][1]) / (double)Ka);
  return m;
}

const PerfModel& model_for(Isa isa) {
  // Auto layers ask on every call (a 4 us call pays for a mutex and a map lookup): a lock-free
  // look-up once the level is calibrated; the models are never freed, so the pointers stay valid.
  constexpr int kSlots = 32;
  static std::atomic<const PerfModel*> ready[kSlots];
  const int i = (int)isa;
  if (i >= 0 && i < kSlots) {
    if (const PerfModel* p = ready[i].load(std::memory_order_acquire)) return *p;
  }
  static std::mutex mu;
  static std::map<int, std::unique_ptr<PerfModel>> models;
  std::lock_guard<std::mutex> lock(mu);
  auto& m = models[i];
  if (!m) m.reset(new PerfModel(calibrate(isa)));
  if (i >= 0 && i < kSlots) ready[i].store(m.get(), std::memory_order_release);
  return *m;
}

}  // namespace sparse_fc
}  // namespace lowbit

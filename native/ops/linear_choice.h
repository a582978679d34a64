// Kernel selection for QuantizedLinear (and any int8 fully-connected layer holding dense and
// sparse weights): the performance model's prediction, and the first-call trial where the model's
// two predictions are too close to call. Plain C++: the binding only passes its state in.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "cpu/isa.h"
#include "ops/kernel_trial.h"
#include "ops/sparse_fc_model.h"

namespace lowbit {
namespace ops {

// Below this block sparsity auto does not even pack sparse weights: on AVX2 the sparse kernel
// costs >= 1.6x the dense GEMM per 4 weights at every M (model.h's calibration prints both), so
// it cannot win there, and the pack would only cost memory (and the model's calibration, time).
constexpr double kLinearMinAutoSparsity = 0.25;

// Auto mode times both kernels on the first call of a batch-size bucket when the model's two
// predictions are within this factor of each other: the model is calibrated in ~0.1 s on a shared
// machine and was measured off by up to ~20% near break-even (neighbours' cache traffic during the
// calibration), where the choice then cost up to that much. Outside the band the model decides.
constexpr double kLinearTrialBand = 1.3;

// Residual split (kernels/gemm/residual.h): weights whose vpmaddubsw pairs could saturate are
// packed as a safe dense part + a sparse residual, so that the AVX2 fast kernel runs for any
// activations. Only AVX2 has a saturating fast kernel (VNNI and sdot are exact for any input).
// It pays where the calibrated model's fast (narrow) dense rate, plus the residual, beats its
// exact rate: fast * (1 + kResidualEntryCost * density) < exact, at M = 64 (the model's largest
// calibrated batch; both grow about linearly beyond). kResidualEntryCost: one residual entry for
// one row costs this many fast dense weight-rows (bench/gemm-residual.js measured 14% over the
// fast kernel at 0.8% density, AVX2 EPYC: 17.5). Where the fast kernel is no faster than the exact
// one (that EPYC: vpmaddubsw at half the vpmaddwd rate) it never pays; on Zen 3's defaults it
// pays below ~1.9% density (the residual density of Gaussian per-channel int8 weights: ~0.8%).
constexpr double kResidualEntryCost = 17.5;
// why: where not null, one line with the prediction (explain() shows it).
inline bool residual_split_pays(Isa isa, bool maddubs_safe, double density, size_t N, size_t K, std::string* why = nullptr) {
  if (isa != Isa::avx2 || maddubs_safe || !(density > 0)) return false;
  const sparse_fc::PerfModel& m = sparse_fc::model_for(isa);
  const double fast = m.dense_seconds(N, K, 64, true), exact = m.dense_seconds(N, K, 64, false);
  const double split = fast * (1.0 + kResidualEntryCost * density);
  if (why) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "residual split at %.2f%% density: predicted %.1f us (fast kernel + residual) vs %.1f us exact at m=64 -> %s",
                  density * 100, split * 1e6, exact * 1e6, split < exact ? "split" : "not split");
    *why = buf;
  }
  return split < exact;
}

// The trial cache's bucket of a batch size: every M up to 16 on its own (the sparse kernel's cost
// steps with its row tiles, 8 rows on AVX2 and NEON, 16 on AVX-512, and with the one-row kernel
// for M mod R = 1), above that one bucket per power of two and M mod 16 = 1, M mod 16 = 9 or
// neither (both kernels' times grow about linearly there, so the ratio barely moves within a
// bucket). A serving workload with any mix of batch sizes thus runs at most 16 + 3 * 40 trials
// per (activation width, threads), and the cache holds 64 entries.
inline int64_t m_bucket(size_t M) {
  if (M <= 16) return (int64_t)M;
  int lg = 0;
  while ((M >> (lg + 1)) != 0) lg++;
  return 16 + 3 * (int64_t)lg + (M % 16 == 1 ? 1 : M % 16 == 9 ? 2 : 0);
}

// The kernel of a call: fixed where only one is held; in auto mode the model's choice where its
// predictions differ by more than kLinearTrialBand, else the remembered trial of this call's bucket,
// else open (trial_needed) until this call times both (kernel_trial.h).
struct LinearChoice {
  bool sparse = false, trial_needed = false, measured = false, narrow = false;
  sparse_fc::Prediction pred;
  TrialResult trial;  // first = dense, second = sparse
  TrialCache::Key key;
  int rounds = 2;
  bool warm = false;
};
// narrow: 1 / 0 when the caller knows whether the dense GEMM may take its fast path, -1 to let
// `scan` find out, only when it matters.
template <typename Scan>
LinearChoice choose_linear_kernel(const sparse_fc::SparseShape& shape, bool has_sparse, bool has_dense, const TrialCache& trials,
                                size_t M, int narrow, int threads, Scan&& scan) {
  LinearChoice c;
  if (!has_sparse) return c;
  c.sparse = true;
  if (!has_dense) return c;
  const Isa isa = active_isa();
  const sparse_fc::PerfModel& m = sparse_fc::model_for(isa);
  if (narrow < 0) {
    const sparse_fc::Prediction w = m.predict(shape, M, false), n = m.predict(shape, M, true);
    const bool close = std::max(w.sparse_s, w.dense_s) < kLinearTrialBand * std::min(w.sparse_s, w.dense_s) ||
                       std::max(n.sparse_s, n.dense_s) < kLinearTrialBand * std::min(n.sparse_s, n.dense_s);
    narrow = (w.use_sparse == n.use_sparse && !close) ? 0 : scan() ? 1 : 0;
  }
  c.narrow = narrow == 1;
  c.pred = m.predict(shape, M, c.narrow);
  c.sparse = c.pred.use_sparse;
  const double lo = std::min(c.pred.sparse_s, c.pred.dense_s), hi = std::max(c.pred.sparse_s, c.pred.dense_s);
  if (hi >= kLinearTrialBand * lo) return c;
  c.key = TrialCache::Key(m_bucket(M), c.narrow ? 1 : 0, threads, (int64_t)isa);
  if (trials.find(c.key, &c.trial)) {
    c.measured = true;
    // the model's margin here too: dense (the side a burst of a neighbour's L3 traffic during
    // the trial slows more: its weights stream) unless sparse measured faster by 4%
    c.sparse = c.trial.second_s * m.margin < c.trial.first_s;
  } else {
    c.trial_needed = true;
    // about 1 ms of each kernel timed, 3 to 8 calls (one round of 2 calls measured +-10% off
    // on the shared machines); calls short enough for L2-resident weights (< 50 us) each
    // after an untimed call of the same kernel (run_trial's `warm`)
    c.rounds = (int)std::max(3.0, std::min(8.0, std::ceil(1e-3 / std::max(lo, 1e-9))));
    c.warm = lo < 50e-6;
  }
  return c;
}

}  // namespace ops
}  // namespace lowbit

// The sparse-vs-dense performance model (ops/sparse_fc_model.h): its counts match the packed
// weights, its formulas have the documented structure (tiles of 8 rows, the one-row kernel, the
// partial tile), and a calibration yields usable rates and the obvious decisions. Only the scalar
// level is calibrated here: it uses small layers, so this stays fast under qemu too.
#include <cmath>
#include <vector>

#include "ops/sparse_fc_model.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::sparse_fc;
using namespace lowbit::test;

namespace {

std::vector<int8_t> weights(size_t N, size_t K, double sp, int lo, int hi) {
  std::vector<int8_t> w(N * K, 0);
  for (size_t n = 0; n < N; n++)
    for (size_t k0 = 0; k0 < K; k0 += 4) {
      if (rand_float(0, 1) < sp) continue;
      for (size_t k = k0; k < K && k < k0 + 4; k++) w[n * K + k] = (int8_t)rand_int(lo, hi);
    }
  return w;
}

}  // namespace

LOWBIT_TEST(sparse_fc_model_shape) {
  for (size_t K : {1, 3, 4, 5, 64, 67})
    for (double sp : {0.0, 0.5, 0.9, 1.0})
      for (int safe = 0; safe < 2; safe++) {
        const size_t N = 1 + (size_t)rand_int(0, 40);
        const std::vector<int8_t> w = weights(N, K, sp, safe ? -64 : -128, safe ? 63 : 127);
        const SparseShape a = shape_of(w.data(), N, K), b = shape_of(pack_sparse_fc_int8(w.data(), N, K));
        LOWBIT_CHECK(a.N == b.N && a.K == b.K && a.nnz_blocks == b.nnz_blocks && a.maddubs_safe == b.maddubs_safe,
                     "shape_of(weights) == shape_of(packed), K=" + std::to_string(K));
        if (safe) LOWBIT_CHECK(a.maddubs_safe, "[-64, 63] weights are maddubs-safe");
      }
}

LOWBIT_TEST(sparse_fc_model_formulas) {
  PerfModel m;  // the uncalibrated defaults
  SparseShape s;
  s.N = 256, s.K = 510, s.nnz_blocks = 256 * 128 / 5;
  const double one = m.sparse_seconds(s, 1), eight = m.sparse_seconds(s, 8), nine = m.sparse_seconds(s, 9);
  const double two = m.sparse_seconds(s, 2), sixteen = m.sparse_seconds(s, 16);
  LOWBIT_CHECK(one > 0 && eight > one, "a tile costs more than one row");
  LOWBIT_CHECK(std::fabs(nine - (eight + one)) < 1e-12, "M = 9: one tile + the one-row kernel");
  LOWBIT_CHECK(std::fabs(sixteen - 2 * eight) < 1e-12, "M = 16: two full tiles");
  LOWBIT_CHECK(std::fabs(two - (eight + (double)s.K * m.partial_k_s)) < 1e-12, "M = 2: a partial tile");
  const double d1 = m.dense_seconds(s.N, s.K, 1, false), d64 = m.dense_seconds(s.N, s.K, 64, false);
  const double d100 = m.dense_seconds(s.N, s.K, 100, false), d128 = m.dense_seconds(s.N, s.K, 128, false);
  LOWBIT_CHECK(d1 > 0 && d64 > d1 && d100 > d64 && d128 > d100, "dense time grows with M");
  LOWBIT_CHECK(std::fabs((d128 - d64) - 64 * (d100 - d64) / 36) < 1e-9 * d128, "dense: linear beyond the table");
  SparseShape sparser = s;
  sparser.nnz_blocks /= 4;
  for (size_t M : {1, 7, 64}) LOWBIT_CHECK(m.sparse_seconds(sparser, M) < m.sparse_seconds(s, M), "fewer blocks, less time");
}

LOWBIT_TEST(sparse_fc_model_calibration) {
  const PerfModel& m = model_for(Isa::scalar);
  LOWBIT_CHECK(&m == &model_for(Isa::scalar), "calibrated once, cached");
  bool finite = m.one_block_s > 0 && m.tile_block_s[0] > 0 && m.tile_block_s[1] > 0 && std::isfinite(m.partial_k_s);
  for (const auto& layer : m.dense_s_per_weight)
    for (const auto& row : layer)
      for (double v : row) finite = finite && v > 0 && std::isfinite(v);
  LOWBIT_CHECK(finite, "positive finite rates: " + m.describe());
  // the obvious decision: 95% block-sparse weights run sparse (M = 64). (Not the converse: the
  // scalar reference GEMM is slower per weight than the scalar sparse kernel, so on that level
  // sparse may win even without zeros.)
  SparseShape full, sparse;
  full.N = sparse.N = 512, full.K = sparse.K = 512;
  full.nnz_blocks = 512 * 128, sparse.nnz_blocks = 512 * 128 / 20;
  // (timed on a possibly busy machine, under qemu in CI: only a loose bound is safe)
  LOWBIT_CHECK(m.predict(full, 64, false).sparse_s > 3 * m.predict(sparse, 64, false).sparse_s,
               "20x the blocks, > 3x the time (" + m.describe() + ")");
  LOWBIT_CHECK(m.predict(sparse, 64, false).use_sparse, "95% sparse: sparse (" + m.describe() + ")");
  LOWBIT_CHECK(m.sparse_can_win(sparse), "95% sparse can win");
}

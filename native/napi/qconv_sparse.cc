#include <algorithm>
#include <cmath>
#include "napi/qconv_sparse.h"

#include <algorithm>
#include <cstdio>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "napi/errors.h"
#include "napi/sparse_linear.h"

namespace lowbit {

namespace {
// Predictions closer than this are timed (the model is within ~10-30% near break-even).
constexpr double kTrialBand = 1.3;
}  // namespace
namespace napi {

namespace {
// As QuantizedLinear's auto (gemm.cc): below this block sparsity the sparse kernel cannot win on
// AVX2, so auto does not pack sparse weights at all.
constexpr double kMinAutoSparsity = 0.25;
}  // namespace

std::shared_ptr<QConvSparse> QConvSparse::make(Napi::Env env, const conv::ConvGeometry& g, const int8_t* w, const int32_t* zp,
                                               size_t zp_count, QConvMode mode, std::string* why_not) {
  why_not->clear();
  if (mode == QConvMode::dense) return nullptr;
  const bool applies = conv::qconv_sparse_1x1_applies(g);
  const bool symmetric = std::all_of(zp, zp + zp_count, [](int32_t z) { return z == 0; });
  if (mode == QConvMode::sparse && !applies) {
    throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT",
                      "mode 'sparse' needs a 1x1, stride-1, unpadded, ungrouped convolution, got kernel " + std::to_string(g.kh) + "x" +
                          std::to_string(g.kw) + ", stride " + std::to_string(g.stride_h) + "x" + std::to_string(g.stride_w) +
                          ", padding " + std::to_string(g.pad_h) + "x" + std::to_string(g.pad_w) + ", groups " + std::to_string(g.groups));
  }
  if (mode == QConvMode::sparse && !symmetric) {
    throw_range_error(env, "ERR_LOWBIT_INVALID_ZERO_POINT",
                      "mode 'sparse' needs weights without zero point (every weight zero point 0, symmetric as fromFloat32 makes them)");
  }
  if (!applies) {
    *why_not = "the sparse kernel serves 1x1, stride-1, unpadded, ungrouped layers only";
    return nullptr;
  }
  if (!symmetric) {
    *why_not = "the weights have nonzero zero points: the sparse kernel needs symmetric weights";
    return nullptr;
  }
  // [cout][cin][1][1] is the N x K matrix of the sparse FC kernel as it is
  const size_t N = (size_t)g.cout, K = (size_t)g.cin;
  const sparse_fc::SparseShape shape = sparse_fc::shape_of(w, N, K);
  if (mode == QConvMode::auto_) {
    char buf[200];
    if (shape.block_sparsity() < kMinAutoSparsity) {
      std::snprintf(buf, sizeof buf, "block sparsity %.1f%% < %.0f%%: the sparse kernel cannot win, sparse weights not packed",
                    shape.block_sparsity() * 100, kMinAutoSparsity * 100);
      *why_not = buf;
      return nullptr;
    }
    if (!sparse_fc::model_for(active_isa()).sparse_can_win(shape, kTrialBand)) {
      std::snprintf(buf, sizeof buf, "block sparsity %.1f%%: sparse predicted slower at every size, sparse weights not kept",
                    shape.block_sparsity() * 100);
      *why_not = buf;
      return nullptr;
    }
  }
  auto s = std::make_shared<QConvSparse>();
  s->mode_ = mode;
  s->w_ = sparse_fc::pack_sparse_fc_int8(w, N, K);
  s->shape_ = shape;
  return s;
}

sparse_fc::Prediction QConvSparse::predict(const conv::ConvLayout& l, bool narrow) const {
  return sparse_fc::model_for(active_isa()).predict(shape_, (size_t)l.n * l.out_pixels(), narrow || shape_.maddubs_safe);
}

namespace {

ops::TrialCache::Key trial_key(const conv::ConvLayout& l, bool narrow, int threads, Isa isa) {
  return ops::TrialCache::Key((int64_t)l.n * 1000003 + l.h, l.w, (int64_t)threads * 2 + (narrow ? 1 : 0), (int64_t)isa);
}

// dense unless sparse measured faster by the model's margin (the trial runs dense first)
bool sparse_wins(const ops::TrialResult& r, Isa isa) { return r.second_s * sparse_fc::model_for(isa).margin < r.first_s; }

}  // namespace

QConvSparse::Measured QConvSparse::measured(const conv::ConvLayout& l, bool narrow, int threads) const {
  Measured m;
  if (mode_ == QConvMode::sparse) return m;
  const sparse_fc::Prediction p = predict(l, narrow);
  m.close = std::max(p.sparse_s, p.dense_s) < kTrialBand * std::min(p.sparse_s, p.dense_s);
  if (!m.close) return m;
  const Isa isa = active_isa();
  m.known = trials_->find(trial_key(l, narrow, threads, isa), &m.r);
  m.sparse = m.known && sparse_wins(m.r, isa);
  return m;
}

QConvSparse::Choice QConvSparse::choose(const conv::ConvLayout& l, const uint8_t* x, size_t x_len, int threads) const {
  Choice c;
  if (mode_ == QConvMode::sparse) {
    c.sparse = true;
    return c;
  }
  const sparse_fc::Prediction wide = predict(l, false), nar = predict(l, true);
  // the dense path's per-block range check, approximated by the whole input's range
  bool narrow = false;
  auto close = [](const sparse_fc::Prediction& q) { return std::max(q.sparse_s, q.dense_s) < kTrialBand * std::min(q.sparse_s, q.dense_s); };
  if (wide.use_sparse != nar.use_sparse || close(wide) || close(nar))
    narrow = activations_narrow(x, false, x_len, 1, x_len);
  const sparse_fc::Prediction& p = narrow ? nar : wide;
  c.sparse = p.use_sparse;
  if (!close(p)) return c;
  const double lo = std::min(p.sparse_s, p.dense_s);
  const Isa isa = active_isa();
  c.key = trial_key(l, narrow, threads, isa);
  ops::TrialResult r;
  if (trials_->find(c.key, &r)) {
    c.sparse = sparse_wins(r, isa);
  } else {
    c.trial_needed = true;
    c.rounds = (int)std::max(3.0, std::min(8.0, std::ceil(1e-3 / std::max(lo, 1e-9))));
    c.warm = lo < 1e-3;
  }
  return c;
}

void QConvSparse::run(const conv::ConvLayout& l, const uint8_t* x, int32_t x_zp, const conv::QConvOutput& out, int threads) const {
  const sparse_fc::SparseFcU8S8Fn fn = sparse_fc_kernels().sparse_fc_u8s8;
  const conv::QConvSparsePlan plan = conv::plan_qconv_sparse_1x1(l, w_, threads);
  parallel_for(plan.tasks, threads, [&](size_t t) { conv::qconv_sparse_1x1_task(fn, w_, l, plan, x, x_zp, out, t); });
}

}  // namespace napi
}  // namespace lowbit

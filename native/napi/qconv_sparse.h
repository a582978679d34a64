// The sparse side of the QuantizedConv2d binding (qconv.cc): which layers may run the int8 sparse
// FC kernel (1x1, stride 1, unpadded, ungrouped, symmetric weights), the `mode` option, auto's
// choice per call and running the kernel (kernels/conv/int8_sparse_1x1.h).
//
// Why a separate object: the dense binding stays as it was; a layer holds one of these only where
// its mode can run sparse, and asks it, per call, whether to.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "kernels/conv/int8.h"
#include "kernels/conv/int8_sparse_1x1.h"
#include "ops/sparse_fc_model.h"
#include "ops/kernel_trial.h"

namespace lowbit {
namespace napi {

// Which kernels a convolution layer may run (the JavaScript `mode` option, by index).
enum class QConvMode : int { auto_ = 0, sparse = 1, dense = 2 };

class QConvSparse {
 public:
  // The sparse side of a layer, or null where the mode and the weights leave only the dense
  // kernel (mode 'dense'; auto with another geometry, zero points, or sparsity that cannot win).
  // Mode 'sparse' on a layer it cannot serve throws a RangeError (ERR_LOWBIT_INVALID_ARGUMENT for
  // the geometry, ERR_LOWBIT_INVALID_ZERO_POINT for zero points). `why_not` gets auto's reason.
  static std::shared_ptr<QConvSparse> make(Napi::Env env, const conv::ConvGeometry& g, const int8_t* w, const int32_t* zp,
                                           size_t zp_count, QConvMode mode, std::string* why_not);

  // Which kernel a call runs: always sparse in mode 'sparse'; in auto the model's prediction for
  // M = n * pixels (scanning x's range only where the answer depends on whether the dense GEMM
  // may take its 7-bit path), unless its two predictions are within 1.3x: then the remembered
  // trial of this (n, h, w, activation width, threads, ISA), or a trial on this call (as
  // QuantizedLinear and Conv2d do: ops/kernel_trial.h; both kernels write the same bits).
  struct Choice {
    bool sparse = false, trial_needed = false;
    ops::TrialCache::Key key;
    int rounds = 3;
    bool warm = false;
  };
  Choice choose(const conv::ConvLayout& l, const uint8_t* x, size_t x_len, int threads) const;
  void remember(const ops::TrialCache::Key& key, const ops::TrialResult& r) const { trials_->put(key, r); }
  // For explain: whether a call of this shape would be timed (the predictions within the band),
  // and, once it was, the trial's result and choice.
  struct Measured {
    bool close = false, known = false, sparse = false;
    ops::TrialResult r;
  };
  Measured measured(const conv::ConvLayout& l, bool narrow, int threads) const;

  // The model's prediction for a call (narrow: 7-bit activations or pair-safe weights).
  sparse_fc::Prediction predict(const conv::ConvLayout& l, bool narrow) const;

  // Runs the whole call on `threads` threads; identical results for any count.
  void run(const conv::ConvLayout& l, const uint8_t* x, int32_t x_zp, const conv::QConvOutput& out, int threads) const;

  QConvMode mode() const { return mode_; }
  const sparse_fc::SparseShape& shape() const { return shape_; }
  size_t memory_bytes() const { return sizeof(*this) + w_.memory_bytes(); }

 private:
  QConvMode mode_ = QConvMode::auto_;
  sparse_fc::SparseFcInt8Weights w_;
  sparse_fc::SparseShape shape_;
  std::shared_ptr<ops::TrialCache> trials_ = std::make_shared<ops::TrialCache>();
};

}  // namespace napi
}  // namespace lowbit

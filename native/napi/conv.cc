// fp32 convolution binding: ConvLayer holds a layer's weights as sparse CSR (zeros dropped) and/or
// packed dense panels, and runs the kernel the mode asks for ('auto' asks the performance model,
// calibrated once per ISA on the running CPU, and times both kernels on the first call of a shape
// the model cannot call: kernel_trial.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/depthwise.h"
#include "kernels/conv/winograd.h"
#include "ops/conv_model.h"
#include "napi/args.h"
#include "napi/conv_args.h"
#include "napi/call.h"
#include "napi/exports.h"
#include "ops/kernel_trial.h"

namespace lowbit {
namespace napi {
namespace {

enum class Mode { auto_, sparse, dense, winograd };

// Winograd against the other kernels' predictions: outside this factor the model decides, inside
// it the first call with the shape times Winograd and the dense kernel (kernel_trial.h).
constexpr double kWinoBand = 1.3;

// A layer's Winograd weights per tile size, transformed on first use of that size (most layers
// only ever run one) from the original weights the layer keeps while it may need them.
struct WinoWeights {
  std::vector<float> raw;  // [cout][cin/g][3][3]
  conv::ConvGeometry geo;
  std::once_flag once[2];
  std::unique_ptr<conv::WinogradWeights> w[2];  // m = 2, m = 4
  double prune = 0;  // > 0: U pruned in the Winograd domain to this block sparsity (sparse Winograd)
  const conv::WinogradWeights& get(int m) {
    const int i = m == 2 ? 0 : 1;
    std::call_once(once[i], [&] {
      w[i].reset(new conv::WinogradWeights(conv::WinogradWeights::transform(geo, m, raw.data())));
      if (prune > 0) w[i]->prune(prune);
    });
    return *w[i];
  }
};


// Per-thread scratch of n floats, not initialized (everything the kernels read is written first:
// pad_input writes its whole buffer, the transposes their whole matrices); grown on demand and
// kept, so a layer's calls neither allocate nor zero-fill. Two slots: the input side, the output.
float* scratch(int slot, size_t n) {
  struct Buf {
    std::unique_ptr<float[]> p;
    size_t n = 0;
  };
  static thread_local Buf bufs[2];
  Buf& b = bufs[slot];
  if (b.n < n) {
    b.p.reset(new float[n]);
    b.n = n;
  }
  return b.p.get();
}

// dst[c][r] = src[r][c] for a rows x cols matrix, in 32 x 32 blocks (both sides stay in L1).
void transpose(const float* src, size_t rows, size_t cols, float* dst) {
  constexpr size_t kB = 32;
  for (size_t r0 = 0; r0 < rows; r0 += kB)
    for (size_t c0 = 0; c0 < cols; c0 += kB) {
      const size_t r1 = std::min(rows, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
    }
}

class ConvLayer : public Napi::ObjectWrap<ConvLayer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ConvLayer",
                       {InstanceAccessor<&ConvLayer::Nnz>("nnz"), InstanceAccessor<&ConvLayer::Bytes>("byteLength"),
                        InstanceMethod<&ConvLayer::Forward>("forward"), InstanceMethod<&ConvLayer::Explain>("explain"),
                        InstanceMethod<&ConvLayer::OutShape>("outputShape")});
  }

  // new ConvLayer(weights: Float32Array, geometry: Int32Array[11] (cin, cout, kh, kw, sh, sw, ph, pw,
  //               dh, dw, groups), bias: Float32Array|null, relu, mode: 0 auto / 1 sparse / 2 dense /
  //               3 winograd (3x3 stride 1 only), winogradSparsity: number (0: dense U; mode 3 only))
  explicit ConvLayer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConvLayer>(info) {
    native_section(info.Env(), [&] { init(info); });  // out of memory: a coded RangeError
  }

  void init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const OwnedCopy<float> w = copy_of<float>(array_arg(env, info[0], {napi_float32_array}, "weights"));
    geo_ = conv_geometry_arg(info, 1);
    const size_t count = (size_t)geo_.cout * geo_.taps();
    if (w.length != count) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                        "weights.length must be outChannels * inChannels / groups * kh * kw = " + std::to_string(count) +
                            ", got " + std::to_string(w.length));
    }
    for (size_t i = 0; i < count; i++) {
      if (!std::isfinite(w.data[i])) {
        throw_range_error(env, "ERR_LOWBIT_NOT_FINITE", "weights must be finite: weights[" + std::to_string(i) + "] is not");
      }
    }
    if (!info[2].IsNull() && !info[2].IsUndefined()) {
      const OwnedCopy<float> b = copy_of<float>(array_arg(env, info[2], {napi_float32_array}, "bias"));
      if (b.length != (size_t)geo_.cout) {
        throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "bias.length must be outChannels = " + std::to_string(geo_.cout) + ", got " + std::to_string(b.length));
      }
      for (size_t i = 0; i < b.length; i++) {
        if (!std::isfinite(b.data[i])) throw_range_error(env, "ERR_LOWBIT_NOT_FINITE", "bias must be finite: bias[" + std::to_string(i) + "] is not");
      }
      bias_ = std::make_shared<std::vector<float>>(b.values);
    }
    relu_ = boolean(info, 3, "relu");
    mode_ = (Mode)integer(info, 4, "mode", 0, 3);
    // a depthwise layer (groups = channels) runs its own kernel in 'auto' and 'dense'
    if (conv::depthwise_eligible(geo_) && (mode_ == Mode::auto_ || mode_ == Mode::dense))
      dw_ = std::make_shared<std::vector<float>>(w.values);
    const bool eligible = conv::winograd_eligible(geo_) && !dw_;
    if (mode_ == Mode::winograd && !eligible) {
      throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "mode 'winograd' needs a 3x3 kernel, stride 1 and dilation 1");
    }
    if (eligible && (mode_ == Mode::auto_ || mode_ == Mode::winograd)) {
      wino_ = std::make_shared<WinoWeights>();
      wino_->raw = w.values;
      wino_->geo = geo_;
    }
    const double wsp = info.Length() > 5 && !info[5].IsUndefined() ? number(info, 5, "winogradSparsity") : 0.0;
    if (!(wsp >= 0 && wsp <= 1)) throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE", "winogradSparsity must be in [0, 1], got " + std::to_string(wsp));
    if (wsp > 0 && mode_ != Mode::winograd) {
      throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "winogradSparsity needs mode 'winograd' (the pruned layer has no spatial weights for the other kernels)");
    }
    if (wino_) wino_->prune = wsp;
    if (mode_ != Mode::dense && mode_ != Mode::winograd && !dw_) sparse_ = std::make_shared<conv::SparseConvWeights>(conv::SparseConvWeights::from_dense(geo_, w.data));
    if (mode_ != Mode::sparse && mode_ != Mode::winograd && !dw_) dense_ = std::make_shared<conv::DenseConvWeights>(conv::DenseConvWeights::pack(geo_, w.data));
    if (!sparse_) nnz_ = count - (size_t)std::count_if(w.data, w.data + count, [](float v) { return v == 0.0f; });
    else nnz_ = sparse_->nnz();
    // Winograd weights are made on first use: counted here at their largest (both tile sizes)
    const size_t wino_bytes = wino_ ? count * sizeof(float) * (1 + (16 + 36) / 9.0) : dw_ ? count * sizeof(float) : 0;
    reported_ = (int64_t)((sparse_ ? sparse_->memory_bytes() : 0) + (dense_ ? dense_->memory_bytes() : 0) + wino_bytes);
    adjust_external_memory(env, reported_);
  }

  void Finalize(Napi::Env env) override { adjust_external_memory(env, -reported_); }

 private:
  Napi::Value Nnz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)nnz_); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)reported_); }

  conv::ConvLayout layout(const Napi::CallbackInfo& info, size_t i) { return conv_layout_arg(info, i, geo_); }

  // The kernel for a layout: fixed by the mode; in auto mode the model's choice when it is
  // confident, else the remembered trial of this shape, else open (trial_needed) until the first
  // forward with this shape times both.
  struct Choice {
    bool sparse = false, trial_needed = false, measured = false;
    bool dw = false;            // the depthwise kernel
    bool wino = false;          // Winograd with tile wm
    int wm = 4;
    bool wtrial_needed = false, wmeasured = false;  // Winograd against dense, timed (first = dense)
    conv::WinoPrediction wp;
    ops::TrialResult wtrial;
    ops::TrialCache::Key wkey;
    int rounds = 2;     // trial: timed calls of each kernel
    bool warm = false;  // trial: an untimed call of the same kernel before each timed one
    conv::Prediction pred;
    ops::TrialResult trial;  // first = dense, second = sparse
    ops::TrialCache::Key key;
  };
  Choice choose(const conv::ConvLayout& l) const {
    if (dw_) {
      Choice c;
      c.dw = true;
      return c;
    }
    Choice c = choose_sparse_dense(l);
    if (!wino_) return c;
    const Isa isa = active_isa();
    c.wp = conv::model_for(isa).predict_winograd(geo_, l.n, l.h, l.w, 1.0 - wino_->prune);
    c.wm = c.wp.m;
    if (mode_ == Mode::winograd) {
      c.wino = true;
      return c;
    }
    if (!c.wp.eligible) return c;
    const double other = c.pred.use_sparse ? c.pred.sparse_s : c.pred.dense_s;
    if (c.wp.s * kWinoBand < other) {  // clearly faster than the others' best prediction
      c.wino = true;
      c.sparse = c.trial_needed = c.measured = false;
      return c;
    }
    // close to a confident dense choice: time Winograd against dense on the first call
    if (c.wp.s < other * kWinoBand && !c.sparse && !c.trial_needed && !c.measured) {
      c.wkey = ops::TrialCache::Key(l.n, l.h, l.w, (int64_t)isa);
      if (wtrials_->find(c.wkey, &c.wtrial)) {
        c.wmeasured = true;
        c.wino = !c.wtrial.first_wins;
      } else {
        c.wtrial_needed = true;
        const double lo = std::min(c.wp.s, c.pred.dense_s);
        c.rounds = (int)std::max(2.0, std::min(8.0, std::ceil(2e-3 / std::max(lo, 1e-9))));
        c.warm = lo < 1e-3;
      }
    }
    return c;
  }

  Choice choose_sparse_dense(const conv::ConvLayout& l) const {
    Choice c;
    if (mode_ != Mode::auto_) {
      c.sparse = mode_ == Mode::sparse;
      return c;
    }
    const Isa isa = active_isa();
    c.pred = conv::model_for(isa).predict(*sparse_, l);
    c.sparse = c.pred.use_sparse;
    if (!c.pred.close) return c;
    c.key = ops::TrialCache::Key(l.n, l.h, l.w, (int64_t)isa);
    if (trials_->find(c.key, &c.trial)) {
      c.measured = true;
      c.sparse = !c.trial.first_wins;
    } else {
      c.trial_needed = true;
      // about 2 ms of each kernel timed (2 to 8 calls); calls under 1 ms (weights and input in
      // L2/L3) each after an untimed call of the same kernel: timed alternately cold, the kernel
      // with the larger working set loses more than it does in a layer that runs one kernel
      // (measured: a 1024 x 1024 batch-1 Linear at 90% picked sparse, 0.8x as fast as dense)
      const double lo = std::min(c.pred.sparse_s, c.pred.dense_s);
      c.rounds = (int)std::max(2.0, std::min(8.0, std::ceil(2e-3 / std::max(lo, 1e-9))));
      c.warm = lo < 1e-3;
    }
    return c;
  }

  // outputShape(n, h, w) -> [n, cout, oh, ow]
  Napi::Value OutShape(const Napi::CallbackInfo& info) {
    return output_shape(info.Env(), layout(info, 0));
  }

  // explain(n, h, w) -> { kernel, sparsity, predictedSparseMs, predictedDenseMs, reason }
  Napi::Value Explain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const conv::ConvLayout l = layout(info, 0);
    Napi::Object out = Napi::Object::New(env);
    const double total = (double)geo_.cout * geo_.taps();
    out.Set("sparsity", 1.0 - (double)nnz_ / total);
    const Choice c = choose(l);
    if (c.dw) {
      out.Set("kernel", "depthwise");
      out.Set("reason", std::string("depthwise (groups = channels, ") + std::to_string(geo_.kh) + "x" + std::to_string(geo_.kw) +
                            ", stride " + std::to_string(geo_.stride_h) + "): the dedicated depthwise kernel" +
                            (mode_ == Mode::dense ? " (mode 'dense' was requested)" : ""));
      return out;
    }
    if (c.wp.eligible) {
      out.Set("predictedWinogradMs", c.wp.s * 1e3);
      out.Set("winogradTile", c.wm);
    }
    if (mode_ == Mode::auto_) {
      out.Set("kernel", c.wino ? "winograd" : c.sparse ? "sparse" : "dense");
      out.Set("predictedSparseMs", c.pred.sparse_s * 1e3);
      out.Set("predictedDenseMs", c.pred.dense_s * 1e3);
      std::string reason = c.pred.explain;
      if (c.measured) {
        out.Set("measuredSparseMs", c.trial.second_s * 1e3);
        out.Set("measuredDenseMs", c.trial.first_s * 1e3);
        char buf[160];
        std::snprintf(buf, sizeof buf, "; measured on the first call: sparse %.3f ms, dense %.3f ms -> %s",
                      c.trial.second_s * 1e3, c.trial.first_s * 1e3, c.sparse ? "sparse" : "dense");
        reason += buf;
      } else if (c.trial_needed) {
        reason += "; the first forward with this shape times both kernels and keeps the faster";
      }
      if (c.wp.eligible) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "; winograd F(%dx%d,3x3) predicted %.3f ms (F(2x2) %.3f, F(4x4) %.3f)", c.wm, c.wm,
                      c.wp.s * 1e3, c.wp.s2 * 1e3, c.wp.s4 * 1e3);
        reason += buf;
        if (c.wmeasured) {
          out.Set("measuredWinogradMs", c.wtrial.second_s * 1e3);
          out.Set("measuredDenseMs", c.wtrial.first_s * 1e3);
          std::snprintf(buf, sizeof buf, "; measured on the first call: winograd %.3f ms, dense %.3f ms", c.wtrial.second_s * 1e3,
                        c.wtrial.first_s * 1e3);
          reason += buf;
        } else if (c.wtrial_needed) {
          reason += "; too close to dense: the first forward with this shape times both";
        }
        reason += c.wino ? " -> winograd" : c.sparse ? " -> sparse" : " -> dense";
      }
      out.Set("reason", reason);
    } else {
      const char* name = mode_ == Mode::sparse ? "sparse" : mode_ == Mode::dense ? "dense" : "winograd";
      out.Set("kernel", name);
      std::string reason = std::string("mode '") + name + "' was requested";
      if (c.wino) reason += c.wm == 2 ? " (F(2x2,3x3): the model's faster tile)" : " (F(4x4,3x3): the model's faster tile)";
      if (wino_ && wino_->prune > 0) {
        reason += "; sparse Winograd: U pruned in the Winograd domain to " + std::to_string((int)std::lround(wino_->prune * 100)) +
                  "% of its (input channel x 16 output channels) blocks";
        out.Set("winogradSparsity", wino_->prune);
      }
      out.Set("reason", reason);
    }
    return out;
  }

  // forward(input: Float32Array, n, h, w, out: Float32Array, threads, async, batchMajor?)
  // batchMajor (a fully-connected layer: 1x1, n = h = 1, w = batch): input [batch][cin] and out
  // [batch][cout], transposed to and from the kernels' feature-major [cin][batch] / [cout][batch].
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ArrayArg x = array_arg(env, info[0], {napi_float32_array}, "input");
    conv::ConvLayout l = layout(info, 1);
    const ArrayArg y = array_arg(env, info[4], {napi_float32_array}, "out");
    const int threads = threads_arg(info, 5);
    const bool async = boolean(info, 6, "async");
    const bool batch_major = info.Length() > 7 && boolean(info, 7, "batchMajor");
    if (batch_major && !(l.direct && l.n == 1 && l.h == 1 && geo_.groups == 1)) {
      throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "batchMajor needs a 1x1, stride 1, unpadded, ungrouped layer and n = h = 1");
    }
    if (x.length != l.in_floats()) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "input.length must be n * inChannels * h * w = " + std::to_string(l.in_floats()) + ", got " + std::to_string(x.length));
    }
    if (y.length != l.out_floats()) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "out.length must be n * outChannels * oh * ow = " + std::to_string(l.out_floats()) + ", got " + std::to_string(y.length));
    }
    const Choice choice = choose(l);
    std::shared_ptr<const conv::SparseBinding> binding;
    if (choice.sparse || choice.trial_needed) {
      std::string err;
      binding = sparse_->bind(l.n, l.h, l.w, &err);
      if (!binding) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", err);
    }
    auto call = std::make_unique<Call>(env, async);
    const float* xp = call->input<float>(x);
    float* yp = call->single_output<float>(y, true);
    const ConvKernels k = conv_kernels();
    auto sp = sparse_;
    auto dn = dense_;
    auto wino = wino_;
    std::shared_ptr<conv::WinoLayout> wl;
    if (choice.wino || choice.wtrial_needed) {
      wl = std::make_shared<conv::WinoLayout>();
      const std::string err = conv::make_wino_layout(geo_, choice.wm, l.n, l.h, l.w, wl.get());
      if (!err.empty()) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", err);
    }
    auto wtrials = wtrials_;
    auto dw = dw_;
    auto bias = bias_;
    auto trials = trials_;
    const bool relu = relu_;
    const int cout = geo_.cout;
    auto lay = std::make_shared<conv::ConvLayout>(std::move(l));
    auto work = [=] {
      const float* in = xp;
      float* yd = yp;
      float* yt = nullptr;
      if (batch_major) {  // [batch][cin] -> [cin][batch]; the kernels write [cout][batch] into yt
        const size_t B = (size_t)lay->w, C = (size_t)lay->geo.cin;
        float* xt = scratch(0, B * C);
        transpose(xp, B, C, xt);
        yt = scratch(1, (size_t)cout * B);
        in = xt;
        yd = yt;
      }
      const float* b = bias ? bias->data() : nullptr;
      auto run_wino = [&] {
        const conv::WinogradWeights& W = wino->get(wl->m);
        float* nhwc = scratch(1, wl->nhwc_floats);
        const size_t rows = (size_t)wl->n * wl->hp;
        parallel_for((size_t)threads, threads, [&](size_t t) {
          conv::winograd_pack_input(*wl, xp, nhwc, rows * t / threads, rows * (t + 1) / threads);
        });
        // threads split the tiles when each gets enough of them to amortize streaming U, else the
        // output-channel panels (each thread then transforms the whole input: cheap next to U)
        const conv::WinogradFn fn = conv::winograd_kernel(active_isa());
        const bool by_tiles = wl->tiles >= (size_t)threads * 48 || wl->panels < threads;
        parallel_for((size_t)threads, threads, [&](size_t t) {
          if (by_tiles)
            fn(W, *wl, nhwc, b, relu, yp, wl->tiles * t / threads, wl->tiles * (t + 1) / threads, 0, wl->panels);
          else
            fn(W, *wl, nhwc, b, relu, yp, 0, wl->tiles, (int)((int64_t)wl->panels * t / threads),
               (int)((int64_t)wl->panels * (t + 1) / threads));
        });
      };
      if (choice.wino) {
        run_wino();
        return;
      }
      if (choice.dw) {
        const conv::DepthwiseF32Fn fn = conv::depthwise_kernels(active_isa()).f32;
        const size_t planes = (size_t)lay->n * lay->geo.cout;
        parallel_for((size_t)threads, threads, [&](size_t t) {
          fn(*lay, xp, dw->data(), b, relu, yp, planes * t / threads, planes * (t + 1) / threads);
        });
        return;
      }
      if (!lay->direct) {
        float* padded = scratch(0, lay->padded_floats);
        conv::pad_input(*lay, xp, padded);
        in = padded;
      }
      auto run = [&](bool sparse) {
        std::vector<int> bounds;
        if (sparse) {
          conv::split_by_nonzeros(*sp, threads, &bounds);
        } else {
          for (int t = 0; t <= threads; t++) bounds.push_back((int)((int64_t)cout * t / threads));
        }
        parallel_for((size_t)threads, threads, [&](size_t t) {
          const int lo = bounds[t], hi = bounds[t + 1];
          if (lo >= hi) return;
          if (sparse)
            k.sparse_conv_f32(*binding, in, b, relu, yd, lo, hi);
          else
            k.dense_conv_f32(*dn, *lay, in, b, relu, yd, lo, hi);
        });
      };
      if (choice.wtrial_needed)
        wtrials->put(choice.wkey, ops::run_trial([&] { run(false); }, run_wino, choice.rounds, choice.warm));
      else if (choice.trial_needed)
        trials->put(choice.key, ops::run_trial([&] { run(false); }, [&] { run(true); }, choice.rounds, choice.warm));
      else
        run(choice.sparse);
      if (batch_major) transpose(yt, (size_t)cout, (size_t)lay->w, yp);
    };
    return Call::run(std::move(call), std::move(work), info[4]);
  }

  conv::ConvGeometry geo_;
  std::shared_ptr<conv::SparseConvWeights> sparse_;
  std::shared_ptr<conv::DenseConvWeights> dense_;
  std::shared_ptr<std::vector<float>> bias_;
  bool relu_ = false;
  Mode mode_ = Mode::auto_;
  std::shared_ptr<ops::TrialCache> trials_ = std::make_shared<ops::TrialCache>();
  std::shared_ptr<ops::TrialCache> wtrials_ = std::make_shared<ops::TrialCache>();  // winograd vs dense
  std::shared_ptr<WinoWeights> wino_;
  std::shared_ptr<std::vector<float>> dw_;  // depthwise weights [c][k][k], when its kernel runs
  size_t nnz_ = 0;
  int64_t reported_ = 0;
};

// pruneMagnitude(weights: Float32Array, rows, cols, sparsity, blockRows, blockCols) -> Float32Array
Napi::Value PruneMagnitude(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const OwnedCopy<float> w = copy_of<float>(array_arg(env, info[0], {napi_float32_array}, "weights"));
  const int rows = (int)integer(info, 1, "rows", 1, 1 << 30), cols = (int)integer(info, 2, "cols", 1, 1 << 30);
  const double sparsity = number(info, 3, "sparsity");
  if (!(sparsity >= 0 && sparsity <= 1)) throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE", "sparsity must be in [0, 1], got " + std::to_string(sparsity));
  const int br = (int)integer(info, 4, "blockRows", 1, rows), bc = (int)integer(info, 5, "blockCols", 1, cols);
  if (w.length != (size_t)rows * cols) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "weights.length must be rows * cols = " + std::to_string((size_t)rows * cols) + ", got " + std::to_string(w.length));
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, w.length);
  conv::prune_magnitude(w.data, rows, cols, sparsity, out.Data(), br, bc);
  return out;
}

}  // namespace

void register_conv(Napi::Env env, Napi::Object exports) {
  exports.Set("ConvLayer", ConvLayer::Define(env));
  exports.Set("pruneMagnitude", Napi::Function::New(env, PruneMagnitude, "pruneMagnitude"));
}

}  // namespace napi
}  // namespace lowbit

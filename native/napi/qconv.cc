// int8 convolution binding: QConvLayer holds a layer's int8 weights packed for the exact GEMM (one
// PackedB per group, owned natively, reported to V8 as external memory) and runs
// kernels/conv/int8.h's tasks on the pool.
//
// Arguments arrive validated and named by lib/qconv.ts; the checks here only guarantee that a
// direct call with bad arguments throws instead of reading or writing out of bounds.
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/depthwise.h"
#include "kernels/conv/int8.h"
#include "kernels/gemm/gemm.h"
#include "napi/args.h"
#include "napi/conv_args.h"
#include "napi/call.h"
#include "ops/output_pipeline.h"
#include "napi/exports.h"
#include "napi/qconv_sparse.h"

namespace lowbit {
namespace napi {
namespace {

using gemm::OutType;

std::string str(size_t v) { return std::to_string(v); }

[[noreturn]] void length_error(Napi::Env env, const char* arg, size_t got, size_t want, const std::string& why) {
  throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                    std::string(arg) + ".length must be " + str(want) + " (" + why + "), got " + str(got));
}

class QConvLayer : public Napi::ObjectWrap<QConvLayer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "QConvLayer",
                       {InstanceAccessor<&QConvLayer::Bytes>("byteLength"),
                        InstanceAccessor<&QConvLayer::FastPath>("fastPath"),
                        InstanceAccessor<&QConvLayer::BlockSparsity>("blockSparsity"),
                        InstanceMethod<&QConvLayer::Explain>("explain"),
                        InstanceMethod<&QConvLayer::Forward>("forward"),
                        InstanceMethod<&QConvLayer::OutShape>("outputShape")});
  }

  // new QConvLayer(weights: Int8Array, geometry: Int32Array[11] (cin, cout, kh, kw, sh, sw, ph, pw,
  //                dh, dw, groups), zeroPoints: Int32Array (1 or cout), perChannel,
  //                mode: 0 auto / 1 sparse / 2 dense (qconv_sparse.h))
  explicit QConvLayer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<QConvLayer>(info) {
    native_section(info.Env(), [&] { init(info); });  // out of memory: a coded RangeError
  }

  void init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const OwnedCopy<int8_t> w = copy_of<int8_t>(array_arg(env, info[0], {napi_int8_array}, "weights"));
    geo_ = conv_geometry_arg(info, 1);
    const size_t count = (size_t)geo_.cout * geo_.taps();
    if (w.length != count) length_error(env, "weights", w.length, count, "outChannels * inChannels / groups * kh * kw");
    const OwnedCopy<int32_t> zp = copy_of<int32_t>(array_arg(env, info[2], {napi_int32_array}, "zeroPoints"));
    const bool per_channel = boolean(info, 3, "perChannel");
    const size_t nzp = per_channel ? (size_t)geo_.cout : 1;
    if (zp.length != nzp) length_error(env, "zeroPoints", zp.length, nzp, "outChannels or 1");
    for (size_t i = 0; i < nzp; i++) {
      if (zp.data[i] < -128 || zp.data[i] > 127) {
        throw_range_error(env, "ERR_LOWBIT_INVALID_ZERO_POINT", "zeroPoints[" + str(i) + "] must be in [-128, 127]");
      }
    }
    const QConvMode mode = info[4].IsUndefined() ? QConvMode::auto_ : (QConvMode)integer(info, 4, "mode", 0, 2);
    sparse_ = QConvSparse::make(env, geo_, w.data, zp.data, nzp, mode, &dense_reason_);
    // block sparsity of the 1 x 4 blocks along the input channels (explain's figure; 1x1 layers)
    if (conv::qconv_sparse_1x1_applies(geo_)) block_sparsity_ = sparse_fc::shape_of(w.data, (size_t)geo_.cout, (size_t)geo_.cin).block_sparsity();
    // the direct kernel's packing too where this CPU has one (qconv_kernels: AVX2, AVX-512), and
    // the AMX tiles where the AVX-512 level runs on them (a later setIsa below avx512 ignores them)
    if (mode != QConvMode::sparse) {
      const bool direct = qconv_kernels().qconv_u8s8_direct != nullptr;
      weights_ = std::make_shared<conv::QConvWeights>(conv::QConvWeights::pack(
          geo_, w.data, zp.data, per_channel, direct, direct && amx_ready()));
    }
    // depthwise (groups = channels): its own kernel, on w - w_zp as floats (exact: depthwise.h)
    if (mode != QConvMode::sparse && conv::depthwise_eligible(geo_)) {
      dwq_ = std::make_shared<std::vector<float>>(count);
      conv::depthwise_int8_weights(geo_, w.data, zp.data, per_channel, dwq_->data());
    }
    reported_ = (int64_t)((weights_ ? weights_->memory_bytes() : 0) + (sparse_ ? sparse_->memory_bytes() : 0) +
                          (dwq_ ? dwq_->size() * sizeof(float) : 0));
    adjust_external_memory(env, reported_);
  }

  void Finalize(Napi::Env env) override { adjust_external_memory(env, -reported_); }

 private:
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)reported_); }
  Napi::Value FastPath(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), weights_ ? weights_->maddubs_safe() : sparse_->shape().maddubs_safe);
  }
  Napi::Value BlockSparsity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), block_sparsity_); }

  // explain(n, h, w, narrow, threads) -> { kernel, blockSparsity, predictedSparseUs?, predictedDenseUs?,
  //                                       measuredSparseUs?, measuredDenseUs?, reason }
  Napi::Value Explain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const conv::ConvLayout l = layout(info, 0);
    const bool narrow = boolean(info, 3, "narrow");
    const int threads = info.Length() > 4 ? threads_arg(info, 4) : 1;
    Napi::Object out = Napi::Object::New(env);
    out.Set("blockSparsity", block_sparsity_);
    bool sparse = false;
    std::string reason = dense_reason_;
    if (sparse_) {
      const sparse_fc::Prediction p = sparse_->predict(l, narrow);
      sparse = sparse_->mode() == QConvMode::sparse || p.use_sparse;
      out.Set("predictedSparseUs", p.sparse_s * 1e6);
      out.Set("predictedDenseUs", p.dense_s * 1e6);
      char buf[240];
      std::snprintf(buf, sizeof buf, "M = %zu pixels, %s activations, block sparsity %.1f%%: predicted sparse %.1f us, dense %.1f us",
                    (size_t)l.n * l.out_pixels(), narrow || sparse_->shape().maddubs_safe ? "7-bit" : "8-bit", block_sparsity_ * 100,
                    p.sparse_s * 1e6, p.dense_s * 1e6);
      reason = sparse_->mode() == QConvMode::sparse ? std::string("mode 'sparse' (") + buf + ")"
                                                    : std::string(buf) + (sparse ? " -> sparse" : " -> dense (sparse only when predicted faster by 4%)");
      const QConvSparse::Measured m = sparse_->measured(l, narrow, threads);
      if (m.known) {
        sparse = m.sparse;
        out.Set("measuredSparseUs", m.r.second_s * 1e6);
        out.Set("measuredDenseUs", m.r.first_s * 1e6);
        std::snprintf(buf, sizeof buf, "; measured on the first call of this shape: sparse %.1f us, dense %.1f us -> %s",
                      m.r.second_s * 1e6, m.r.first_s * 1e6, sparse ? "sparse" : "dense");
        reason += buf;
      } else if (m.close) {
        reason += "; too close to call: the first call of this shape times both kernels";
      }
    } else if (dense_reason_.empty()) {
      reason = "mode 'dense'";
    }
    if (dwq_ && !sparse) {
      out.Set("kernel", "depthwise");
      out.Set("reason", "depthwise (groups = channels, " + std::to_string(geo_.kh) + "x" + std::to_string(geo_.kw) + ", stride " +
                            std::to_string(geo_.stride_h) + "): the dedicated depthwise kernel (exact)");
      return out;
    }
    out.Set("kernel", sparse ? "sparse" : "dense");
    out.Set("reason", reason);
    return out;
  }

  conv::ConvLayout layout(const Napi::CallbackInfo& info, size_t i) { return conv_layout_arg(info, i, geo_); }

  // outputShape(n, h, w) -> [n, cout, oh, ow]
  Napi::Value OutShape(const Napi::CallbackInfo& info) {
    return output_shape(info.Env(), layout(info, 0));
  }

  // forward(x: Uint8Array, n, h, w, xZeroPoint, outType (0 s32, 1 u8, 2 s8, 3 f32), out, xScale,
  //         weightScales: Float32Array (1 or cout), outScale, outZeroPoint, qmin, qmax,
  //         bias: Float32Array|Int32Array|null, relu, threads, exactOnly, async)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ArrayArg x = array_arg(env, info[0], {napi_uint8_array}, "x");
    conv::ConvLayout l = layout(info, 1);
    const int32_t x_zp = (int32_t)integer(info, 4, "zeroPoint", 0, 255);
    const OutType type = (OutType)integer(info, 5, "outType", 0, 3);
    ops::OutputSpec spec;
    spec.type = type;
    spec.a_scale = type == OutType::s32 ? 1.0f : scale(info, 7, "scale");
    const size_t cout = (size_t)geo_.cout;
    const OwnedCopy<float> ws = copy_of<float>(array_arg(env, info[8], {napi_float32_array}, "weightScales"));
    if (ws.length != 1 && ws.length != cout) length_error(env, "weightScales", ws.length, cout, "outChannels or 1");
    spec.w_scales = ws.data;
    spec.w_scale_count = ws.length;
    quantized_output_args(info, 9, &spec);
    const ArrayArg bias = optional_array_arg(env, info[13], {napi_float32_array, napi_int32_array}, "bias");
    if (bias.present() && bias.length != cout) length_error(env, "bias", bias.length, cout, "outChannels");
    spec.relu = boolean(info, 14, "relu");
    const int threads = threads_arg(info, 15);
    gemm::Options opt;
    opt.exact_only = boolean(info, 16, "exactOnly");
    const bool async = boolean(info, 17, "async");
    if (x.length != l.n * (size_t)geo_.cin * l.h * l.w) length_error(env, "x", x.length, l.n * (size_t)geo_.cin * l.h * l.w, "n * inChannels * h * w");
    static const napi_typedarray_type out_types[] = {napi_int32_array, napi_uint8_array, napi_int8_array, napi_float32_array};
    const ArrayArg y = array_arg(env, info[6], {out_types[(int)type]}, "out");
    if (y.length != l.out_floats()) length_error(env, "out", y.length, l.out_floats(), "n * outChannels * oh * ow");

    auto call = std::make_unique<Call>(env, async);
    // the activations steer the kernel (the 7-bit fast path is chosen by their range): copied when shared
    const uint8_t* xp = call->checked<uint8_t>(x);
    const void* bias_values = call->input<uint8_t>(bias);
    if (bias.type == napi_int32_array)
      spec.bias_s32 = static_cast<const int32_t*>(bias_values);
    else
      spec.bias_f32 = static_cast<const float*>(bias_values);
    void* y_ptr = call->single_output<uint8_t>(y, true);
    auto folded = std::make_shared<ops::FoldedOutput>(native_section(env, [&] { return ops::fold_output(spec, cout); }));
    const gemm::Output g = folded->output(y_ptr, 0);
    conv::QConvOutput out;
    out.type = g.type;
    out.y = y_ptr;
    out.scale = g.scale;
    out.scale_per_channel = g.scale_per_channel;
    out.bias_f32 = g.bias_f32;
    out.bias_s32 = g.bias_s32;
    out.out_zp = g.out_zp;
    out.qmin = g.qmin;
    out.qmax = g.qmax;
    out.relu = g.relu;
    const gemm::GemmU8S8Fn fn = gemm_kernels().gemm_u8s8;
    // the direct kernel when this CPU has one and the weights were packed for it (the active ISA
    // may have been lowered since: then im2col + the GEMM of that level)
    const conv::QConvDirectFn direct = !weights_ || weights_->direct.empty() ? nullptr : qconv_kernels().qconv_u8s8_direct;
    auto wts = weights_;
    auto lay = std::make_shared<conv::ConvLayout>(std::move(l));
    QConvSparse::Choice choice;
    if (sparse_) choice = sparse_->choose(*lay, xp, x.length, threads);
    auto sp = sparse_;
    auto dwq = dwq_;
    auto work = [=] {
      (void)folded;  // owns what out points into
      if (dwq && !choice.sparse && !choice.trial_needed) {
        const conv::DepthwiseU8Fn dfn = conv::depthwise_kernels(active_isa()).u8s8;
        const size_t planes = (size_t)lay->n * lay->geo.cout;
        parallel_for((size_t)threads, threads, [&](size_t t) {
          dfn(*lay, xp, x_zp, dwq->data(), out, planes * t / threads, planes * (t + 1) / threads);
        });
        return;
      }
      auto sparse = [&] { sp->run(*lay, xp, x_zp, out, threads); };
      auto dense = [&] {
        const conv::QConvPlan plan = conv::plan_qconv(*lay, threads, direct != nullptr);
        if (direct)
          parallel_for(plan.tasks, threads, [&](size_t t) { direct(*wts, *lay, plan, xp, x_zp, out, opt, t); });
        else
          parallel_for(plan.tasks, threads, [&](size_t t) { conv::qconv_u8s8_task(fn, *wts, *lay, plan, xp, x_zp, out, opt, t); });
      };
      // (both kernels write the same bits, so the trial leaves the right output either way)
      if (choice.trial_needed)
        sp->remember(choice.key, ops::run_trial(dense, sparse, choice.rounds, choice.warm));
      else if (choice.sparse)
        sparse();
      else
        dense();
    };
    return Call::run(std::move(call), std::move(work), info[6]);
  }

  conv::ConvGeometry geo_;
  std::shared_ptr<conv::QConvWeights> weights_;  // null in mode 'sparse'
  std::shared_ptr<QConvSparse> sparse_;          // null where only the dense kernel can run
  std::shared_ptr<std::vector<float>> dwq_;      // depthwise layers: w - w_zp as floats [c][k][k]
  std::string dense_reason_;                     // auto without a sparse side: why
  double block_sparsity_ = 0;                    // 1x1 layers; 0 otherwise
  int64_t reported_ = 0;
};

}  // namespace

void register_qconv(Napi::Env env, Napi::Object exports) { exports.Set("QConvLayer", QConvLayer::Define(env)); }

}  // namespace napi
}  // namespace lowbit

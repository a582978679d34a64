// The int8 GEMM binding: PackedLinear (packed weights, owned natively, reported to V8 as external
// memory) and its products, on the dense GEMM or the sparse FC kernel (mode: auto asks the
// performance model of ops/sparse_fc_model.h per call; both give bit-identical results).
//
// Arguments arrive validated and named by lib/gemm.ts; the checks here only guarantee that a direct
// call with bad arguments throws instead of reading or writing out of bounds.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/residual.h"
#include "kernels/quant/quant.h"
#include "ops/sparse_fc_model.h"
#include "napi/args.h"
#include "napi/call.h"
#include "ops/gemm_split.h"
#include "ops/linear_choice.h"
#include "ops/linear_dynamic.h"
#include "ops/output_pipeline.h"
#include "napi/exports.h"
#include "ops/kernel_trial.h"
#include "napi/sparse_linear.h"

namespace lowbit {
namespace napi {
namespace {

using gemm::OutType;

std::string str(size_t v) { return std::to_string(v); }

[[noreturn]] void length_error(Napi::Env env, const char* arg, size_t got, size_t want, const std::string& why) {
  throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                    std::string(arg) + ".length must be at least " + str(want) + " (" + why + "), got " + str(got));
}

// Which kernels a layer may run (the JavaScript `mode` option, by index).
enum class Mode : int { auto_ = 0, sparse = 1, dense = 2 };

using ops::kLinearMinAutoSparsity;
using ops::kLinearTrialBand;

class PackedLinear : public Napi::ObjectWrap<PackedLinear> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PackedLinear",
                       {InstanceAccessor<&PackedLinear::K>("k"), InstanceAccessor<&PackedLinear::N>("n"),
                        InstanceAccessor<&PackedLinear::Bytes>("byteLength"),
                        InstanceAccessor<&PackedLinear::FastPath>("fastPath"),
                        InstanceAccessor<&PackedLinear::ResidualDensity>("residualDensity"),
                        InstanceAccessor<&PackedLinear::ZeroPoints>("zeroPoints"),
                        InstanceAccessor<&PackedLinear::SparseKept>("sparseKept"),
                        InstanceAccessor<&PackedLinear::BlockSparsity>("blockSparsity"),
                        InstanceMethod<&PackedLinear::Explain>("explain"),
                        InstanceMethod<&PackedLinear::Serialize>("serialize"),
                        InstanceMethod<&PackedLinear::Gemm>("gemm"),
                        InstanceMethod<&PackedLinear::Dynamic>("dynamic")});
  }

  // new PackedLinear('int8', weights: Int8Array, k, n, transposed, zeroPoints: Int32Array, perChannel, mode, residual?)
  // new PackedLinear('bytes', bytes: Uint8Array, mode, residual?)
  // mode: 0 auto (dense, plus sparse weights where the model says they can win), 1 sparse (sparse
  // weights only), 2 dense (dense only). Sparse needs every weight zero point to be 0.
  explicit PackedLinear(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PackedLinear>(info) {
    native_section(info.Env(), [&] { init(info); });  // out of memory: a coded RangeError
  }

  void init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string from = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    gemm::PackedB dense;
    std::vector<int8_t> wnk;  // N x K, what the sparse side packs and counts
    if (from == "int8") {
      const OwnedCopy<int8_t> w = copy_of<int8_t>(array_arg(env, info[1], {napi_int8_array}, "weights"));
      const size_t K = (size_t)integer(info, 2, "k", 1, 1 << 30), N = (size_t)integer(info, 3, "n", 1, 1 << 30);
      const bool transposed = boolean(info, 4, "transposed");
      const OwnedCopy<int32_t> zp = copy_of<int32_t>(array_arg(env, info[5], {napi_int32_array}, "zeroPoints"));
      const bool per_channel = boolean(info, 6, "perChannel");
      mode_ = (Mode)integer(info, 7, "mode", 0, 2);
      split_ = info[8].IsUndefined() ? 0 : (int)integer(info, 8, "residual", 0, 2);
      if (w.length != K * N) length_error(env, "weights", w.length, K * N, "k * n");
      if (zp.length != (per_channel ? N : 1)) length_error(env, "zeroPoints", zp.length, per_channel ? N : 1, "n or 1");
      for (size_t i = 0; i < zp.length; i++) {
        if (zp.data[i] < -128 || zp.data[i] > 127) {
          throw_range_error(env, "ERR_LOWBIT_INVALID_ZERO_POINT", "zeroPoints[" + str(i) + "] must be in [-128, 127], got " + std::to_string(zp.data[i]));
        }
      }
      if (transposed) {
        wnk.assign(w.data, w.data + K * N);
      } else {
        wnk.resize(K * N);
        for (size_t k = 0; k < K; k++)
          for (size_t n = 0; n < N; n++) wnk[n * K + k] = w.data[k * N + n];
      }
      if (mode_ != Mode::sparse) dense = gemm::pack_b(wnk.data(), K, true, K, N, zp.data, per_channel);
      zp_per_channel_ = per_channel;
      symmetric_ = std::all_of(zp.data, zp.data + zp.length, [](int32_t z) { return z == 0; });
      K_ = K, N_ = N;
    } else if (from == "bytes") {
      const OwnedCopy<uint8_t> bytes = copy_of<uint8_t>(array_arg(env, info[1], {napi_uint8_array}, "bytes"));
      mode_ = (Mode)integer(info, 2, "mode", 0, 2);
      split_ = info[3].IsUndefined() ? 0 : (int)integer(info, 3, "residual", 0, 2);
      if (!gemm::deserialize(bytes.data, bytes.length, &dense)) {
        throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "bytes are not a serialized lowbit packed weight matrix (bad header, version or size)");
      }
      wnk = weights_nk(dense);
      zp_per_channel_ = dense.b_zp_per_channel;
      symmetric_ = dense.b_zp_all_zero;
      K_ = dense.K, N_ = dense.N;
    } else {
      throw_type_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "PackedLinear: source must be 'int8' or 'bytes'");
    }
    if (mode_ == Mode::sparse && !symmetric_) {
      throw_range_error(env, "ERR_LOWBIT_INVALID_ZERO_POINT",
                        "mode 'sparse' needs weights without zero point (every weight zero point 0, symmetric as fromFloat32 makes them)");
    }
    shape_ = sparse_fc::shape_of(wnk.data(), N_, K_);
    if (mode_ != Mode::sparse && !dense.maddubs_safe) {
      // the residual split where the model says it pays (ops/linear_choice.h)
      const double density = (double)gemm::residual_count(wnk.data(), K_, N_) / ((double)K_ * (double)N_);
      if (split_ == 1 || (split_ == 0 && ops::residual_split_pays(active_isa(), dense.maddubs_safe, density, N_, K_, &split_reason_))) {
        auto res = std::make_shared<gemm::Residual>();
        std::vector<int8_t> d(K_ * N_);
        gemm::split_for_maddubs(wnk.data(), K_, N_, d.data(), res.get());
        const std::vector<int32_t> zp(dense.b_zp.begin(), dense.b_zp.end());
        dense = gemm::pack_b(d.data(), K_, true, K_, N_, zp.data(), true);
        dense.b_zp_per_channel = zp_per_channel_;  // as given (serialize writes the original form)
        residual_ = res;
      }
    }
    if (mode_ != Mode::sparse) packed_ = std::make_shared<gemm::PackedB>(std::move(dense));
    bool keep_sparse = mode_ == Mode::sparse;
    if (mode_ == Mode::auto_ && symmetric_) {
      char buf[200];
      if (shape_.block_sparsity() < kLinearMinAutoSparsity) {
        std::snprintf(buf, sizeof buf, "block sparsity %.1f%% < %.0f%%: the sparse kernel cannot win, sparse weights not packed",
                      shape_.block_sparsity() * 100, kLinearMinAutoSparsity * 100);
        not_kept_ = buf;
      } else if (!sparse_fc::model_for(active_isa()).sparse_can_win(shape_, kLinearTrialBand)) {
        std::snprintf(buf, sizeof buf, "block sparsity %.1f%%: sparse predicted slower at every batch size, sparse weights not kept",
                      shape_.block_sparsity() * 100);
        not_kept_ = buf;
      } else {
        keep_sparse = true;
      }
    }
    if (keep_sparse) sparse_ = std::make_shared<sparse_fc::SparseFcInt8Weights>(sparse_fc::pack_sparse_fc_int8(wnk.data(), N_, K_));
    // forward's per-row correction term, Σ_k (w - b_zp) per output, for each kernel held
    if (packed_) {
      auto c = std::make_shared<std::vector<uint32_t>>(N_);
      for (size_t n = 0; n < N_; n++) {
        (*c)[n] = (uint32_t)packed_->col_sum[n] - (uint32_t)K_ * (uint32_t)packed_->b_zp[n];
        if (residual_) (*c)[n] += (uint32_t)residual_->col_value_sum[n];  // the split's other part
      }
      colterm_dense_ = c;
    }
    if (sparse_) {
      auto c = std::make_shared<std::vector<uint32_t>>(N_);
      for (size_t n = 0; n < N_; n++) (*c)[n] = (uint32_t)sparse_->row_sum[n];
      colterm_sparse_ = c;
    }
    reported_ = (int64_t)((packed_ ? packed_->memory_bytes() : 0) + (sparse_ ? sparse_->memory_bytes() : 0) +
                          (residual_ ? residual_->memory_bytes() : 0));
    adjust_external_memory(env, reported_);
  }

  void Finalize(Napi::Env env) override { adjust_external_memory(env, -reported_); }

 private:
  Napi::Value K(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)K_); }
  Napi::Value N(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)N_); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)reported_); }
  Napi::Value FastPath(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fast_any_input()); }
  Napi::Value ResidualDensity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), residual_ ? residual_->density() : 0.0); }
  // the dense GEMM's fast path is exact for any activations: safe weights, or the residual split
  bool fast_any_input() const { return shape_.maddubs_safe || (bool)residual_; }
  gemm::Options options_with_residual() const {
    gemm::Options o;
    if (residual_) o.residual = {residual_->col_start.data(), residual_->k_index.data(), residual_->value.data(), residual_->col_value_sum.data()};
    return o;
  }
  // The packed dense weights as given (the split undone): what serialize writes.
  gemm::PackedB original_packed() const {
    std::vector<int8_t> w = weights_nk(*packed_);
    for (size_t n = 0; n < N_; n++)
      for (uint32_t e = residual_->col_start[n]; e < residual_->col_start[n + 1]; e++)
        w[n * K_ + residual_->k_index[e]] = (int8_t)(w[n * K_ + residual_->k_index[e]] + residual_->value[e]);
    return gemm::pack_b(w.data(), K_, true, K_, N_, packed_->b_zp.data(), packed_->b_zp_per_channel);
  }
  Napi::Value SparseKept(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), (bool)sparse_); }
  Napi::Value BlockSparsity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), shape_.block_sparsity()); }

  Napi::Value ZeroPoints(const Napi::CallbackInfo& info) {
    const size_t count = zp_per_channel_ ? N_ : 1;
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), count);
    if (packed_)
      std::copy(packed_->b_zp.begin(), packed_->b_zp.begin() + count, out.Data());
    else
      std::fill(out.Data(), out.Data() + count, 0);  // sparse only: symmetric weights
    return out;
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    // The dense packed form is the portable one; a sparse-only layer rebuilds it for the moment.
    std::vector<uint8_t> bytes;
    if (packed_ && residual_) {
      bytes = gemm::serialize(original_packed());
    } else if (packed_) {
      bytes = gemm::serialize(*packed_);
    } else {
      const std::vector<int8_t> w = weights_nk(*sparse_);
      const std::vector<int32_t> zeros(N_, 0);
      bytes = gemm::serialize(gemm::pack_b(w.data(), K_, true, K_, N_, zeros.data(), zp_per_channel_));
    }
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), bytes.size());
    std::copy(bytes.begin(), bytes.end(), out.Data());
    return out;
  }

  // The kernel of a call (ops/linear_choice.h).
  using Choice = ops::LinearChoice;
  template <typename Scan>
  Choice choose(size_t M, int narrow, int threads, Scan&& scan) const {
    return ops::choose_linear_kernel(shape_, (bool)sparse_, (bool)packed_, *trials_, M, narrow, threads, scan);
  }

  // explain(m, narrow, threads) -> { kernel, blockSparsity, predictedSparseUs?, predictedDenseUs?,
  //                                 measuredSparseUs?, measuredDenseUs?, reason }
  Napi::Value Explain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t M = (size_t)integer(info, 0, "m", 1, 1ll << 40);
    const bool narrow = boolean(info, 1, "narrow") || fast_any_input();
    const int threads = info[2].IsUndefined() ? 1 : threads_arg(info, 2);
    Napi::Object out = Napi::Object::New(env);
    out.Set("blockSparsity", shape_.block_sparsity());
    sparse_fc::Prediction p;
    if (symmetric_) {
      p = sparse_fc::model_for(active_isa()).predict(shape_, M, narrow);
      out.Set("predictedSparseUs", p.sparse_s * 1e6);
      out.Set("predictedDenseUs", p.dense_s * 1e6);
    }
    char buf[320];
    std::snprintf(buf, sizeof buf, "m=%zu, %s activations, block sparsity %.1f%%: predicted sparse %.1f us, dense %.1f us",
                  M, narrow ? "7-bit" : "8-bit", shape_.block_sparsity() * 100, p.sparse_s * 1e6, p.dense_s * 1e6);
    std::string reason;
    bool sparse = false;
    if (mode_ == Mode::dense) {
      reason = std::string("mode 'dense'") + (symmetric_ ? std::string(" (") + buf + ")" : "");
    } else if (mode_ == Mode::sparse) {
      sparse = true;
      reason = std::string("mode 'sparse' (") + buf + ")";
    } else if (!symmetric_) {
      reason = "the weights have nonzero zero points: the sparse kernel needs symmetric weights";
    } else if (!sparse_) {
      reason = not_kept_;
    } else {
      const Choice c = choose(M, narrow ? 1 : 0, threads, [] { return false; });
      sparse = c.sparse;
      reason = buf;
      if (c.measured) {
        out.Set("measuredSparseUs", c.trial.second_s * 1e6);
        out.Set("measuredDenseUs", c.trial.first_s * 1e6);
        std::snprintf(buf, sizeof buf, "; within %.2fx: measured on the first call of this batch size: sparse %.1f us, dense %.1f us -> %s%s",
                      kLinearTrialBand, c.trial.second_s * 1e6, c.trial.first_s * 1e6, sparse ? "sparse" : "dense",
                      sparse ? "" : " (sparse only when measured faster by 4%)");
        reason += buf;
      } else if (c.trial_needed) {
        std::snprintf(buf, sizeof buf, "; within %.2fx: the first call of this batch size times both kernels and keeps the faster", kLinearTrialBand);
        reason += buf;
      } else {
        reason += sparse ? " -> sparse" : " -> dense (sparse only when predicted faster by 4%)";
      }
    }
    if (residual_) {
      char rb[120];
      std::snprintf(rb, sizeof rb, "; dense weights split: %.2f%% in the residual, the fast kernel for any activations", residual_->density() * 100);
      reason += rb;
      if (!split_reason_.empty()) reason += " (" + split_reason_ + ")";
    } else if (!split_reason_.empty()) {
      reason += "; " + split_reason_;
    }
    out.Set("kernel", sparse ? "sparse" : "dense");
    out.Set("reason", reason);
    return out;
  }

  // Weight scales (1 or N) for a call: checks the length; the values are copied.
  std::vector<float> weight_scales(const Napi::CallbackInfo& info, size_t i) {
    const ArrayArg s = array_arg(info.Env(), info[i], {napi_float32_array}, "weightScales");
    if (s.length != 1 && s.length != N_) length_error(info.Env(), "weightScales", s.length, N_, "n or 1");
    const float* p = reinterpret_cast<const float*>(s.data);
    return std::vector<float>(p, p + s.length);
  }

  // gemm(a, lda, m, aZp, outType, out, ldc, aScale, weightScales, outScale, outZp, qmin, qmax,
  //      bias|null, relu, threads, exactOnly, async)
  Napi::Value Gemm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const struct { size_t K, N; } B = {K_, N_};
    const ArrayArg a = array_arg(env, info[0], {napi_uint8_array, napi_int8_array}, "a");
    const bool a_signed = a.type == napi_int8_array;
    const size_t lda = (size_t)integer(info, 1, "lda", 1, 1ll << 40);
    const size_t M = (size_t)integer(info, 2, "m", 1, 1ll << 40);
    const int32_t a_zp = (int32_t)integer(info, 3, "aZeroPoint", a_signed ? -128 : 0, a_signed ? 127 : 255);
    const OutType type = (OutType)integer(info, 4, "outType", 0, 3);
    const size_t ldc = (size_t)integer(info, 6, "ldc", 1, 1ll << 40);
    ops::OutputSpec spec;
    spec.type = type;
    spec.a_scale = type == OutType::s32 ? 1.0f : scale(info, 7, "aScale");
    const std::vector<float> w_scales = weight_scales(info, 8);
    spec.w_scales = w_scales.data();
    spec.w_scale_count = w_scales.size();
    quantized_output_args(info, 9, &spec);
    // bias: Float32Array (real units), Int32Array (accumulator units, added to the exact sum) or null
    const ArrayArg bias = optional_array_arg(env, info[13], {napi_float32_array, napi_int32_array}, "bias");
    if (bias.present() && bias.length != B.N) length_error(env, "bias", bias.length, B.N, "n");
    spec.relu = boolean(info, 14, "relu");
    const int threads = threads_arg(info, 15);
    gemm::Options opt = options_with_residual();
    opt.exact_only = boolean(info, 16, "exactOnly");
    const bool async = boolean(info, 17, "async");
    if (ldc < B.N) length_error(env, "ldc", ldc, B.N, "n");
    if (lda < B.K) length_error(env, "lda", lda, B.K, "k");
    if (a.length < (M - 1) * lda + B.K) length_error(env, "a", a.length, (M - 1) * lda + B.K, "(m - 1) * lda + k");
    static const napi_typedarray_type out_types[] = {napi_int32_array, napi_uint8_array, napi_int8_array, napi_float32_array};
    const ArrayArg c = array_arg(env, info[5], {out_types[(int)type]}, "out");
    if (c.length < (M - 1) * ldc + B.N) length_error(env, "out", c.length, (M - 1) * ldc + B.N, "(m - 1) * ldc + n");

    auto call = std::make_unique<Call>(env, async);
    // the activations steer the kernel (the 7-bit fast path is chosen by their range): copied when shared
    const uint8_t* a_ptr = call->checked<uint8_t>(a);
    const float* bias_values = call->input<float>(bias);
    if (bias.type == napi_int32_array)
      spec.bias_s32 = reinterpret_cast<const int32_t*>(bias_values);
    else
      spec.bias_f32 = bias_values;
    void* c_ptr = call->single_output<uint8_t>(c, ldc == B.N && c.length == M * B.N);
    auto folded = std::make_shared<ops::FoldedOutput>(native_section(env, [&] { return ops::fold_output(spec, B.N); }));
    const gemm::Output out = folded->output(c_ptr, ldc);
    const GemmKernels& k = gemm_kernels();
    const gemm::PackedB* packed = packed_.get();
    // The sparse kernel's fast path needs no option: it runs only where the weights make it exact.
    const Choice ch = choose(M, fast_any_input() ? 1 : -1, threads, [&] { return activations_narrow(a_ptr, a_signed, lda, M, B.K); });
    const sparse_fc::SparseFcInt8Weights* sw = ch.sparse || ch.trial_needed ? sparse_.get() : nullptr;
    const SparseFcKernels& sk = sparse_fc_kernels();
    auto trials = trials_;
    call->hold(packed_);
    call->hold(sparse_);
    call->hold(residual_);
    auto work = [k, sk, packed, sw, a_ptr, lda, a_zp, a_signed, out, M, threads, opt, ch, trials, folded] {
      auto sparse = [&] { run_sparse_fc(sk, *sw, a_ptr, a_signed, lda, M, a_zp, out, threads); };
      auto dense = [&] {
        ops::run_gemm_split(M, packed->N, threads, [&](const gemm::Range& r) {
          if (a_signed)
            k.gemm_s8s8(reinterpret_cast<const int8_t*>(a_ptr), lda, a_zp, *packed, out, r, opt);
          else
            k.gemm_u8s8(a_ptr, lda, a_zp, *packed, out, r, opt);
        });
      };
      // (both kernels write the same bits, so the trial leaves the right output either way)
      if (ch.trial_needed)
        trials->put(ch.key, ops::run_trial(dense, sparse, ch.rounds, ch.warm));
      else if (ch.sparse)
        sparse();
      else
        dense();
    };
    return Call::run(std::move(call), std::move(work), info[5]);
  }

  // dynamic(x: Float32Array, ldx, m, perRow, reduceRange, weightScales, bias|null, relu, out, threads, async)
  // fp32 in, fp32 out: x is quantized to uint8 on the fly (ops/linear_dynamic.h).
  Napi::Value Dynamic(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const struct { size_t K, N; } B = {K_, N_};
    const ArrayArg x = array_arg(env, info[0], {napi_float32_array}, "x");
    const size_t ldx = (size_t)integer(info, 1, "ldx", 1, 1ll << 40);
    const size_t M = (size_t)integer(info, 2, "m", 1, 1ll << 40);
    const bool per_row = boolean(info, 3, "perRow");
    const bool reduce_range = boolean(info, 4, "reduceRange");
    auto ws = std::make_shared<std::vector<float>>(weight_scales(info, 5));
    const ArrayArg bias = optional_array_arg(env, info[6], {napi_float32_array}, "bias");
    if (bias.present() && bias.length != B.N) length_error(env, "bias", bias.length, B.N, "n");
    const bool relu = boolean(info, 7, "relu");
    const ArrayArg y = array_arg(env, info[8], {napi_float32_array}, "out");
    const int threads = threads_arg(info, 9);
    const bool async = boolean(info, 10, "async");
    if (ldx < B.K) length_error(env, "ldx", ldx, B.K, "k");
    if (x.length < (M - 1) * ldx + B.K) length_error(env, "x", x.length, (M - 1) * ldx + B.K, "(m - 1) * ldx + k");
    if (y.length < M * B.N) length_error(env, "out", y.length, M * B.N, "m * n");

    auto call = std::make_unique<Call>(env, async);
    ops::DynamicLinear d;
    d.x = call->input<float>(x);
    d.ldx = ldx, d.M = M, d.K = B.K, d.N = B.N;
    d.per_row = per_row;
    d.reduce_range = reduce_range;
    d.w_scales = ws->data();
    d.w_scale_count = ws->size();
    d.bias = call->input<float>(bias);
    d.relu = relu;
    d.y = call->single_output<float>(y, y.length == M * B.N);
    std::shared_ptr<gemm::PackedB> keep = packed_;
    // 7-bit activations (reduceRange) let the dense GEMM take its fast path.
    const Choice ch = choose(M, reduce_range || fast_any_input() ? 1 : 0, threads, [] { return false; });
    std::shared_ptr<gemm::Residual> res = residual_;
    const gemm::Options dense_opt = options_with_residual();
    std::shared_ptr<sparse_fc::SparseFcInt8Weights> sw = ch.sparse || ch.trial_needed ? sparse_ : nullptr;
    std::shared_ptr<const std::vector<uint32_t>> colterm = sw ? colterm_sparse_ : colterm_dense_;
    d.colterm = colterm->data();
    auto trials = trials_;
    const QuantKernels& qk = quant_kernels();
    const GemmKernels& gk = gemm_kernels();
    const SparseFcKernels& sk = sparse_fc_kernels();
    auto work = [=] {
      const size_t K = B.K, N = B.N;
      // The exact product of the quantized rows, on the kernel chosen above.
      auto product = [&](const uint8_t* a, int32_t a_zp, const gemm::Output& out) {
        auto sparse = [&] { run_sparse_fc(sk, *sw, a, false, K, M, a_zp, out, threads); };
        auto dense = [&] { ops::run_gemm_split(M, N, threads, [&](const gemm::Range& r) { gk.gemm_u8s8(a, K, a_zp, *keep, out, r, dense_opt); }); };
        if (ch.trial_needed)
          trials->put(ch.key, ops::run_trial(dense, sparse, ch.rounds, ch.warm));  // the same bits either way
        else if (ch.sparse)
          sparse();
        else
          dense();
      };
      (void)ws;
      (void)colterm;
      (void)res;
      const int64_t bad = ops::linear_dynamic(qk, d, product);
      if (bad >= 0) {
        bool nan = false;
        for (size_t k = 0; k < K; k++) nan = nan || d.x[(size_t)bad * d.ldx + k] != d.x[(size_t)bad * d.ldx + k];
        throw KernelError{true, "ERR_LOWBIT_NOT_FINITE", "x must be finite: row " + std::to_string(bad) + (nan ? " contains NaN" : " contains Infinity")};
      }
    };
    return Call::run(std::move(call), std::move(work), info[8]);
  }

  size_t K_ = 0, N_ = 0;
  Mode mode_ = Mode::auto_;
  int split_ = 0;  // the residual split: 0 auto (the model), 1 always, 2 never
  std::string split_reason_;  // auto: the model's prediction for the split (explain)
  bool symmetric_ = true;        // every weight zero point is 0 (the sparse kernel applies)
  bool zp_per_channel_ = false;  // how the zero points were given (kept for serialize)
  std::shared_ptr<gemm::PackedB> packed_;                    // dense; null in mode sparse
  std::shared_ptr<sparse_fc::SparseFcInt8Weights> sparse_;  // null where not kept (mode dense, auto: not_kept_)
  std::shared_ptr<gemm::Residual> residual_;                // the split's residual (packed_ is then its dense part)
  sparse_fc::SparseShape shape_;                            // counts of the weights, in every mode
  std::string not_kept_;                                    // why auto keeps no sparse weights
  std::shared_ptr<ops::TrialCache> trials_ = std::make_shared<ops::TrialCache>();  // auto: measured close calls
  std::shared_ptr<const std::vector<uint32_t>> colterm_dense_, colterm_sparse_;  // see init
  int64_t reported_ = 0;
};

// quantizeWeights(w: Float32Array, k, n, transposed, perChannel) -> { weights: Int8Array, scales: Float32Array }
Napi::Value QuantizeWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const OwnedCopy<float> w = copy_of<float>(array_arg(env, info[0], {napi_float32_array}, "weights"));
  const size_t K = (size_t)integer(info, 1, "k", 1, 1 << 30), N = (size_t)integer(info, 2, "n", 1, 1 << 30);
  const bool transposed = boolean(info, 3, "transposed"), per_channel = boolean(info, 4, "perChannel");
  if (w.length != K * N) length_error(env, "weights", w.length, K * N, "k * n");
  for (size_t i = 0; i < w.length; i++) {
    if (!std::isfinite(w.data[i])) {
      throw_range_error(env, "ERR_LOWBIT_NOT_FINITE", "weights must be finite: weights[" + str(i) + "] is " + std::to_string(w.data[i]));
    }
  }
  Napi::Int8Array q = Napi::Int8Array::New(env, K * N);
  Napi::Float32Array s = Napi::Float32Array::New(env, per_channel ? N : 1);
  quant::quantize_weights_symmetric(w.data, K, N, transposed, per_channel, q.Data(), s.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("weights", q);
  out.Set("scales", s);
  return out;
}

}  // namespace

void register_gemm_q4(Napi::Env env, Napi::Object exports);  // gemm_q4.cc

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("PackedLinear", PackedLinear::Define(env));
  register_gemm_q4(env, exports);
  exports.Set("quantizeWeights", Napi::Function::New(env, QuantizeWeights, "quantizeWeights"));
}

}  // namespace napi
}  // namespace lowbit

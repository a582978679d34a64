// QuantizedLinear with 4-bit weights (kernels/gemm/q4.h, ops/linear_q4.h): PackedLinear4, the
// same call surface as PackedLinear (gemm.cc) for the outputs that exist with group scales (fp32,
// requantized uint8/int8, forward), so that lib/gemm.ts drives both through one class.
//
// Arguments arrive validated and named by lib/gemm.ts; the checks here only guarantee that a direct
// call with bad arguments throws instead of reading or writing out of bounds.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/gemm/q4.h"
#include "napi/args.h"
#include "napi/call.h"
#include "napi/exports.h"
#include "ops/linear_q4.h"
#include "ops/output_pipeline.h"

namespace lowbit {
namespace napi {
namespace {

using gemm::OutType;

[[noreturn]] void q4_length_error(Napi::Env env, const char* arg, size_t got, size_t want, const std::string& why) {
  throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                    std::string(arg) + ".length must be at least " + std::to_string(want) + " (" + why + "), got " + std::to_string(got));
}

class PackedLinear4 : public Napi::ObjectWrap<PackedLinear4> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PackedLinear4",
                       {InstanceAccessor<&PackedLinear4::K>("k"), InstanceAccessor<&PackedLinear4::N>("n"),
                        InstanceAccessor<&PackedLinear4::Bytes>("byteLength"),
                        InstanceAccessor<&PackedLinear4::Group>("groupSize"),
                        InstanceAccessor<&PackedLinear4::Outliers>("outlierCount"),
                        InstanceMethod<&PackedLinear4::Serialize>("serialize"),
                        InstanceMethod<&PackedLinear4::Gemm>("gemm"),
                        InstanceMethod<&PackedLinear4::Dynamic>("dynamic")});
  }

  // new PackedLinear4('float32', weights: Float32Array, k, n, transposed, group (0: per channel),
  //                   outlierFraction, outlierThreshold (0: use the fraction))
  // new PackedLinear4('bytes', bytes: Uint8Array)
  explicit PackedLinear4(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PackedLinear4>(info) {
    native_section(info.Env(), [&] { init(info); });
  }

  void init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string from = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    auto w = std::make_shared<gemm::Q4Weights>();
    if (from == "float32") {
      const OwnedCopy<float> f = copy_of<float>(array_arg(env, info[1], {napi_float32_array}, "weights"));
      const size_t K = (size_t)integer(info, 2, "k", 1, 1 << 30), N = (size_t)integer(info, 3, "n", 1, 1 << 30);
      const bool transposed = boolean(info, 4, "transposed");
      const int64_t group = integer(info, 5, "groupSize", 0, 128);
      if (group != 0 && group != 32 && group != 64 && group != 128)
        throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "groupSize must be 32, 64, 128 or 0 (per channel), got " + std::to_string(group));
      const double fraction = number(info, 6, "outliers"), threshold = number(info, 7, "outlierThreshold");
      if (!(fraction >= 0 && fraction <= 0.5)) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "outliers must be in [0, 0.5], got " + std::to_string(fraction));
      if (!(threshold >= 0) || !std::isfinite(threshold)) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "outlierThreshold must be finite and >= 0, got " + std::to_string(threshold));
      if (f.length != K * N) q4_length_error(env, "weights", f.length, K * N, "k * n");
      for (size_t i = 0; i < f.length; i++)
        if (!std::isfinite(f.data[i]))
          throw_range_error(env, "ERR_LOWBIT_NOT_FINITE", "weights must be finite: weights[" + std::to_string(i) + "] is " + std::to_string(f.data[i]));
      std::vector<float> nk;
      const float* src = f.data;
      if (!transposed) {  // K x N given: the quantizer takes N x K
        nk.resize(K * N);
        for (size_t k = 0; k < K; k++)
          for (size_t n = 0; n < N; n++) nk[n * K + k] = f.data[k * N + n];
        src = nk.data();
      }
      gemm::Q4Options o;
      o.group = (size_t)group;
      o.outlier_fraction = fraction;
      o.outlier_threshold = threshold;
      *w = gemm::quantize_q4(src, K, N, o);
    } else if (from == "bytes") {
      const OwnedCopy<uint8_t> bytes = copy_of<uint8_t>(array_arg(env, info[1], {napi_uint8_array}, "bytes"));
      if (!gemm::deserialize_q4(bytes.data, bytes.length, w.get()))
        throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "bytes are not serialized lowbit 4-bit weights (bad header, sizes, group, scales, padding or outliers)");
    } else {
      throw_type_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "PackedLinear4: source must be 'float32' or 'bytes'");
    }
    w_ = w;
    reported_ = (int64_t)w_->memory_bytes();
    adjust_external_memory(env, reported_);
  }

  void Finalize(Napi::Env env) override { adjust_external_memory(env, -reported_); }

 private:
  Napi::Value K(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_->K); }
  Napi::Value N(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_->N); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)reported_); }
  Napi::Value Group(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), w_->per_channel ? 0.0 : (double)w_->group); }
  Napi::Value Outliers(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_->out_v.size()); }

  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    const std::vector<uint8_t> bytes = gemm::serialize_q4(*w_);
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), bytes.size());
    std::copy(bytes.begin(), bytes.end(), out.Data());
    return out;
  }

  ops::Q4Product product(int threads) const {
    ops::Q4Product p;
    p.w = w_.get();
    p.fn = gemm::q4_kernel((int)active_isa());
    p.threads = threads;
    return p;
  }

  // gemm(a, lda, m, aZp, outType, out, ldc, aScale, weightScales (ignored: the groups hold theirs),
  //      outScale, outZp, qmin, qmax, bias|null, relu, threads, exactOnly (ignored), async)
  Napi::Value Gemm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t K = w_->K, N = w_->N;
    const ArrayArg a = array_arg(env, info[0], {napi_uint8_array, napi_int8_array}, "a");
    const bool a_signed = a.type == napi_int8_array;
    const size_t lda = (size_t)integer(info, 1, "lda", 1, 1ll << 40);
    const size_t M = (size_t)integer(info, 2, "m", 1, 1ll << 40);
    const int32_t a_zp = (int32_t)integer(info, 3, "aZeroPoint", a_signed ? -128 : 0, a_signed ? 127 : 255);
    const OutType type = (OutType)integer(info, 4, "outType", 0, 3);
    if (type == OutType::s32)
      throw_type_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "an int32 output is not defined for 4-bit weights (each group's scale applies inside the sum): use matmulFloat or matmulQuantized");
    const size_t ldc = (size_t)integer(info, 6, "ldc", 1, 1ll << 40);
    ops::OutputSpec spec;
    spec.type = type;
    spec.a_scale = scale(info, 7, "aScale");
    quantized_output_args(info, 9, &spec);
    const ArrayArg bias = optional_array_arg(env, info[13], {napi_float32_array}, "bias");
    if (bias.present() && bias.length != N) q4_length_error(env, "bias", bias.length, N, "n");
    const bool relu = boolean(info, 14, "relu");
    const int threads = threads_arg(info, 15);
    const bool async = boolean(info, 17, "async");
    if (ldc < N) q4_length_error(env, "ldc", ldc, N, "n");
    if (lda < K) q4_length_error(env, "lda", lda, K, "k");
    if (a.length < (M - 1) * lda + K) q4_length_error(env, "a", a.length, (M - 1) * lda + K, "(m - 1) * lda + k");
    static const napi_typedarray_type out_types[] = {napi_int32_array, napi_uint8_array, napi_int8_array, napi_float32_array};
    const ArrayArg c = array_arg(env, info[5], {out_types[(int)type]}, "out");
    if (c.length < (M - 1) * ldc + N) q4_length_error(env, "out", c.length, (M - 1) * ldc + N, "(m - 1) * ldc + n");

    auto call = std::make_unique<Call>(env, async);
    const uint8_t* a_ptr = call->input<uint8_t>(a);
    ops::Q4Output out;
    out.type = type;
    out.bias = call->input<float>(bias);
    out.relu = relu && type == OutType::f32;
    out.out_scale = spec.out_scale;
    out.out_zp = spec.out_zp;
    out.qmin = spec.qmin;
    out.qmax = spec.qmax;
    out.ldc = ldc;
    out.c = call->single_output<uint8_t>(c, ldc == N && c.length == M * N);
    call->hold(w_);
    const ops::Q4Product p = product(threads);
    const float a_scale = spec.a_scale;
    auto work = [p, a_ptr, a_signed, lda, M, a_zp, a_scale, out] { ops::linear_q4_gemm(p, a_ptr, a_signed, lda, M, a_zp, a_scale, out); };
    return Call::run(std::move(call), std::move(work), info[5]);
  }

  // dynamic(x: Float32Array, ldx, m, perRow, reduceRange, weightScales (ignored), bias|null, relu, out, threads, async)
  Napi::Value Dynamic(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t K = w_->K, N = w_->N;
    const ArrayArg x = array_arg(env, info[0], {napi_float32_array}, "x");
    const size_t ldx = (size_t)integer(info, 1, "ldx", 1, 1ll << 40);
    const size_t M = (size_t)integer(info, 2, "m", 1, 1ll << 40);
    const bool per_row = boolean(info, 3, "perRow");
    const bool reduce_range = boolean(info, 4, "reduceRange");
    const ArrayArg bias = optional_array_arg(env, info[6], {napi_float32_array}, "bias");
    if (bias.present() && bias.length != N) q4_length_error(env, "bias", bias.length, N, "n");
    const bool relu = boolean(info, 7, "relu");
    const ArrayArg y = array_arg(env, info[8], {napi_float32_array}, "out");
    const int threads = threads_arg(info, 9);
    const bool async = boolean(info, 10, "async");
    if (ldx < K) q4_length_error(env, "ldx", ldx, K, "k");
    if (x.length < (M - 1) * ldx + K) q4_length_error(env, "x", x.length, (M - 1) * ldx + K, "(m - 1) * ldx + k");
    if (y.length < M * N) q4_length_error(env, "out", y.length, M * N, "m * n");

    auto call = std::make_unique<Call>(env, async);
    const float* xp = call->input<float>(x);
    const float* bp = call->input<float>(bias);
    float* yp = call->single_output<float>(y, y.length == M * N);
    call->hold(w_);
    const ops::Q4Product p = product(threads);
    const QuantKernels& qk = quant_kernels();
    auto work = [=, &qk] {
      const int64_t bad = ops::linear_q4_forward(qk, p, xp, ldx, M, per_row, reduce_range, bp, relu, yp);
      if (bad >= 0) {
        bool nan = false;
        for (size_t k = 0; k < K; k++) nan = nan || xp[(size_t)bad * ldx + k] != xp[(size_t)bad * ldx + k];
        throw KernelError{true, "ERR_LOWBIT_NOT_FINITE", "x must be finite: row " + std::to_string(bad) + (nan ? " contains NaN" : " contains Infinity")};
      }
    };
    return Call::run(std::move(call), std::move(work), info[8]);
  }

  std::shared_ptr<gemm::Q4Weights> w_;
  int64_t reported_ = 0;
};

}  // namespace

void register_gemm_q4(Napi::Env env, Napi::Object exports) { exports.Set("PackedLinear4", PackedLinear4::Define(env)); }

}  // namespace napi
}  // namespace lowbit

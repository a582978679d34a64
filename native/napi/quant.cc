// quantize / dequantize / chooseQuantParams bindings (sync and Promise forms).
//
// Arguments arrive already validated and named by lib/quant.ts; the checks here only make sure a
// direct call with bad arguments throws rather than reads or writes out of bounds.
#include <string>

#include "cpu/dispatch.h"
#include "napi/args.h"
#include "napi/call.h"
#include "napi/exports.h"

namespace lowbit {
namespace napi {
namespace {

void check_same_length(Napi::Env env, size_t a, size_t b, const char* what) {
  if (a != b) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                      std::string(what) + ": output length " + std::to_string(b) + " must equal input length " +
                          std::to_string(a));
  }
}

void check_zero_point(Napi::Env env, int64_t zp, int64_t qmin, int64_t qmax) {
  if (qmin > qmax || zp < qmin || zp > qmax) {
    throw_range_error(env, "ERR_LOWBIT_INVALID_ZERO_POINT",
                      "zeroPoint must lie in [qmin, qmax] = [" + std::to_string(qmin) + ", " + std::to_string(qmax) +
                          "], got " + std::to_string(zp));
  }
}

// quantize(x: Float32Array, y: Uint8Array|Int8Array, scale, zeroPoint, qmin, qmax, async: boolean)
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ArrayArg x = array_arg(env, info[0], {napi_float32_array}, "x");
  const ArrayArg y = array_arg(env, info[1], {napi_uint8_array, napi_int8_array}, "out");
  const float s = scale(info, 2, "scale");
  const bool is_signed = y.type == napi_int8_array;
  const int64_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  const int32_t zp = (int32_t)integer(info, 3, "zeroPoint", lo, hi);
  const int32_t qmin = (int32_t)integer(info, 4, "qmin", lo, hi);
  const int32_t qmax = (int32_t)integer(info, 5, "qmax", lo, hi);
  check_zero_point(env, zp, qmin, qmax);
  const bool async = boolean(info, 6, "async");
  check_same_length(env, x.length, y.length, "quantize");
  auto call = std::make_unique<Call>(env, async);
  const float* xp = call->input<float>(x);
  uint8_t* yp = call->single_output<uint8_t>(y, true);
  const size_t n = x.length;
  const QuantKernels& k = quant_kernels();
  std::function<void()> work;
  if (is_signed)
    work = [k, xp, yp, n, s, zp, qmin, qmax] { k.quantize_s8(xp, reinterpret_cast<int8_t*>(yp), n, s, zp, qmin, qmax); };
  else
    work = [k, xp, yp, n, s, zp, qmin, qmax] { k.quantize_u8(xp, yp, n, s, zp, qmin, qmax); };
  return Call::run(std::move(call), std::move(work), info[1]);
}

// dequantize(q: Uint8Array|Int8Array, y: Float32Array, scale, zeroPoint, async: boolean)
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ArrayArg q = array_arg(env, info[0], {napi_uint8_array, napi_int8_array}, "q");
  const ArrayArg y = array_arg(env, info[1], {napi_float32_array}, "out");
  const float s = scale(info, 2, "scale");
  const bool is_signed = q.type == napi_int8_array;
  const int32_t zp = (int32_t)integer(info, 3, "zeroPoint", is_signed ? -128 : 0, is_signed ? 127 : 255);
  const bool async = boolean(info, 4, "async");
  check_same_length(env, q.length, y.length, "dequantize");
  auto call = std::make_unique<Call>(env, async);
  const uint8_t* qp = call->input<uint8_t>(q);
  float* yp = call->single_output<float>(y, true);
  const size_t n = q.length;
  const QuantKernels& k = quant_kernels();
  std::function<void()> work;
  if (is_signed)
    work = [k, qp, yp, n, s, zp] { k.dequantize_s8(reinterpret_cast<const int8_t*>(qp), yp, n, s, zp); };
  else
    work = [k, qp, yp, n, s, zp] { k.dequantize_u8(qp, yp, n, s, zp); };
  return Call::run(std::move(call), std::move(work), info[1]);
}

// chooseQuantParams(min, max, signed, symmetric, reduceRange) -> {scale, zeroPoint, qmin, qmax}
Napi::Value ChooseQuantParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double mn = number(info, 0, "min"), mx = number(info, 1, "max");
  if (!std::isfinite((float)mn) || !std::isfinite((float)mx) || mn > mx) {
    throw_range_error(env, "ERR_LOWBIT_INVALID_RANGE",
                      "min and max must be finite float32 values with min <= max, got [" + std::to_string(mn) + ", " +
                          std::to_string(mx) + "]");
  }
  const quant::QuantParams p = quant::choose_quant_params((float)mn, (float)mx, boolean(info, 2, "signed"),
                                                          boolean(info, 3, "symmetric"), boolean(info, 4, "reduceRange"));
  Napi::Object out = Napi::Object::New(env);
  out.Set("scale", p.scale);
  out.Set("zeroPoint", p.zero_point);
  out.Set("qmin", p.qmin);
  out.Set("qmax", p.qmax);
  return out;
}

}  // namespace

void register_quant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantize", Napi::Function::New(env, Quantize, "quantize"));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize, "dequantize"));
  exports.Set("chooseQuantParams", Napi::Function::New(env, ChooseQuantParams, "chooseQuantParams"));
}

}  // namespace napi
}  // namespace lowbit

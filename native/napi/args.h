// Scalar arguments of the native layer (numbers, integers, booleans, scales, threads): each getter
// checks the type and range and throws a coded TypeError/RangeError naming the argument. Typed
// arrays go through napi/call.h (array_arg and the Call's lifetime rules).
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "napi/call.h"
#include "napi/errors.h"
#include "ops/output_pipeline.h"

namespace lowbit {
namespace napi {

inline double number(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", std::string(arg) + " must be a number, got " + describe(info.Env(), v));
  }
  return v.As<Napi::Number>().DoubleValue();
}

// An integer in [lo, hi].
inline int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* arg, int64_t lo, int64_t hi) {
  const double d = number(info, i, arg);
  if (!(d == std::floor(d)) || d < (double)lo || d > (double)hi) {
    throw_range_error(info.Env(), "ERR_LOWBIT_OUT_OF_RANGE",
                      std::string(arg) + " must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + std::to_string(d));
  }
  return (int64_t)d;
}

// The `threads` option: 1 to 256 threads for one call (lib/ checks the same range first).
inline int threads_arg(const Napi::CallbackInfo& info, size_t i) { return (int)integer(info, i, "threads", 1, 256); }

// The requantized output's scalars of the int8 layers' products, at arguments i .. i + 3 (outScale,
// outZeroPoint, qmin, qmax), into spec (left at their defaults for s32 / f32 outputs).
inline void quantized_output_args(const Napi::CallbackInfo& info, size_t i, ops::OutputSpec* spec);

inline bool boolean(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsBoolean()) {
    throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", std::string(arg) + " must be a boolean, got " + describe(info.Env(), v));
  }
  return v.As<Napi::Boolean>().Value();
}

// A quantization scale the kernels can use: finite, > 0, with a finite fp32 reciprocal.
inline float scale(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  const double d = number(info, i, arg);
  const float s = (float)d;
  if (!(std::isfinite(s) && s > 0.0f && std::isfinite(1.0f / s))) {
    throw_range_error(info.Env(), "ERR_LOWBIT_INVALID_SCALE",
                      std::string(arg) + " must be a finite number > 0 whose reciprocal is finite in float32, got " +
                          std::to_string(d));
  }
  return s;
}

inline void quantized_output_args(const Napi::CallbackInfo& info, size_t i, ops::OutputSpec* spec) {
  if (spec->type != gemm::OutType::u8 && spec->type != gemm::OutType::s8) return;
  const int64_t lo = spec->type == gemm::OutType::s8 ? -128 : 0, hi = spec->type == gemm::OutType::s8 ? 127 : 255;
  spec->out_scale = scale(info, i, "outScale");
  spec->out_zp = (int32_t)integer(info, i + 1, "outZeroPoint", lo, hi);
  spec->qmin = (int32_t)integer(info, i + 2, "qmin", lo, hi);
  spec->qmax = (int32_t)integer(info, i + 3, "qmax", spec->qmin, hi);
}

}  // namespace napi
}  // namespace lowbit

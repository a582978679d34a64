// Typed views of JavaScript arguments for the native layer: each getter checks the type (and that
// the buffer is not detached) and throws a TypeError/RangeError naming the argument otherwise.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "napi/errors.h"

namespace lowbit {
namespace napi {

template <typename T>
struct TypedArrayTraits;
template <>
struct TypedArrayTraits<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "Float32Array";
};
template <>
struct TypedArrayTraits<uint8_t> {
  static constexpr napi_typedarray_type type = napi_uint8_array;
  static constexpr const char* name = "Uint8Array";
};
template <>
struct TypedArrayTraits<int8_t> {
  static constexpr napi_typedarray_type type = napi_int8_array;
  static constexpr const char* name = "Int8Array";
};
template <>
struct TypedArrayTraits<int32_t> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "Int32Array";
};
template <>
struct TypedArrayTraits<int64_t> {
  static constexpr napi_typedarray_type type = napi_bigint64_array;
  static constexpr const char* name = "BigInt64Array";
};

template <typename T>
struct View {
  T* data;
  size_t length;
};

// The array's element type as a name, for messages.
inline std::string describe(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "Int8Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_uint8_clamped_array: return "Uint8ClampedArray";
      case napi_int16_array: return "Int16Array";
      case napi_uint16_array: return "Uint16Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_bigint64_array: return "BigInt64Array";
      case napi_biguint64_array: return "BigUint64Array";
      default: return "TypedArray";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsBigInt()) return "bigint";
  return "object";
}

// The element pointer, length and detached state of a TypedArray, for ArrayBuffer and
// SharedArrayBuffer backing alike (N-API's ArrayBuffer calls reject a SharedArrayBuffer, so this
// goes through napi_get_typedarray_info, whose data pointer already includes the byte offset).
struct RawView {
  napi_typedarray_type type;
  void* data;
  size_t length;
  bool detached;
};
inline RawView raw_view(napi_env env, napi_value v) {
  RawView r{};
  napi_value ab;
  size_t offset;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, v, &r.type, &r.length, &r.data, &ab, &offset), r);
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok) {
    // a SharedArrayBuffer cannot be detached; clear the pending "invalid argument" state
    const napi_extended_error_info* info;
    napi_get_last_error_info(env, &info);
    detached = false;
  }
  r.detached = detached;
  return r;
}

template <typename T>
View<T> typed_array(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  Napi::Env env = info.Env();
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTraits<T>::type) {
    throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE",
                     std::string(arg) + " must be a " + TypedArrayTraits<T>::name + ", got " + describe(v));
  }
  const RawView r = raw_view(env, v);
  if (r.detached) {
    throw_type_error(env, "ERR_LOWBIT_DETACHED", std::string(arg) + " is backed by a detached ArrayBuffer");
  }
  return View<T>{static_cast<T*>(r.data), r.length};
}

inline double number(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", std::string(arg) + " must be a number, got " + describe(v));
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

inline bool boolean(const Napi::CallbackInfo& info, size_t i, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsBoolean()) {
    throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", std::string(arg) + " must be a boolean, got " + describe(v));
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

}  // namespace napi
}  // namespace lowbit

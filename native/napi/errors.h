// Throwing JavaScript errors with a stable `code` property from native code.
// The TypeScript layer validates arguments first and names them; these checks are the second line,
// so that a direct call into the addon with bad arguments throws instead of crashing.
#pragma once

#include <napi.h>

#include <string>

namespace lowbit {
namespace napi {

[[noreturn]] inline void throw_type_error(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::TypeError::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

[[noreturn]] inline void throw_range_error(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::RangeError::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

}  // namespace napi
}  // namespace lowbit

// Each op's binding file registers its functions on the addon's exports.
#pragma once

#include <napi.h>

namespace lowbit {
namespace napi {

void register_cpu(Napi::Env env, Napi::Object exports);
void register_allocator(Napi::Env env, Napi::Object exports);
void register_quant(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_embedding(Napi::Env env, Napi::Object exports);
void register_conv(Napi::Env env, Napi::Object exports);
void register_qconv(Napi::Env env, Napi::Object exports);

}  // namespace napi
}  // namespace lowbit

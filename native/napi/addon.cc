// The addon's entry point. LOWBIT_ISA is applied here, at load: a level the CPU cannot run fails
// the require() with a clear message instead of a SIGILL later.
#include <napi.h>

#include "cpu/isa.h"
#include "napi/errors.h"
#include "napi/exports.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const std::string problem = lowbit::apply_isa_env();
  if (!problem.empty()) lowbit::napi::throw_range_error(env, "ERR_LOWBIT_ISA_UNSUPPORTED", problem);
  lowbit::napi::register_cpu(env, exports);
  lowbit::napi::register_quant(env, exports);
  lowbit::napi::register_gemm(env, exports);
  lowbit::napi::register_embedding(env, exports);
  lowbit::napi::register_conv(env, exports);
  lowbit::napi::register_qconv(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lowbit, Init)

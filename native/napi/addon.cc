// The addon's entry point. LOWBIT_ISA is applied here, at the first load in the process: a level
// the CPU cannot run fails the require() with a clear message instead of a SIGILL later. The
// level is process-wide (one dispatch table), so a worker_thread loading the addon later must not
// reset what the main thread chose with setIsa.
#include <napi.h>

#include <mutex>
#include <string>

#include "cpu/isa.h"
#include "napi/errors.h"
#include "napi/exports.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  static std::string problem;
  std::call_once(once, [] { problem = lowbit::apply_isa_env(); });
  if (!problem.empty()) lowbit::napi::throw_range_error(env, "ERR_LOWBIT_ISA_UNSUPPORTED", problem);
  lowbit::napi::register_cpu(env, exports);
  lowbit::napi::register_allocator(env, exports);
  lowbit::napi::register_quant(env, exports);
  lowbit::napi::register_gemm(env, exports);
  lowbit::napi::register_embedding(env, exports);
  lowbit::napi::register_conv(env, exports);
  lowbit::napi::register_qconv(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lowbit, Init)

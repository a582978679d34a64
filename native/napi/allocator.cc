// _retainFreedMemory(bytes): glibc malloc keeps up to `bytes` of freed memory instead of handing it
// back to the kernel, so a default result (new memory per call, freed by V8 only at its next GC)
// reuses pages that were already faulted in. The JS side (lib/allocator.ts) validates the argument.
#include "napi/exports.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lowbit {
namespace napi {
namespace {

Napi::Value RetainFreedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(__GLIBC__)
  const int64_t bytes = info[0].As<Napi::Number>().Int64Value();
  // The trim threshold: free memory at the top of a heap kept up to `bytes`. The mmap threshold
  // fixed at glibc's own upper bound (32 MiB on 64-bit), where the dynamic one would rise to: a
  // result below it comes from the heap, so it can reuse freed pages.
  const int mmap_max = 32 * 1024 * 1024;
  const bool ok = mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1 &&
                  mallopt(M_MMAP_THRESHOLD, (int)(bytes < mmap_max ? bytes : mmap_max)) == 1;
  return Napi::Boolean::New(env, ok);
#else
  (void)info;
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace

void register_allocator(Napi::Env env, Napi::Object exports) {
  exports.Set("_retainFreedMemory", Napi::Function::New(env, RetainFreedMemory, "_retainFreedMemory"));
}

}  // namespace napi
}  // namespace lowbit

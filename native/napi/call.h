// One native call at the N-API boundary: the lifetime rules of every TypedArray it touches, and
// running its work now or on a worker thread behind a Promise. Every binding goes through this
// file, so the rules below hold for every op by construction.
//
// The rules (README.md, "Memory and lifetimes"):
// - Sync calls read and write the caller's memory in place: no JavaScript runs until they return,
//   so a plain ArrayBuffer cannot change or vanish meanwhile. A SharedArrayBuffer can be rewritten
//   by another thread at any time, so data that is validated and then used to address memory
//   (indices, offsets, remaps, zero points, shapes) is copied first when it is shared (`checked`).
// - Async calls never read memory that can be freed under them. Inputs are copied at the call,
//   unless their memory is held for the call: a SharedArrayBuffer (referenced: it cannot be
//   detached or shrunk) or a region lowbit allocated (OwnedMemory, reference counted). Outputs in
//   other memory are written to a staging buffer and copied into the caller's array when the
//   call settles; if that array was detached, transferred or shrunk by then, the Promise rejects
//   with ERR_LOWBIT_DETACHED and nothing is written. `checked` data is always copied.
// - Tables (embedding rows: too large to copy) are read in place. In a plain ArrayBuffer during an
//   async call, they are read under a fault guard (cpu/fault_guard.h) and checked when the call
//   settles: detached or shrunk meanwhile -> ERR_LOWBIT_DETACHED. Mapped files are held by the
//   call and read under the guard: a file truncated under the mapping -> ERR_LOWBIT_FILE_TRUNCATED.
// - The work of an async call runs on libuv's pool; its completion never throws (a worker or
//   process tearing down while calls are in flight just drops their Promises).
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cpu/buffer_pool.h"
#include "cpu/fault_guard.h"
#include "napi/errors.h"

namespace lowbit {
namespace napi {

// An error found by a call's work (on whichever thread runs it): the Promise rejects with it, or
// the sync call throws it.
struct KernelError {
  bool range;  // RangeError (else TypeError)
  std::string code;
  std::string message;
};

// A TypedArray argument as found at the start of a call.
struct ArrayArg {
  napi_value value = nullptr;
  napi_typedarray_type type = napi_uint8_array;
  uint8_t* data = nullptr;  // the first element
  size_t length = 0;        // elements
  size_t bytes = 0;
  bool shared = false;  // backed by a SharedArrayBuffer
  bool present() const { return value != nullptr; }
};

size_t element_size(napi_typedarray_type t);
const char* type_name(napi_typedarray_type t);
// The value's kind for messages ("Float32Array", "null", "number", ...).
std::string describe(napi_env env, napi_value v);

// v as a TypedArray of one of `types`; a coded TypeError naming `what` otherwise (or if detached).
ArrayArg array_arg(napi_env env, napi_value v, std::initializer_list<napi_typedarray_type> types, const std::string& what);
// As array_arg, but null or undefined give an absent ArrayArg.
ArrayArg optional_array_arg(napi_env env, napi_value v, std::initializer_list<napi_typedarray_type> types, const std::string& what);

// An owned copy of an argument's elements, for the constructors and one-time conversions, which
// read their input more than once (count, then pack): copied once, then only the copy is read.
template <class T>
struct OwnedCopy {
  std::vector<T> values;
  const T* data = nullptr;
  size_t length = 0;
};
template <class T>
OwnedCopy<T> copy_of(const ArrayArg& a) {
  OwnedCopy<T> c;
  const T* p = reinterpret_cast<const T*>(a.data);
  c.values.assign(p, p + a.length);
  c.data = c.values.data();
  c.length = a.length;
  return c;
}

class Call {
 public:
  Call(napi_env env, bool async) : env_(env), async_(async) {}
  ~Call();
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  bool async() const { return async_; }

  // Values the kernel reads and never trusts for addressing (activations, weights to pack).
  template <class T>
  const T* input(const ArrayArg& a) { return reinterpret_cast<const T*>(input_bytes(a, false)); }
  // Data validated before use (indices, offsets, zero points, shapes): validate the returned copy.
  template <class T>
  const T* checked(const ArrayArg& a) { return reinterpret_cast<const T*>(input_bytes(a, true)); }
  // Table rows, read in place (see the rules above).
  template <class T>
  const T* table(const ArrayArg& a) { return reinterpret_cast<const T*>(table_bytes(a)); }
  // A mapped file's bytes in [p, p + bytes): faults there become ERR_LOWBIT_FILE_TRUNCATED.
  void guard_file(const void* p, size_t bytes);

  // An output. `whole`: the kernel writes every byte of it (else the staging buffer starts as a
  // copy of the caller's bytes, so that what the kernel skips is copied back unchanged). Returns
  // a handle for out() once every output of the call is declared (outputs_done()).
  size_t output(const ArrayArg& a, bool whole);
  void outputs_done();
  template <class T>
  T* out(size_t handle) const { return reinterpret_cast<T*>(out_bytes(handle)); }
  // output + outputs_done + out, for the calls with one output.
  template <class T>
  T* single_output(const ArrayArg& a, bool whole) {
    const size_t h = output(a, whole);
    outputs_done();
    return out<T>(h);
  }

  // Native objects the work uses (packed weights, mappings): alive until the call settles.
  void hold(std::shared_ptr<const void> p) { holds_.push_back(std::move(p)); }
  // A JavaScript value to keep alive until an async call settles.
  void keep(napi_value v);

  // Runs `work` now (sync: returns `result`, or throws the work's KernelError) or on a worker
  // thread (async: returns a Promise of `result`).
  static Napi::Value run(std::unique_ptr<Call> call, std::function<void()> work, napi_value result);

 private:
  struct Output {
    napi_ref ref = nullptr;
    uintptr_t user = 0;  // the caller's bytes at the call
    size_t bytes = 0, length = 0;
    bool whole = true, staged = false;
    uint8_t* ptr = nullptr;
  };
  struct Span {
    uintptr_t begin, end;
    PooledBuffer buf;
  };
  struct JsTable {
    napi_ref ref;
    uintptr_t data;
    size_t length;
  };
  const uint8_t* input_bytes(const ArrayArg& a, bool checked);
  const uint8_t* table_bytes(const ArrayArg& a);
  uint8_t* out_bytes(size_t handle) const { return outputs_[handle].ptr; }
  const uint8_t* copy(const ArrayArg& a);
  napi_ref ref(napi_value v);
  bool held(const ArrayArg& a);  // shared or lowbit-owned: referenced / held for the call

  // Runs the work under the call's fault scope; false and `error` set when it failed.
  bool execute(const std::function<void()>& work, KernelError* error);
  bool still_there(napi_ref ref, uintptr_t data, size_t length) const;
  // Async completion on the main thread: checks, copies the staged outputs, settles the Promise.
  void settle(napi_deferred deferred, napi_ref result, bool ok, const KernelError& error);

  friend class AsyncCall;
  napi_env env_;
  bool async_;
  bool outputs_sealed_ = false;
  std::vector<PooledBuffer> copies_;
  std::vector<napi_ref> refs_;
  std::vector<std::shared_ptr<const void>> holds_;
  std::vector<Output> outputs_;
  std::vector<Span> spans_;
  std::vector<JsTable> js_tables_;
  std::vector<fault::Range> files_;
  fault::Scope scope_;
};

// Converts the C++ exceptions of native work (out of memory above all) into coded JavaScript
// errors, for the parts of a binding that allocate outside Call::run (constructors, packing).
template <class Fn>
auto native_section(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_MEMORY", "out of memory: the system refused an allocation for this call");
  } catch (const std::length_error&) {
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_MEMORY", "out of memory: a size of this call is too large to allocate");
  }
}

// Reports native memory to V8, never throwing (finalizers run during environment teardown too).
void adjust_external_memory(napi_env env, int64_t change);

}  // namespace napi
}  // namespace lowbit

// Running a kernel off the main thread, with a Promise.
//
// The JavaScript values a kernel reads and writes (arrays, the packed-weights object) are held by
// persistent references until the Promise settles, so the GC cannot free them while the worker
// runs. A work function that finds bad data (say a non-finite input it must scan first) throws
// KernelError; the Promise is then rejected with a TypeError/RangeError carrying the code.
#pragma once

#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "napi/errors.h"

namespace lowbit {
namespace napi {

struct KernelError {
  bool range;  // RangeError (else TypeError)
  std::string code;
  std::string message;
};

// Throws a KernelError as the matching JavaScript error (on the main thread).
[[noreturn]] inline void rethrow_js(Napi::Env env, const KernelError& e) {
  if (e.range) throw_range_error(env, e.code.c_str(), e.message);
  throw_type_error(env, e.code.c_str(), e.message);
}

class KernelWorker : public Napi::AsyncWorker {
 public:
  // `keep` are the values to keep alive; `result` is what the Promise resolves to.
  KernelWorker(Napi::Env env, std::function<void()> work, const std::vector<Napi::Value>& keep,
               Napi::Value result)
      : Napi::AsyncWorker(env, "lowbit"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    for (const Napi::Value& v : keep)
      if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    result_ = Napi::Persistent(result.As<Napi::Object>());
  }

  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const KernelError& e) {
      error_ = e;
      SetError(e.message);
    }
  }
  void OnOK() override { deferred_.Resolve(result_.Value()); }
  void OnError(const Napi::Error& e) override {
    if (error_.code.empty()) {
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Env env = Env();
    Napi::Error err = error_.range ? static_cast<Napi::Error>(Napi::RangeError::New(env, error_.message))
                                   : static_cast<Napi::Error>(Napi::TypeError::New(env, error_.message));
    err.Set("code", Napi::String::New(env, error_.code));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::vector<Napi::ObjectReference> refs_;
  Napi::ObjectReference result_;
  KernelError error_;
};

// Runs `work` now (rethrowing a KernelError as a JS error) or, when async, in a KernelWorker.
inline Napi::Value run_or_queue(Napi::Env env, bool async, std::function<void()> work,
                                const std::vector<Napi::Value>& keep, Napi::Value result) {
  if (async) return (new KernelWorker(env, std::move(work), keep, result))->Start();
  try {
    work();
  } catch (const KernelError& e) {
    rethrow_js(env, e);
  }
  return result;
}

}  // namespace napi
}  // namespace lowbit

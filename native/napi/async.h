// Running a kernel off the main thread, with a Promise.
//
// The JavaScript arrays a kernel reads and writes are held by persistent references until the
// Promise settles, so the GC cannot free them while the worker runs.
#pragma once

#include <napi.h>

#include <functional>
#include <vector>

namespace lowbit {
namespace napi {

class KernelWorker : public Napi::AsyncWorker {
 public:
  // `keep` are the values to keep alive; `result` is what the Promise resolves to.
  KernelWorker(Napi::Env env, std::function<void()> work, const std::vector<Napi::Value>& keep,
               Napi::Value result)
      : Napi::AsyncWorker(env, "lowbit"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    for (const Napi::Value& v : keep) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    result_ = Napi::Persistent(result.As<Napi::Object>());
  }

  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override { work_(); }
  void OnOK() override { deferred_.Resolve(result_.Value()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::vector<Napi::ObjectReference> refs_;
  Napi::ObjectReference result_;
};

}  // namespace napi
}  // namespace lowbit

// Choosing between two kernels by timing them once per input shape, for 'auto' modes whose
// performance model is too close to call.
//
// Why: a model calibrated on a few layers predicts the sparse/dense ratio within ~10% on most
// layers, but cache effects it does not model (e.g. 1x1 layers whose input rows outgrow L2) put it
// off by up to ~1.7x on some. When the predicted ratio is inside a band where such an error could
// flip the choice, the first call with that shape runs both kernels (twice each, interleaved, best
// time kept), keeps the faster, and leaves the faster kernel's output in place; later calls with
// the shape use the remembered choice, so every output after the first call comes from one kernel.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

namespace lowbit {
namespace ops {

// What a trial measured, per input shape.
struct TrialResult {
  bool first_wins = false;  // the first kernel was faster
  double first_s = 0, second_s = 0;
};

// Thread-safe map from an input shape (n, h, w, threads) to the trial's result.
class TrialCache {
 public:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t>;
  bool find(const Key& k, TrialResult* r) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    *r = it->second;
    return true;
  }
  void put(const Key& k, const TrialResult& r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= 64) map_.clear();  // a layer rarely sees many shapes; bound the memory
    map_[k] = r;
  }

 private:
  mutable std::mutex mu_;
  std::map<Key, TrialResult> map_;
};

// Runs first and second alternately (first, second, first, second, ... `rounds` times each), keeps
// each one's best time, and runs the winner once more if it did not run last, so that its output
// is the one left. More rounds for short calls (tens of microseconds), where one timer tick or
// one interruption weighs more. warm: each timed call follows an untimed call of the same kernel,
// for calls short enough that their data lives in L2: alternating, each kernel would otherwise
// find its weights partly evicted by the other's, which a layer running one kernel never does
// (measured: a 1024x512 int8 layer at 80%, dense 512 KiB + sparse 210 KiB of weights, timed
// alternately cold, picked sparse where dense was 19% faster warm).
template <class A, class B>
TrialResult run_trial(A&& first, B&& second, int rounds = 2, bool warm = false) {
  using clock = std::chrono::steady_clock;
  auto timed = [warm](auto& fn) {
    if (warm) fn();
    const auto t0 = clock::now();
    fn();
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  TrialResult r;
  r.first_s = r.second_s = 1e300;
  for (int round = 0; round < rounds; round++) {
    const double a = timed(first);
    if (a < r.first_s) r.first_s = a;
    const double b = timed(second);
    if (b < r.second_s) r.second_s = b;
  }
  r.first_wins = r.first_s < r.second_s;
  if (r.first_wins) first();
  return r;
}

}  // namespace ops
}  // namespace lowbit

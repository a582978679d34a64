// Timing shared by the C++ micro-benchmarks.
#pragma once

#include <chrono>

namespace lowbit_bench {

inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of fn: calls it until at least min_s has passed on `clock` (seconds), the mean.
template <typename Fn, typename Clock>
double seconds_per_call(Fn&& fn, double min_s, Clock clock) {
  int iters = 0;
  const double t0 = clock();
  double t;
  do {
    fn();
    iters++;
    t = clock() - t0;
  } while (t < min_s);
  return t / iters;
}

}  // namespace lowbit_bench

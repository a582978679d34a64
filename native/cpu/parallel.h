// A small persistent thread pool for splitting one kernel call across threads (the `threads`
// option of the JavaScript API).
//
// Why our own: the kernel core must build with nothing but the C++ standard library (also in the
// aarch64 cross build), and calls are short (tens of microseconds to milliseconds), so threads are
// created once and reused: spawning them per call would cost more than small products take.
// Several calls may run at once (async calls from JavaScript, worker_threads): each call is its own
// job in the queue, and the calling thread always works on its own job too, so a call makes
// progress even when every pool thread is busy elsewhere.
#pragma once

#include <cstddef>
#include <functional>

namespace lowbit {

// Runs fn(i) for every i in [0, tasks), on at most `threads` threads including the caller; returns
// when all are done. threads <= 1 or tasks <= 1 runs inline. fn must not throw. Each task runs
// under the calling thread's fault scope (cpu/fault_guard.h), on whichever thread runs it.
void parallel_for(size_t tasks, int threads, const std::function<void(size_t)>& fn);

// The number of hardware threads (at least 1).
int hardware_threads();

}  // namespace lowbit

// The thread pool: every task runs exactly once, for any thread count, also with concurrent callers.
#include <atomic>
#include <thread>
#include <vector>

#include "cpu/parallel.h"
#include "tests/harness.h"

using namespace lowbit;

LOWBIT_TEST(parallel_for_runs_each_task_once) {
  for (int threads : {0, 1, 2, 3, 8}) {
    for (size_t tasks : {0, 1, 2, 7, 100, 1000}) {
      std::vector<std::atomic<int>> hits(tasks);
      for (auto& h : hits) h = 0;
      parallel_for(tasks, threads, [&](size_t i) { hits[i]++; });
      bool once = true;
      for (auto& h : hits) once = once && h == 1;
      LOWBIT_CHECK(once, "threads=" << threads << " tasks=" << tasks);
    }
  }
}

LOWBIT_TEST(parallel_for_concurrent_callers) {
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; c++) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; rep++) parallel_for(64, 3, [&](size_t i) { total += (long)i; });
    });
  }
  for (auto& t : callers) t.join();
  LOWBIT_CHECK(total == 4L * 50 * (63 * 64 / 2), "total " << total.load());
}

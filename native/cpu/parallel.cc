#include "cpu/parallel.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu/fault_guard.h"

namespace lowbit {
namespace {

struct Job {
  const std::function<void(size_t)>* fn;
  fault::Scope* scope;  // the caller's, so that a guarded call stays guarded on every thread
  size_t tasks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<int> helpers_left;  // pool threads that may still join this job
  std::mutex m;
  std::condition_variable finished;

  // Takes tasks until none are left. Returns when this thread can take no more.
  void work() {
    for (;;) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= tasks) return;
      // a call whose memory faulted fails as a whole: its remaining tasks are skipped
      if (scope == nullptr || !scope->faulted()) fault::run_task(scope, *fn, i);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        std::lock_guard<std::mutex> lock(m);
        finished.notify_all();
      }
    }
  }
};

class Pool {
 public:
  static Pool& get() {
    // Never destroyed: pool threads may still be parked at process exit.
    static Pool* pool = new Pool();
    return *pool;
  }

  void run(const std::function<void(size_t)>& fn, size_t tasks, int threads) {
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->scope = fault::current();
    job->tasks = tasks;
    job->helpers_left = threads - 1;
    ensure_threads(threads - 1);
    {
      std::lock_guard<std::mutex> lock(m_);
      queue_.push_back(job);
    }
    wake_.notify_all();
    job->work();
    {
      std::unique_lock<std::mutex> lock(job->m);
      job->finished.wait(lock, [&] { return job->done.load(std::memory_order_acquire) == tasks; });
    }
    std::lock_guard<std::mutex> lock(m_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == job) {
        queue_.erase(it);
        break;
      }
    }
  }

 private:
  void ensure_threads(int n) {
    std::lock_guard<std::mutex> lock(m_);
    while ((int)threads_.size() < n) threads_.emplace_back([this] { loop(); });
  }

  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(m_);
        wake_.wait(lock, [&] { return (job = claim()) != nullptr; });
      }
      job->work();
    }
  }

  // A queued job that still has tasks and room for a helper (called with m_ held).
  std::shared_ptr<Job> claim() {
    for (auto& j : queue_) {
      if (j->next.load(std::memory_order_relaxed) < j->tasks && j->helpers_left.fetch_sub(1) > 0) return j;
    }
    return nullptr;
  }

  std::mutex m_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : (int)n;
}

void parallel_for(size_t tasks, int threads, const std::function<void(size_t)>& fn) {
  if (tasks == 0) return;
  if (threads > (int)tasks) threads = (int)tasks;
  if (threads <= 1) {
    fault::Scope* scope = fault::current();
    for (size_t i = 0; i < tasks && (scope == nullptr || !scope->faulted()); i++) fault::run_task(scope, fn, i);
    return;
  }
  Pool::get().run(fn, tasks, threads);
}

}  // namespace lowbit

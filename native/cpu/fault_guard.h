// Turning a memory fault inside known ranges into an error of the one call that hit it.
//
// Why: two kinds of memory can vanish under a running kernel without any bug of ours. A file
// mapped read-only (an embedding table opened with EmbeddingTable.open) that another process
// truncates raises SIGBUS on the next read of a page past the new end; and a plain JavaScript
// ArrayBuffer that an async call reads off the main thread can be transferred and freed, or
// shrunk, while the call runs (we cannot pin it through N-API). Both are reads of table rows,
// which are large (copying them per call is not an option) and whose values never steer a
// kernel's addressing. So a call that reads such memory registers its ranges in a FaultScope;
// a SIGSEGV or SIGBUS whose address lies in a range of the scope active on the faulting thread
// jumps back to where the scope's task started (sigsetjmp), and the call reports the fault
// instead of the process dying. A fault at any other address is not ours: it goes to the handler
// that was installed before (Node's, V8's, or the default), exactly as without lowbit.
//
// What is skipped on a fault: the rest of the interrupted task (the kernel's frames are left by
// siglongjmp, so their destructors do not run; kernels hold no locks and allocate only
// thread-local scratch that is reused, so nothing is left inconsistent). The other tasks of the
// call still run; the call as a whole fails.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace lowbit {
namespace fault {

struct Range {
  uintptr_t begin = 0, end = 0;  // [begin, end)
};

// The ranges of one call, shared by every thread that runs a task of it. Install it with
// ActiveScope on the calling thread; parallel_for carries it to the pool threads.
class Scope {
 public:
  void add(const void* p, size_t bytes);
  bool empty() const { return ranges_.empty(); }
  bool contains(uintptr_t addr) const;
  // True once a task of this scope was interrupted by a fault in its ranges.
  bool faulted() const { return faulted_.load(std::memory_order_acquire); }
  int signal() const { return signal_.load(std::memory_order_relaxed); }
  // The faulting address of the first fault (0 when none).
  uintptr_t address() const { return address_.load(std::memory_order_relaxed); }

 private:
  friend bool run_task(Scope*, const std::function<void(size_t)>&, size_t);
  std::vector<Range> ranges_;
  std::atomic<bool> faulted_{false};
  std::atomic<int> signal_{0};
  std::atomic<uintptr_t> address_{0};
};

// The scope active on this thread, or null.
Scope* current();

// Makes `scope` the active one on this thread for its lifetime (restores the previous one).
// Installs the signal handlers on first use.
class ActiveScope {
 public:
  explicit ActiveScope(Scope* scope);
  ~ActiveScope();
  ActiveScope(const ActiveScope&) = delete;
  ActiveScope& operator=(const ActiveScope&) = delete;

 private:
  Scope* prev_;
};

// Runs fn(i) on this thread as a task of `scope` (null: just runs it). Returns false when a fault
// in the scope's ranges interrupted it (the scope is then marked faulted).
bool run_task(Scope* scope, const std::function<void(size_t)>& fn, size_t i);

// Runs fn under the active scope of this thread, as one task (see run_task).
bool run_guarded(const std::function<void()>& fn);

}  // namespace fault
}  // namespace lowbit

#include "cpu/fault_guard.h"

#include <mutex>

#if defined(__unix__) || defined(__APPLE__)
#define LOWBIT_FAULT_GUARD 1
#include <setjmp.h>
#include <signal.h>
#endif

namespace lowbit {
namespace fault {
namespace {

thread_local Scope* t_scope = nullptr;

#if LOWBIT_FAULT_GUARD
struct Frame {
  sigjmp_buf env;
  Scope* scope;
  Frame* prev;
  volatile uintptr_t address;  // written by the handler, read after siglongjmp
};
// Touched by run_task before any guarded code runs, so that the handler's read of it never has
// to allocate the thread's TLS block (which is not async-signal-safe).
thread_local Frame* t_frame = nullptr;

struct sigaction g_old_segv, g_old_bus;

void forward(int sig, siginfo_t* info, void* ctx) {
  const struct sigaction& old = sig == SIGBUS ? g_old_bus : g_old_segv;
  if (old.sa_flags & SA_SIGINFO) {
    if (old.sa_sigaction != nullptr) {
      old.sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    old.sa_handler(sig);
    return;
  }
  // The default action: put it back and return; the faulting instruction runs again and the
  // process dies as it would have without us.
  sigaction(sig, &old, nullptr);
}

void handler(int sig, siginfo_t* info, void* ctx) {
  Frame* f = t_frame;
  if (f != nullptr && f->scope != nullptr && f->scope->contains(reinterpret_cast<uintptr_t>(info->si_addr))) {
    f->address = reinterpret_cast<uintptr_t>(info->si_addr);
    siglongjmp(f->env, sig);
  }
  forward(sig, info, ctx);
}

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
  });
}
#else
void install() {}
#endif

}  // namespace

void Scope::add(const void* p, size_t bytes) {
  if (bytes == 0) return;
  const uintptr_t b = reinterpret_cast<uintptr_t>(p);
  ranges_.push_back(Range{b, b + bytes});
}

bool Scope::contains(uintptr_t addr) const {
  for (const Range& r : ranges_)
    if (addr >= r.begin && addr < r.end) return true;
  return false;
}

Scope* current() { return t_scope; }

ActiveScope::ActiveScope(Scope* scope) : prev_(t_scope) {
  if (scope != nullptr && !scope->empty()) install();
  t_scope = scope;
}

ActiveScope::~ActiveScope() { t_scope = prev_; }

bool run_task(Scope* scope, const std::function<void(size_t)>& fn, size_t i) {
#if LOWBIT_FAULT_GUARD
  if (scope == nullptr || scope->empty()) {
    fn(i);
    return true;
  }
  Frame frame;
  frame.scope = scope;
  frame.prev = t_frame;
  frame.address = 0;
  Scope* const prev_scope = t_scope;
  // savemask 0: no sigprocmask system call per task; the rare fault path unblocks the signal
  // itself (the handler ran with it blocked)
  const int sig = sigsetjmp(frame.env, 0);
  if (sig != 0) {
    t_frame = frame.prev;
    t_scope = prev_scope;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    uintptr_t expected = 0;
    scope->address_.compare_exchange_strong(expected, frame.address, std::memory_order_relaxed);
    scope->signal_.store(sig, std::memory_order_relaxed);
    scope->faulted_.store(true, std::memory_order_release);
    return false;
  }
  t_frame = &frame;
  t_scope = scope;
  try {
    fn(i);
  } catch (...) {
    t_frame = frame.prev;
    t_scope = prev_scope;
    throw;
  }
  t_frame = frame.prev;
  t_scope = prev_scope;
  return true;
#else
  (void)scope;
  fn(i);
  return true;
#endif
}

bool run_guarded(const std::function<void()>& fn) {
  const std::function<void(size_t)> task = [&](size_t) { fn(); };
  return run_task(t_scope, task, 0);
}

}  // namespace fault
}  // namespace lowbit

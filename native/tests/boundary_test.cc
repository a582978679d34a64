// What the N-API boundary relies on, tested natively (also on the emulated CPU and under qemu):
// the fault guard turns a read past the end of a truncated mapped file into an error of that call
// on every thread of parallel_for, and OwnedMemory is found from any pointer inside it and lives
// while any holder does.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cpu/buffer_pool.h"
#include "cpu/fault_guard.h"
#include "cpu/owned_memory.h"
#include "cpu/parallel.h"
#include "tests/harness.h"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define LOWBIT_TEST_MMAP 1
#endif

using namespace lowbit;

#if LOWBIT_TEST_MMAP
namespace {

// A file of `pages` pages mapped read-only, then truncated to `keep` bytes: reading past `keep`
// (rounded up to a page) raises SIGBUS.
struct TruncatedMapping {
  size_t size = 0, page = 0;
  const uint8_t* data = nullptr;
  std::string path;
  TruncatedMapping(size_t pages, size_t keep) {
    page = (size_t)sysconf(_SC_PAGESIZE);
    size = pages * page;
    char tmpl[] = "/tmp/lowbit-fault-XXXXXX";
    const int fd = mkstemp(tmpl);
    path = tmpl;
    std::vector<uint8_t> bytes(size, 7);
    if (fd < 0 || write(fd, bytes.data(), size) != (ssize_t)size) return;
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    data = p == MAP_FAILED ? nullptr : static_cast<const uint8_t*>(p);
    if (ftruncate(fd, (off_t)keep) != 0) data = nullptr;
    close(fd);
  }
  ~TruncatedMapping() {
    if (data) munmap(const_cast<uint8_t*>(data), size);
    unlink(path.c_str());
  }
};

}  // namespace

LOWBIT_TEST(fault_guard_turns_sigbus_in_a_guarded_range_into_a_call_error) {
  TruncatedMapping m(8, 0);
  LOWBIT_CHECK(m.data != nullptr, "could not make the truncated mapping");
  if (!m.data) return;
  for (int threads : {1, 2, 4}) {
    fault::Scope scope;
    scope.add(m.data, m.size);
    std::atomic<long> sum{0};
    std::atomic<int> done{0};
    {
      fault::ActiveScope active(&scope);
      parallel_for(8, threads, [&](size_t i) {
        sum += m.data[i * m.page];  // every page is past the end now
        done++;
      });
    }
    LOWBIT_CHECK(scope.faulted(), "threads=" << threads << ": the fault was not reported");
    LOWBIT_CHECK(done == 0, "threads=" << threads << ": a task went on after its fault");
    const uintptr_t at = scope.address(), b = reinterpret_cast<uintptr_t>(m.data);
    LOWBIT_CHECK(at >= b && at < b + m.size, "fault address outside the range");
  }
  // after a fault the thread is usable and the guard can catch again
  fault::Scope again;
  again.add(m.data, m.size);
  fault::ActiveScope active(&again);
  const bool ok = fault::run_guarded([&] { volatile uint8_t v = m.data[0]; (void)v; });
  LOWBIT_CHECK(!ok && again.faulted(), "second fault on the same thread not caught");
}

LOWBIT_TEST(fault_guard_lets_reads_inside_the_file_run) {
  TruncatedMapping m(8, 3 * 4096);
  if (!m.data) return;
  const size_t kept_pages = (3 * 4096 + m.page - 1) / m.page;
  fault::Scope scope;
  scope.add(m.data, m.size);
  fault::ActiveScope active(&scope);
  long sum = 0;
  const bool ok = fault::run_guarded([&] {
    for (size_t i = 0; i < kept_pages * m.page; i += 64) sum += m.data[i];
  });
  LOWBIT_CHECK(ok && !scope.faulted() && sum == (long)(kept_pages * m.page / 64) * 7, "reads inside the file failed");
}

LOWBIT_TEST(fault_guard_costs_nothing_without_a_scope) {
  std::atomic<int> n{0};
  parallel_for(16, 2, [&](size_t) { n++; });
  LOWBIT_CHECK(n == 16 && fault::current() == nullptr, "tasks without a scope");
}
#endif

LOWBIT_TEST(owned_memory_found_from_inner_pointers_and_held_by_holders) {
  for (size_t bytes : {size_t(1), size_t(100), size_t(5) << 20}) {
    std::shared_ptr<OwnedMemory> m = OwnedMemory::allocate(bytes);
    LOWBIT_CHECK(m && m->size() == bytes, "allocate " << bytes);
    if (!m) continue;
    bool zero = true;
    for (size_t i = 0; i < bytes; i += 4093) zero = zero && m->data()[i] == 0;
    LOWBIT_CHECK(zero, "not zeroed");
    LOWBIT_CHECK(OwnedMemory::find(m->data(), bytes) == m, "whole region");
    LOWBIT_CHECK(OwnedMemory::find(m->data() + bytes / 2, bytes - bytes / 2) == m, "inner pointer");
    LOWBIT_CHECK(!OwnedMemory::find(m->data() + bytes - 1, 2), "a range running past the end was found");
    std::vector<uint8_t> other(16);
    LOWBIT_CHECK(!OwnedMemory::find(other.data(), other.size()), "foreign memory was found");
    std::shared_ptr<OwnedMemory> holder = OwnedMemory::find(m->data(), 1);
    uint8_t* p = m->data();
    m.reset();  // the JavaScript side lets go; a call still holds it
    p[bytes - 1] = 9;
    LOWBIT_CHECK(OwnedMemory::find(p, 1) == holder, "released while held");
    holder.reset();
    LOWBIT_CHECK(!OwnedMemory::find(p, 1), "found after the last holder went");
  }
  LOWBIT_CHECK(!OwnedMemory::allocate((size_t)1 << 62), "an impossible size was granted");
}

LOWBIT_TEST(pooled_buffers_are_reused_and_independent) {
  uint8_t* first;
  {
    PooledBuffer a(1 << 20);
    first = a.get();
    a.get()[(1 << 20) - 1] = 1;
  }
  PooledBuffer b(1 << 20);  // the freed megabyte comes back
  LOWBIT_CHECK(b.get() == first, "a freed pooled buffer was not reused");
  PooledBuffer c(1 << 20);  // while b is held, another one
  LOWBIT_CHECK(c.get() != b.get(), "two live buffers share memory");
  PooledBuffer small(10), moved(std::move(c));
  LOWBIT_CHECK(small.get() != nullptr && moved.get() != nullptr && c.get() == nullptr, "small and moved buffers");
}

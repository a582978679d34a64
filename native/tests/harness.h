// A small test harness for the kernel tests (no external framework: the tests must build in the
// aarch64 cross toolchain and under any CMake with nothing downloaded).
//
// LOWBIT_TEST(name) { ... } registers a test. Inside, for_each_isa(fn) runs fn once for every ISA
// level this build compiled *and* this CPU can run; levels the CPU cannot run are reported as
// skipped, never faked. LOWBIT_CHECK* record a failure and keep going (the first few are printed).
// main() prints one line per (test, level) and a last line "N passed, N failed, N skipped".
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/isa.h"

// Under AddressSanitizer the guard bytes of Guarded are also poisoned, so that a kernel that
// *reads* past its buffer (a SIMD tail loaded whole) is reported, not only one that writes there.
#if defined(__SANITIZE_ADDRESS__)
#define LOWBIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOWBIT_TEST_ASAN 1
#endif
#endif
#if defined(LOWBIT_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace lowbit {
namespace test {

struct Registration {
  Registration(const char* name, void (*fn)());
};

// Per-(test, level) failure reporting.
void record_failure(const char* file, int line, const std::string& what);
bool current_failed();

// Runs body once per supported ISA (each counts as its own test case).
void for_each_isa(const std::function<void(Isa)>& body);

// Deterministic random source; LOWBIT_TEST_SEED overrides the seed.
std::mt19937_64& rng();
inline int64_t rand_int(int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng());
}
inline float rand_float(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng()); }

// Buffers with guard bytes on both sides, to catch out-of-bounds writes (and, under ASan, reads),
// at a chosen misalignment.
template <typename T>
class Guarded {
 public:
  explicit Guarded(size_t n, size_t misalign_bytes = 0) : n_(n), off_(kGuard + misalign_bytes) {
    raw_.assign(off_ + n * sizeof(T) + kGuard, kPattern);
    poison(true);
  }
  ~Guarded() { poison(false); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  T* data() { return reinterpret_cast<T*>(raw_.data() + off_); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return data()[i]; }
  bool guards_intact() const {
    poison(false);
    bool ok = true;
    for (size_t i = 0; i < off_; i++) ok = ok && raw_[i] == kPattern;
    for (size_t i = off_ + n_ * sizeof(T); i < raw_.size(); i++) ok = ok && raw_[i] == kPattern;
    poison(true);
    return ok;
  }

 private:
  void poison(bool on) const {
#if defined(LOWBIT_TEST_ASAN)
    const uint8_t* p = raw_.data();
    const size_t end = off_ + n_ * sizeof(T);
    if (on) {
      ASAN_POISON_MEMORY_REGION(p, off_);
      ASAN_POISON_MEMORY_REGION(p + end, raw_.size() - end);
    } else {
      ASAN_UNPOISON_MEMORY_REGION(p, raw_.size());
    }
#else
    (void)on;
#endif
  }

  static constexpr size_t kGuard = 64;
  static constexpr uint8_t kPattern = 0xA5;
  size_t n_, off_;
  std::vector<uint8_t> raw_;
};

template <typename T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace test
}  // namespace lowbit

#define LOWBIT_TEST(name)                                                          \
  static void lowbit_test_##name();                                                \
  static ::lowbit::test::Registration lowbit_reg_##name(#name, lowbit_test_##name); \
  static void lowbit_test_##name()

#define LOWBIT_CHECK(cond, msg)                                                              \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::ostringstream lowbit_os_;                                                         \
      lowbit_os_ << "CHECK(" #cond ") " << msg;                                              \
      ::lowbit::test::record_failure(__FILE__, __LINE__, lowbit_os_.str());                  \
    }                                                                                        \
  } while (0)

#include "tests/harness.h"

#include <cstdio>
#include <cstdlib>

namespace lowbit {
namespace test {
namespace {

struct TestEntry {
  const char* name;
  void (*fn)();
};
std::vector<TestEntry>& registry() {
  static std::vector<TestEntry> r;
  return r;
}

struct Counts {
  int passed = 0, failed = 0, skipped = 0;
} counts;

const char* current_test = "";
std::string current_isa;
int current_failures = 0;
bool inside_isa_loop = false;

void finish_case(const std::string& label) {
  if (current_failures == 0) {
    counts.passed++;
    std::printf("ok   %s\n", label.c_str());
  } else {
    counts.failed++;
    std::printf("FAIL %s (%d failed checks)\n", label.c_str(), current_failures);
  }
  current_failures = 0;
}

}  // namespace

Registration::Registration(const char* name, void (*fn)()) { registry().push_back({name, fn}); }

void record_failure(const char* file, int line, const std::string& what) {
  if (++current_failures <= 5) {
    std::printf("  %s:%d [%s%s%s] %s\n", file, line, current_test, current_isa.empty() ? "" : " @ ",
                current_isa.c_str(), what.c_str());
  }
}

bool current_failed() { return current_failures > 0; }

void for_each_isa(const std::function<void(Isa)>& body) {
  inside_isa_loop = true;
  for (Isa isa : compiled_isas()) {
    const std::string label = std::string(current_test) + " @ " + isa_name(isa);
    if (!isa_supported(isa)) {
      counts.skipped++;
      std::printf("skip %s (this CPU cannot run %s)\n", label.c_str(), isa_name(isa));
      continue;
    }
    current_isa = isa_name(isa);
    body(isa);
    finish_case(label);
  }
  current_isa.clear();
}

std::mt19937_64& rng() {
  static std::mt19937_64 r = [] {
    const char* s = std::getenv("LOWBIT_TEST_SEED");
    const uint64_t seed = s ? std::strtoull(s, nullptr, 10) : 20261122ull;
    std::printf("seed %llu (set LOWBIT_TEST_SEED to change)\n", (unsigned long long)seed);
    return std::mt19937_64(seed);
  }();
  return r;
}

}  // namespace test
}  // namespace lowbit

int main(int argc, char** argv) {
  using namespace lowbit::test;
  const char* filter = argc > 1 ? argv[1] : nullptr;
  std::printf("compiled ISAs:");
  for (lowbit::Isa isa : lowbit::compiled_isas()) std::printf(" %s", lowbit::isa_name(isa));
  std::printf("\nsupported here:");
  for (lowbit::Isa isa : lowbit::supported_isas()) std::printf(" %s", lowbit::isa_name(isa));
  std::printf("\n");
  for (const TestEntry& t : registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    current_test = t.name;
    inside_isa_loop = false;
    current_failures = 0;
    t.fn();
    if (!inside_isa_loop) finish_case(t.name);  // a test that does not loop over ISAs
  }
  std::printf("%d passed, %d failed, %d skipped\n", counts.passed, counts.failed, counts.skipped);
  return counts.failed == 0 ? 0 : 1;
}

#include "cpu/owned_memory.h"

#include <cstdlib>
#include <map>
#include <mutex>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lowbit {
namespace {

// begin address -> region, for the regions alive now (weak: the registry never keeps one alive)
struct Registry {
  std::mutex mu;
  std::map<uintptr_t, std::weak_ptr<OwnedMemory>> regions;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: finalizers may run at exit
  return *r;
}

}  // namespace

std::shared_ptr<OwnedMemory> OwnedMemory::allocate(size_t bytes, bool huge_pages) {
  if (bytes == 0) bytes = 1;
  std::shared_ptr<OwnedMemory> m(new OwnedMemory());
#if defined(__linux__)
  if (huge_pages && bytes >= (4u << 20)) {
    const size_t huge = 2u << 20;
    if (bytes > SIZE_MAX - huge) return nullptr;
    const size_t len = (bytes + huge - 1) / huge * huge;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    madvise(p, len, MADV_HUGEPAGE);
    m->data_ = static_cast<uint8_t*>(p);
    m->mapped_ = len;
    m->mmapped_ = true;
  }
#endif
  if (m->data_ == nullptr) {
    m->data_ = static_cast<uint8_t*>(std::calloc(bytes, 1));
    if (m->data_ == nullptr) return nullptr;
    m->mapped_ = bytes;
  }
  m->size_ = bytes;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.regions[reinterpret_cast<uintptr_t>(m->data_)] = m;
  return m;
}

std::shared_ptr<OwnedMemory> OwnedMemory::find(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.regions.upper_bound(a);
  if (it == r.regions.begin()) return nullptr;
  --it;
  std::shared_ptr<OwnedMemory> m = it->second.lock();
  if (!m) return nullptr;
  const uintptr_t b = reinterpret_cast<uintptr_t>(m->data_);
  if (a < b || a - b > m->size_ || bytes > m->size_ - (a - b)) return nullptr;
  return m;
}

OwnedMemory::~OwnedMemory() {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.regions.find(reinterpret_cast<uintptr_t>(data_));
    // only our own entry: a new region may already sit at the same address
    if (it != r.regions.end() && it->second.expired()) r.regions.erase(it);
  }
#if defined(__linux__)
  if (mmapped_) {
    munmap(data_, mapped_);
    return;
  }
#endif
  std::free(data_);
}

}  // namespace lowbit

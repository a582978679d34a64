#include "cpu/buffer_pool.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace lowbit {
namespace {

constexpr size_t kMinPooled = 64 << 10, kMaxBuffers = 8, kMaxBytes = size_t(256) << 20;

struct Pool {
  std::mutex mu;
  std::vector<std::pair<uint8_t*, size_t>> free;  // (buffer, capacity)
  size_t bytes = 0;
};
Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: buffers may be returned at exit
  return *p;
}

}  // namespace

PooledBuffer::PooledBuffer(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes >= kMinPooled) {
    Pool& pl = pool();
    std::lock_guard<std::mutex> lock(pl.mu);
    // the smallest free buffer that fits and wastes at most half of itself
    size_t best = pl.free.size();
    for (size_t i = 0; i < pl.free.size(); i++) {
      const size_t cap = pl.free[i].second;
      if (cap >= bytes && cap / 2 <= bytes && (best == pl.free.size() || cap < pl.free[best].second)) best = i;
    }
    if (best < pl.free.size()) {
      p_ = pl.free[best].first;
      cap_ = pl.free[best].second;
      pl.bytes -= cap_;
      pl.free.erase(pl.free.begin() + (std::ptrdiff_t)best);
      return;
    }
  }
  p_ = static_cast<uint8_t*>(std::malloc(bytes));
  if (p_ == nullptr) throw std::bad_alloc();
  cap_ = bytes;
}

PooledBuffer::~PooledBuffer() {
  if (p_ == nullptr) return;
  if (cap_ >= kMinPooled && cap_ <= kMaxBytes) {
    Pool& pl = pool();
    std::lock_guard<std::mutex> lock(pl.mu);
    // keep the newest; drop the oldest ones past the limits
    pl.free.emplace_back(p_, cap_);
    pl.bytes += cap_;
    while (pl.free.size() > kMaxBuffers || pl.bytes > kMaxBytes) {
      pl.bytes -= pl.free.front().second;
      std::free(pl.free.front().first);
      pl.free.erase(pl.free.begin());
    }
    return;
  }
  std::free(p_);
}

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& o) noexcept {
  if (this != &o) {
    this->~PooledBuffer();
    p_ = o.p_, cap_ = o.cap_;
    o.p_ = nullptr, o.cap_ = 0;
  }
  return *this;
}

}  // namespace lowbit

// Reusable uninitialized buffers for a call's copies and staged outputs (napi/call.h).
//
// Why: an async call copies its inputs and stages its outputs; a fresh multi-megabyte allocation
// per call is mapped by malloc and faulted in page by page (measured: a 5 MB staged output cost
// more than copying it), so freed buffers of 64 KiB and more are kept for the next call: at most 8,
// 256 MiB in all. Smaller ones come from the allocator as usual.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit {

class PooledBuffer {
 public:
  PooledBuffer() = default;
  explicit PooledBuffer(size_t bytes);  // throws std::bad_alloc
  ~PooledBuffer();
  PooledBuffer(PooledBuffer&& o) noexcept : p_(o.p_), cap_(o.cap_) { o.p_ = nullptr, o.cap_ = 0; }
  PooledBuffer& operator=(PooledBuffer&& o) noexcept;
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  uint8_t* get() const { return p_; }

 private:
  uint8_t* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace lowbit

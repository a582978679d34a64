// Memory lowbit allocates for the caller (embedding tables from EmbeddingTable.allocate and
// fromFloat32), with a lifetime lowbit controls.
//
// Why: an async call must not read memory that can be freed under it. A plain ArrayBuffer that V8
// allocated can be transferred away and freed while a worker thread reads it, and N-API gives no
// way to hold its backing store. Memory we allocate ourselves is reference counted instead: the
// JavaScript ArrayBuffer over it holds one reference (dropped by its finalizer, wherever the
// buffer was transferred to), every call in flight that reads or writes it holds another, and the
// pages are released when the last one goes. A call finds the region under a pointer with
// OwnedMemory::find.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace lowbit {

class OwnedMemory {
 public:
  // Zeroed memory of `bytes` (at least 1), or null when the system refuses it. Large regions are
  // their own mapping with a 2 MiB-page hint on Linux (random row lookups then miss the TLB far
  // less); `mapped_bytes` is what the region really holds (rounded up to whole huge pages).
  // huge_pages false: no 2 MiB-page hint (results written once: a huge page fault may compact
  // memory first, which costs more than it saves there).
  static std::shared_ptr<OwnedMemory> allocate(size_t bytes, bool huge_pages = true);
  // The live region that holds [p, p + bytes), or null.
  static std::shared_ptr<OwnedMemory> find(const void* p, size_t bytes);

  ~OwnedMemory();
  OwnedMemory(const OwnedMemory&) = delete;
  OwnedMemory& operator=(const OwnedMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t mapped_bytes() const { return mapped_; }

 private:
  OwnedMemory() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0, mapped_ = 0;
  bool mmapped_ = false;
};

}  // namespace lowbit

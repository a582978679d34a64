// A per-thread byte buffer for kernels, 64-byte aligned, grown on demand and never shrunk.
//
// In an anonymous namespace on purpose, like the drivers that include it: each ISA's translation
// unit is compiled with its own -m flags, and a shared inline symbol could be merged by the linker
// with a copy that uses instructions the CPU lacks. So every translation unit that includes this
// gets its own buffer per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace lowbit {
namespace {

struct Scratch {
  uint8_t* p = nullptr;
  size_t cap = 0;
  ~Scratch() {
    if (p) ::operator delete(p, std::align_val_t(64));
  }
  uint8_t* get(size_t n) {
    if (n > cap) {
      if (p) ::operator delete(p, std::align_val_t(64));
      cap = n + n / 4 + 4096;
      p = static_cast<uint8_t*>(::operator new(cap, std::align_val_t(64)));
    }
    return p;
  }
};

}  // namespace
}  // namespace lowbit

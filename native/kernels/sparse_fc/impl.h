// Shared by the SIMD sparse FC kernels (include after the ISA headers; anonymous namespace, one
// copy per translation unit, like gemm/driver.h which it builds on): the per-call column window of
// output parameters and the thread-local scratch.
#pragma once

#include <cstring>

#include "kernels/gemm/driver.h"
#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace sparse_fc {
namespace {

constexpr size_t kMR = 8;   // rows of X per tile
constexpr size_t kNC = 64;  // output channels per epilogue chunk

// The output parameters of columns [n0, n1), padded with neutral values to a multiple of 8 entries
// so that the 8-wide epilogue may read whole chunks. colterm = bias_s32 - x_zp * rowsum (mod 2^32):
// the kernels accumulate sum X * W on the raw uint8 X, so colterm + that sum is the exact result.
struct Window {
  int32_t* colterm;
  float* scale;
  float* biasf;  // nullptr when out.bias_f32 is
};

inline size_t window_bytes(size_t cols) {
  return gemm::round_up(cols, gemm::kPanelN) * (sizeof(int32_t) + 2 * sizeof(float));
}

inline Window make_window(const SparseFcInt8Weights& w, int32_t x_zp, const gemm::Output& out, size_t n0,
                          size_t n1, uint8_t* mem) {
  const size_t W = gemm::round_up(n1 - n0, gemm::kPanelN);
  Window win;
  win.colterm = reinterpret_cast<int32_t*>(mem);
  win.scale = reinterpret_cast<float*>(mem + W * sizeof(int32_t));
  win.biasf = out.bias_f32 ? reinterpret_cast<float*>(mem + W * (sizeof(int32_t) + sizeof(float))) : nullptr;
  for (size_t i = 0; i < W; i++) {
    const size_t n = n0 + i;
    const bool in = n < n1;
    uint32_t ct = in && out.bias_s32 ? (uint32_t)out.bias_s32[n] : 0u;
    if (in) ct -= (uint32_t)x_zp * (uint32_t)w.row_sum[n];
    win.colterm[i] = (int32_t)ct;
    win.scale[i] = in && out.scale ? out.scale[out.scale_per_channel ? n : 0] : 1.0f;
    if (win.biasf) win.biasf[i] = in ? out.bias_f32[n] : 0.0f;
  }
  return win;
}

// A call's thread-local scratch: the column window of [n0, n1) (built here) followed by
// xbytes for the kernel's packed X; returns the latter.
inline uint8_t* call_scratch(const SparseFcInt8Weights& w, int32_t x_zp, const gemm::Output& out, size_t n0, size_t n1,
                             size_t xbytes, Window* win) {
  const size_t wbytes = gemm::round_up(window_bytes(n1 - n0), 64);
  uint8_t* mem = gemm::scratch().get(wbytes + xbytes + 64);
  *win = make_window(w, x_zp, out, n0, n1, mem);
  return mem + wbytes;
}

inline gemm::EpiChunk chunk_params(const Window& win, size_t at) {
  return gemm::EpiChunk{win.colterm + at, nullptr, win.scale + at, true, win.biasf ? win.biasf + at : nullptr};
}

}  // namespace
}  // namespace sparse_fc
}  // namespace lowbit

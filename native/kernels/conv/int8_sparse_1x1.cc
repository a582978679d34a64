// int8 1x1 convolution on the sparse FC kernel: transpose in, sparse kernel, transpose out
// (int8_sparse_1x1.h). Baseline code: the ISA-specific work happens in the kernel passed in.
#include "kernels/conv/int8_sparse_1x1.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lowbit {
namespace conv {
namespace {

// 8 rows of 8 bytes (row i = element (i, 0..7) in memory order) transposed in place: swap 1-, 2-
// and 4-byte blocks across row pairs (little-endian byte order; a byte loop otherwise).
inline void swap_bits(uint64_t& a, uint64_t& b, int shift, uint64_t mask) {
  const uint64_t t = ((a >> shift) ^ b) & mask;
  b ^= t;
  a ^= t << shift;
}
inline void transpose_8x8_bytes(uint64_t r[8]) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint8_t m[8][8], t[8][8];
  std::memcpy(m, r, 64);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) t[j][i] = m[i][j];
  std::memcpy(r, t, 64);
#else
  for (int i = 0; i < 8; i += 2) swap_bits(r[i], r[i + 1], 8, 0x00FF00FF00FF00FFull);
  for (int i : {0, 1, 4, 5}) swap_bits(r[i], r[i + 2], 16, 0x0000FFFF0000FFFFull);
  for (int i = 0; i < 4; i++) swap_bits(r[i], r[i + 4], 32, 0x00000000FFFFFFFFull);
#endif
}

// x: [cin][plane] of one image -> rows [p0, p1) as [pixel][cin] (row stride cin).
void gather_rows(const uint8_t* x, size_t cin, size_t plane, size_t p0, size_t p1, uint8_t* rows) {
  size_t p = p0;
  for (; p + 8 <= p1; p += 8) {
    uint8_t* d = rows + (p - p0) * cin;
    size_t c = 0;
    for (; c + 8 <= cin; c += 8) {
      uint64_t r[8];
      for (int i = 0; i < 8; i++) std::memcpy(&r[i], x + (c + i) * plane + p, 8);
      transpose_8x8_bytes(r);
      for (int i = 0; i < 8; i++) std::memcpy(d + (size_t)i * cin + c, &r[i], 8);
    }
    for (; c < cin; c++)
      for (size_t i = 0; i < 8; i++) d[i * cin + c] = x[c * plane + p + i];
  }
  for (; p < p1; p++)
    for (size_t c = 0; c < cin; c++) rows[(p - p0) * cin + c] = x[c * plane + p];
}

// tmp [rows][ld], channels [c0, c1) -> y[c * plane + i]
template <typename T>
void scatter_channels(const T* tmp, size_t ld, size_t rows, size_t c0, size_t c1, T* y, size_t plane) {
  for (size_t c = c0; c < c1; c++) {
    T* dst = y + c * plane;
    for (size_t i = 0; i < rows; i++) dst[i] = tmp[i * ld + c];
  }
}

struct Scratch {
  std::vector<uint8_t> rows;
  std::vector<uint32_t> tmp;  // 4-byte elements: room for every output type, aligned for int32/fp32
};

}  // namespace

bool qconv_sparse_1x1_applies(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 && g.groups == 1;
}

QConvSparsePlan plan_qconv_sparse_1x1(const ConvLayout& l, const sparse_fc::SparseFcInt8Weights& w, int threads) {
  QConvSparsePlan p;
  p.pixels = l.out_pixels();
  const size_t K = w.K, N = w.N;
  // Pixels per block: the gathered rows plus the output tile in about 192 KiB (L2), as the dense
  // path; a multiple of 8 (the kernel's row tile: no partial tile but the image's last).
  size_t block = (192 * 1024) / (K + 4 * N);
  block = std::max<size_t>(64, std::min<size_t>(1024, block)) / 8 * 8;
  const size_t want = (size_t)std::max(1, threads);
  while (block > 32 && (size_t)l.n * ((p.pixels + block - 1) / block) < want) block = std::max<size_t>(32, block / 2 / 8 * 8);
  p.block = std::min(block, p.pixels);
  p.blocks = (p.pixels + p.block - 1) / p.block;
  const size_t have = (size_t)l.n * p.blocks;
  p.parts = have < want ? std::min<size_t>({(want + have - 1) / have, N, 64}) : 1;
  std::vector<size_t> bounds;
  sparse_fc::split_by_blocks(w, p.parts, &bounds);
  std::copy(bounds.begin(), bounds.end(), p.bounds);
  p.tasks = have * p.parts;
  return p;
}

void qconv_sparse_1x1_task(sparse_fc::SparseFcU8S8Fn fn, const sparse_fc::SparseFcInt8Weights& w, const ConvLayout& l,
                           const QConvSparsePlan& plan, const uint8_t* x, int32_t x_zp, const QConvOutput& out, size_t task) {
  const size_t K = w.K, N = w.N;
  const size_t part = task % plan.parts, rest = task / plan.parts;
  const size_t block = rest % plan.blocks, img = rest / plan.blocks;
  const size_t p0 = block * plan.block, p1 = std::min(plan.pixels, p0 + plan.block), rows = p1 - p0;
  const size_t c0 = plan.bounds[part], c1 = plan.bounds[part + 1];
  if (c0 >= c1 || rows == 0) return;

  thread_local Scratch s;
  if (s.rows.size() < rows * K) s.rows.resize(rows * K);
  if (s.tmp.size() < rows * N) s.tmp.resize(rows * N);
  gather_rows(x + img * K * plan.pixels, K, plan.pixels, p0, p1, s.rows.data());

  gemm::Output o;
  o.type = out.type;
  o.c = s.tmp.data();
  o.ldc = N;
  o.bias_s32 = out.bias_s32;
  o.scale = out.scale;
  o.scale_per_channel = out.scale_per_channel;
  o.bias_f32 = out.bias_f32;
  o.out_zp = out.out_zp;
  o.qmin = out.qmin;
  o.qmax = out.qmax;
  o.relu = out.relu;
  fn(w, s.rows.data(), K, rows, x_zp, o, c0, c1);

  const size_t y_off = img * N * plan.pixels + p0;
  switch (out.type) {
    case gemm::OutType::u8:
    case gemm::OutType::s8:
      scatter_channels(reinterpret_cast<const uint8_t*>(s.tmp.data()), N, rows, c0, c1, static_cast<uint8_t*>(out.y) + y_off, plan.pixels);
      break;
    case gemm::OutType::f32:
      scatter_channels(reinterpret_cast<const float*>(s.tmp.data()), N, rows, c0, c1, static_cast<float*>(out.y) + y_off, plan.pixels);
      break;
    default:
      scatter_channels(reinterpret_cast<const int32_t*>(s.tmp.data()), N, rows, c0, c1, static_cast<int32_t*>(out.y) + y_off, plan.pixels);
      break;
  }
}

}  // namespace conv
}  // namespace lowbit

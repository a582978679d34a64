// int8 1x1 convolution on the sparse FC kernel: transpose in, sparse kernel, transpose out
// (int8_sparse_1x1.h). Baseline code: the ISA-specific work happens in the kernel passed in.
#include "kernels/conv/int8_sparse_1x1.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lowbit {
namespace conv {
namespace {

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

struct Scratch {
  std::vector<uint8_t> rows;
  std::vector<uint32_t> tmp;  // 4-byte elements: room for every output type, aligned for int32/fp32
};

}  // namespace

bool qconv_sparse_1x1_applies(const ConvGeometry& g) {
  return g.pointwise() && g.groups == 1;
}

QConvSparsePlan plan_qconv_sparse_1x1(const ConvLayout& l, const sparse_fc::SparseFcInt8Weights& w, int threads) {
  QConvSparsePlan p;
  p.pixels = l.out_pixels();
  const size_t K = w.K, N = w.N;
  // Pixels per block: the gathered rows plus the output tile in about 192 KiB (L2), as the dense
  // path; a multiple of 16 (whole row tiles of the AVX-512 kernel, 16 rows, and of the others, 8: no
  // partial tile but the image's last).
  size_t block = (192 * 1024) / (K + 4 * N);
  block = std::max<size_t>(64, std::min<size_t>(1024, block)) / 16 * 16;
  const size_t want = (size_t)std::max(1, threads);
  while (block > 32 && (size_t)l.n * ((p.pixels + block - 1) / block) < want) block = std::max<size_t>(32, block / 2 / 16 * 16);
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

  const gemm::Output o = tile_output(out, 0, s.tmp.data(), N);
  fn(w, s.rows.data(), K, rows, x_zp, o, c0, c1);

  const size_t y_off = img * N * plan.pixels + p0;
  write_tile_nchw(out, s.tmp.data(), N, rows, c0, c1, y_off, plan.pixels);
}

}  // namespace conv
}  // namespace lowbit

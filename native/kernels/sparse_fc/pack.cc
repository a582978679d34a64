// Packing of int8 sparse FC weights into 1x4 blocks (README.md: "Format"); shared by every ISA.
#include <algorithm>

#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {
namespace sparse_fc {

namespace {
bool pair_safe(int a, int b) {
  const int pos = (a > 0 ? a : 0) + (b > 0 ? b : 0), neg = (a < 0 ? -a : 0) + (b < 0 ? -b : 0);
  return 255 * pos <= 32767 && 255 * neg <= 32768;
}
}  // namespace

SparseFcInt8Weights pack_sparse_fc_int8(const int8_t* w, size_t N, size_t K) {
  SparseFcInt8Weights p;
  p.N = N;
  p.K = K;
  p.k_groups = (K + kBlockK - 1) / kBlockK;
  p.row_ptr.assign(N + 1, 0);
  p.row_sum.assign(N, 0);
  for (size_t n = 0; n < N; n++) {
    const int8_t* row = w + n * K;
    int32_t sum = 0;
    for (size_t g = 0; g < p.k_groups; g++) {
      int8_t q[kBlockK] = {0, 0, 0, 0};
      bool any = false;
      for (size_t i = 0; i < kBlockK; i++) {
        const size_t k = g * kBlockK + i;
        if (k < K) q[i] = row[k];
        any |= q[i] != 0;
        sum += q[i];
      }
      if (!any) continue;
      p.kg.push_back((uint32_t)g);
      p.w.insert(p.w.end(), q, q + kBlockK);
      if (!pair_safe(q[0], q[1]) || !pair_safe(q[2], q[3])) p.maddubs_safe = false;
    }
    p.row_sum[n] = sum;
    p.row_ptr[n + 1] = (uint32_t)p.kg.size();
  }
  return p;
}

int8_t SparseFcInt8Weights::weight(size_t n, size_t k) const {
  const uint32_t g = (uint32_t)(k / kBlockK);
  const auto b = kg.begin() + row_ptr[n], e = kg.begin() + row_ptr[n + 1];
  const auto it = std::lower_bound(b, e, g);
  if (it == e || *it != g) return 0;
  return w[(size_t)(it - kg.begin()) * kBlockK + k % kBlockK];
}

void split_by_blocks(const SparseFcInt8Weights& w, size_t parts, std::vector<size_t>* bounds) {
  if (parts == 0) parts = 1;
  bounds->assign(parts + 1, w.N);
  (*bounds)[0] = 0;
  const double per_row = 2.0;  // output store and reduction, in blocks
  const double total = (double)w.nnz_blocks() + per_row * (double)w.N;
  size_t n = 0;
  double done = 0;
  for (size_t t = 1; t < parts; t++) {
    const double target = total * (double)t / (double)parts;
    while (n < w.N && done + 0.5 * ((double)w.nnz_blocks(n) + per_row) <= target) {
      done += (double)w.nnz_blocks(n) + per_row;
      n++;
    }
    (*bounds)[t] = n;
  }
}

PathCounters& path_counters() {
  static thread_local PathCounters c;
  return c;
}

}  // namespace sparse_fc
}  // namespace lowbit

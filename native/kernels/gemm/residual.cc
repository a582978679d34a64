// The residual split (residual.h). Plain scalar code, run once at pack time.
#include "kernels/gemm/residual.h"

#include <cstring>

namespace lowbit {
namespace gemm {
namespace {

inline int iabs(int v) { return v < 0 ? -v : v; }

// Same sign (zero counts as either) and the magnitudes add up to more than the limit.
inline bool pair_over(int b0, int b1) {
  return ((b0 >= 0 && b1 >= 0) || (b0 <= 0 && b1 <= 0)) && iabs(b0) + iabs(b1) > kMaddubsPairLimit;
}

}  // namespace

size_t residual_count(const int8_t* w_nk, size_t K, size_t N) {
  size_t count = 0;
  for (size_t n = 0; n < N; n++) {
    const int8_t* w = w_nk + n * K;
    for (size_t k = 0; k + 1 < K; k += 2) count += pair_over(w[k], w[k + 1]) ? 1 : 0;
  }
  return count;
}

void split_for_maddubs(const int8_t* w_nk, size_t K, size_t N, int8_t* dense_nk, Residual* r) {
  r->K = K;
  r->N = N;
  r->col_start.assign(N + 1, 0);
  r->col_value_sum.assign(N, 0);
  r->k_index.clear();
  r->value.clear();
  const size_t count = residual_count(w_nk, K, N);
  r->k_index.reserve(count);
  r->value.reserve(count);
  std::memcpy(dense_nk, w_nk, K * N);
  for (size_t n = 0; n < N; n++) {
    int8_t* d = dense_nk + n * K;
    int32_t sum = 0;
    for (size_t k = 0; k + 1 < K; k += 2) {
      const int b0 = d[k], b1 = d[k + 1];
      if (!pair_over(b0, b1)) continue;
      const int keep = b1 >= 0 ? kMaddubsPairLimit - iabs(b0) : -(kMaddubsPairLimit - iabs(b0));
      d[k + 1] = (int8_t)keep;  // |keep| <= 128 - 0; 128 only when b0 = 0, which is never over
      r->k_index.push_back((uint32_t)(k + 1));
      r->value.push_back((int8_t)(b1 - keep));  // same sign as b1, |b1 - keep| < |b1| + 1
      sum += b1 - keep;
    }
    r->col_value_sum[n] = sum;
    r->col_start[n + 1] = (uint32_t)r->value.size();
  }
}

}  // namespace gemm
}  // namespace lowbit

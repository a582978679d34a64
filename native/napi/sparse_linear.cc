#include "napi/sparse_linear.h"

#include <algorithm>

#include "cpu/parallel.h"

namespace lowbit {
namespace napi {

void run_sparse_fc(const SparseFcKernels& k, const sparse_fc::SparseFcInt8Weights& w, const uint8_t* x, bool x_signed,
                   size_t ldx, size_t M, int32_t x_zp, const gemm::Output& out, int threads) {
  std::vector<uint8_t> shifted;
  if (x_signed) {
    // (x + 128) - (zp + 128) = x - zp: the kernel sees uint8 rows with the same differences.
    shifted.resize(M * w.K);
    for (size_t j = 0; j < M; j++)
      for (size_t i = 0; i < w.K; i++) shifted[j * w.K + i] = (uint8_t)(x[j * ldx + i] ^ 0x80u);
    x = shifted.data();
    ldx = w.K;
    x_zp += 128;
  }
  const size_t parts = std::min<size_t>(threads > 1 ? (size_t)threads : 1, w.N);
  if (parts <= 1) {
    k.sparse_fc_u8s8(w, x, ldx, M, x_zp, out, 0, w.N);
    return;
  }
  std::vector<size_t> bounds;
  sparse_fc::split_by_blocks(w, parts, &bounds);
  parallel_for(parts, (int)parts, [&](size_t i) {
    if (bounds[i] < bounds[i + 1]) k.sparse_fc_u8s8(w, x, ldx, M, x_zp, out, bounds[i], bounds[i + 1]);
  });
}

bool activations_narrow(const uint8_t* a, bool a_signed, size_t lda, size_t M, size_t K) {
  // Compare as uint8 after flipping the sign bit of int8 values: the order is the same.
  const uint8_t flip = a_signed ? 0x80 : 0;
  int lo = 255, hi = 0;
  for (size_t j = 0; j < M && hi - lo <= 127; j++) {
    const uint8_t* r = a + j * lda;
    uint8_t rl = 255, rh = 0;
    for (size_t i = 0; i < K; i++) {
      const uint8_t v = (uint8_t)(r[i] ^ flip);
      rl = v < rl ? v : rl;
      rh = v > rh ? v : rh;
    }
    lo = std::min<int>(lo, rl);
    hi = std::max<int>(hi, rh);
  }
  return hi - lo <= 127;
}

std::vector<int8_t> weights_nk(const gemm::PackedB& b) {
  std::vector<int8_t> w(b.N * b.K);
  for (size_t n = 0; n < b.N; n++)
    for (size_t k = 0; k < b.K; k++) w[n * b.K + k] = b.weight(k, n);
  return w;
}

std::vector<int8_t> weights_nk(const sparse_fc::SparseFcInt8Weights& w) {
  std::vector<int8_t> out(w.N * w.K, 0);
  for (size_t n = 0; n < w.N; n++)
    for (uint32_t b = w.row_ptr[n]; b < w.row_ptr[n + 1]; b++)
      for (size_t i = 0; i < sparse_fc::kBlockK; i++) {
        const size_t k = (size_t)w.kg[b] * sparse_fc::kBlockK + i;
        if (k < w.K) out[n * w.K + k] = w.w[(size_t)b * sparse_fc::kBlockK + i];
      }
  return out;
}

}  // namespace napi
}  // namespace lowbit

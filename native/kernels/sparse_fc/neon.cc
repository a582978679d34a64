// NEON sparse FC, int8 (README.md: "NEON"). Tiles of 8 rows of X packed per call as int16
// [k group][k][row]: one 1x4 block is 4 steps of smlal / smlal2 by lane (weight k of the block
// times 8 rows), int32 accumulators of rows 0-3 and 4-7; exact by construction. A single
// remaining row runs smlal over the block's 4 values. Epilogue: gemm's scalar epilogue.
#include <arm_neon.h>

#include "kernels/sparse_fc/impl.h"

namespace lowbit {
namespace sparse_fc {
namespace {

using gemm::Output;

inline int16x4_t load_w4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(v))));
}

void pack_tile(const uint8_t* x, size_t ldx, size_t mr, size_t K, size_t G, int16_t* d) {
  for (size_t g = 0; g < G; g++)
    for (size_t i = 0; i < kBlockK; i++) {
      const size_t k = g * kBlockK + i;
      for (size_t r = 0; r < kMR; r++) d[(g * kBlockK + i) * kMR + r] = r < mr && k < K ? x[r * ldx + k] : 0;
    }
}

inline void column8(const SparseFcInt8Weights& w, size_t n, const int16_t* x16, int32_t* dst) {
  const uint32_t* kg = w.kg.data();
  const int8_t* wb = w.w.data();
  int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0), b0 = vdupq_n_s32(0), b1 = vdupq_n_s32(0);
  for (uint32_t b = w.row_ptr[n], e = w.row_ptr[n + 1]; b < e; b++) {
    const int16x4_t wv = load_w4(wb + (size_t)b * 4);
    const int16_t* xg = x16 + (size_t)kg[b] * 32;
    const int16x8_t x0 = vld1q_s16(xg), x1 = vld1q_s16(xg + 8), x2 = vld1q_s16(xg + 16), x3 = vld1q_s16(xg + 24);
    a0 = vmlal_lane_s16(a0, vget_low_s16(x0), wv, 0);
    a1 = vmlal_high_lane_s16(a1, x0, wv, 0);
    b0 = vmlal_lane_s16(b0, vget_low_s16(x1), wv, 1);
    b1 = vmlal_high_lane_s16(b1, x1, wv, 1);
    a0 = vmlal_lane_s16(a0, vget_low_s16(x2), wv, 2);
    a1 = vmlal_high_lane_s16(a1, x2, wv, 2);
    b0 = vmlal_lane_s16(b0, vget_low_s16(x3), wv, 3);
    b1 = vmlal_high_lane_s16(b1, x3, wv, 3);
  }
  vst1q_s32(dst, vaddq_s32(a0, b0));
  vst1q_s32(dst + 4, vaddq_s32(a1, b1));
}

inline int32_t row1(const SparseFcInt8Weights& w, size_t n, const int16_t* x16) {
  const uint32_t* kg = w.kg.data();
  const int8_t* wb = w.w.data();
  int32x4_t a = vdupq_n_s32(0), c = vdupq_n_s32(0);
  uint32_t b = w.row_ptr[n];
  const uint32_t e = w.row_ptr[n + 1];
  for (; b + 2 <= e; b += 2) {
    a = vmlal_s16(a, vld1_s16(x16 + (size_t)kg[b] * 4), load_w4(wb + (size_t)b * 4));
    c = vmlal_s16(c, vld1_s16(x16 + (size_t)kg[b + 1] * 4), load_w4(wb + (size_t)b * 4 + 4));
  }
  if (b < e) a = vmlal_s16(a, vld1_s16(x16 + (size_t)kg[b] * 4), load_w4(wb + (size_t)b * 4));
  return vaddvq_s32(vaddq_s32(a, c));
}

}  // namespace

void sparse_fc_u8s8__neon(const SparseFcInt8Weights& w, const uint8_t* x, size_t ldx, size_t M, int32_t x_zp,
                          const Output& out, size_t n_begin, size_t n_end) {
  const size_t n0 = n_begin, n1 = gemm::dmin(n_end, w.N);
  if (n0 >= n1 || M == 0) return;
  const size_t K = w.K, G = w.k_groups, esz = gemm::out_elem_size(out.type);
  Window win;
  int16_t* x16 = reinterpret_cast<int16_t*>(call_scratch(w, x_zp, out, n0, n1, G * kMR * kBlockK * 2, &win));
  alignas(16) int32_t tt[kNC * kMR];    // [column][row]
  alignas(16) int32_t tile[kMR * kNC];  // [row][column]
  for (size_t j0 = 0; j0 < M; j0 += kMR) {
    const size_t mr = gemm::dmin(kMR, M - j0);
    const uint8_t* xr = x + j0 * ldx;
    uint8_t* dst = static_cast<uint8_t*>(out.c) + (j0 * out.ldc + n0) * esz;
    if (mr == 1)
      for (size_t k = 0; k < G * kBlockK; k++) x16[k] = k < K ? xr[k] : 0;
    else
      pack_tile(xr, ldx, mr, K, G, x16);
    for (size_t c0 = n0; c0 < n1; c0 += kNC) {
      const size_t cnt = gemm::dmin(kNC, n1 - c0);
      if (mr == 1) {
        for (size_t i = 0; i < cnt; i++) tile[i] = row1(w, c0 + i, x16);
      } else {
        for (size_t i = 0; i < cnt; i++) column8(w, c0 + i, x16, tt + i * kMR);
        for (size_t r = 0; r < mr; r++)
          for (size_t i = 0; i < cnt; i++) tile[r * kNC + i] = tt[i * kMR + r];
      }
      const gemm::EpiChunk e = chunk_params(win, c0 - n0);
      for (size_t r = 0; r < mr; r++)
        gemm::epilogue_scalar(tile + r * kNC, e, 0, out, 0, cnt, dst + (r * out.ldc + (c0 - n0)) * esz);
    }
  }
}

}  // namespace sparse_fc
}  // namespace lowbit

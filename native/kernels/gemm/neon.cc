// Plain NEON GEMM microkernel (any aarch64): A packed as int16, B sign-extended with sxtl, smlal
// accumulates one int32x4 per column (the 4 k of a group in its lanes; |4 products| < 2^31),
// folded with addp at the end. Exact for every input. Tile up to 2 x 8 (16 accumulators), 1 x 16.
#include <arm_neon.h>

#include "kernels/gemm/driver.h"

namespace lowbit {
namespace gemm {
namespace {

struct Neon {
  static constexpr FastKind kFast = FastKind::none;
  static constexpr bool kHasExact = true;
  static constexpr int kMRExact = 2, kMRFast = 2;
  static int np_exact(int mr) { return mr == 1 ? 2 : 1; }
  static int np_fast(int) { return 1; }

  template <int MR, int NP>
  static void exact(const int16_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                    size_t tld) {
    int32x4_t acc[MR][NP][8];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++)
        for (int c = 0; c < 8; c++) acc[r][p][c] = vdupq_n_s32(0);
    for (size_t g = 0; g < k4; g++) {
      int16x8_t bw[NP][4];  // columns (0,1), (2,3), (4,5), (6,7), 4 k each
      for (int p = 0; p < NP; p++) {
        const int8_t* q = bp + p * pstride + g * kPanelGroupBytes;
        const int8x16_t b0 = vld1q_s8(q), b1 = vld1q_s8(q + 16);
        bw[p][0] = vmovl_s8(vget_low_s8(b0));
        bw[p][1] = vmovl_s8(vget_high_s8(b0));
        bw[p][2] = vmovl_s8(vget_low_s8(b1));
        bw[p][3] = vmovl_s8(vget_high_s8(b1));
      }
      for (int r = 0; r < MR; r++) {
        const int16x4_t a = vld1_s16(ap + (g * MR + r) * kGroupK);
        for (int p = 0; p < NP; p++)
          for (int h = 0; h < 4; h++) {
            acc[r][p][2 * h] = vmlal_s16(acc[r][p][2 * h], vget_low_s16(bw[p][h]), a);
            acc[r][p][2 * h + 1] = vmlal_s16(acc[r][p][2 * h + 1], vget_high_s16(bw[p][h]), a);
          }
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) {
        const int32x4_t lo = vpaddq_s32(vpaddq_s32(acc[r][p][0], acc[r][p][1]), vpaddq_s32(acc[r][p][2], acc[r][p][3]));
        const int32x4_t hi = vpaddq_s32(vpaddq_s32(acc[r][p][4], acc[r][p][5]), vpaddq_s32(acc[r][p][6], acc[r][p][7]));
        vst1q_s32(tile + r * tld + p * kPanelN, lo);
        vst1q_s32(tile + r * tld + p * kPanelN + 4, hi);
      }
  }

  template <int MR, int NP>
  static void fast(const uint8_t*, const int8_t*, size_t, size_t, int32_t*, size_t) {}

  static void epilogue(const int32_t* acc8, const EpiChunk& e, int32_t rowsum, const Output& out,
                       size_t from, size_t to, void* dst) {
    epilogue_scalar(acc8, e, rowsum, out, from, to, dst);
  }
};

}  // namespace

void gemm_u8s8__neon(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                     const Range& r, const Options& opt) {
  run<Neon>(a, false, lda, a_zp, b, out, r, opt);
}
void gemm_s8s8__neon(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                     const Range& r, const Options& opt) {
  run<Neon>(a, true, lda, a_zp, b, out, r, opt);
}

}  // namespace gemm
}  // namespace lowbit

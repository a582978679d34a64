// NEON dotprod GEMM microkernel: sdot (s8 x s8, four products into each int32 lane), exact for every
// input. A is packed as int8 (u8 activations shifted by -128, corrected through the column sums,
// see driver.h). One 32-byte B block = two q registers of 4 columns x 4 k. Tile up to 4 x 16.
#include <arm_neon.h>

#include "kernels/gemm/driver.h"

namespace lowbit {
namespace gemm {
namespace {

struct Dotprod {
  static constexpr FastKind kFast = FastKind::s8_always;
  static constexpr bool kHasExact = false;
  static constexpr int kMRExact = 4, kMRFast = 4;
  static int np_exact(int) { return 1; }
  static int np_fast(int mr) { return mr <= 2 ? 4 : 2; }

  template <int MR, int NP>
  static void exact(const int16_t*, const int8_t*, size_t, size_t, int32_t*, size_t) {}

  template <int MR, int NP>
  static void fast(const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4, int32_t* tile,
                   size_t tld) {
    int32x4_t acc[MR][NP][2];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) acc[r][p][0] = acc[r][p][1] = vdupq_n_s32(0);
    for (size_t g = 0; g < k4; g++) {
      int8x16_t b[NP][2];
      for (int p = 0; p < NP; p++) {
        const int8_t* q = bp + p * pstride + g * kPanelGroupBytes;
        b[p][0] = vld1q_s8(q);
        b[p][1] = vld1q_s8(q + 16);
      }
      for (int r = 0; r < MR; r++) {
        int32_t a4;
        std::memcpy(&a4, ap + (g * MR + r) * kGroupK, 4);
        const int8x16_t a = vreinterpretq_s8_s32(vdupq_n_s32(a4));
        for (int p = 0; p < NP; p++) {
          acc[r][p][0] = vdotq_s32(acc[r][p][0], b[p][0], a);
          acc[r][p][1] = vdotq_s32(acc[r][p][1], b[p][1], a);
        }
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) {
        vst1q_s32(tile + r * tld + p * kPanelN, acc[r][p][0]);
        vst1q_s32(tile + r * tld + p * kPanelN + 4, acc[r][p][1]);
      }
  }

  static void epilogue(const int32_t* acc8, const EpiChunk& e, int32_t rowsum, const Output& out,
                       size_t from, size_t to, void* dst) {
    epilogue_scalar(acc8, e, rowsum, out, from, to, dst);
  }
};

}  // namespace

void gemm_u8s8__dotprod(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                        const Range& r, const Options& opt) {
  run<Dotprod>(a, false, lda, a_zp, b, out, r, opt);
}
void gemm_s8s8__dotprod(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
                        const Range& r, const Options& opt) {
  run<Dotprod>(a, true, lda, a_zp, b, out, r, opt);
}

}  // namespace gemm
}  // namespace lowbit

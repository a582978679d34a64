// NEON dotprod 4-bit GEMM panel kernel (q4.h, q4_driver.h): nibbles unpacked with vand / vshr and
// shifted to [-8, 7]; A packed as a - 128 (int8) so that sdot (s8 x s8, four products per int32
// lane) applies, corrected through zp_eff = a_zp - 128. One chunk = two q registers per nibble half
// (columns 0-3 and 4-7, 4 k each).
#include <arm_neon.h>

#include "kernels/gemm/q4_driver.h"

namespace lowbit {
namespace gemm {
namespace {

struct Q4Dotprod {
  static constexpr int kAShift = 128;
  template <int MR, int NP>
  static void panel(const uint8_t* ap, size_t Kp, const int32_t*, const uint8_t* bp, size_t pstride,
                    const float* scales, const int32_t* qsum, size_t groups, size_t gch, int32_t zp, float* out) {
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    const size_t gstride = groups * kPanelN;
    float32x4_t f[MR][NP][2];
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) f[r][p][0] = f[r][p][1] = vdupq_n_f32(0.0f);
    for (size_t g = 0; g < groups; g++) {
      int32x4_t acc[MR][NP][2];
      for (int r = 0; r < MR; r++)
        for (int p = 0; p < NP; p++) acc[r][p][0] = acc[r][p][1] = vdupq_n_s32(0);
      for (size_t t = g * gch; t < (g + 1) * gch; t++) {
        for (int p = 0; p < NP; p++) {
          const uint8_t* q = bp + p * pstride + t * kQ4ChunkBytes;
          const uint8x16_t x0 = vld1q_u8(q), x1 = vld1q_u8(q + 16);
          const int8x16_t lo0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(x0, mask)), eight);
          const int8x16_t lo1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(x1, mask)), eight);
          const int8x16_t hi0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(x0, 4)), eight);
          const int8x16_t hi1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(x1, 4)), eight);
          for (int r = 0; r < MR; r++) {
            int32_t a0, a1;
            std::memcpy(&a0, ap + r * Kp + t * kQ4ChunkK, 4);
            std::memcpy(&a1, ap + r * Kp + t * kQ4ChunkK + 4, 4);
            const int8x16_t va0 = vreinterpretq_s8_s32(vdupq_n_s32(a0)), va1 = vreinterpretq_s8_s32(vdupq_n_s32(a1));
            acc[r][p][0] = vdotq_s32(vdotq_s32(acc[r][p][0], lo0, va0), hi0, va1);
            acc[r][p][1] = vdotq_s32(vdotq_s32(acc[r][p][1], lo1, va0), hi1, va1);
          }
        }
      }
      const int32x4_t vzp = vdupq_n_s32(zp);
      for (int p = 0; p < NP; p++) {
        const int32_t* qs = qsum + p * gstride + g * kPanelN;
        const float* sc = scales + p * gstride + g * kPanelN;
        const int32x4_t zq0 = vmulq_s32(vzp, vld1q_s32(qs)), zq1 = vmulq_s32(vzp, vld1q_s32(qs + 4));
        const float32x4_t s0 = vld1q_f32(sc), s1 = vld1q_f32(sc + 4);
        for (int r = 0; r < MR; r++) {
          f[r][p][0] = vaddq_f32(f[r][p][0], vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc[r][p][0], zq0)), s0));
          f[r][p][1] = vaddq_f32(f[r][p][1], vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc[r][p][1], zq1)), s1));
        }
      }
    }
    for (int r = 0; r < MR; r++)
      for (int p = 0; p < NP; p++) {
        vst1q_f32(out + (r * NP + p) * kPanelN, f[r][p][0]);
        vst1q_f32(out + (r * NP + p) * kPanelN + 4, f[r][p][1]);
      }
  }
};

}  // namespace

void q4_gemm__dotprod(const Q4Weights& w, const Q4Call& c, const Range& r) { q4_run<Q4Dotprod>(w, c, r); }

}  // namespace gemm
}  // namespace lowbit

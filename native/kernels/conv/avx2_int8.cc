// AVX2 direct int8 convolution (int8.h: qconv_u8s8_direct__avx2), exact.
//
// Why this shape (it replaced im2col + the GEMM + a transpose on AVX2; README.md, "int8"):
// - Output channels are the rows of the product and output pixels its columns, so the epilogue
//   writes 16 consecutive pixels of one NCHW channel: no [pixels][cout] tile, no transpose pass.
// - The weights are widened once at pack time (QConvDirect::w16 holds w - w_zp as int16), and the
//   activations are widened while they are gathered into panels of 16 pixels (x - x_zp as int16,
//   k pairs interleaved): the exact inner loop is a 32-bit broadcast + vpmaddwd + vpaddd per 8
//   pixels, with no per-call widening of B and no vpmovsxbw (both zero points are subtracted before
//   the multiply: |(w - wz)(x - xz)| <= 255 * 255, so a vpmaddwd pair sum stays below 2^31, and
//   image padding holds x_zp, i.e. 0: no zero-point corrections at all).
// - The fast kernel (vpmaddubsw, saturating) runs only when proven exact for the block, as in the
//   GEMM (kernels/gemm/README.md): the pair-safe weights (PackedB::maddubs_safe: any uint8 input),
//   or the block's input rows (padding included) span at most 128 values, shifted to [0, 127]:
//   |p0 w0 + p1 w1| <= 127 * 128 * 2 < 2^15. Then acc = S + (shift - xz) wsum[co] - wz[co] colsum[p]
//   with S = sum p w, p = x - shift, colsum[p] = sum over k of p (all modulo 2^32).
// - Panels are gathered from a zero-point-padded copy of the input rows the block needs
//   (pad_rows_u8; at stride sw > 1 split into sw column phases per row, column_phases): the 16
//   pixels of a panel are then at most a few runs of consecutive bytes (one per output row it
//   touches), loaded at an offset and blended; only very narrow outputs (> 4 runs) gather bytes.
// - Cache blocking: a task packs its block of pixels (about 192 KiB of panels, L2), then for each
//   tile of output channels (its weights, <= 6 * K * 2 bytes, stay in L1) runs over every panel.
// The panels, the epilogue and the task are shared with the AVX-512 VNNI kernel
// (direct_int8_x86.h); this file holds the AVX2 microkernels.
#include <immintrin.h>

#include "kernels/conv/direct_int8_x86.h"

namespace lowbit {
namespace conv {
namespace {

// acc + vpmaddwd(a, b) kept in one register (see kernels/gemm/avx2.cc: with plain intrinsics GCC
// routed accumulators through extra moves).
inline __m256i madd_acc(__m256i acc, __m256i a, __m256i b) {
#if defined(__GNUC__)
  __m256i t;
  __asm__("vpmaddwd %[b], %[a], %[t]\n\tvpaddd %[t], %[acc], %[acc]" : [acc] "+x"(acc), [t] "=&x"(t) : [a] "x"(a), [b] "x"(b));
  return acc;
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

// acc + vpmaddwd(vpmaddubsw(act, w), ones) as one asm statement: with intrinsics GCC hoisted every
// vpmaddubsw of a k step ahead of the adds and spilled accumulators to the stack.
inline __m256i maddubs_acc(__m256i acc, __m256i act, __m256i w, __m256i ones) {
#if defined(__GNUC__)
  __m256i t;
  __asm__("vpmaddubsw %[w], %[x], %[t]\n\tvpmaddwd %[o], %[t], %[t]\n\tvpaddd %[t], %[acc], %[acc]"
          : [acc] "+x"(acc), [t] "=&x"(t)
          : [x] "x"(act), [w] "x"(w), [o] "x"(ones));
  return acc;
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(act, w), ones));
#endif
}

// (NP = 2: 16 pixels; NP = 1: the first 8, for a last panel of <= 8 pixels)
template <int MR, int NP>
inline void start(__m256i (&acc)[MR][NP], const Part& pt) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NP; j++)
      acc[r][j] = pt.first ? _mm256_setzero_si256()
                           : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pt.part + r * pt.ld + 8 * j));
}
template <int MR, int NP>
inline void finish(__m256i (&acc)[MR][NP], const Part& pt, const Epi& e, size_t co, size_t q0, size_t npx) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    if (pt.last) {
      epilogue_row(e, co + r, acc[r][0], acc[r][NP - 1], q0, npx);
    } else {
      for (int j = 0; j < NP; j++)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(pt.part + r * pt.ld + 8 * j), acc[r][j]);
    }
  }
}

// MR channels x 8 NP pixels, exact: ap = weight tile [k2][6][2] int16, bp = panel [k2][16][2] int16.
// (noinline, as kernel_fast: inlined into the task, GCC kept outer values in registers and spilled an
// accumulator inside the k loop)
template <int MR, int NP>
__attribute__((noinline)) void kernel_exact(const int16_t* ap, const int16_t* bp, size_t k2, const Epi& e, size_t co,
                                            size_t q0, size_t npx, const Part& pt) {
  __m256i acc[MR][NP];
  start<MR, NP>(acc, pt);
  for (size_t g = 0; g < k2; g++) {
    __m256i b[NP];
    for (int j = 0; j < NP; j++) b[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + g * 32 + 16 * j));
    const int16_t* a = ap + g * QConvDirect::kMRExact * 2;
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      int32_t a2;
      std::memcpy(&a2, a + r * 2, 4);
      const __m256i av = _mm256_set1_epi32(a2);
      for (int j = 0; j < NP; j++) acc[r][j] = madd_acc(acc[r][j], av, b[j]);
    }
  }
  finish<MR, NP>(acc, pt, e, co, q0, npx);
}

// MR channels x 8 NP pixels, vpmaddubsw (proven exact by the caller): ap = weight tile [k4][4][4]
// int8, bp = panel [k4][16][4] uint8.
template <int MR, int NP>
__attribute__((noinline)) void kernel_fast(const int8_t* ap, const uint8_t* bp, size_t k4, const Epi& e, size_t co,
                                           size_t q0, size_t npx, const Part& pt) {
  __m256i acc[MR][NP];
  start<MR, NP>(acc, pt);
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t g = 0; g < k4; g++) {
    __m256i b[NP];
    for (int j = 0; j < NP; j++) b[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + g * 64 + 32 * j));
    const int8_t* a = ap + g * QConvDirect::kMRFast * 4;
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      int32_t a4;
      std::memcpy(&a4, a + r * 4, 4);
      const __m256i av = _mm256_set1_epi32(a4);
      for (int j = 0; j < NP; j++) acc[r][j] = maddubs_acc(acc[r][j], b[j], av, ones);
    }
  }
  finish<MR, NP>(acc, pt, e, co, q0, npx);
}

template <int NP>
void call_exact_np(int mr, const int16_t* ap, const int16_t* bp, size_t k2, const Epi& e, size_t co, size_t q0,
                   size_t npx, const Part& pt) {
  switch (mr) {
    case 1: kernel_exact<1, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
    case 2: kernel_exact<2, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
    case 3: kernel_exact<3, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
    case 4: kernel_exact<4, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
    case 5: kernel_exact<5, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
    default: kernel_exact<6, NP>(ap, bp, k2, e, co, q0, npx, pt); break;
  }
}
template <int NP>
void call_fast_np(int mr, const int8_t* ap, const uint8_t* bp, size_t k4, const Epi& e, size_t co, size_t q0,
                  size_t npx, const Part& pt) {
  switch (mr) {
    case 1: kernel_fast<1, NP>(ap, bp, k4, e, co, q0, npx, pt); break;
    case 2: kernel_fast<2, NP>(ap, bp, k4, e, co, q0, npx, pt); break;
    case 3: kernel_fast<3, NP>(ap, bp, k4, e, co, q0, npx, pt); break;
    default: kernel_fast<4, NP>(ap, bp, k4, e, co, q0, npx, pt); break;
  }
}
void call_exact(int mr, const int16_t* ap, const int16_t* bp, size_t k2, const Epi& e, size_t co, size_t q0, size_t npx,
                const Part& pt) {
  if (npx <= 8)
    call_exact_np<1>(mr, ap, bp, k2, e, co, q0, npx, pt);
  else
    call_exact_np<2>(mr, ap, bp, k2, e, co, q0, npx, pt);
}
void call_fast(int mr, const int8_t* ap, const uint8_t* bp, size_t k4, const Epi& e, size_t co, size_t q0, size_t npx,
               const Part& pt) {
  if (npx <= 8)
    call_fast_np<1>(mr, ap, bp, k4, e, co, q0, npx, pt);
  else
    call_fast_np<2>(mr, ap, bp, k4, e, co, q0, npx, pt);
}

struct Avx2Kern {
  static constexpr bool kVnni = false;
  static constexpr size_t kPixelGrain = 8;  // a last panel of <= 8 pixels runs the 8-pixel kernels
  static constexpr gemm::GemmU8S8Fn gemm = gemm::gemm_u8s8__avx2;

  // 4 channels x 16 pixels per call (vpmaddubsw), over the K block's weight slice [k4][4][4]
  static void fast_tiles(const Tiles& t, Epi e, Part pt) {
    constexpr size_t MR = QConvDirect::kMRFast;
    const QConvDirect& d = t.d;
    const int8_t* wt = reinterpret_cast<const int8_t*>(d.w8.data()) + t.grp * d.group8 + (t.kb / 4) * MR * 4;
    for (size_t co = t.c0; co < t.c1; co += MR) {
      const int mr = (int)std::min(MR, t.c1 - co);
      const int8_t* ap = wt + (co / MR) * d.k4 * MR * 4;
      for (size_t pi = 0; pi < t.npanels; pi++) {
        const size_t q0 = t.p0 + pi * kNR, npx = std::min<size_t>(kNR, t.p1 - q0);
        e.colsum = t.colsums + pi * kNR;
        pt.part = t.part + (co - t.c0) * t.ldp + pi * kNR;
        call_fast(mr, ap, t.panels + pi * t.panel_bytes, (t.kn + 3) / 4, e, co, q0, npx, pt);
      }
    }
  }

  // 6 channels x 16 pixels per call (vpmaddwd on int16), over the weight slice [k2][6][2]
  static void exact_tiles(const Tiles& t, Epi e, Part pt) {
    constexpr size_t MR = QConvDirect::kMRExact;
    const QConvDirect& d = t.d;
    const int16_t* wt = reinterpret_cast<const int16_t*>(d.w16.data()) + t.grp * d.group16 + (t.kb / 2) * MR * 2;
    for (size_t co = t.c0; co < t.c1; co += MR) {
      const int mr = (int)std::min(MR, t.c1 - co);
      const int16_t* ap = wt + (co / MR) * d.k2 * MR * 2;
      for (size_t pi = 0; pi < t.npanels; pi++) {
        const size_t q0 = t.p0 + pi * kNR, npx = std::min<size_t>(kNR, t.p1 - q0);
        pt.part = t.part + (co - t.c0) * t.ldp + pi * kNR;
        call_exact(mr, ap, reinterpret_cast<const int16_t*>(t.panels + pi * t.panel_bytes), (t.kn + 1) / 2, e, co,
                   q0, npx, pt);
      }
    }
  }
};

}  // namespace

void qconv_u8s8_direct__avx2(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                             int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  direct_task<Avx2Kern>(w, l, plan, x, x_zp, out, opt, task);
}

}  // namespace conv
}  // namespace lowbit

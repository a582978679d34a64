// The AVX-512 VNNI microkernel policy of the direct int8 convolution (direct_int8_x86.h), shared
// by avx512_int8.cc (qconv_u8s8_direct__avx512) and amx_int8.cc (the same kernel whose im2col blocks
// take the AMX GEMM). Include after <immintrin.h>, in a translation unit compiled for AVX-512;
// anonymous namespace, as direct_int8_x86.h.
#pragma once

#include "kernels/conv/direct_int8_x86.h"

namespace lowbit {
namespace conv {
namespace {

// acc += panel (u8) . broadcast(w[0..3]) (s8), the weights an embedded broadcast from memory. In
// asm: with the intrinsics GCC 12 copied accumulators between registers around each vpdpbusd
// (kernels/gemm/avx512_q4.cc).
inline void dot(__m512i& acc, __m512i panel, const int8_t* w) {
  __asm__("vpdpbusd %[w]%{1to16%}, %[x], %[acc]"
          : [acc] "+v"(acc)
          : [x] "v"(panel), [w] "m"(*reinterpret_cast<const int32_t*>(w)));
}

// MR channels (r < 4 from the weight tile a0, r >= 4 from a1: [k4][4][4] int8 each) x NP panels
// of 16 pixels (bp + 64 g + j * panel_bytes). q0 / npx: the first panel's first pixel and the
// pixels of panel j to store; partial sums of panel j at pt.part + 16 j (panels are consecutive
// in the task's partial-sum rows), column sums at e.colsum + 16 j.
template <int MR, int NP>
__attribute__((noinline)) void kernel_vnni(const int8_t* a0, const int8_t* a1, const uint8_t* bp, size_t panel_bytes,
                                           size_t k4, const Epi& e, size_t co, size_t q0, size_t npx_last,
                                           const Part& pt) {
  __m512i acc[MR][NP];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NP; j++)
      acc[r][j] = pt.first ? _mm512_setzero_si512() : _mm512_loadu_si512(pt.part + r * pt.ld + 16 * j);
  for (size_t g = 0; g < k4; g++) {
    __m512i b[NP];
    for (int j = 0; j < NP; j++) b[j] = _mm512_loadu_si512(bp + g * 64 + j * panel_bytes);
    const int8_t* w0 = a0 + g * 16;
    const int8_t* w1 = a1 + g * 16;
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NP; j++) dot(acc[r][j], b[j], r < 4 ? w0 + 4 * r : w1 + 4 * (r - 4));
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NP; j++) {
      if (pt.last) {
        Epi ej = e;
        if (ej.colsum) ej.colsum += 16 * j;
        epilogue_row(ej, co + r, _mm512_castsi512_si256(acc[r][j]), _mm512_extracti64x4_epi64(acc[r][j], 1),
                     q0 + 16 * j, j == NP - 1 ? npx_last : 16);
      } else {
        _mm512_storeu_si512(pt.part + r * pt.ld + 16 * j, acc[r][j]);
      }
    }
}

template <int NP>
void call_vnni_np(int mr, const int8_t* a0, const int8_t* a1, const uint8_t* bp, size_t pb, size_t k4, const Epi& e,
                  size_t co, size_t q0, size_t npx, const Part& pt) {
  switch (mr) {
    case 1: kernel_vnni<1, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 2: kernel_vnni<2, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 3: kernel_vnni<3, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 4: kernel_vnni<4, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 5: kernel_vnni<5, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 6: kernel_vnni<6, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    case 7: kernel_vnni<7, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
    default: kernel_vnni<8, NP>(a0, a1, bp, pb, k4, e, co, q0, npx, pt); break;
  }
}

struct VnniKern {
  static constexpr bool kVnni = true;
  static constexpr size_t kPixelGrain = 16;  // every panel computes 16 pixels
  static constexpr gemm::GemmU8S8Fn gemm = gemm::gemm_u8s8__avx512;
  static constexpr size_t kMR = 8;

  static void fast_tiles(const Tiles& t, Epi e, Part pt) {
    constexpr size_t MR4 = QConvDirect::kMRFast;  // channels per w8 tile
    const QConvDirect& d = t.d;
    const size_t tile_bytes = d.k4 * MR4 * 4;
    const int8_t* wt = reinterpret_cast<const int8_t*>(d.w8.data()) + t.grp * d.group8 + (t.kb / 4) * MR4 * 4;
    for (size_t co = t.c0; co < t.c1; co += kMR) {
      const int mr = (int)std::min(kMR, t.c1 - co);
      const int8_t* a0 = wt + (co / MR4) * tile_bytes;
      const int8_t* a1 = mr > 4 ? a0 + tile_bytes : a0;
      for (size_t pi = 0; pi < t.npanels; pi += 2) {
        const size_t q0 = t.p0 + pi * kNR;
        const bool two = pi + 1 < t.npanels;
        const size_t npx_last = std::min<size_t>(kNR, t.p1 - (q0 + (two ? kNR : 0)));
        e.colsum = t.colsums + pi * kNR;
        pt.part = t.part + (co - t.c0) * t.ldp + pi * kNR;
        const uint8_t* bp = t.panels + pi * t.panel_bytes;
        if (two)
          call_vnni_np<2>(mr, a0, a1, bp, t.panel_bytes, (t.kn + 3) / 4, e, co, q0, npx_last, pt);
        else
          call_vnni_np<1>(mr, a0, a1, bp, t.panel_bytes, (t.kn + 3) / 4, e, co, q0, npx_last, pt);
      }
    }
  }
};

}  // namespace
}  // namespace conv
}  // namespace lowbit

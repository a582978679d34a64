// The SIMD Winograd kernel, written once over two small traits types and instantiated by
// avx2_winograd.cc, avx512_winograd.cc and neon_winograd.cc (each with its own flags; internal
// linkage, so the copies never merge at link time).
//
// C (transform vectors, always kWinoChan = 8 channels): T, load, store, add, sub, mul(x, k),
//   fmadd(x, k, acc) = x * k + acc (k a scalar), zero, max0.
// GV (GEMM vectors): T, N, NV (vectors per kWinoPanel columns), kRows (microkernel rows),
//   load, store, set1, fma(a, b, acc) = a * b + acc, zero.
//
// Per block of tiles: the input transform writes V[xi][t][cp] (8 channels per vector), the alpha^2
// GEMMs M[xi][t][col] = V[xi][t][group] x U[g][xi][panel] (kRows tiles x 16 columns per
// microkernel call, the whole K = cig_p at once), the output transform reads M for 8 columns,
// adds the bias, applies ReLU and scatters the m x m pixels into NCHW.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "kernels/conv/winograd.h"

#if defined(_MSC_VER)
#define LOWBIT_WINO_INLINE __forceinline
#else
#define LOWBIT_WINO_INLINE inline __attribute__((always_inline))
#endif

namespace lowbit {
namespace conv {
namespace {

template <int M>
struct WinoMatrices;

template <>
struct WinoMatrices<2> {
  static constexpr int A = 4;
  static constexpr float BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct WinoMatrices<4> {
  static constexpr int A = 6;
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// out[r * os] = sum_c K[r][c] * in[c * is] for a constant matrix K: after unrolling, zero
// coefficients vanish and +-1 become adds / subtracts (the coefficients are compile-time constants).
template <class C, int R, int CC>
LOWBIT_WINO_INLINE void lin(const float (&K)[R][CC], const typename C::T* in, int is, typename C::T* out, int os) {
  using T = typename C::T;
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    T acc = C::zero();
    bool first = true;
#pragma GCC unroll 8
    for (int c = 0; c < CC; c++) {
      const float k = K[r][c];
      if (k == 0.0f) continue;
      const T x = in[c * is];
      if (first) {
        acc = k == 1.0f ? x : C::mul(x, k);
        first = false;
      } else if (k == 1.0f) {
        acc = C::add(acc, x);
      } else if (k == -1.0f) {
        acc = C::sub(acc, x);
      } else {
        acc = C::fmadd(x, k, acc);
      }
    }
    out[r * os] = acc;
  }
}

// kRows x kWinoPanel block of C = A (rows x K, row stride lda) x B (K x 16 panel), R <= kRows rows.
template <class GV, int R>
LOWBIT_WINO_INLINE void wino_gemm_rows(const float* A, size_t lda, const float* B, int K, float* Cm, size_t ldc) {
  using T = typename GV::T;
  constexpr int NV = GV::NV;
  T acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = GV::zero();
  for (int k = 0; k < K; k++) {
    T b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = GV::load(B + (size_t)k * kWinoPanel + v * GV::N);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const T a = GV::set1(A[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = GV::fma(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) GV::store(Cm + r * ldc + v * GV::N, acc[r][v]);
}

// The same block over the nonzero rows of a sparse panel: row j of B is input channel idx[j].
template <class GV, int R>
LOWBIT_WINO_INLINE void wino_gemm_rows_sparse(const float* A, size_t lda, const int32_t* idx, const float* B, int cnt,
                                              float* Cm, size_t ldc) {
  using T = typename GV::T;
  constexpr int NV = GV::NV;
  T acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = GV::zero();
  for (int j = 0; j < cnt; j++) {
    const int k = idx[j];
    T b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = GV::load(B + (size_t)j * kWinoPanel + v * GV::N);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const T a = GV::set1(A[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = GV::fma(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) GV::store(Cm + r * ldc + v * GV::N, acc[r][v]);
}

template <class GV, int R = GV::kRows>
LOWBIT_WINO_INLINE void wino_gemm_sparse_tail(int rows, const float* A, size_t lda, const int32_t* idx, const float* B,
                                              int cnt, float* Cm, size_t ldc) {
  if constexpr (R > 1) {
    if (rows < R) return wino_gemm_sparse_tail<GV, R - 1>(rows, A, lda, idx, B, cnt, Cm, ldc);
  }
  wino_gemm_rows_sparse<GV, R>(A, lda, idx, B, cnt, Cm, ldc);
}

template <class GV, int R = GV::kRows>
LOWBIT_WINO_INLINE void wino_gemm_tail(int rows, const float* A, size_t lda, const float* B, int K, float* Cm, size_t ldc) {
  if constexpr (R > 1) {
    if (rows < R) return wino_gemm_tail<GV, R - 1>(rows, A, lda, B, K, Cm, ldc);
  }
  wino_gemm_rows<GV, R>(A, lda, B, K, Cm, ldc);
}

template <class C, class GV, int M>
void winograd_impl(const WinogradWeights& W, const WinoLayout& L, const float* nhwc, const float* bias, bool relu,
                   float* out, size_t tile_begin, size_t tile_end, int panel_begin, int panel_end) {
  using T = typename C::T;
  using Mx = WinoMatrices<M>;
  constexpr int A = Mx::A, A2 = A * A;
  const ConvGeometry& g = L.geo;
  const int ppg = L.cogp / kWinoPanel, cog = g.cout_g();
  const size_t TB = (size_t)L.tile_block, tiles_img = (size_t)L.ty * L.tx;
  const size_t vstride = TB * L.cp, mstride = TB * L.mcols;  // floats per xi plane of V and M
  static thread_local std::vector<float> vbuf, mbuf, bbuf;
  if (vbuf.size() < A2 * vstride) vbuf.resize(A2 * vstride);
  if (mbuf.size() < A2 * mstride) mbuf.resize(A2 * mstride);
  if (bbuf.size() < (size_t)L.mcols) bbuf.resize(L.mcols);
  float* Vb = vbuf.data();
  float* Mb = mbuf.data();
  float* bp = bbuf.data();  // bias per M column, 0 for padded columns
  for (int col = 0; col < L.mcols; col++) {
    const int gi = col / L.cogp, c = col % L.cogp;
    bp[col] = (bias && c < cog) ? bias[gi * cog + c] : 0.0f;
  }
  const int g_lo = panel_begin / ppg, g_hi = (panel_end - 1) / ppg;  // groups whose inputs are needed
  const size_t pix_stride = (size_t)L.cp, row_stride = (size_t)L.wp * L.cp;
  for (size_t t0 = tile_begin; t0 < tile_end; t0 += TB) {
    const size_t nt = std::min(TB, tile_end - t0);
    // input transform: V[xi][t][ch] = (B^T d B)[xi] for 8 channels at a time
    for (size_t t = 0; t < nt; t++) {
      const size_t tile = t0 + t, b = tile / tiles_img, r = tile % tiles_img;
      const int tyi = (int)(r / L.tx), txi = (int)(r % L.tx);
      const float* base = nhwc + ((size_t)b * L.hp + (size_t)tyi * M) * row_stride + (size_t)txi * M * pix_stride;
      for (int ch = g_lo * L.cig_p; ch < (g_hi + 1) * L.cig_p; ch += kWinoChan) {
        T d[A2], tmp[A2], v[A2];
#pragma GCC unroll 8
        for (int i = 0; i < A; i++)
#pragma GCC unroll 8
          for (int j = 0; j < A; j++) d[i * A + j] = C::load(base + i * row_stride + j * pix_stride + ch);
#pragma GCC unroll 8
        for (int j = 0; j < A; j++) lin<C>(Mx::BT, d + j, A, tmp + j, A);
#pragma GCC unroll 8
        for (int i = 0; i < A; i++) lin<C>(Mx::BT, tmp + i * A, 1, v + i * A, 1);
        float* dst = Vb + t * L.cp + ch;
#pragma GCC unroll 8
        for (int xi = 0; xi < A2; xi++) C::store(dst + xi * vstride, v[xi]);
      }
    }
    // the alpha^2 GEMMs
    for (int xi = 0; xi < A2; xi++)
      for (int j = panel_begin; j < panel_end; j++) {
        const int gi = j / ppg;
        const float* Ab = Vb + xi * vstride + gi * L.cig_p;
        const float* Bp = W.u.data() + (((size_t)gi * A2 + xi) * ppg + j % ppg) * L.cig_p * kWinoPanel;
        float* Cb = Mb + xi * mstride + (size_t)j * kWinoPanel;
        size_t t = 0;
        if (W.sparse) {  // only the panel's nonzero rows of U
          const size_t blk = ((size_t)gi * A2 + xi) * ppg + j % ppg;
          const int32_t* idx = W.sp_ci.data() + W.sp_ptr[blk];
          const float* Bs = W.sp_u.data() + (size_t)W.sp_ptr[blk] * kWinoPanel;
          const int cnt = W.sp_ptr[blk + 1] - W.sp_ptr[blk];
          for (; t + GV::kRows <= nt; t += GV::kRows)
            wino_gemm_rows_sparse<GV, GV::kRows>(Ab + t * L.cp, L.cp, idx, Bs, cnt, Cb + t * L.mcols, L.mcols);
          if (t < nt) wino_gemm_sparse_tail<GV>((int)(nt - t), Ab + t * L.cp, L.cp, idx, Bs, cnt, Cb + t * L.mcols, L.mcols);
          continue;
        }
        for (; t + GV::kRows <= nt; t += GV::kRows)
          wino_gemm_rows<GV, GV::kRows>(Ab + t * L.cp, L.cp, Bp, L.cig_p, Cb + t * L.mcols, L.mcols);
        if (t < nt) wino_gemm_tail<GV>((int)(nt - t), Ab + t * L.cp, L.cp, Bp, L.cig_p, Cb + t * L.mcols, L.mcols);
      }
    // output transform, bias, ReLU, scatter into NCHW
    for (size_t t = 0; t < nt; t++) {
      const size_t tile = t0 + t, b = tile / tiles_img, r = tile % tiles_img;
      const int oy0 = (int)(r / L.tx) * M, ox0 = (int)(r % L.tx) * M;
      const int my = std::min(M, L.oh - oy0), mx = std::min(M, L.ow - ox0);
      for (int col = panel_begin * kWinoPanel; col < panel_end * kWinoPanel; col += kWinoChan) {
        const int gi = col / L.cogp, c0 = col % L.cogp;
        if (c0 >= cog) continue;  // all 8 columns are padding
        T mv[A2], tmp[M * A], y[M * M];
        const float* src = Mb + t * L.mcols + col;
#pragma GCC unroll 8
        for (int xi = 0; xi < A2; xi++) mv[xi] = C::load(src + xi * mstride);
#pragma GCC unroll 8
        for (int j = 0; j < A; j++) lin<C>(Mx::AT, mv + j, A, tmp + j, A);
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) lin<C>(Mx::AT, tmp + i * A, 1, y + i * M, 1);
        const T bv = C::load(bp + col);
        alignas(64) float lanes[M * M][kWinoChan];
#pragma GCC unroll 16
        for (int p = 0; p < M * M; p++) {
          T v = C::add(y[p], bv);
          if (relu) v = C::max0(v);
          C::store(lanes[p], v);
        }
        const int nc = std::min(kWinoChan, cog - c0);
        for (int c = 0; c < nc; c++) {
          float* o = out + (((size_t)b * g.cout + (size_t)gi * cog + c0 + c) * L.oh + oy0) * L.ow + ox0;
          for (int dy = 0; dy < my; dy++)
            for (int dx = 0; dx < mx; dx++) o[(size_t)dy * L.ow + dx] = lanes[dy * M + dx][c];
        }
      }
    }
  }
}

// The kernel entry: dispatches on m.
template <class C, class GV>
void winograd_entry(const WinogradWeights& W, const WinoLayout& L, const float* nhwc, const float* bias, bool relu,
                    float* out, size_t tile_begin, size_t tile_end, int panel_begin, int panel_end) {
  if (tile_begin >= tile_end || panel_begin >= panel_end) return;
  if (L.m == 2)
    winograd_impl<C, GV, 2>(W, L, nhwc, bias, relu, out, tile_begin, tile_end, panel_begin, panel_end);
  else
    winograd_impl<C, GV, 4>(W, L, nhwc, bias, relu, out, tile_begin, tile_end, panel_begin, panel_end);
}

}  // namespace
}  // namespace conv
}  // namespace lowbit

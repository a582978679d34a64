// The SIMD convolution kernels, written once over a small vector-traits type V and instantiated by
// avx2.cc, avx512.cc and neon.cc (each compiled with its own flags). Everything here has internal
// linkage (anonymous namespace), so the per-ISA copies never merge at link time.
//
// V provides: T (register type), N (lanes), kTileVecs (vectors per sparse pixel tile),
// kGemmVecs (vectors per GEMM row: NR = kGemmVecs * N), zero, set1, load, store, fma(a, b, c) =
// a * b + c, max0, add, load_n / store_n (first n lanes, others untouched / zero), Mask,
// lanes_from(n) (the lanes >= n), blend(a, b, m) (m ? b : a).
//
// Sparse: one output channel x kTileVecs * N virtual output pixels in registers; per nonzero one
// broadcast and kTileVecs FMAs reading consecutive input floats at (offset + q). Channels run
// inside a block of pixels so that the block's input stays in L2 while every channel passes.
// Dense: BLIS-style loops (NC pixels, KC taps, MC channels) around a kMr x NR microkernel; the
// B panels (im2col of NR output pixels) are packed straight from the padded input.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/conv/conv.h"

#if defined(_MSC_VER)
#define LOWBIT_CONV_INLINE __forceinline
#else
#define LOWBIT_CONV_INLINE inline __attribute__((always_inline))
#endif

namespace lowbit {
namespace conv {
namespace {

// Nonzero sources: a bound stream (conv) or CSR values + taps scaled by a row length (FC).
struct BoundSource {
  const Nonzero* nz;
  LOWBIT_CONV_INLINE float w(int j) const { return nz[j].w; }
  LOWBIT_CONV_INLINE ptrdiff_t off(int j) const { return nz[j].off; }
};
struct CsrSource {
  const float* val;
  const int32_t* tap;
  ptrdiff_t stride;
  LOWBIT_CONV_INLINE float w(int j) const { return val[j]; }
  LOWBIT_CONV_INLINE ptrdiff_t off(int j) const { return (ptrdiff_t)tap[j] * stride; }
};

// NV vectors of pixels at in[q..]: dst[i] = act(bias + sum_j w_j * in[off_j + i]).
// kMasked: the last vector has only last_n valid lanes (loads and stores limited to them).
template <class V, int NV, bool kMasked, class Src>
LOWBIT_CONV_INLINE void sparse_tile(const Src& src, int cnt, const float* in, float bias, bool relu,
                                    float* dst, int last_n) {
  using T = typename V::T;
  T acc[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; v++) acc[v] = V::set1(bias);
  for (int j = 0; j < cnt; j++) {
    const T wv = V::set1(src.w(j));
    const float* p = in + src.off(j);
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) {
      if (kMasked && v == NV - 1)
        acc[v] = V::fma(wv, V::load_n(p + v * V::N, last_n), acc[v]);
      else
        acc[v] = V::fma(wv, V::load(p + v * V::N), acc[v]);
    }
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV; v++) {
    if (relu) acc[v] = V::max0(acc[v]);
    if (kMasked && v == NV - 1)
      V::store_n(dst + v * V::N, acc[v], last_n);
    else
      V::store(dst + v * V::N, acc[v]);
  }
}

template <class V, class Src, int NV = 1>
LOWBIT_CONV_INLINE void sparse_tile_n(int nv, bool masked, const Src& src, int cnt, const float* in,
                                      float bias, bool relu, float* dst, int last_n) {
  if constexpr (NV <= V::kTileVecs) {
    if (nv == NV) {
      if (masked)
        sparse_tile<V, NV, true>(src, cnt, in, bias, relu, dst, last_n);
      else
        sparse_tile<V, NV, false>(src, cnt, in, bias, relu, dst, last_n);
    } else {
      sparse_tile_n<V, Src, NV + 1>(nv, masked, src, cnt, in, bias, relu, dst, last_n);
    }
  }
}

// Writes virtual pixels [q0, q0 + count) of one channel from tmp into the dense output plane.
LOWBIT_CONV_INLINE void scatter_virtual(const float* tmp, size_t q0, size_t count, int wq, int ow, float* o) {
  size_t oy = q0 / wq, ox = q0 % wq, i = 0;
  while (i < count) {
    const size_t run = std::min<size_t>(count - i, (size_t)wq - ox);
    if (ox < (size_t)ow) std::memcpy(o + oy * ow + ox, tmp + i, std::min<size_t>(run, ow - ox) * sizeof(float));
    i += run;
    ox = 0;
    oy++;
  }
}

// One channel over virtual pixels [qb, qe) of a plane of Q virtual pixels (wq per row, ow kept).
template <class V, class Src>
LOWBIT_CONV_INLINE void sparse_channel_range(const Src& src, int cnt, const float* in, float bias, bool relu,
                                             size_t qb, size_t qe, size_t Q, int wq, int ow, float* o) {
  constexpr int TV = V::kTileVecs, TP = TV * V::N;
  alignas(64) float tmp[TP];
  const bool direct = wq == ow;
  size_t q = qb;
  for (; q + TP <= qe; q += TP) {
    if (direct) {
      sparse_tile<V, TV, false>(src, cnt, in + q, bias, relu, o + q, V::N);
    } else {
      sparse_tile<V, TV, false>(src, cnt, in + q, bias, relu, tmp, V::N);
      scatter_virtual(tmp, q, TP, wq, ow, o);
    }
  }
  if (q < qe) {
    const size_t r = qe - q;
    const int nv = (int)((r + V::N - 1) / V::N);
    const size_t span = (size_t)nv * V::N;
    if (qe >= span) {  // overlap backwards: recompute a few pixels instead of masking
      const size_t q0 = qe - span;
      sparse_tile_n<V>(nv, false, src, cnt, in + q0, bias, relu, tmp, V::N);
      if (direct)
        std::memcpy(o + q0, tmp, span * sizeof(float));
      else
        scatter_virtual(tmp, q0, span, wq, ow, o);
    } else {  // the whole plane is shorter than the tile: mask the last vector
      const int last_n = (int)(r - (size_t)(nv - 1) * V::N);
      sparse_tile_n<V>(nv, true, src, cnt, in + q, bias, relu, tmp, last_n);
      if (direct)
        std::memcpy(o + q, tmp, r * sizeof(float));
      else
        scatter_virtual(tmp, q, r, wq, ow, o);
    }
  }
  (void)Q;
}

// Virtual pixels per cache block: the block's input rows (all channels of a group) in ~256 KiB.
inline size_t sparse_block_pixels(const ConvLayout& L, size_t tile) {
  const size_t per_q = (size_t)L.geo.cin_g() * L.sh * L.sw;
  const size_t halo = ((size_t)((L.geo.kh - 1) * L.geo.dil_h) / L.sh + 1) * L.wq;
  const size_t budget = 65536 / std::max<size_t>(per_q, 1);
  const size_t avail = budget > halo ? budget - halo : 0;
  return std::max(tile, avail / tile * tile);
}

template <class V>
void sparse_conv_impl(const SparseBinding& bd, const float* padded, const float* bias, bool relu,
                      float* out, int oc_begin, int oc_end) {
  const ConvLayout& L = bd.layout;
  const ConvGeometry& g = L.geo;
  const size_t Q = L.q_virtual, P = L.out_pixels();
  const size_t BQ = sparse_block_pixels(L, (size_t)V::kTileVecs * V::N);
  const int cog = g.cout_g();
  for (int b = 0; b < L.n; b++)
    for (size_t qb = 0; qb < Q; qb += BQ) {
      const size_t qe = std::min(Q, qb + BQ);
      for (int co = oc_begin; co < oc_end; co++) {
        const float* in = padded + b * L.image_stride + (size_t)(co / cog) * g.cin_g() * L.chan_stride;
        const int j0 = bd.row_ptr[co], cnt = bd.row_ptr[co + 1] - j0;
        sparse_channel_range<V>(BoundSource{bd.nz.data() + j0}, cnt, in, bias ? bias[co] : 0.0f, relu, qb, qe,
                                Q, L.wq, L.ow, out + ((size_t)b * g.cout + co) * P);
      }
    }
}

template <class V>
void sparse_fc_impl(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias, bool relu,
                    float* y, int oc_begin, int oc_end) {
  const int cog = w.geo.cout_g();
  const size_t BQ = std::max<size_t>((size_t)V::kTileVecs * V::N,
                                     65536 / std::max(w.geo.cin_g(), 1) / (V::kTileVecs * V::N) *
                                         (V::kTileVecs * V::N));
  for (size_t qb = 0; qb < ncols; qb += BQ) {
    const size_t qe = std::min(ncols, qb + BQ);
    for (int co = oc_begin; co < oc_end; co++) {
      const int j0 = w.row_ptr[co], cnt = w.row_ptr[co + 1] - j0;
      const float* xg = x + (size_t)(co / cog) * w.geo.cin_g() * ncols;
      sparse_channel_range<V>(CsrSource{w.values.data() + j0, w.tap.data() + j0, (ptrdiff_t)ncols}, cnt, xg,
                              bias ? bias[co] : 0.0f, relu, qb, qe, ncols, (int)ncols, (int)ncols,
                              y + (size_t)co * ncols);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dense

// Thread-local scratch, 64-byte aligned, grown on demand (one per ISA translation unit and Slot:
// slot 0 holds B panels, slot 1 the channel-lane kernel's sums).
template <int Slot = 0>
inline float* dense_scratch(size_t floats) {
  struct Buf {
    std::vector<float> v;
    float* p = nullptr;
    size_t n = 0;
  };
  static thread_local Buf s;
  if (s.n < floats) {
    s.v.assign(floats + 16, 0.0f);
    uintptr_t a = reinterpret_cast<uintptr_t>(s.v.data());
    s.p = reinterpret_cast<float*>((a + 63) & ~uintptr_t(63));
    s.n = floats;
  }
  return s.p;
}

// acc = A (kc x kMr, packed) x B (kc x NR, packed), then the epilogue on rows [r_lo, r_hi) and
// the first `cols` columns of C (row stride ldc).
// NR is the packed panel's row length (>= NVB * N: a narrow tail panel uses fewer vectors).
template <class V, int NVB, int NR>
LOWBIT_CONV_INLINE void gemm_micro(int kc, const float* A, const float* B, float* C, size_t ldc, int r_lo,
                                   int r_hi, int cols, bool first, bool last, const float* bias, bool relu) {
  using T = typename V::T;
  T acc[kMr][NVB];
#pragma GCC unroll 16
  for (int r = 0; r < kMr; r++)
#pragma GCC unroll 16
    for (int v = 0; v < NVB; v++) acc[r][v] = V::zero();
  for (int k = 0; k < kc; k++) {
    T bv[NVB];
#pragma GCC unroll 16
    for (int v = 0; v < NVB; v++) bv[v] = V::load(B + k * NR + v * V::N);
#pragma GCC unroll 16
    for (int r = 0; r < kMr; r++) {
      const T a = V::set1(A[k * kMr + r]);
#pragma GCC unroll 16
      for (int v = 0; v < NVB; v++) acc[r][v] = V::fma(a, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kMr; r++) {
    if (r < r_lo || r >= r_hi) continue;
    float* c = C + (size_t)r * ldc;
    const T init = first ? V::set1(bias ? bias[r] : 0.0f) : V::zero();
#pragma GCC unroll 16
    for (int v = 0; v < NVB; v++) {
      const int n = cols - v * V::N;
      if (n <= 0) break;
      T x = acc[r][v];
      if (first)
        x = V::add(x, init);
      else
        x = V::add(x, n >= V::N ? V::load(c + v * V::N) : V::load_n(c + v * V::N, n));
      if (last && relu) x = V::max0(x);
      if (n >= V::N)
        V::store(c + v * V::N, x);
      else
        V::store_n(c + v * V::N, x, n);
    }
  }
}

// Packs the B panel of output pixels [pj, pj + NVB * N) for taps [k0, k0 + kc): dst[k][NR] =
// padded[koff[k0 + k] + q(p)], q(p) = (p / ow) * wq + p % ow the virtual pixel. The lanes of one
// vector lie on one or more output rows; each run of lanes on one row is one unaligned load at a
// fixed offset, merged by blends whose masks are made once per panel. (Per-element gathers, the
// previous design, cost several times the loads they replace on Zen 3, and 16-pixel panels cross
// output rows on most layers.) A vector that reaches past the plane's last pixel is filled lane by
// lane (its extra lanes repeat the last pixel; they are computed, never stored): a direct layout
// is the caller's input itself, with nothing readable past its end.
template <class V, int NVB>
LOWBIT_CONV_INLINE void pack_panel(const ConvLayout& L, const float* in, size_t pj, int k0, int kc, float* dst) {
  constexpr int N = V::N, NR = NVB * N;
  const size_t P = L.out_pixels();
  auto q_of = [&](size_t p) -> int32_t {
    p = std::min(p, P - 1);
    return (int32_t)((p / L.ow) * L.wq + p % L.ow);
  };
  int32_t base[NVB][N];
  typename V::Mask mask[NVB][N];
  int runs[NVB];  // 0: the vector reaches past the plane (lane-by-lane fill from base[v][lane])
  bool contiguous = true;
  for (int v = 0; v < NVB; v++) {
    const size_t p0 = pj + (size_t)v * N;
    if (p0 + N > P) {
      runs[v] = 0;
      for (int c = 0; c < N; c++) base[v][c] = q_of(p0 + c);
      contiguous = false;
      continue;
    }
    runs[v] = 0;
    int32_t prev = 0;
    for (int c = 0; c < N; c++) {
      const int32_t q = q_of(p0 + c);
      if (c == 0 || q != prev + 1) {
        base[v][runs[v]] = q - c;
        mask[v][runs[v]] = V::lanes_from(c);
        runs[v]++;
      }
      prev = q;
    }
    contiguous = contiguous && runs[v] == 1 && base[v][0] == base[0][0] + v * N;
  }
  const int32_t* ko = L.koff.data() + k0;
  if (contiguous) {
    for (int k = 0; k < kc; k++) {
      const float* s = in + ko[k] + base[0][0];
#pragma GCC unroll 16
      for (int v = 0; v < NVB; v++) V::store(dst + k * NR + v * N, V::load(s + v * N));
    }
    return;
  }
  for (int k = 0; k < kc; k++) {
    const float* s = in + ko[k];
#pragma GCC unroll 16
    for (int v = 0; v < NVB; v++) {
      if (runs[v] == 0) {
        for (int c = 0; c < N; c++) dst[k * NR + v * N + c] = s[base[v][c]];
        continue;
      }
      typename V::T x = V::load(s + base[v][0]);
      for (int r = 1; r < runs[v]; r++) x = V::blend(x, V::load(s + base[v][r]), mask[v][r]);
      V::store(dst + k * NR + v * N, x);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dense, channel lanes: for planes too small to fill 16-pixel panels (7x7: 49 = 3 x 16 + 1 wastes
// 12% of the pixel-panel kernel's work), vectors hold kCn output channels and the microkernel's
// rows are R output pixels (R in 4..6, the one wasting fewest rows): acc[r][v] += B[k][r] *
// A[k][v] with A = the weights' lanes() panel and B = the R pixels' im2col rows, packed per K block
// once and shared by every channel panel. Accumulators live in a [panel][pixel group][R][kCn]
// buffer across K blocks (the sum stays in tap order); the epilogue adds the bias, applies ReLU
// and transposes into NCHW.

template <class V, int R>
LOWBIT_CONV_INLINE void lanes_micro(int kc, const float* A, const float* B, float* acc_io, bool first) {
  using T = typename V::T;
  constexpr int NV = kCn / V::N;
  T acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) acc[r][v] = first ? V::zero() : V::load(acc_io + r * kCn + v * V::N);
  for (int k = 0; k < kc; k++) {
    T a[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) a[v] = V::load(A + k * kCn + v * V::N);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const T b = V::set1(B[k * R + r]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) acc[r][v] = V::fma(b, a[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) V::store(acc_io + r * kCn + v * V::N, acc[r][v]);
}

template <class V, int R>
void dense_lanes_impl(const DenseConvWeights& dw, const ConvLayout& L, const float* padded, const float* bias,
                      bool relu, float* out, int oc_begin, int oc_end) {
  const ConvGeometry& g = L.geo;
  const int K = g.taps(), cog = g.cout_g(), cig = g.cin_g(), panels = dw.lanes_panels();
  const size_t P = L.out_pixels(), G = (P + R - 1) / R;  // pixel groups
  const int64_t q_last = (int64_t)(((P - 1) / L.ow) * L.wq + (P - 1) % L.ow);
  const float* Aall = dw.lanes().data();
  float* Bt = dense_scratch((size_t)G * kKc * R);
  std::vector<int64_t> q(G * R);
  for (size_t p = 0; p < G * R; p++)  // pixels past the plane repeat the last (computed, not stored)
    q[p] = p < P ? (int64_t)((p / L.ow) * L.wq + p % L.ow) : q_last;
  for (int b = 0; b < L.n; b++)
    for (int grp = oc_begin / cog; grp * cog < oc_end; grp++) {
      const int m_lo = std::max(oc_begin, grp * cog) - grp * cog;
      const int m_hi = std::min(oc_end, (grp + 1) * cog) - grp * cog;
      if (m_lo >= m_hi) continue;
      const int pan_lo = m_lo / kCn, pan_hi = (m_hi + kCn - 1) / kCn;
      float* acc = dense_scratch<1>((size_t)(pan_hi - pan_lo) * G * R * kCn);
      const float* in = padded + b * L.image_stride + (size_t)grp * cig * L.chan_stride;
      for (int k0 = 0; k0 < K; k0 += kKc) {
        const int kc = std::min(kKc, K - k0);
        const int32_t* ko = L.koff.data() + k0;
        for (size_t pg = 0; pg < G; pg++) {
          const int64_t* qg = q.data() + pg * R;
          float* dst = Bt + pg * kc * R;
          bool run = true;
          for (int r = 1; r < R; r++) run = run && qg[r] == qg[0] + r;
          if (run) {
            for (int k = 0; k < kc; k++) {
              const float* s = in + ko[k] + qg[0];
#pragma GCC unroll 8
              for (int r = 0; r < R; r++) dst[k * R + r] = s[r];
            }
          } else {
            for (int k = 0; k < kc; k++) {
              const float* s = in + ko[k];
#pragma GCC unroll 8
              for (int r = 0; r < R; r++) dst[k * R + r] = s[qg[r]];
            }
          }
        }
        for (int pan = pan_lo; pan < pan_hi; pan++) {
          const float* A = Aall + ((size_t)grp * panels + pan) * K * kCn + (size_t)k0 * kCn;
          float* accp = acc + (size_t)(pan - pan_lo) * G * R * kCn;
          for (size_t pg = 0; pg < G; pg++) lanes_micro<V, R>(kc, A, Bt + pg * kc * R, accp + pg * R * kCn, k0 == 0);
        }
      }
      float* og = out + ((size_t)b * g.cout + (size_t)grp * cog) * P;
      for (int m = m_lo; m < m_hi; m++) {
        const float bv = bias ? bias[grp * cog + m] : 0.0f;
        const float* a = acc + (size_t)(m / kCn - pan_lo) * G * R * kCn + m % kCn;
        float* o = og + (size_t)m * P;
        for (size_t p = 0; p < P; p++) {
          const float v = a[p * kCn] + bv;
          o[p] = relu && !(v > 0.0f) ? 0.0f : v;
        }
      }
    }
}

template <class V, int NVB>
void dense_conv_impl(const DenseConvWeights& dw, const ConvLayout& L, const float* padded, const float* bias,
                     bool relu, float* out, int oc_begin, int oc_end) {
  constexpr int NR = NVB * V::N;
  if constexpr (V::kChannelLanes) {
    const DenseVariant dv = dense_variant();
    if (dv == DenseVariant::kChannelLanes || (dv == DenseVariant::kAuto && prefer_channel_lanes(L, V::N, NR))) {
      switch (lane_rows(L.out_pixels())) {
        case 4: return dense_lanes_impl<V, 4>(dw, L, padded, bias, relu, out, oc_begin, oc_end);
        case 5: return dense_lanes_impl<V, 5>(dw, L, padded, bias, relu, out, oc_begin, oc_end);
        default: return dense_lanes_impl<V, 6>(dw, L, padded, bias, relu, out, oc_begin, oc_end);
      }
    }
  }
  const ConvGeometry& g = L.geo;
  const int K = g.taps(), cog = g.cout_g(), cig = g.cin_g();
  const size_t P = L.out_pixels();
  // Blocking (measured flat within noise for NC 96..768, MC 12..48 panels on Zen 3): the B block
  // kKc x NC (192 KiB) in L2, one B panel kKc x NR (16 KiB) in L1, the A block MC x kKc in L2.
  const size_t NC = pixel_block(P, NR);
  constexpr int MC = 24 * kMr;
  float* Bp = dense_scratch((size_t)kKc * NC);
  for (int b = 0; b < L.n; b++)
    for (int grp = oc_begin / cog; grp * cog < oc_end; grp++) {
      const int m_lo = std::max(oc_begin, grp * cog) - grp * cog;
      const int m_hi = std::min(oc_end, (grp + 1) * cog) - grp * cog;
      if (m_lo >= m_hi) continue;
      const float* in = padded + b * L.image_stride + (size_t)grp * cig * L.chan_stride;
      const float* Ag = dw.packed.data() + grp * dw.group_floats;
      float* og = out + ((size_t)b * g.cout + (size_t)grp * cog) * P;
      const float* bg = bias ? bias + (size_t)grp * cog : nullptr;
      for (size_t p0 = 0; p0 < P; p0 += NC) {
        const size_t nc = std::min(NC, P - p0);
        const int npan = (int)((nc + NR - 1) / NR);
        for (int k0 = 0; k0 < K; k0 += kKc) {
          const int kc = std::min(kKc, K - k0);
          for (int jp = 0; jp < npan; jp++) pack_panel<V, NVB>(L, in, p0 + (size_t)jp * NR, k0, kc, Bp + (size_t)jp * kc * NR);
          const bool first = k0 == 0, last = k0 + kc == K;
          const float* Ak = Ag + (size_t)k0 * dw.m_pad;
          for (int mc0 = m_lo / kMr * kMr; mc0 < m_hi; mc0 += MC) {
            const int mc1 = std::min(m_hi, mc0 + MC);
            for (int j = 0; j < npan; j++) {
              const int cols = (int)std::min<size_t>(NR, nc - (size_t)j * NR);
              const float* Bj = Bp + (size_t)j * kc * NR;
              for (int m = mc0; m < mc1; m += kMr) {
                float* C = og + (size_t)m * P + p0 + (size_t)j * NR;
                const int r0 = std::max(m_lo - m, 0), r1 = std::min(m_hi - m, kMr);
                if (NVB > 1 && cols <= V::N)  // narrow tail panel: one vector per row
                  gemm_micro<V, 1, NR>(kc, Ak + (size_t)m * kc, Bj, C, P, r0, r1, cols, first, last,
                                       bg ? bg + m : nullptr, relu);
                else
                  gemm_micro<V, NVB, NR>(kc, Ak + (size_t)m * kc, Bj, C, P, r0, r1, cols, first, last,
                                         bg ? bg + m : nullptr, relu);
              }
            }
          }
        }
      }
    }
}

}  // namespace
}  // namespace conv
}  // namespace lowbit

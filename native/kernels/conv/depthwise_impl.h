// The depthwise kernels (depthwise.h), written once over a traits type V of 8-lane vectors and
// instantiated by avx2_depthwise.cc, avx512_depthwise.cc and neon_depthwise.cc (internal
// linkage). The plane geometry (DwPlane) is shared with the scalar reference (depthwise.cc).
//
// V: T (8 floats), IT (8 int32), zero, set1, load, store, store_n (first n lanes), load_u8(p, zp)
// (8 bytes minus zp as floats), deint(p, &even, &odd) (16 floats), deint_u8(p, zp, &even, &odd)
// (16 bytes minus zp), fma(a, b, c) =
// a * b + c, add, mul, max, min, max0, round (nearest even), cvt_i (float -> int32, nearest; used
// on integral values only), cvt_f, add_i, set1_i, store_i32_n, store_u8_n / store_s8_n (values
// already in range).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "kernels/conv/depthwise.h"
#include "kernels/conv/depthwise_plane.h"

#if defined(_MSC_VER)
#define LOWBIT_DW_INLINE __forceinline
#else
#define LOWBIT_DW_INLINE inline __attribute__((always_inline))
#endif

namespace lowbit {
namespace conv {
namespace {

// R output rows x NV vectors at (oy, x0). Stride 1: input rows j = 0 .. K + R - 2 are loaded once
// per kx and feed every output row r with 0 <= j - r < K (row reuse). Stride 2: per tap, its
// phase plane's offset (DwPlane::off).
template <class V, int K, int S, int R, int NV>
LOWBIT_DW_INLINE void dw_block(const DwPlane& P, const float* buf, const float* wt, int oy, int x0,
                               typename V::T (&acc)[R][NV]) {
  using T = typename V::T;
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = V::zero();
  if constexpr (S == 1) {
    const float* base = buf + (size_t)oy * P.rs + x0;
#pragma GCC unroll 8
    for (int j = 0; j < K + R - 1; j++) {
      const float* row = base + (size_t)j * P.rs;
#pragma GCC unroll 8
      for (int kx = 0; kx < K; kx++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
          const T x = V::load(row + kx + v * 8);
#pragma GCC unroll 4
          for (int r = 0; r < R; r++) {
            const int ky = j - r;
            if (ky >= 0 && ky < K) acc[r][v] = V::fma(V::set1(wt[ky * K + kx]), x, acc[r][v]);
          }
        }
      }
    }
  } else {
    const float* base = buf + (size_t)oy * P.rs + x0;
#pragma GCC unroll 32
    for (int t = 0; t < K * K; t++) {
      const T w = V::set1(wt[t]);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
          acc[r][v] = V::fma(w, V::load(base + P.off[t] + (size_t)r * P.rs + v * 8), acc[r][v]);
    }
  }
}

// Walks a plane: rows in pairs at stride 1 (R = 2, a last single row), single rows at stride 2;
// columns in blocks of up to 4 vectors; `put(acc, oy, x0, nv)` stores nv vectors of a row.
template <class V, int K, int S, int R, class Put>
LOWBIT_DW_INLINE void dw_rows(const DwPlane& P, const float* buf, const float* wt, int oy, Put& put) {
  using T = typename V::T;
  for (int x0 = 0; x0 < P.ow; x0 += 32) {
    const int nv = std::min(4, (P.ow - x0 + 7) / 8);
    switch (nv) {
      case 4: {
        T acc[R][4];
        dw_block<V, K, S, R, 4>(P, buf, wt, oy, x0, acc);
        for (int r = 0; r < R; r++) put(acc[r], oy + r, x0, 4);
        break;
      }
      case 3: {
        T acc[R][3];
        dw_block<V, K, S, R, 3>(P, buf, wt, oy, x0, acc);
        for (int r = 0; r < R; r++) put(acc[r], oy + r, x0, 3);
        break;
      }
      case 2: {
        T acc[R][2];
        dw_block<V, K, S, R, 2>(P, buf, wt, oy, x0, acc);
        for (int r = 0; r < R; r++) put(acc[r], oy + r, x0, 2);
        break;
      }
      default: {
        T acc[R][1];
        dw_block<V, K, S, R, 1>(P, buf, wt, oy, x0, acc);
        for (int r = 0; r < R; r++) put(acc[r], oy + r, x0, 1);
        break;
      }
    }
  }
}

template <class V, int K, int S, class Put>
void dw_plane(const DwPlane& P, const float* buf, const float* wt, Put& put) {
  constexpr int R = S == 1 ? 2 : 1;
  int oy = 0;
  for (; oy + R <= P.oh; oy += R) dw_rows<V, K, S, R>(P, buf, wt, oy, put);
  for (; oy < P.oh; oy++) dw_rows<V, K, S, 1>(P, buf, wt, oy, put);
}

template <class V, class Put>
void dw_dispatch(const DwPlane& P, const float* buf, const float* wt, Put& put) {
  if (P.k == 3)
    P.s == 1 ? dw_plane<V, 3, 1>(P, buf, wt, put) : dw_plane<V, 3, 2>(P, buf, wt, put);
  else
    P.s == 1 ? dw_plane<V, 5, 1>(P, buf, wt, put) : dw_plane<V, 5, 2>(P, buf, wt, put);
}

// fp32 output row store: bias, ReLU, first `ow - x` lanes of the last vector only.
template <class V>
struct DwPutF32 {
  float* out;
  int ow;
  float bias;
  bool relu;
  LOWBIT_DW_INLINE void operator()(const typename V::T* acc, int oy, int x0, int nv) {
    const typename V::T b = V::set1(bias);
    float* o = out + (size_t)oy * ow;
    for (int v = 0; v < nv; v++) {
      typename V::T y = V::add(acc[v], b);
      if (relu) y = V::max0(y);
      const int x = x0 + v * 8;
      if (x + 8 <= ow)
        V::store(o + x, y);
      else
        V::store_n(o + x, y, ow - x);
    }
  }
};

// int8 output row store: the exact sum as int32 + bias_s32, then the output pipeline.
template <class V>
struct DwPutQ {
  void* out;  // the plane's first element
  int ow;
  gemm::OutType type;
  int32_t bias_s32;
  float scale, bias_f, zp, lo, hi;
  bool relu, has_bias_f;
  LOWBIT_DW_INLINE void operator()(const typename V::T* acc, int oy, int x0, int nv) {
    using T = typename V::T;
    using IT = typename V::IT;
    for (int v = 0; v < nv; v++) {
      const int x = x0 + v * 8, n = std::min(8, ow - x);
      const size_t at = (size_t)oy * ow + x;
      const IT c = V::add_i(V::cvt_i(acc[v]), V::set1_i(bias_s32));  // exact integers, then mod 2^32
      if (type == gemm::OutType::s32) {
        V::store_i32_n(static_cast<int32_t*>(out) + at, c, n);
      } else if (type == gemm::OutType::f32) {
        T f = V::mul(V::cvt_f(c), V::set1(scale));
        f = V::add(f, V::set1(bias_f));  // always, as dequant_one does (-0 + 0 = +0)
        if (relu) f = V::max0(f);
        V::store_n(static_cast<float*>(out) + at, f, n);
      } else {
        T f = V::cvt_f(c);
        if (has_bias_f) f = V::add(f, V::set1(bias_f));
        f = V::mul(f, V::set1(scale));
        f = V::round(f);
        f = V::add(f, V::set1(zp));
        f = V::max(f, V::set1(lo));
        f = V::min(f, V::set1(hi));
        if (type == gemm::OutType::u8)
          V::store_u8_n(static_cast<uint8_t*>(out) + at, V::cvt_i(f), n);
        else
          V::store_s8_n(static_cast<int8_t*>(out) + at, V::cvt_i(f), n);
      }
    }
  }
};

// The plane's interior (depthwise_plane.h's layout; same values as dw_fill_f32 / dw_fill_u8),
// 8 or 16 input pixels per step: bytes widened to floats, stride 2 de-interleaved into the even
// and odd column phases; the row tails element by element.
// x_end: the end of the caller's input; a row whose vector would read past the row but not past
// x_end loads it whole and stores only the row's lanes (narrow planes stay vectorized).
template <class V, bool kU8, class Src>
LOWBIT_DW_INLINE void dw_fill(const DwPlane& P, const Src* x, const Src* x_end, int32_t x_zp, float* buf) {
  const float zf = (float)x_zp;
  auto one = [&](Src v) { return kU8 ? (float)((int32_t)v - x_zp) : (float)v; };
  for (int y = 0; y < P.h; y++) {
    const Src* src = x + (size_t)y * P.w;
    const int Y = y + P.ph;
    if (P.s == 1) {
      float* d = buf + (size_t)Y * P.rs + P.pw;
      int i = 0;
      if constexpr (kU8) {
        for (; i + 8 <= P.w; i += 8) V::store(d + i, V::load_u8(src + i, zf));
      } else {
        for (; i + 8 <= P.w; i += 8) V::store(d + i, V::load(src + i));
      }
      if (i < P.w && src + i + 8 <= x_end) {
        if constexpr (kU8)
          V::store_n(d + i, V::load_u8(src + i, zf), P.w - i);
        else
          V::store_n(d + i, V::load(src + i), P.w - i);
        i = P.w;
      }
      for (; i < P.w; i++) d[i] = one(src[i]);
    } else {
      // input column 2j -> padded 2j + pw, 2j + 1 -> 2j + 1 + pw: phase (X & 1), index X >> 1
      float* row = buf + (size_t)(Y & 1) * 2 * P.phase + (size_t)(Y >> 1) * P.rs;
      float* pe = row + (size_t)(P.pw & 1) * P.phase + (P.pw >> 1);
      float* po = row + (size_t)((P.pw + 1) & 1) * P.phase + ((P.pw + 1) >> 1);
      int j = 0;
      for (; 2 * j + 16 <= P.w; j += 8) {
        typename V::T e, o;
        if constexpr (kU8)
          V::deint_u8(src + 2 * j, zf, &e, &o);
        else
          V::deint(src + 2 * j, &e, &o);
        V::store(pe + j, e);
        V::store(po + j, o);
      }
      if (2 * j < P.w && src + 2 * j + 16 <= x_end) {
        typename V::T e, o;
        if constexpr (kU8)
          V::deint_u8(src + 2 * j, zf, &e, &o);
        else
          V::deint(src + 2 * j, &e, &o);
        const int left = P.w - 2 * j;  // columns 2j .. w - 1: (left + 1) / 2 even, left / 2 odd
        V::store_n(pe + j, e, (left + 1) / 2);
        if (left / 2 > 0) V::store_n(po + j, o, left / 2);
        j = P.w;  // done
      }
      for (int i = 2 * j; i < P.w; i++) {
        const int X = i + P.pw;
        row[(X & 1) * P.phase + (X >> 1)] = one(src[i]);
      }
    }
  }
}

template <class V>
void depthwise_f32_impl(const ConvLayout& L, const float* x, const float* w, const float* bias, bool relu, float* out,
                        size_t plane_begin, size_t plane_end) {
  if (plane_begin >= plane_end) return;
  const DwPlane P = DwPlane::of(L);
  static thread_local std::vector<float> buf;
  float* b = dw_buffer(P, &buf);
  const int C = L.geo.cout, kk = P.k * P.k;
  const float* x_end = x + L.in_floats();
  for (size_t pl = plane_begin; pl < plane_end; pl++) {
    const int c = (int)(pl % C);
    dw_fill<V, false>(P, x + pl * L.h * L.w, x_end, 0, b);
    DwPutF32<V> put{out + pl * P.oh * P.ow, P.ow, bias ? bias[c] : 0.0f, relu};
    dw_dispatch<V>(P, b, w + (size_t)c * kk, put);
  }
}

template <class V>
void depthwise_u8s8_impl(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf, const QConvOutput& out,
                         size_t plane_begin, size_t plane_end) {
  if (plane_begin >= plane_end) return;
  const DwPlane P = DwPlane::of(L);
  static thread_local std::vector<float> buf;
  float* b = dw_buffer(P, &buf);
  const int C = L.geo.cout, kk = P.k * P.k;
  const size_t esz = elem_size(out.type);
  const uint8_t* x_end = x + L.in_floats();
  for (size_t pl = plane_begin; pl < plane_end; pl++) {
    const int c = (int)(pl % C);
    dw_fill<V, true>(P, x + pl * L.h * L.w, x_end, x_zp, b);
    DwPutQ<V> put;
    put.out = static_cast<uint8_t*>(out.y) + pl * P.oh * P.ow * esz;
    put.ow = P.ow;
    put.type = out.type;
    put.bias_s32 = out.bias_s32 ? out.bias_s32[c] : 0;
    put.scale = out.scale ? out.scale[out.scale_per_channel ? c : 0] : 1.0f;
    put.has_bias_f = out.bias_f32 != nullptr;
    put.bias_f = out.bias_f32 ? out.bias_f32[c] : 0.0f;
    put.zp = (float)out.out_zp, put.lo = (float)out.qmin, put.hi = (float)out.qmax;
    put.relu = out.relu;
    dw_dispatch<V>(P, b, wf + (size_t)c * kk, put);
  }
}

}  // namespace
}  // namespace conv
}  // namespace lowbit

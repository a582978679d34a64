// Depthwise convolution: the plane buffer (depthwise_plane.h), the int8 weight widening, the
// scalar reference kernels (plain loops over the same buffer) and the kernel table.
#include "kernels/conv/depthwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/conv/depthwise_plane.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace conv {

bool depthwise_eligible(const ConvGeometry& g) {
  return g.groups == g.cin && g.cin == g.cout && g.kh == g.kw && (g.kh == 3 || g.kh == 5) &&
         g.stride_h == g.stride_w && (g.stride_h == 1 || g.stride_h == 2) && g.dil_h == 1 && g.dil_w == 1;
}

DwPlane DwPlane::of(const ConvLayout& L) {
  DwPlane P;
  const ConvGeometry& g = L.geo;
  P.k = g.kh, P.s = g.stride_h, P.ph = g.pad_h, P.pw = g.pad_w;
  P.h = L.h, P.w = L.w, P.oh = L.oh, P.ow = L.ow;
  const int hp = L.h + 2 * g.pad_h, wp = L.w + 2 * g.pad_w;
  if (P.s == 1) {
    P.rows = hp;
    P.rs = wp + 8;
    P.phase = (size_t)P.rows * P.rs;
    P.floats = P.phase + 8;
    for (int ky = 0; ky < P.k; ky++)
      for (int kx = 0; kx < P.k; kx++) P.off[ky * P.k + kx] = ky * P.rs + kx;
  } else {
    P.rows = (hp + 1) / 2;
    P.rs = (wp + 1) / 2 + 8;
    P.phase = (size_t)P.rows * P.rs;
    P.floats = 4 * P.phase + 8;
    for (int ky = 0; ky < P.k; ky++)
      for (int kx = 0; kx < P.k; kx++)
        P.off[ky * P.k + kx] = (int)(((ky & 1) * 2 + (kx & 1)) * P.phase) + (ky >> 1) * P.rs + (kx >> 1);
  }
  return P;
}

float* dw_buffer(const DwPlane& P, std::vector<float>* buf) {
  if (buf->size() < P.floats) buf->resize(P.floats);
  std::fill(buf->begin(), buf->begin() + P.floats, 0.0f);
  return buf->data();
}

namespace {

template <class Src, class Cvt>
void fill(const DwPlane& P, const Src* x, float* buf, Cvt cvt) {
  for (int y = 0; y < P.h; y++) {
    const Src* src = x + (size_t)y * P.w;
    const int Y = y + P.ph;
    if (P.s == 1) {
      float* d = buf + (size_t)Y * P.rs + P.pw;
      for (int i = 0; i < P.w; i++) d[i] = cvt(src[i]);
    } else {
      // padded column X = x + pw goes to phase X & 1 at X >> 1
      float* row = buf + (size_t)(Y & 1) * 2 * P.phase + (size_t)(Y >> 1) * P.rs;
      for (int i = 0; i < P.w; i++) {
        const int X = i + P.pw;
        row[(X & 1) * P.phase + (X >> 1)] = cvt(src[i]);
      }
    }
  }
}

}  // namespace

void dw_fill_f32(const DwPlane& P, const float* x, float* buf) {
  if (P.s == 1) {
    for (int y = 0; y < P.h; y++) std::memcpy(buf + (size_t)(y + P.ph) * P.rs + P.pw, x + (size_t)y * P.w, sizeof(float) * P.w);
    return;
  }
  fill(P, x, buf, [](float v) { return v; });
}

void dw_fill_u8(const DwPlane& P, const uint8_t* x, int32_t x_zp, float* buf) {
  fill(P, x, buf, [x_zp](uint8_t v) { return (float)((int32_t)v - x_zp); });
}

void depthwise_int8_weights(const ConvGeometry& g, const int8_t* w, const int32_t* w_zp, bool per_channel, float* wf) {
  const int kk = g.kh * g.kw;
  for (int c = 0; c < g.cout; c++)
    for (int t = 0; t < kk; t++) wf[(size_t)c * kk + t] = (float)((int32_t)w[(size_t)c * kk + t] - w_zp[per_channel ? c : 0]);
}

namespace {

// The plane's exact sum at (oy, ox) from the buffer, taps in order (plain fp32 adds).
float dw_sum(const DwPlane& P, const float* buf, const float* wt, int oy, int ox) {
  float s = 0.0f;
  for (int t = 0; t < P.k * P.k; t++) s += wt[t] * buf[P.off[t] + (size_t)oy * P.rs + ox];
  return s;
}

}  // namespace

void depthwise_f32__ref(const ConvLayout& L, const float* x, const float* w, const float* bias, bool relu, float* out,
                        size_t plane_begin, size_t plane_end) {
  const DwPlane P = DwPlane::of(L);
  std::vector<float> buf;
  float* b = dw_buffer(P, &buf);
  const int C = L.geo.cout, kk = P.k * P.k;
  for (size_t pl = plane_begin; pl < plane_end; pl++) {
    const int c = (int)(pl % C);
    dw_fill_f32(P, x + pl * L.h * L.w, b);
    float* o = out + pl * P.oh * P.ow;
    for (int oy = 0; oy < P.oh; oy++)
      for (int ox = 0; ox < P.ow; ox++) {
        float v = dw_sum(P, b, w + (size_t)c * kk, oy, ox) + (bias ? bias[c] : 0.0f);
        if (relu && v < 0.0f) v = 0.0f;
        o[(size_t)oy * P.ow + ox] = v;
      }
  }
}

void depthwise_u8s8__ref(const ConvLayout& L, const uint8_t* x, int32_t x_zp, const float* wf, const QConvOutput& out,
                         size_t plane_begin, size_t plane_end) {
  const DwPlane P = DwPlane::of(L);
  std::vector<float> buf;
  float* b = dw_buffer(P, &buf);
  const int C = L.geo.cout, kk = P.k * P.k;
  for (size_t pl = plane_begin; pl < plane_end; pl++) {
    const int c = (int)(pl % C);
    dw_fill_u8(P, x + pl * L.h * L.w, x_zp, b);
    const float s = out.scale ? out.scale[out.scale_per_channel ? c : 0] : 1.0f;
    const float bf = out.bias_f32 ? out.bias_f32[c] : 0.0f;
    for (int oy = 0; oy < P.oh; oy++)
      for (int ox = 0; ox < P.ow; ox++) {
        const size_t at = pl * P.oh * P.ow + (size_t)oy * P.ow + ox;
        // exact: every partial sum is an integer below 2^24
        const int32_t acc = (int32_t)((uint32_t)(int32_t)dw_sum(P, b, wf + (size_t)c * kk, oy, ox) +
                                      (uint32_t)(out.bias_s32 ? out.bias_s32[c] : 0));
        switch (out.type) {
          // the output may sit at any byte offset (the tests misalign it on purpose, as the GEMM
          // reference's): 4-byte values are stored through memcpy, not through a cast pointer
          case gemm::OutType::s32:
            std::memcpy(static_cast<uint8_t*>(out.y) + at * 4, &acc, 4);
            break;
          case gemm::OutType::f32: {
            const float v = gemm::dequant_one(acc, s, bf, out.relu);
            std::memcpy(static_cast<uint8_t*>(out.y) + at * 4, &v, 4);
            break;
          }
          case gemm::OutType::u8:
            static_cast<uint8_t*>(out.y)[at] =
                (uint8_t)(int32_t)gemm::requant_one(acc, s, bf, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
            break;
          default:
            static_cast<int8_t*>(out.y)[at] =
                (int8_t)(int32_t)gemm::requant_one(acc, s, bf, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
            break;
        }
      }
  }
}

DepthwiseKernels depthwise_kernels(Isa isa) {
  switch (isa) {
#if defined(LOWBIT_HAVE_AVX512)
    case Isa::avx512:
      return {depthwise_f32__avx512, depthwise_u8s8__avx512};
#endif
#if defined(LOWBIT_HAVE_AVX2)
    case Isa::avx2:
      return {depthwise_f32__avx2, depthwise_u8s8__avx2};
#endif
#if defined(LOWBIT_HAVE_NEON)
    case Isa::neon:
    case Isa::neon_dotprod:
    case Isa::neon_i8mm:
      return {depthwise_f32__neon, depthwise_u8s8__neon};
#endif
    default:
      return {depthwise_f32__ref, depthwise_u8s8__ref};
  }
}

}  // namespace conv
}  // namespace lowbit

// The int8 direct convolution for CPUs where AMX tiles may be used (dispatch checks amx_ready):
// qconv_u8s8_direct__avx512_amx.
//
// Symmetric weights packed as AMX tiles (QConvAmx, int8.h): per task (image, group, block of
// output pixels, channel chunk) the input rows the block needs are copied once as zero-point-padded
// NHWC with the channels padded to a multiple of 64 (zeros there, x_zp in the spatial padding: so
// acc = sum x w - x_zp colsum + bias exactly, with no per-pixel input sums), and each A tile (16
// output pixels of one row x 64 channels of one tap) is loaded straight from it with row stride
// stride_w * cpad: no im2col. Per pair of 16-pixel segments and pair of 16-channel panels, four
// TDPBUSD per (tap, 64-channel chunk) into tmm0-3; the 32 x 32 int32 result goes through the AVX2
// tile epilogue into a [pixel][channel] tile of the output type, which write_tile_nchw transposes
// into NCHW. Weights with zero points, thin inputs (< 16 channels per group) and narrow outputs (<
// 8 columns; 1x1 stride-1 unpadded layers excepted, whose segments run across rows) run the
// AVX-512 VNNI direct kernel, whose im2col blocks (7x7 planes) take the AMX GEMM.
#include <immintrin.h>

#include "kernels/conv/vnni_int8_kern.h"
#include "kernels/gemm/driver.h"
#include "kernels/gemm/epilogue_avx2.h"

namespace lowbit {
namespace conv {
namespace {

struct VnniAmxKern : VnniKern {
  static constexpr gemm::GemmU8S8Fn gemm = gemm::gemm_u8s8__amx;
};

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {0};
  uint16_t colsb[16] = {0};
  uint8_t rows[16] = {0};
};

// The four unpack stages of a 16 x 16 byte transpose, on every 128-bit lane of V at once (xmm: one
// block; zmm: four side by side). Afterwards a[k] holds row kOrder[k] of each lane's transpose.
constexpr int kOrder[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
template <typename V, typename Ops>
inline void transpose_stages(V (&a)[16]) {
  V b[16];
  for (int i = 0; i < 8; i++) {
    b[2 * i] = Ops::lo8(a[2 * i], a[2 * i + 1]);
    b[2 * i + 1] = Ops::hi8(a[2 * i], a[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++) {
      a[4 * i + j] = Ops::lo16(b[4 * i + j], b[4 * i + j + 2]);
      a[4 * i + j + 2] = Ops::hi16(b[4 * i + j], b[4 * i + j + 2]);
    }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      b[8 * i + j] = Ops::lo32(a[8 * i + j], a[8 * i + j + 4]);
      b[8 * i + j + 4] = Ops::hi32(a[8 * i + j], a[8 * i + j + 4]);
    }
  for (int j = 0; j < 8; j++) {
    a[j] = Ops::lo64(b[j], b[j + 8]);
    a[j + 8] = Ops::hi64(b[j], b[j + 8]);
  }
}
struct Xmm {
  static __m128i lo8(__m128i x, __m128i y) { return _mm_unpacklo_epi8(x, y); }
  static __m128i hi8(__m128i x, __m128i y) { return _mm_unpackhi_epi8(x, y); }
  static __m128i lo16(__m128i x, __m128i y) { return _mm_unpacklo_epi16(x, y); }
  static __m128i hi16(__m128i x, __m128i y) { return _mm_unpackhi_epi16(x, y); }
  static __m128i lo32(__m128i x, __m128i y) { return _mm_unpacklo_epi32(x, y); }
  static __m128i hi32(__m128i x, __m128i y) { return _mm_unpackhi_epi32(x, y); }
  static __m128i lo64(__m128i x, __m128i y) { return _mm_unpacklo_epi64(x, y); }
  static __m128i hi64(__m128i x, __m128i y) { return _mm_unpackhi_epi64(x, y); }
};
struct Zmm {
  static __m512i lo8(__m512i x, __m512i y) { return _mm512_unpacklo_epi8(x, y); }
  static __m512i hi8(__m512i x, __m512i y) { return _mm512_unpackhi_epi8(x, y); }
  static __m512i lo16(__m512i x, __m512i y) { return _mm512_unpacklo_epi16(x, y); }
  static __m512i hi16(__m512i x, __m512i y) { return _mm512_unpackhi_epi16(x, y); }
  static __m512i lo32(__m512i x, __m512i y) { return _mm512_unpacklo_epi32(x, y); }
  static __m512i hi32(__m512i x, __m512i y) { return _mm512_unpackhi_epi32(x, y); }
  static __m512i lo64(__m512i x, __m512i y) { return _mm512_unpacklo_epi64(x, y); }
  static __m512i hi64(__m512i x, __m512i y) { return _mm512_unpackhi_epi64(x, y); }
};

// 16 x 16 bytes: src rows r at src + r * sld (16 bytes each) -> dst rows c at dst + c * dld.
inline void transpose16(const uint8_t* src, size_t sld, uint8_t* dst, size_t dld) {
  __m128i a[16];
  for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * sld));
  transpose_stages<__m128i, Xmm>(a);
  for (int k = 0; k < 16; k++) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + kOrder[k] * dld), a[k]);
}

// 16 x 64 bytes (rows r at src + r * sld) -> 64 rows of 16 bytes at dst + c * dld, four 16 x 16
// blocks per instruction (the NHWC copy is the cost of a thin 1x1 layer).
inline void transpose16x64(const uint8_t* src, size_t sld, uint8_t* dst, size_t dld) {
  __m512i a[16];
  for (int i = 0; i < 16; i++) a[i] = _mm512_loadu_si512(src + i * sld);
  transpose_stages<__m512i, Zmm>(a);
  for (int k = 0; k < 16; k++) {
    const size_t r = (size_t)kOrder[k];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + r * dld), _mm512_castsi512_si128(a[k]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (16 + r) * dld), _mm512_extracti32x4_epi32(a[k], 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (32 + r) * dld), _mm512_extracti32x4_epi32(a[k], 2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (48 + r) * dld), _mm512_extracti32x4_epi32(a[k], 3));
  }
}

// One run of `len` pixels (channel c of pixel i at src[c * plane + i]) to dst[i * cpad + c], c < cin_g.
// Pixels outside, channels inside: 64 pixels' destination (64 x cpad bytes) stays in L1 while
// every channel block writes into it.
void nhwc_run(const uint8_t* src, size_t plane, int cin_g, size_t len, size_t cpad, uint8_t* dst) {
  const int c16 = cin_g / 16 * 16;
  size_t i = 0;
  for (; i + 64 <= len; i += 64)
    for (int c = 0; c < c16; c += 16) transpose16x64(src + (size_t)c * plane + i, plane, dst + i * cpad + c, cpad);
  for (; i + 16 <= len; i += 16)
    for (int c = 0; c < c16; c += 16) transpose16(src + (size_t)c * plane + i, plane, dst + i * cpad + c, cpad);
  for (; i < len; i++)
    for (int c = 0; c < c16; c++) dst[i * cpad + c] = src[(size_t)c * plane + i];
  for (int c = c16; c < cin_g; c++)
    for (size_t j = 0; j < len; j++) dst[j * cpad + c] = src[(size_t)c * plane + j];
}

// Rows [iy0, iy0 + R) of the group's input (NCHW, cin_g channels of h x w) as padded NHWC: row r,
// padded column X (ix = X - pw), channel c at buf[(r * wp + X) * cpad + c]; x_zp where (iy, ix)
// is outside the image, 0 for c >= cin_g.
void pad_nhwc(const uint8_t* x, int h, int w, int cin_g, int iy0, int R, int pw, size_t wp, size_t cpad, uint8_t xz,
              uint8_t* buf) {
  const size_t plane = (size_t)h * w;
  auto fill = [&](size_t X0, size_t X1) {  // padding pixels [X0, X1) of the buffer
    for (size_t X = X0; X < X1; X++) std::memset(buf + X * cpad, xz, (size_t)cin_g);
  };
  for (int r = 0; r < R; r++) {
    const int iy = iy0 + r;
    const size_t row = (size_t)r * wp;
    if (iy < 0 || iy >= h) {
      fill(row, row + wp);
    } else {
      fill(row, row + (size_t)pw);
      fill(row + (size_t)pw + (size_t)w, row + wp);
    }
  }
  if (cpad > (size_t)cin_g)
    for (size_t X = 0; X < (size_t)R * wp; X++) std::memset(buf + X * cpad + cin_g, 0, cpad - (size_t)cin_g);
  if (pw == 0 && iy0 >= 0 && iy0 + R <= h) {  // unpadded rows are one run in both layouts
    nhwc_run(x + (size_t)iy0 * w, plane, cin_g, (size_t)R * w, cpad, buf);
    return;
  }
  for (int r = 0; r < R; r++) {
    const int iy = iy0 + r;
    if (iy >= 0 && iy < h) nhwc_run(x + (size_t)iy * w, plane, cin_g, (size_t)w, cpad, buf + ((size_t)r * wp + pw) * cpad);
  }
}

struct Segment {
  size_t p;   // first output pixel
  size_t n;   // valid pixels (<= 16)
  size_t a;   // byte offset of its tap (0, 0), chunk 0 in the padded buffer
};

template <bool SEG2, bool PAN2>
void segment_block(const QConvAmx& A, size_t grp, size_t q, const uint8_t* buf, const Segment* s, const size_t* toff,
                   size_t astride, int32_t* ct) {
  _tile_zero(0);
  if (PAN2) _tile_zero(1);
  if (SEG2) _tile_zero(2);
  if (SEG2 && PAN2) _tile_zero(3);
  for (size_t t = 0; t < A.taps; t++)
    for (size_t c = 0; c < A.chunks; c++) {
      const size_t o = toff[t] + c * 64;
      _tile_loadd(4, buf + s[0].a + o, astride);
      _tile_loadd(6, A.tile(grp, q, t, c), 64);
      if (PAN2) _tile_loadd(7, A.tile(grp, q + 1, t, c), 64);
      _tile_dpbusd(0, 4, 6);
      if (PAN2) _tile_dpbusd(1, 4, 7);
      if (SEG2) {
        _tile_loadd(5, buf + s[1].a + o, astride);
        _tile_dpbusd(2, 5, 6);
        if (PAN2) _tile_dpbusd(3, 5, 7);
      }
    }
  _tile_stored(0, ct, 128);
  if (PAN2) _tile_stored(1, ct + 16, 128);
  if (SEG2) _tile_stored(2, ct + 16 * 32, 128);
  if (SEG2 && PAN2) _tile_stored(3, ct + 16 * 32 + 16, 128);
}

void amx_task(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x, int32_t x_zp,
              const QConvOutput& out, size_t task) {
  const ConvGeometry& g = w.geo;
  const QConvAmx& A = w.amx;
  const size_t N = (size_t)g.cout_g();
  const QConvTaskRange tr = qconv_task_range(plan, g, task);
  const size_t grp = tr.grp, img = tr.img, p0 = tr.p0, p1 = tr.p1, c0 = tr.c0, c1 = tr.c1;
  if (p0 >= p1 || c0 >= c1) return;

  const size_t ow = (size_t)l.ow, cpad = A.cpad;
  const int sh = g.stride_h, sw = g.stride_w;
  const size_t oy_a = p0 / ow, oy_b = (p1 - 1) / ow;
  const int R = (int)(oy_b - oy_a) * sh + (g.kh - 1) * g.dil_h + 1;
  const size_t wp = (size_t)l.wp;
  // a segment's last lanes may read up to 15 * sw columns past its row: slack after the last row
  const size_t buf_bytes = (size_t)R * wp * cpad, slack = (16 * (size_t)sw + 64) * cpad;
  const size_t q_first = c0 / 16, q_end = (c1 + 15) / 16;
  const size_t W = (q_end - q_first) * 16;       // the channel window of this task
  const size_t Npad = W;                         // tmp tile width (elements)
  const size_t esz = out.type == gemm::OutType::s32 || out.type == gemm::OutType::f32 ? 4 : 1;
  const size_t off_tmp = gemm::round_up(buf_bytes + slack, 64);
  const size_t off_win = off_tmp + gemm::round_up(32 * Npad * esz, 64);
  static thread_local Scratch scratch;
  uint8_t* base = scratch.get(off_win + 4 * W * 4 + 64);
  uint8_t* buf = base;
  uint8_t* tmp = base + off_tmp;
  int32_t* colterm = reinterpret_cast<int32_t*>(base + off_win);
  int32_t* bz = colterm + W;
  float* scale = reinterpret_cast<float*>(bz + W);
  float* biasf = scale + W;

  const size_t plane_in = (size_t)l.h * l.w;
  const uint8_t* xg = x + ((size_t)img * g.cin + grp * (size_t)g.cin_g()) * plane_in;
  pad_nhwc(xg, l.h, l.w, g.cin_g(), (int)oy_a * sh - g.pad_h, R, g.pad_w, wp, cpad, (uint8_t)x_zp, buf);
  std::memset(buf + buf_bytes, (uint8_t)x_zp, slack);

  // the tile epilogue's column parameters (the group's PackedB holds the column sums over K)
  const size_t co_g = grp * N;
  const gemm::PackedB& pb = w.groups[grp];
  const gemm::Output o = tile_output(out, co_g, tmp, Npad);
  gemm::column_window(pb, o, q_first * 16, W, bz, scale, biasf);
  gemm::column_terms(pb, o, x_zp, q_first * 16, W, colterm);
  const float scale_one = o.scale ? o.scale[0] : 1.0f;
  static const int32_t kZeroRows[32] = {0};

  size_t toff[64];  // per tap: byte offset of (ky, kx) in the padded buffer
  for (int ky = 0, i = 0; ky < g.kh; ky++)
    for (int kx = 0; kx < g.kw; kx++, i++) toff[i] = ((size_t)ky * g.dil_h * wp + (size_t)kx * g.dil_w) * cpad;
  const size_t astride = (size_t)sw * cpad;

  // 16-pixel segments of one output row each; a 1x1, stride-1, unpadded layer's rows are
  // contiguous in the buffer (wp = w = ow), so its segments run across rows
  Segment segs[272];
  size_t ns = 0;
  const bool flat = g.kh == 1 && g.kw == 1 && sh == 1 && sw == 1 && g.pad_h == 0 && g.pad_w == 0;
  for (size_t p = p0; flat && p < p1; p += 16) segs[ns++] = Segment{p, std::min<size_t>(16, p1 - p), (p - oy_a * ow) * cpad};
  for (size_t oy = oy_a; !flat && oy <= oy_b; oy++) {
    const size_t r0 = std::max(p0, oy * ow), r1 = std::min(p1, (oy + 1) * ow);
    for (size_t p = r0; p < r1; p += 16) {
      const size_t ox = p - oy * ow;
      segs[ns++] = Segment{p, std::min<size_t>(16, r1 - p), ((oy - oy_a) * sh * wp + ox * sw) * cpad};
    }
  }

  gemm::path_counters().amx_blocks++;
  TileConfig cfg;
  for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
  // A tiles read min(cpad, 64) bytes a row, B tiles that many / 4 rows (k groups)
  const int ka = (int)std::min<size_t>(64, cpad);
  cfg.colsb[4] = cfg.colsb[5] = (uint16_t)ka;
  cfg.rows[6] = cfg.rows[7] = (uint8_t)(ka / 4);
  _tile_loadconfig(&cfg);
  alignas(64) int32_t ct[32 * 32];
  const size_t plane_out = plan.pixels;
  for (size_t si = 0; si < ns; si += 2) {
    const bool seg2 = si + 1 < ns;
    for (size_t q = q_first; q < q_end; q += 2) {
      const bool pan2 = q + 1 < q_end;
      if (seg2) {
        if (pan2) segment_block<true, true>(A, grp, q, buf, segs + si, toff, astride, ct);
        else segment_block<true, false>(A, grp, q, buf, segs + si, toff, astride, ct);
      } else {
        if (pan2) segment_block<false, true>(A, grp, q, buf, segs + si, toff, astride, ct);
        else segment_block<false, false>(A, grp, q, buf, segs + si, toff, astride, ct);
      }
      const size_t cq = q * 16, wi = cq - q_first * 16;
      const gemm::EpiChunk e{colterm + wi, nullptr, o.scale_per_channel ? scale + wi : &scale_one,
                             o.scale_per_channel, o.bias_f32 ? biasf + wi : nullptr};
      gemm::epilogue_tile_avx2(ct, 32, seg2 ? 32 : 16, kZeroRows, e, o, 0, (pan2 ? 2 : 1) * 16, tmp + wi * esz,
                               Npad * esz);
    }
    for (size_t j = 0; j < (seg2 ? 2u : 1u); j++) {
      const Segment& s = segs[si + j];
      const size_t y_off = ((size_t)img * g.cout + co_g) * plane_out + s.p;
      write_tile_nchw(out, tmp + j * 16 * Npad * esz - q_first * 16 * esz, Npad, s.n, c0, c1, y_off, plane_out);
    }
  }
  _tile_release();
}

}  // namespace

void qconv_u8s8_direct__avx512_amx(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                                   int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  const ConvGeometry& g = w.geo;
  const bool flat = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  // Thin layers (K = cin_g kh kw < 256 or fewer than 32 outputs a group: MobileNetV2's pointwise
  // convolutions) are bound by writing the outputs, which the VNNI kernel does straight into NCHW:
  // 24>144@56 126 vs 71 GOPS, 16>96@112 122 vs 77, 144>24@56 128 vs 84; from 256>64@56 on AMX wins.
  const bool thin = g.taps() < 256 || g.cout_g() < 32;
  if (w.amx.empty() || thin || g.cin_g() < 16 || (l.ow < 8 && !flat) || g.kh * g.kw > 64 || plan.block > 256)
    return direct_task<VnniAmxKern>(w, l, plan, x, x_zp, out, opt, task);
  amx_task(w, l, plan, x, x_zp, out, task);
}

}  // namespace conv
}  // namespace lowbit

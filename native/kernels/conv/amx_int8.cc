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
// into NCHW. Weights with zero points, geometries qconv_amx_eligible (int8.h) rejects (thin
// layers) and narrow outputs (< 8 columns; pointwise layers excepted, whose segments run across
// rows) run the AVX-512 VNNI direct kernel, whose im2col blocks (7x7 planes) take the AMX GEMM.
#include <immintrin.h>

#include "kernels/conv/vnni_int8_kern.h"
#include "kernels/gemm/amx_tiles.h"
#include "kernels/gemm/driver.h"
#include "kernels/gemm/epilogue_avx2.h"

namespace lowbit {
namespace conv {
namespace {

struct VnniAmxKern : VnniKern {
  static constexpr gemm::GemmU8S8Fn gemm = gemm::gemm_u8s8__amx;
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
  const size_t W = (q_end - q_first) * 16;  // the channel window of this task, also the tmp tile's width
  const size_t esz = gemm::out_elem_size(out.type), steps = A.taps * A.chunks;
  const size_t off_tmp = gemm::round_up(buf_bytes + slack, 64);
  const size_t off_aoff = off_tmp + gemm::round_up(32 * W * esz, 64);
  const size_t off_win = off_aoff + gemm::round_up(steps * sizeof(size_t), 64);
  static thread_local Scratch scratch;
  uint8_t* base = scratch.get(off_win + gemm::ColumnWindow::bytes(W));
  uint8_t* buf = base;
  uint8_t* tmp = base + off_tmp;
  size_t* aoff = reinterpret_cast<size_t*>(base + off_aoff);

  const size_t plane_in = (size_t)l.h * l.w;
  const uint8_t* xg = x + ((size_t)img * g.cin + grp * (size_t)g.cin_g()) * plane_in;
  pad_nhwc(xg, l.h, l.w, g.cin_g(), (int)oy_a * sh - g.pad_h, R, g.pad_w, wp, cpad, (uint8_t)x_zp, buf);
  std::memset(buf + buf_bytes, (uint8_t)x_zp, slack);

  // the tile epilogue's column parameters (the group's PackedB holds the column sums over K)
  const size_t co_g = grp * N;
  const gemm::PackedB& pb = w.groups[grp];
  const gemm::Output o = tile_output(out, co_g, tmp, W);
  gemm::ColumnWindow win(pb, o, q_first * 16, W, base + off_win);
  win.set_terms(pb, x_zp);
  static const int32_t kZeroRows[32] = {0};

  // per k step (tap, 64-channel chunk): the byte offset of its A tile from a segment's start
  for (int ky = 0, t = 0; ky < g.kh; ky++)
    for (int kx = 0; kx < g.kw; kx++, t++)
      for (size_t c = 0; c < A.chunks; c++)
        aoff[(size_t)t * A.chunks + c] = ((size_t)ky * g.dil_h * wp + (size_t)kx * g.dil_w) * cpad + c * 64;
  const size_t astride = (size_t)sw * cpad;

  // 16-pixel segments of one output row each; a 1x1, stride-1, unpadded layer's rows are
  // contiguous in the buffer (wp = w = ow), so its segments run across rows
  Segment segs[272];
  size_t ns = 0;
  const bool flat = g.pointwise();
  for (size_t p = p0; flat && p < p1; p += 16) segs[ns++] = Segment{p, std::min<size_t>(16, p1 - p), (p - oy_a * ow) * cpad};
  for (size_t oy = oy_a; !flat && oy <= oy_b; oy++) {
    const size_t r0 = std::max(p0, oy * ow), r1 = std::min(p1, (oy + 1) * ow);
    for (size_t p = r0; p < r1; p += 16) {
      const size_t ox = p - oy * ow;
      segs[ns++] = Segment{p, std::min<size_t>(16, r1 - p), ((oy - oy_a) * sh * wp + ox * sw) * cpad};
    }
  }

  gemm::path_counters().amx_blocks++;
  gemm::load_tile_config((int)std::min<size_t>(64, cpad));  // below 64 channels: A tiles cpad wide
  alignas(64) int32_t ct[32 * 32];
  const size_t plane_out = plan.pixels;
  for (size_t si = 0; si < ns; si += 2) {
    const bool seg2 = si + 1 < ns;
    const uint8_t* a0 = buf + segs[si].a;
    const uint8_t* a1 = seg2 ? buf + segs[si + 1].a : a0;
    for (size_t q = q_first; q < q_end; q += 2) {
      const bool pan2 = q + 1 < q_end;
      const uint8_t* b0 = A.tile(grp, q, 0, 0);
      gemm::tile_block(seg2, pan2, a0, a1, aoff, astride, b0, b0 + steps * 1024, steps, ct);
      const size_t wi = q * 16 - q_first * 16;
      gemm::epilogue_tile_avx2(ct, 32, seg2 ? 32 : 16, kZeroRows, win.at(wi), o, 0, (pan2 ? 2 : 1) * 16, tmp + wi * esz,
                               W * esz);
    }
    for (size_t j = 0; j < (seg2 ? 2u : 1u); j++) {
      const Segment& s = segs[si + j];
      const size_t y_off = ((size_t)img * g.cout + co_g) * plane_out + s.p;
      write_tile_nchw(out, tmp + j * 16 * W * esz - q_first * 16 * esz, W, s.n, c0, c1, y_off, plane_out);
    }
  }
  _tile_release();
}

}  // namespace

void qconv_u8s8_direct__avx512_amx(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x,
                                   int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  // w.amx holds tiles only for the geometries qconv_amx_eligible accepts; what remains to check
  // depends on the input: narrow outputs fill the 16-row tiles badly (pointwise layers' segments
  // run across rows instead), and a plan's blocks must fit the segment list
  const bool narrow = l.ow < 8 && !w.geo.pointwise();
  if (w.amx.empty() || narrow || plan.block > 256) return direct_task<VnniAmxKern>(w, l, plan, x, x_zp, out, opt, task);
  amx_task(w, l, plan, x, x_zp, out, task);
}

}  // namespace conv
}  // namespace lowbit

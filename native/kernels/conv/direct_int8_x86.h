// The x86 direct int8 convolution shared by the AVX2 and the AVX-512 VNNI kernels (int8.h:
// qconv_u8s8_direct__avx2 / __avx512): the panel gathering, the epilogue and the task, over a
// microkernel policy `Kern` that each ISA's file defines (avx2_int8.cc, avx512_int8.cc). Include
// after <immintrin.h>; everything is in an anonymous namespace, so that each translation unit keeps
// its own copy compiled with its own flags.
//
// The design (rows = output channels, columns = output pixels, panels gathered from padded rows,
// the shift rule of the fast path) is stated at the top of avx2_int8.cc and in README.md, "int8".
#pragma once

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "cpu/scratch.h"
#include "kernels/conv/int8.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace conv {
namespace {

constexpr int kNR = 16;     // pixels per panel (two ymm of int32 results)
constexpr size_t kSlack = 64;  // bytes before and after the padded rows (offset loads, see Panel)
constexpr size_t kMaxKC = 640;  // taps per K block (K blocking, see the task)

inline size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Where the 16 lanes of a panel read in the padded rows: lane i of tap t is buf[koff[t] + base[i]].
// Stride 1: the lanes form runs of consecutive offsets (one per output row); run j starts at lane
// from[j] and reads bytes buf[koff[t] + src[j] + i], so one unaligned 16-byte load per run, blended
// over the lanes >= from[j]. Lanes past the last pixel continue the last run (their results are
// dropped; the reads stay within the slack). More than 4 runs (output rows narrower than about 5
// pixels): a byte gather.
struct Panel {
  int runs = 0;  // 0: gather
  long src[4];
  __m128i mask[4];
  long base[kNR];
};

// pitch: bytes from one padded row to the next in the source (at stride sw > 1 the rows are split
// into column phases, so consecutive output columns read consecutive bytes at every stride).
Panel make_panel(const ConvLayout& l, size_t q0, size_t npx, int py0, long pitch) {
  Panel pn;
  const size_t ow = (size_t)l.ow;
  const long sh = l.geo.stride_h;
  for (int i = 0; i < kNR; i++) {
    const size_t q = q0 + std::min<size_t>((size_t)i, npx - 1);
    const long oy = (long)(q / ow), ox = (long)(q % ow);
    pn.base[i] = (oy * sh - py0) * pitch + ox;
    if ((size_t)i >= npx) pn.base[i] += (long)i - (long)(npx - 1);  // continue the last run
  }
  const __m128i lane = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int runs = 0;
  for (int i = 0; i < kNR; i++) {
    if (i > 0 && pn.base[i] == pn.base[i - 1] + 1) continue;
    if (runs == 4) {
      pn.runs = 0;
      return pn;
    }
    pn.src[runs] = pn.base[i] - i;
    pn.mask[runs] = _mm_cmpgt_epi8(lane, _mm_set1_epi8((char)(i - 1)));
    runs++;
  }
  pn.runs = runs;
  return pn;
}

// The 16 bytes of tap offset `ko` for the panel's lanes.
inline __m128i load_tap(const uint8_t* buf, const Panel& pn, long ko) {
  if (pn.runs > 0) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + ko + pn.src[0]));
    for (int j = 1; j < pn.runs; j++)
      v = _mm_blendv_epi8(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + ko + pn.src[j])), pn.mask[j]);
    return v;
  }
  alignas(16) uint8_t t[kNR];
  for (int i = 0; i < kNR; i++) t[i] = buf[ko + pn.base[i]];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}

// Exact panel: dst[k2 * 32 + i * 2 + j] = x(tap 2 k2 + j, lane i) - xz as int16 (0 beyond K).
void pack_exact(const uint8_t* buf, const Panel& pn, const long* koff, size_t K, uint8_t xz, int16_t* dst) {
  const __m256i vz = _mm256_set1_epi16(xz);
  const __m128i zrow = _mm_set1_epi8((char)xz);
  for (size_t k = 0; k < K; k += 2) {
    const __m128i r0 = load_tap(buf, pn, koff[k]);
    const __m128i r1 = k + 1 < K ? load_tap(buf, pn, koff[k + 1]) : zrow;
    const __m256i w0 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r0, r1)), vz);
    const __m256i w1 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(r0, r1)), vz);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + k * 16), w0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + k * 16 + 16), w1);
  }
}

// Fast panel: dst[g * 64 + i * 4 + j] = x(tap 4 g + j, lane i) - shift as uint8 (0 beyond K), and,
// when colsum is not null, colsum[i] += sum over k < K of that value.
void pack_fast(const uint8_t* buf, const Panel& pn, const long* koff, size_t K, uint8_t shift, uint8_t* dst,
               int32_t* colsum) {
  const __m128i vs = _mm_set1_epi8((char)shift);
  const __m128i ones8 = _mm_set1_epi8(1);
  const __m128i ones16 = _mm_set1_epi16(1);
  __m128i s[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
  for (size_t k = 0; k < K; k += 4) {
    __m128i r[4];
    for (size_t j = 0; j < 4; j++) r[j] = k + j < K ? _mm_sub_epi8(load_tap(buf, pn, koff[k + j]), vs) : _mm_setzero_si128();
    const __m128i a_lo = _mm_unpacklo_epi8(r[0], r[1]), a_hi = _mm_unpackhi_epi8(r[0], r[1]);
    const __m128i b_lo = _mm_unpacklo_epi8(r[2], r[3]), b_hi = _mm_unpackhi_epi8(r[2], r[3]);
    const __m128i q[4] = {_mm_unpacklo_epi16(a_lo, b_lo), _mm_unpackhi_epi16(a_lo, b_lo), _mm_unpacklo_epi16(a_hi, b_hi),
                          _mm_unpackhi_epi16(a_hi, b_hi)};
    for (int j = 0; j < 4; j++) {
      _mm_store_si128(reinterpret_cast<__m128i*>(dst + k * 16 + j * 16), q[j]);
      // p <= 255 as unsigned times 1 as signed: no saturation (pairs <= 510)
      if (colsum) s[j] = _mm_add_epi32(s[j], _mm_madd_epi16(_mm_maddubs_epi16(q[j], ones8), ones16));
    }
  }
  if (colsum)
    for (int j = 0; j < 4; j++) {
      __m128i* c = reinterpret_cast<__m128i*>(colsum + 4 * j);
      _mm_storeu_si128(c, _mm_add_epi32(_mm_loadu_si128(c), s[j]));
    }
}

// What the epilogue of a tile needs (rows are output channels, global index co).
struct Epi {
  gemm::OutType type;
  uint8_t* y;          // the output image (NCHW, elements of the type)
  size_t plane;        // oh * ow
  const int32_t* add;  // per global channel: bias_s32 + (shift - xz) * wsum  (modulo 2^32)
  const int32_t* wz;   // per global channel, or null (exact kernel, or every wz = 0)
  const int32_t* colsum;  // the panel's 16 column sums when wz is set
  const float* scale;
  bool scale_pc;
  const float* biasf;
  float zp, lo, hi;
  bool relu;
};

// One row (channel co) of 16 pixels starting at output pixel q0; npx of them are stored.
inline void epilogue_row(const Epi& e, size_t co, __m256i c0, __m256i c1, size_t q0, size_t npx) {
  const __m256i add = _mm256_set1_epi32(e.add[co]);
  c0 = _mm256_add_epi32(c0, add);
  c1 = _mm256_add_epi32(c1, add);
  if (e.wz) {
    const __m256i z = _mm256_set1_epi32(e.wz[co]);
    c0 = _mm256_sub_epi32(c0, _mm256_mullo_epi32(z, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.colsum))));
    c1 = _mm256_sub_epi32(c1, _mm256_mullo_epi32(z, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.colsum + 8))));
  }
  const size_t esz = e.type == gemm::OutType::s32 || e.type == gemm::OutType::f32 ? 4 : 1;
  alignas(32) uint8_t tmp[kNR * 4];
  uint8_t* dst = e.y + (co * e.plane + q0) * esz;
  uint8_t* where = npx == (size_t)kNR ? dst : tmp;
  if (e.type == gemm::OutType::s32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(where), c0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(where + 32), c1);
  } else {
    // the formulas of kernels/gemm/epilogue_avx2.h, in the same order
    const __m256 s = _mm256_set1_ps(e.scale_pc ? e.scale[co] : e.scale[0]);
    __m256 f0 = _mm256_cvtepi32_ps(c0), f1 = _mm256_cvtepi32_ps(c1);
    if (e.type == gemm::OutType::f32) {
      f0 = _mm256_mul_ps(f0, s);
      f1 = _mm256_mul_ps(f1, s);
      if (e.biasf) {
        const __m256 b = _mm256_set1_ps(e.biasf[co]);
        f0 = _mm256_add_ps(f0, b);
        f1 = _mm256_add_ps(f1, b);
      }
      if (e.relu) {
        f0 = _mm256_max_ps(f0, _mm256_setzero_ps());
        f1 = _mm256_max_ps(f1, _mm256_setzero_ps());
      }
      _mm256_storeu_ps(reinterpret_cast<float*>(where), f0);
      _mm256_storeu_ps(reinterpret_cast<float*>(where) + 8, f1);
    } else {
      if (e.biasf) {
        const __m256 b = _mm256_set1_ps(e.biasf[co]);
        f0 = _mm256_add_ps(f0, b);
        f1 = _mm256_add_ps(f1, b);
      }
      const __m256 zp = _mm256_set1_ps(e.zp), lo = _mm256_set1_ps(e.lo), hi = _mm256_set1_ps(e.hi);
      auto q = [&](__m256 f) {
        f = _mm256_mul_ps(f, s);
        f = _mm256_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        f = _mm256_add_ps(f, zp);
        f = _mm256_max_ps(f, lo);
        f = _mm256_min_ps(f, hi);
        return _mm256_cvtps_epi32(f);  // exact: integral and within [qmin, qmax]
      };
      const __m256i i0 = q(f0), i1 = q(f1);
      const __m128i w0 = _mm_packs_epi32(_mm256_castsi256_si128(i0), _mm256_extracti128_si256(i0, 1));
      const __m128i w1 = _mm_packs_epi32(_mm256_castsi256_si128(i1), _mm256_extracti128_si256(i1, 1));
      const __m128i bytes = e.type == gemm::OutType::u8 ? _mm_packus_epi16(w0, w1) : _mm_packs_epi16(w0, w1);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(where), bytes);
    }
  }
  if (npx != (size_t)kNR) std::memcpy(dst, tmp, npx * esz);
}

// Where a kernel call's sums go (K blocking): part[r * ld + i] holds the partial sums of row r,
// pixel i of the tile between K blocks; `first`: start from 0 (else from part); `last`: run the
// epilogue (else store into part).
struct Part {
  int32_t* part;
  size_t ld;
  bool first, last;
};

// What a task hands its microkernel policy for one K block: the group's weights, the channel
// range [c0, c1), the pixels [p0, p1) in `npanels` packed panels, the column sums and the
// partial sums (`part`, ldp per channel).
struct Tiles {
  const QConvDirect& d;
  size_t grp, kb, kn, c0, c1, p0, p1, npanels;
  const uint8_t* panels;
  size_t panel_bytes;
  const int32_t* colsums;
  int32_t* part;
  size_t ldp;
};

// min and max byte of buf[0, n)
void byte_range(const uint8_t* buf, size_t n, int* lo, int* hi) {
  __m256i mn = _mm256_set1_epi8((char)0xFF), mx = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + i));
    mn = _mm256_min_epu8(mn, v);
    mx = _mm256_max_epu8(mx, v);
  }
  alignas(32) uint8_t a[32], b[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(a), mn);
  _mm256_store_si256(reinterpret_cast<__m256i*>(b), mx);
  int l = 255, h = 0;
  for (int j = 0; j < 32; j++) l = std::min<int>(l, a[j]), h = std::max<int>(h, b[j]);
  for (; i < n; i++) l = std::min<int>(l, buf[i]), h = std::max<int>(h, buf[i]);
  *lo = l, *hi = h;
}

// Column phases of padded rows (stride sw > 1 along x): src holds n rows of wp bytes; row r of dst
// is sw runs of wq bytes, phase f holding the padded columns f, f + sw, f + 2 sw, ... and `pad` past
// the row. Output column ox then reads tap column kx at phase (kx dw) % sw, offset ox + (kx dw) / sw:
// consecutive output pixels read consecutive bytes, as at stride 1 (the space-to-depth split of
// the fp32 conv, layout.cc, here per row).
void column_phases(const uint8_t* src, size_t n, size_t wp, int sw, size_t wq, uint8_t pad, uint8_t* dst) {
  const size_t pitch = (size_t)sw * wq;
  // stride 2: pshufb splits 16 bytes into 8 even and 8 odd columns
  const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (size_t r = 0; r < n; r++) {
    const uint8_t* s = src + r * wp;
    uint8_t* d = dst + r * pitch;
    std::memset(d, pad, pitch);
    size_t j = 0;
    if (sw == 2 && wp >= 16) {
      auto eight = [&](size_t jj) {
        const __m128i v = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 * jj)), split);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + jj), v);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + wq + jj), _mm_unpackhi_epi64(v, v));
      };
      for (; 2 * j + 16 <= wp; j += 8) eight(j);
      // the rest: one more block of 16 columns ending at the last even pair (overlapping, same
      // values), so at most the last column of an odd row is left to the loop below
      if (2 * j < wp) j = (wp - 16) / 2, eight(j), j += 8;
    }
    for (size_t f = 0; f < (size_t)sw; f++)
      for (size_t i = j, c = j * sw + f; c < wp; i++, c += sw) d[f * wq + i] = s[c];
  }
}

template <class Kern>
void direct_task(const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan, const uint8_t* x, int32_t x_zp,
                 const QConvOutput& out, const gemm::Options& opt, size_t task) {
  const ConvGeometry& g = w.geo;
  const QConvDirect& d = w.direct;
  const size_t K = (size_t)g.taps(), N = (size_t)g.cout_g();
  const QConvTaskRange tr = qconv_task_range(plan, g, task);
  const size_t grp = tr.grp, img = tr.img, p0 = tr.p0, p1 = tr.p1, c0 = tr.c0, c1 = tr.c1;
  if (p0 >= p1 || c0 >= c1) return;
  // Small blocks whose pixels fill 8-pixel vectors badly (a 7 x 7 plane: 49 pixels computed as 56,
  // 14% waste) run im2col + the GEMM instead, whose vectors hold output channels (pixel rows pad
  // to 4 only): 2048 -> 512 1x1 at 7 x 7, 7-bit, 145 -> 165 GOPS; 512 3x3 at 7 x 7 about even
  // (7-bit) to +10% (8-bit). The task numbering of both paths is the same (int8.h), so this plan
  // serves both; results are the same exact integers.
  if (p1 - p0 <= 64 && (round_up(p1 - p0, Kern::kPixelGrain) - (p1 - p0)) * 10 >= p1 - p0) {
    qconv_u8s8_task(Kern::gemm, w, l, plan, x, x_zp, out, opt, task);
    return;
  }
  const size_t ow = (size_t)l.ow;
  const int oy_a = (int)(p0 / ow), oy_b = (int)((p1 - 1) / ow);
  const int py0 = oy_a * g.stride_h;
  const int rows = (oy_b - oy_a) * g.stride_h + (g.kh - 1) * g.dil_h + 1;
  const size_t cin_g = (size_t)g.cin_g(), wp = (size_t)l.wp;
  // stride > 1 along x: the padded rows are split into column phases (column_phases), so a panel's
  // pixels on one output row read consecutive bytes (one load per run) instead of a byte gather
  const int sw = g.stride_w;
  const size_t wq = (wp + sw - 1) / sw, pitch = sw > 1 ? (size_t)sw * wq : wp;
  const size_t buf_bytes = cin_g * rows * pitch;
  const size_t npanels = (p1 - p0 + kNR - 1) / kNR;
  // K blocks of at most kMaxKC taps, equal, multiples of 4: a block's weight tile (6 x KC int16)
  // and one panel (16 x KC int16) stay in L1 together, the block's panels in L2
  const size_t nkb = (K + kMaxKC - 1) / kMaxKC;
  const size_t KC = round_up((K + nkb - 1) / nkb, 4);
  const size_t panel_bytes = round_up(KC * 32, 64);
  const size_t ldp = npanels * kNR;  // partial sums: [channel - c0][pixel - p0]

  // scratch: padded rows (with slack), tap offsets, panels, column sums, per-channel additive
  // terms, partial sums (only with several K blocks)
  const size_t off_koff = round_up(buf_bytes + 2 * kSlack, 64);
  const size_t off_pan = off_koff + round_up(K * sizeof(long), 64);
  const size_t off_cs = off_pan + npanels * panel_bytes;
  const size_t off_add = off_cs + npanels * kNR * 4;
  const size_t off_part = round_up(off_add + N * 4, 64);
  const size_t off_rows = off_part + round_up(nkb > 1 ? (c1 - c0) * ldp * 4 : 0, 64);  // unsplit rows (sw > 1)
  static thread_local Scratch scratch;
  uint8_t* base = scratch.get(off_rows + (sw > 1 ? cin_g * rows * wp : 0));
  uint8_t* buf = base + kSlack;
  long* koff = reinterpret_cast<long*>(base + off_koff);
  uint8_t* panels = base + off_pan;
  int32_t* colsums = reinterpret_cast<int32_t*>(base + off_cs);
  int32_t* add = reinterpret_cast<int32_t*>(base + off_add);  // indexed by group-local channel
  int32_t* part = reinterpret_cast<int32_t*>(base + off_part);

  const size_t plane_in = (size_t)l.h * l.w;
  const uint8_t* xg = x + ((size_t)img * g.cin + grp * cin_g) * plane_in;
  // A 1x1, stride 1, unpadded convolution reads the caller's rows as they are (every panel is one
  // run of consecutive bytes, so nothing before them is read), unless a 16-byte load could pass
  // the input's end: then, as every other shape, a padded copy of the rows.
  const bool plain = g.pointwise();
  const size_t in_end = (size_t)l.n * g.cin * plane_in;  // bytes of x
  const size_t rows_off = (size_t)oy_a * l.w;
  const bool in_place = plain && (size_t)(xg - x) + (cin_g - 1) * plane_in + rows_off + (size_t)rows * l.w + 32 <= in_end;
  const uint8_t* src = in_place ? xg + rows_off : buf;
  const size_t cs = in_place ? plane_in : (size_t)rows * pitch;  // channel stride in src
  const size_t clen = in_place ? (size_t)rows * l.w : cs;     // bytes of a channel the block may read
  if (!in_place) {
    std::memset(base, (uint8_t)x_zp, kSlack);
    if (sw > 1) {
      uint8_t* unsplit = base + off_rows;
      pad_rows_u8(l, xg, (uint8_t)x_zp, py0, rows, unsplit);
      column_phases(unsplit, cin_g * rows, wp, sw, wq, (uint8_t)x_zp, buf);
    } else {
      pad_rows_u8(l, xg, (uint8_t)x_zp, py0, rows, buf);
    }
    std::memset(buf + buf_bytes, (uint8_t)x_zp, kSlack);
  }
  for (size_t ci = 0, tap = 0; ci < cin_g; ci++)
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++, tap++) {
        const long cx = (long)kx * g.dil_w;  // padded column offset of the tap
        koff[tap] = (long)(ci * cs) + (long)ky * g.dil_h * (long)pitch + (cx % sw) * (long)wq + cx / sw;
      }

  // ---- the kernel and the shift (see the top of this file)
  bool fast = false;
  int shift = 0;
  if constexpr (Kern::kVnni) {
    fast = true;  // u8 x s8 summed in int32: exact for any activations and weights, shift 0
  } else if (!opt.exact_only) {
    if (w.groups[grp].maddubs_safe) {
      fast = true;
    } else {
      int lo = 255, hi = 0;
      for (size_t ci = 0; ci < cin_g && hi - lo <= 127; ci++) {
        int l8, h8;
        byte_range(src + ci * cs, clen, &l8, &h8);
        lo = std::min(lo, l8), hi = std::max(hi, h8);
      }
      if (hi - lo <= 127) fast = true, shift = lo;
    }
  }
  if (fast && !Kern::kVnni)
    gemm::path_counters().fast_blocks++;
  else
    gemm::path_counters().exact_blocks++;
  const bool need_colsum = fast && !d.wz_all_zero;
  if (need_colsum) std::memset(colsums, 0, npanels * kNR * 4);
  const size_t co_g = grp * N;  // the group's first global channel
  for (size_t c = c0; c < c1; c++) {
    uint32_t a = out.bias_s32 ? (uint32_t)out.bias_s32[co_g + c] : 0u;
    if (fast) a += (uint32_t)(shift - x_zp) * (uint32_t)d.wsum[co_g + c];
    add[c] = (int32_t)a;
  }
  static thread_local std::vector<Panel> pns;
  pns.resize(npanels);
  for (size_t pi = 0; pi < npanels; pi++) {
    const size_t q0 = p0 + pi * kNR;
    pns[pi] = make_panel(l, q0, std::min<size_t>(kNR, p1 - q0), py0, (long)pitch);
  }

  Epi e;
  e.type = out.type;
  const size_t esz = out.type == gemm::OutType::s32 || out.type == gemm::OutType::f32 ? 4 : 1;
  e.y = static_cast<uint8_t*>(out.y) + ((size_t)img * g.cout + co_g) * plan.pixels * esz;
  e.plane = plan.pixels;
  e.add = add;  // every per-channel pointer of e is indexed by the group-local channel
  e.wz = need_colsum ? d.wz.data() + co_g : nullptr;
  e.scale = out.scale ? (out.scale_per_channel ? out.scale + co_g : out.scale) : nullptr;
  e.scale_pc = out.scale_per_channel;
  e.biasf = out.bias_f32 ? out.bias_f32 + co_g : nullptr;
  e.zp = (float)out.out_zp, e.lo = (float)out.qmin, e.hi = (float)out.qmax;
  e.relu = out.relu;

  for (size_t kb = 0; kb < K; kb += KC) {
    const size_t kn = std::min(KC, K - kb);
    // ---- pack this K block of every panel
    for (size_t pi = 0; pi < npanels; pi++) {
      uint8_t* dst = panels + pi * panel_bytes;
      if (fast)
        pack_fast(src, pns[pi], koff + kb, kn, (uint8_t)shift, dst, need_colsum ? colsums + pi * kNR : nullptr);
      else
        pack_exact(src, pns[pi], koff + kb, kn, (uint8_t)x_zp, reinterpret_cast<int16_t*>(dst));
    }
    // ---- tiles of channels x every panel
    const Tiles tl{d, grp, kb, kn, c0, c1, p0, p1, npanels, panels, panel_bytes, colsums, part, ldp};
    Part pt{nullptr, ldp, kb == 0, kb + KC >= K};
    if constexpr (Kern::kVnni)
      Kern::fast_tiles(tl, e, pt);  // one kernel, exact for any input
    else if (fast)
      Kern::fast_tiles(tl, e, pt);
    else
      Kern::exact_tiles(tl, e, pt);
  }
}

}  // namespace
}  // namespace conv
}  // namespace lowbit

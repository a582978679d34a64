// int8 dense convolution over the exact GEMM: im2col per pixel block, GEMM, transpose (int8.h).
// Baseline code: the ISA-specific work happens inside the GEMM kernel passed in.
#include "kernels/conv/int8.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace lowbit {
namespace conv {

namespace {

// QConvDirect (int8.h): the direct kernel's tiles of every group.
QConvDirect pack_direct(const ConvGeometry& geo, const int8_t* w, const int32_t* w_zp, bool zp_per_channel) {
  QConvDirect d;
  const size_t K = (size_t)geo.taps(), N = (size_t)geo.cout_g(), G = (size_t)geo.groups;
  constexpr size_t M6 = QConvDirect::kMRExact, M4 = QConvDirect::kMRFast;
  d.k2 = (K + 1) / 2;
  d.k4 = (K + 3) / 4;
  d.group16 = (N + M6 - 1) / M6 * d.k2 * M6 * 2;
  d.group8 = (N + M4 - 1) / M4 * d.k4 * M4 * 4;
  d.w16 = gemm::AlignedBytes(G * d.group16 * 2);
  d.w8 = gemm::AlignedBytes(G * d.group8);
  std::memset(d.w16.data(), 0, d.w16.size());
  std::memset(d.w8.data(), 0, d.w8.size());
  int16_t* w16 = reinterpret_cast<int16_t*>(d.w16.data());
  int8_t* w8 = reinterpret_cast<int8_t*>(d.w8.data());
  d.wsum.resize((size_t)geo.cout);
  d.wz.resize((size_t)geo.cout);
  for (size_t co = 0; co < (size_t)geo.cout; co++) {
    const size_t g = co / N, n = co % N;
    const int32_t z = zp_per_channel ? w_zp[co] : w_zp[0];
    d.wz[co] = z;
    d.wz_all_zero &= z == 0;
    uint32_t sum = 0;
    const int8_t* row = w + co * K;
    int16_t* t16 = w16 + g * d.group16 + (n / M6) * d.k2 * M6 * 2 + (n % M6) * 2;
    int8_t* t8 = w8 + g * d.group8 + (n / M4) * d.k4 * M4 * 4 + (n % M4) * 4;
    for (size_t k = 0; k < K; k++) {
      const int32_t v = (int32_t)row[k] - z;  // in [-255, 255] for zero points in [-128, 127]
      sum += (uint32_t)v;
      t16[(k / 2) * M6 * 2 + k % 2] = (int16_t)v;
      t8[(k / 4) * M4 * 4 + k % 4] = row[k];
    }
    d.wsum[co] = (int32_t)sum;
  }
  return d;
}

}  // namespace

namespace {

QConvAmx pack_amx(const ConvGeometry& geo, const int8_t* w) {
  QConvAmx a;
  const size_t cin_g = (size_t)geo.cin_g(), cout_g = (size_t)geo.cout_g(), kk = (size_t)geo.kh * geo.kw;
  // below 64 channels one chunk of the channels rounded to 16 (the A tiles then read cpad bytes a
  // row and the B tiles use cpad / 4 of their rows): thin layers copy and multiply no padding
  a.cpad = cin_g < 64 ? (cin_g + 15) / 16 * 16 : (cin_g + 63) / 64 * 64;
  a.chunks = (a.cpad + 63) / 64;
  a.taps = kk;
  a.panels = (cout_g + 15) / 16;
  a.tiles = gemm::AlignedBytes((size_t)geo.groups * a.panels * a.taps * a.chunks * 1024);
  std::memset(a.tiles.data(), 0, a.tiles.size());
  for (size_t grp = 0; grp < (size_t)geo.groups; grp++)
    for (size_t co = 0; co < cout_g; co++)
      for (size_t ci = 0; ci < cin_g; ci++)
        for (size_t t = 0; t < kk; t++) {
          const int8_t v = w[((grp * cout_g + co) * cin_g + ci) * kk + t];
          uint8_t* tile = a.tiles.data() + a.tile_offset(grp, co / 16, t, ci / 64);
          tile[((ci % 64) / 4) * 64 + (co % 16) * 4 + ci % 4] = (uint8_t)v;
        }
  return a;
}

}  // namespace

bool qconv_amx_eligible(const ConvGeometry& g) {
  return g.cin_g() >= 16 && g.kh * g.kw <= 64 && g.taps() >= 256 && g.cout_g() >= 32;
}

QConvWeights QConvWeights::pack(const ConvGeometry& geo, const int8_t* w, const int32_t* w_zp, bool zp_per_channel,
                                bool with_direct, bool with_amx) {
  QConvWeights out;
  out.geo = geo;
  const size_t K = (size_t)geo.taps(), N = (size_t)geo.cout_g();
  out.groups.reserve((size_t)geo.groups);
  for (int g = 0; g < geo.groups; g++) {
    // the group's weights are cout_g rows of K: the transposed (N x K) form of its K x N matrix
    out.groups.push_back(gemm::pack_b(w + (size_t)g * N * K, K, true, K, N,
                                      zp_per_channel ? w_zp + (size_t)g * N : w_zp, zp_per_channel));
  }
  if (with_direct) out.direct = pack_direct(geo, w, w_zp, zp_per_channel);
  bool symmetric = true;
  for (int i = 0; i < (zp_per_channel ? geo.cout : 1); i++) symmetric &= w_zp[i] == 0;
  if (with_amx && symmetric && qconv_amx_eligible(geo)) out.amx = pack_amx(geo, w);
  return out;
}

size_t QConvWeights::memory_bytes() const {
  size_t total = sizeof(*this);
  for (const gemm::PackedB& b : groups) total += b.memory_bytes();
  total += direct.w16.size() + direct.w8.size() + (direct.wsum.size() + direct.wz.size()) * sizeof(int32_t);
  total += amx.tiles.size();
  return total;
}

bool QConvWeights::maddubs_safe() const {
  for (const gemm::PackedB& b : groups)
    if (!b.maddubs_safe) return false;
  return true;
}

namespace {

// Three stages of swapping 1-, 2- and 4-byte blocks across row pairs (little-endian byte order; a
// byte loop otherwise).
inline void swap_blocks(uint64_t& a, uint64_t& b, int shift, uint64_t mask) {
  const uint64_t t = ((a >> shift) ^ b) & mask;
  b ^= t;
  a ^= t << shift;
}

}  // namespace

void transpose_8x8_bytes(uint64_t r[8]) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint8_t m[8][8], o[8][8];
  std::memcpy(m, r, 64);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) o[j][i] = m[i][j];
  std::memcpy(r, o, 64);
#else
  for (int i = 0; i < 8; i += 2) swap_blocks(r[i], r[i + 1], 8, 0x00FF00FF00FF00FFull);
  for (int i : {0, 1, 4, 5}) swap_blocks(r[i], r[i + 2], 16, 0x0000FFFF0000FFFFull);
  for (int i = 0; i < 4; i++) swap_blocks(r[i], r[i + 4], 32, 0x00000000FFFFFFFFull);
#endif
}

void im2col_u8(const ConvLayout& l, const uint8_t* x, uint8_t pad, size_t p_begin, size_t p_end, uint8_t* col) {
  const ConvGeometry& g = l.geo;
  const int h = l.h, w = l.w, ow = l.ow, kh = g.kh, kw = g.kw, cin_g = g.cin_g();
  const int sh = g.stride_h, sw = g.stride_w, ph = g.pad_h, pw = g.pad_w, dh = g.dil_h, dw = g.dil_w;
  const size_t K = (size_t)g.taps(), plane = (size_t)h * w;
  if (kh == 1 && kw == 1 && ph == 0 && pw == 0 && sh == 1 && sw == 1) {
    // 1x1 stride 1: a plain transpose of [cin_g][plane] into [pixels][cin_g], 8x8 byte tiles
    size_t p = p_begin;
    for (; p + 8 <= p_end; p += 8) {
      uint8_t* d = col + (p - p_begin) * K;
      int ci = 0;
      for (; ci + 8 <= cin_g; ci += 8) {
        uint64_t r[8];
        for (int i = 0; i < 8; i++) std::memcpy(&r[i], x + (size_t)(ci + i) * plane + p, 8);
        transpose_8x8_bytes(r);
        for (int i = 0; i < 8; i++) std::memcpy(d + (size_t)i * K + ci, &r[i], 8);
      }
      for (; ci < cin_g; ci++)
        for (int i = 0; i < 8; i++) d[(size_t)i * K + ci] = x[(size_t)ci * plane + p + i];
    }
    for (; p < p_end; p++)
      for (int ci = 0; ci < cin_g; ci++) col[(p - p_begin) * K + ci] = x[(size_t)ci * plane + p];
    return;
  }
  if (kh == 1 && kw == 1 && ph == 0 && pw == 0) {
    // 1x1 unpadded: a (strided) transpose of [cin_g][pixels] into [pixels][cin_g], in tiles of 32
    // pixels so the 32 destination rows stay in L1 across the channels
    for (size_t p0 = p_begin; p0 < p_end; p0 += 32) {
      const size_t p1 = std::min(p_end, p0 + 32);
      size_t src[32];
      for (size_t p = p0; p < p1; p++) {
        const size_t oy = p / ow, ox = p % ow;
        src[p - p0] = oy * sh * w + ox * sw;
      }
      for (int ci = 0; ci < cin_g; ci++) {
        const uint8_t* xc = x + ci * plane;
        uint8_t* dst = col + (p0 - p_begin) * K + ci;
        for (size_t i = 0; i < p1 - p0; i++) dst[i * K] = xc[src[i]];
      }
    }
    return;
  }
  for (size_t p = p_begin; p < p_end; p++) {
    const int oy = (int)(p / ow), ox = (int)(p % ow);
    const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    uint8_t* dst = col + (p - p_begin) * K;
    const bool inside = iy0 >= 0 && iy0 + (kh - 1) * dh < h && ix0 >= 0 && ix0 + (kw - 1) * dw < w;
    if (inside) {
      const uint8_t* xc = x + (size_t)iy0 * w + ix0;
      const size_t rows = (size_t)cin_g * kh;
      // one kernel row (kw bytes) per (ci, ky); fixed-size copies for the common widths (a
      // variable-size memcpy is a library call per 3 bytes)
      auto copy_rows = [&](auto kw_c) {
        constexpr int KW = decltype(kw_c)::value;
        for (size_t r = 0; r < rows; r++) {
          const size_t ci = r / kh, ky = r % kh;
          std::memcpy(dst + r * KW, xc + ci * plane + ky * dh * w, KW);
        }
      };
      if (dw == 1 && kw == 3) copy_rows(std::integral_constant<int, 3>());
      else if (dw == 1 && kw == 5) copy_rows(std::integral_constant<int, 5>());
      else if (dw == 1 && kw == 7) copy_rows(std::integral_constant<int, 7>());
      else if (dw == 1 && kw == 1) copy_rows(std::integral_constant<int, 1>());
      else {
        for (int ci = 0; ci < cin_g; ci++) {
          for (int ky = 0; ky < kh; ky++) {
            const uint8_t* row = xc + ci * plane + (size_t)ky * dh * w;
            for (int kx = 0; kx < kw; kx++) dst[kx] = row[kx * dw];
            dst += kw;
          }
        }
      }
    } else {
      for (int ci = 0; ci < cin_g; ci++) {
        const uint8_t* xc = x + ci * plane;
        for (int ky = 0; ky < kh; ky++) {
          const int iy = iy0 + ky * dh;
          if (iy < 0 || iy >= h) {
            std::memset(dst, pad, (size_t)kw);
            dst += kw;
            continue;
          }
          const uint8_t* row = xc + (size_t)iy * w;
          for (int kx = 0; kx < kw; kx++) {
            const int ix = ix0 + kx * dw;
            *dst++ = (ix >= 0 && ix < w) ? row[ix] : pad;
          }
        }
      }
    }
  }
}

size_t elem_size(gemm::OutType t) {
  return (t == gemm::OutType::u8 || t == gemm::OutType::s8) ? 1 : 4;
}

namespace {

// tmp [rows][ld] (columns [c0, c1)) -> y[c][i] with channel stride `plane`
template <typename T>
void transpose_out(const T* tmp, size_t ld, size_t rows, size_t c0, size_t c1, T* y, size_t plane) {
  for (size_t c = c0; c < c1; c++) {
    T* dst = y + c * plane;
    const T* src = tmp + c;
    for (size_t i = 0; i < rows; i++) dst[i] = src[i * ld];
  }
}

}  // namespace

gemm::Output tile_output(const QConvOutput& out, size_t co0, void* tmp, size_t ld) {
  gemm::Output o;
  o.type = out.type;
  o.c = tmp;
  o.ldc = ld;
  o.bias_s32 = out.bias_s32 ? out.bias_s32 + co0 : nullptr;
  o.scale = out.scale ? (out.scale_per_channel ? out.scale + co0 : out.scale) : nullptr;
  o.scale_per_channel = out.scale_per_channel;
  o.bias_f32 = out.bias_f32 ? out.bias_f32 + co0 : nullptr;
  o.out_zp = out.out_zp;
  o.qmin = out.qmin;
  o.qmax = out.qmax;
  o.relu = out.relu;
  return o;
}

void write_tile_nchw(const QConvOutput& out, const void* tmp, size_t ld, size_t rows, size_t c0, size_t c1,
                     size_t y_off, size_t plane) {
  switch (out.type) {
    case gemm::OutType::u8:
    case gemm::OutType::s8:
      transpose_out(static_cast<const uint8_t*>(tmp), ld, rows, c0, c1, static_cast<uint8_t*>(out.y) + y_off, plane);
      break;
    case gemm::OutType::f32:
      transpose_out(static_cast<const float*>(tmp), ld, rows, c0, c1, static_cast<float*>(out.y) + y_off, plane);
      break;
    default:
      transpose_out(static_cast<const int32_t*>(tmp), ld, rows, c0, c1, static_cast<int32_t*>(out.y) + y_off, plane);
      break;
  }
}

namespace {

struct Scratch {
  std::vector<uint8_t> col;
  std::vector<uint8_t> tmp;  // int32-aligned by vector<uint8_t>'s allocator (operator new: 16 bytes)
};

}  // namespace

namespace {

// The direct kernel's plan: pixel blocks of at most 256 pixels (the kernel's K blocks of <= 640
// taps keep their packed panels, 16 x 2 bytes a tap a panel, within about 320 KiB of L2), equal,
// multiples of 16 (every pass over the block streams all the weights once: a small last block
// would cost as much as a full one); output channels in chunks of multiples of 24 (every direct
// kernel's tile height, 4, 6 and 8 channels, divides it).
QConvPlan plan_direct(const ConvLayout& l, int threads) {
  const ConvGeometry& g = l.geo;
  QConvPlan p;
  p.pixels = l.out_pixels();
  const size_t N = (size_t)g.cout_g();
  size_t block = 256;
  const size_t outer = (size_t)l.n * g.groups;
  const size_t want = (size_t)std::max(1, threads);
  while (block > 16 && outer * ((p.pixels + block - 1) / block) < want) block = std::max<size_t>(16, block / 2 / 16 * 16);
  const size_t nb = (p.pixels + block - 1) / block;
  p.block = ((p.pixels + nb - 1) / nb + 15) / 16 * 16;
  p.blocks = (p.pixels + p.block - 1) / p.block;
  p.chunk = N;
  p.chunks = 1;
  const size_t have = outer * p.blocks;
  if (have < want && N > 24) {
    const size_t tiles = (N + 23) / 24;
    const size_t parts = std::min(tiles, (want + have - 1) / have);
    p.chunk = (tiles + parts - 1) / parts * 24;
    p.chunks = (N + p.chunk - 1) / p.chunk;
  }
  p.tasks = outer * p.blocks * p.chunks;
  return p;
}

}  // namespace

void pad_rows_u8(const ConvLayout& l, const uint8_t* x, uint8_t pad, int py0, int rows, uint8_t* buf) {
  const ConvGeometry& g = l.geo;
  const int h = l.h, w = l.w, wp = l.wp, ph = g.pad_h, pw = g.pad_w;
  const size_t plane = (size_t)h * w;
  if (pw == 0 && py0 >= ph && py0 + rows - ph <= h) {
    // no padding in these rows: a channel's rows are one run of the input
    for (int ci = 0; ci < g.cin_g(); ci++)
      std::memcpy(buf + (size_t)ci * rows * wp, x + ci * plane + (size_t)(py0 - ph) * w, (size_t)rows * w);
    return;
  }
  for (int ci = 0; ci < g.cin_g(); ci++) {
    for (int r = 0; r < rows; r++) {
      uint8_t* d = buf + ((size_t)ci * rows + r) * wp;
      const int iy = py0 + r - ph;
      if (iy < 0 || iy >= h) {
        std::memset(d, pad, (size_t)wp);
        continue;
      }
      std::memset(d, pad, (size_t)pw);
      std::memcpy(d + pw, x + ci * plane + (size_t)iy * w, (size_t)w);
      std::memset(d + pw + w, pad, (size_t)(wp - pw - w));
    }
  }
}

QConvPlan plan_qconv(const ConvLayout& l, int threads, bool direct) {
  if (direct) return plan_direct(l, threads);
  const ConvGeometry& g = l.geo;
  QConvPlan p;
  p.pixels = l.out_pixels();
  const size_t K = (size_t)g.taps(), N = (size_t)g.cout_g();
  // pixels per block: im2col rows plus the output tile in about 192 KiB (L2), at least 48 rows
  // (the AVX2 exact wide kernel's threshold), at most 1024, a multiple of 16
  size_t block = (192 * 1024) / (K + 4 * N);  // 64 KiB .. 4 MiB measured the same
  block = std::max<size_t>(48, std::min<size_t>(1024, block)) / 16 * 16;
  const size_t outer = (size_t)l.n * g.groups;
  const size_t want = (size_t)std::max(1, threads);
  // more tasks for threads: smaller blocks first (down to 16 pixels), then column chunks
  while (block > 16 && outer * ((p.pixels + block - 1) / block) < want) block = std::max<size_t>(16, block / 2 / 16 * 16);
  p.block = std::min(block, p.pixels);
  p.blocks = (p.pixels + p.block - 1) / p.block;
  p.chunk = N;
  p.chunks = 1;
  const size_t have = outer * p.blocks;
  if (have < want && N > gemm::kPanelN) {
    const size_t panels = (N + gemm::kPanelN - 1) / gemm::kPanelN;
    const size_t parts = std::min(panels, (want + have - 1) / have);
    p.chunk = (panels + parts - 1) / parts * gemm::kPanelN;
    p.chunks = (N + p.chunk - 1) / p.chunk;
  }
  p.tasks = outer * p.blocks * p.chunks;
  return p;
}

QConvTaskRange qconv_task_range(const QConvPlan& plan, const ConvGeometry& g, size_t task) {
  QConvTaskRange r;
  size_t t = task;
  const size_t chunk = t % plan.chunks;
  t /= plan.chunks;
  const size_t block = t % plan.blocks;
  t /= plan.blocks;
  r.grp = t % (size_t)g.groups;
  r.img = t / (size_t)g.groups;
  r.p0 = block * plan.block;
  r.p1 = std::min(plan.pixels, r.p0 + plan.block);
  r.c0 = chunk * plan.chunk;
  r.c1 = std::min((size_t)g.cout_g(), r.c0 + plan.chunk);
  return r;
}

void qconv_u8s8_task(gemm::GemmU8S8Fn gemm_fn, const QConvWeights& w, const ConvLayout& l, const QConvPlan& plan,
                     const uint8_t* x, int32_t x_zp, const QConvOutput& out, const gemm::Options& opt, size_t task) {
  const ConvGeometry& g = w.geo;
  const size_t K = (size_t)g.taps(), N = (size_t)g.cout_g();
  const QConvTaskRange tr = qconv_task_range(plan, g, task);
  const size_t grp = tr.grp, img = tr.img, p0 = tr.p0, p1 = tr.p1, rows = p1 - p0, c0 = tr.c0, c1 = tr.c1;

  thread_local Scratch s;
  if (s.col.size() < rows * K) s.col.resize(rows * K);
  const size_t es = elem_size(out.type);
  if (s.tmp.size() < rows * N * es) s.tmp.resize(rows * N * es);

  const size_t plane_in = (size_t)l.h * l.w;
  const uint8_t* xg = x + ((size_t)img * g.cin + grp * (size_t)g.cin_g()) * plane_in;
  im2col_u8(l, xg, (uint8_t)x_zp, p0, p1, s.col.data());

  const size_t co0 = grp * N;  // first global output channel of the group
  const gemm::Output o = tile_output(out, co0, s.tmp.data(), N);
  gemm_fn(s.col.data(), K, x_zp, w.groups[grp], o, gemm::Range{0, rows, c0, c1}, opt);

  const size_t plane_out = plan.pixels;
  const size_t y_off = ((size_t)img * g.cout + co0) * plane_out + p0;
  write_tile_nchw(out, s.tmp.data(), N, rows, c0, c1, y_off, plane_out);
}

void qconv_direct_s64__ref(const ConvGeometry& g, int n, int h, int w, const int8_t* weights, const int32_t* w_zp,
                           bool zp_per_channel, const uint8_t* x, int32_t x_zp, const int32_t* bias, int64_t* acc) {
  const int oh = (h + 2 * g.pad_h - g.dil_h * (g.kh - 1) - 1) / g.stride_h + 1;
  const int ow = (w + 2 * g.pad_w - g.dil_w * (g.kw - 1) - 1) / g.stride_w + 1;
  const int cin_g = g.cin_g(), cout_g = g.cout_g();
  for (int b = 0; b < n; b++)
    for (int co = 0; co < g.cout; co++) {
      const int grp = co / cout_g;
      const int64_t wz = zp_per_channel ? w_zp[co] : w_zp[0];
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          int64_t s = bias ? bias[co] : 0;
          for (int ci = 0; ci < cin_g; ci++)
            for (int ky = 0; ky < g.kh; ky++)
              for (int kx = 0; kx < g.kw; kx++) {
                const int iy = oy * g.stride_h - g.pad_h + ky * g.dil_h;
                const int ix = ox * g.stride_w - g.pad_w + kx * g.dil_w;
                const int64_t xv = (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                       ? x_zp
                                       : x[(((size_t)b * g.cin + grp * cin_g + ci) * h + iy) * w + ix];
                const int64_t wv = weights[(((size_t)co * cin_g + ci) * g.kh + ky) * g.kw + kx];
                s += (xv - x_zp) * (wv - wz);
              }
          acc[(((size_t)b * g.cout + co) * oh + oy) * ow + ox] = s;
        }
    }
}

}  // namespace conv
}  // namespace lowbit

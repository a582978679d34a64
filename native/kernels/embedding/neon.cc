// NEON (aarch64) embedding bag. Same structure as avx2.cc: groups of 8 columns (two q registers),
// column blocks of up to 64 floats (16 accumulators), add-then-FMA per element (vfmaq is one
// rounding, as std::fma in ref.cc), prefetch kPrefetch lookups ahead. q8/q4/q2 groups read 8/4/4
// bytes, kept inside the row by the scale/bias trailer; f32/f16 tails and output tails go through a
// small stack buffer.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

constexpr int64_t kPrefetch = 16;

template <typename Idx>
struct Ctx {
  const uint8_t* data;
  int64_t stride, dim, trailer, row_bytes;
  const Idx* idx;
  const int32_t* remap;
  const float* weights;
  int64_t p_limit;
  bool mean;
  int tail;  // dim % 8
};

struct F8 {
  float32x4_t lo, hi;
};

inline F8 widen_u8(uint8x8_t b) {
  const uint16x8_t w = vmovl_u8(b);
  return {vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w)))};
}

template <Format F, typename Idx>
inline F8 load8(const uint8_t* row, int64_t col, const Ctx<Idx>& c, bool partial) {
  if constexpr (F == Format::f32) {
    const float* p = reinterpret_cast<const float*>(row) + col;
    if (!partial) return {vld1q_f32(p), vld1q_f32(p + 4)};
    float tmp[8] = {};
    std::memcpy(tmp, p, (size_t)c.tail * 4);
    return {vld1q_f32(tmp), vld1q_f32(tmp + 4)};
  } else if constexpr (F == Format::f16) {
    uint16x8_t h;
    if (!partial) {
      h = vld1q_u16(reinterpret_cast<const uint16_t*>(row + 2 * col));
    } else {
      uint16_t tmp[8] = {};
      std::memcpy(tmp, row + 2 * col, (size_t)c.tail * 2);
      h = vld1q_u16(tmp);
    }
    return {vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))),
            vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)))};
  } else if constexpr (F == Format::q8) {
    return widen_u8(vld1_u8(row + col));
  } else if constexpr (F == Format::q4) {
    uint32_t v;
    std::memcpy(&v, row + col / 2, 4);
    const uint8x8_t b = vcreate_u8((uint64_t)v);
    const uint8x8_t lo = vand_u8(b, vdup_n_u8(15)), hi = vshr_n_u8(b, 4);
    return widen_u8(vzip1_u8(lo, hi));  // lo0 hi0 lo1 hi1 lo2 hi2 lo3 hi3
  } else {
    uint32_t v;
    std::memcpy(&v, row + col / 4, 4);  // 2 bytes used; 4 stay inside the row (4-byte trailer)
    const uint32x4_t w = vdupq_n_u32(v);
    const int32x4_t s0 = {0, -2, -4, -6}, s1 = {-8, -10, -12, -14};
    const uint32x4_t three = vdupq_n_u32(3);
    return {vcvtq_f32_u32(vandq_u32(vshlq_u32(w, s0), three)),
            vcvtq_f32_u32(vandq_u32(vshlq_u32(w, s1), three))};
  }
}

template <Format F, typename Idx, int NV, bool kPartial>
void bag_block(const Ctx<Idx>& c, int64_t p0, int64_t p1, int64_t col, float* out, bool prefetch) {
  constexpr bool kQuant = F == Format::q8 || F == Format::q4 || F == Format::q2;
  float32x4_t acc[2 * NV];
#pragma GCC unroll 16
  for (int j = 0; j < 2 * NV; j++) acc[j] = vdupq_n_f32(0.0f);
  for (int64_t p = p0; p < p1; p++) {
    // The prefetch is written out here, not in a helper: GCC marks a function whose only effect is
    // a prefetch as const and deletes calls to it.
    if (prefetch && p + kPrefetch < c.p_limit) {
      int64_t ahead = c.idx[p + kPrefetch];
      if (c.remap) ahead = c.remap[ahead];
      if (ahead >= 0) {
        // every cache line the row touches, once
        const uintptr_t a = reinterpret_cast<uintptr_t>(c.data + ahead * c.stride);
        for (uintptr_t q = a & ~(uintptr_t)63; q < a + (uintptr_t)c.row_bytes; q += 64)
          __builtin_prefetch(reinterpret_cast<const char*>(q), 0, 3);
      }
    }
    int64_t row = c.idx[p];
    if (c.remap) {
      row = c.remap[row];
      if (row < 0) continue;
    }
    const uint8_t* base = c.data + row * c.stride;
    const float w = c.weights ? c.weights[p] : 1.0f;
    if constexpr (kQuant) {
      float scale, bias;
      if constexpr (F == Format::q8) {
        std::memcpy(&scale, base + c.trailer, 4);
        std::memcpy(&bias, base + c.trailer + 4, 4);
      } else {
        uint16_t h[2];
        std::memcpy(h, base + c.trailer, 4);
        const float32x4_t sb = vcvt_f32_f16(vreinterpret_f16_u16(vcreate_u16((uint64_t)h[0] | ((uint64_t)h[1] << 16))));
        scale = vgetq_lane_f32(sb, 0);
        bias = vgetq_lane_f32(sb, 1);
      }
      const float32x4_t vs = vdupq_n_f32(w * scale), vc = vdupq_n_f32(w * bias);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const F8 x = load8<F>(base, col + 8 * j, c, kPartial && j == NV - 1);
        acc[2 * j] = vfmaq_f32(vaddq_f32(acc[2 * j], vc), vs, x.lo);
        acc[2 * j + 1] = vfmaq_f32(vaddq_f32(acc[2 * j + 1], vc), vs, x.hi);
      }
    } else {
      const float32x4_t vw = vdupq_n_f32(w);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const F8 x = load8<F>(base, col + 8 * j, c, kPartial && j == NV - 1);
        acc[2 * j] = vfmaq_f32(acc[2 * j], vw, x.lo);
        acc[2 * j + 1] = vfmaq_f32(acc[2 * j + 1], vw, x.hi);
      }
    }
  }
  if (c.mean && p1 > p0) {
    const float32x4_t inv = vdupq_n_f32(1.0f / (float)(p1 - p0));
#pragma GCC unroll 16
    for (int j = 0; j < 2 * NV; j++) acc[j] = vmulq_f32(acc[j], inv);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    float* o = out + col + 8 * j;
    if (kPartial && j == NV - 1) {
      float tmp[8];
      vst1q_f32(tmp, acc[2 * j]);
      vst1q_f32(tmp + 4, acc[2 * j + 1]);
      std::memcpy(o, tmp, (size_t)c.tail * 4);
    } else {
      vst1q_f32(o, acc[2 * j]);
      vst1q_f32(o + 4, acc[2 * j + 1]);
    }
  }
}

template <typename Idx>
using BlockFn = void (*)(const Ctx<Idx>&, int64_t, int64_t, int64_t, float*, bool);

template <Format F, typename Idx>
struct Blocks {
  static constexpr BlockFn<Idx> full[9] = {
      nullptr,
      bag_block<F, Idx, 1, false>, bag_block<F, Idx, 2, false>, bag_block<F, Idx, 3, false>,
      bag_block<F, Idx, 4, false>, bag_block<F, Idx, 5, false>, bag_block<F, Idx, 6, false>,
      bag_block<F, Idx, 7, false>, bag_block<F, Idx, 8, false>};
  static constexpr BlockFn<Idx> partial[9] = {
      nullptr,
      bag_block<F, Idx, 1, true>, bag_block<F, Idx, 2, true>, bag_block<F, Idx, 3, true>,
      bag_block<F, Idx, 4, true>, bag_block<F, Idx, 5, true>, bag_block<F, Idx, 6, true>,
      bag_block<F, Idx, 7, true>, bag_block<F, Idx, 8, true>};
};

template <Format F, typename Idx>
void run(const Request& r, int64_t bag_begin, int64_t bag_end) {
  const Table& t = r.table;
  const Bags& b = r.bags;
  const int64_t D = t.dim;
  Ctx<Idx> c;
  c.data = t.data;
  c.stride = t.row_stride;
  c.dim = D;
  c.row_bytes = row_bytes(F, D);
  c.trailer = c.row_bytes - (F == Format::q8 ? 8 : 4);
  c.idx = static_cast<const Idx*>(b.indices);
  c.remap = t.remap;
  c.weights = b.weights;
  c.p_limit = BagCursor::start_of(b, bag_end);
  c.mean = b.pooling == Pooling::mean;
  c.tail = (int)(D % 8);
  const int64_t full_blocks = D / 64;
  const int64_t rem = D - full_blocks * 64;
  const BlockFn<Idx> last = rem == 0 ? nullptr
                            : c.tail ? Blocks<F, Idx>::partial[(rem + 7) / 8]
                                     : Blocks<F, Idx>::full[rem / 8];
  BagCursor cur(b, bag_begin);
  for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
    float* out = r.out + bag * r.out_stride;
    const int64_t p0 = cur.begin(), p1 = cur.end();
    for (int64_t k = 0; k < full_blocks; k++) bag_block<F, Idx, 8, false>(c, p0, p1, 64 * k, out, k == 0);
    if (last) last(c, p0, p1, 64 * full_blocks, out, full_blocks == 0);
  }
}

template <typename Idx>
void run_format(const Request& r, int64_t bag_begin, int64_t bag_end) {
  switch (r.table.format) {
    case Format::f32: return run<Format::f32, Idx>(r, bag_begin, bag_end);
    case Format::f16: return run<Format::f16, Idx>(r, bag_begin, bag_end);
    case Format::q8: return run<Format::q8, Idx>(r, bag_begin, bag_end);
    case Format::q4: return run<Format::q4, Idx>(r, bag_begin, bag_end);
    case Format::q2: return run<Format::q2, Idx>(r, bag_begin, bag_end);
  }
}

}  // namespace

void embedding_bag__neon(const Request& r, int64_t bag_begin, int64_t bag_end) {
  if (bag_begin >= bag_end) return;
  if (r.bags.index_type == IntType::i32)
    run_format<int32_t>(r, bag_begin, bag_end);
  else
    run_format<int64_t>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

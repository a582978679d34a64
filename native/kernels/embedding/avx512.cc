// AVX-512 (F/BW/DQ/VL) embedding bag. Same structure as avx2.cc with 16 lanes: column blocks of up
// to 128 floats in 8 zmm accumulators; the partial last group of a row is read with a fault-
// suppressing masked load of exactly its bytes, and written with a masked store. Bit-identical
// to ref.cc: the same add-then-FMA per element (README.md).
#include <immintrin.h>

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
  __mmask16 tail_mask;  // lanes < dim % 16
  __mmask16 q4_bytes;   // bytes holding those lanes, 4-bit
  __mmask16 q2_bytes;   // same, 2-bit
};

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <Format F, typename Idx>
inline __m512 load16(const uint8_t* row, int64_t col, const Ctx<Idx>& c, bool partial) {
  if constexpr (F == Format::f32) {
    const float* p = reinterpret_cast<const float*>(row) + col;
    return partial ? _mm512_maskz_loadu_ps(c.tail_mask, p) : _mm512_loadu_ps(p);
  } else if constexpr (F == Format::f16) {
    const uint8_t* p = row + 2 * col;
    const __m256i h = partial ? _mm256_maskz_loadu_epi16(c.tail_mask, p)
                              : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_cvtph_ps(h);
  } else if constexpr (F == Format::q8) {
    const uint8_t* p = row + col;
    const __m128i b = partial ? _mm_maskz_loadu_epi8(c.tail_mask, p) : _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
  } else if constexpr (F == Format::q4) {
    const uint8_t* p = row + col / 2;
    const __m128i b = partial ? _mm_maskz_loadu_epi8(c.q4_bytes, p) : _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
  } else {
    // 16 lanes = 4 bytes; a 4-byte read at col/4 stays inside the row thanks to the 4-byte trailer
    (void)c;
    (void)partial;
    const __m512i v = _mm512_set1_epi32((int)load_u32(row + col / 4));
    const __m512i q = _mm512_and_si512(
        _mm512_srlv_epi32(v, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)),
        _mm512_set1_epi32(3));
    return _mm512_cvtepi32_ps(q);
  }
}

template <Format F, typename Idx, int NV, bool kPartial>
void bag_block(const Ctx<Idx>& c, int64_t p0, int64_t p1, int64_t col, float* out, bool prefetch) {
  constexpr bool kQuant = F == Format::q8 || F == Format::q4 || F == Format::q2;
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) acc[j] = _mm512_setzero_ps();
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
          _mm_prefetch(reinterpret_cast<const char*>(q), _MM_HINT_T0);
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
        scale = _cvtsh_ss(h[0]);
        bias = _cvtsh_ss(h[1]);
      }
      const __m512 vs = _mm512_set1_ps(w * scale), vc = _mm512_set1_ps(w * bias);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const __m512 x = load16<F>(base, col + 16 * j, c, kPartial && j == NV - 1);
        acc[j] = _mm512_fmadd_ps(vs, x, _mm512_add_ps(acc[j], vc));
      }
    } else {
      const __m512 vw = _mm512_set1_ps(w);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const __m512 x = load16<F>(base, col + 16 * j, c, kPartial && j == NV - 1);
        acc[j] = _mm512_fmadd_ps(vw, x, acc[j]);
      }
    }
  }
  if (c.mean && p1 > p0) {
    const __m512 inv = _mm512_set1_ps(1.0f / (float)(p1 - p0));
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = _mm512_mul_ps(acc[j], inv);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    if (kPartial && j == NV - 1)
      _mm512_mask_storeu_ps(out + col + 16 * j, c.tail_mask, acc[j]);
    else
      _mm512_storeu_ps(out + col + 16 * j, acc[j]);
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
  const int tail = (int)(D % 16);
  c.tail_mask = (__mmask16)((1u << tail) - 1);
  c.q4_bytes = (__mmask16)((1u << ((tail + 1) / 2)) - 1);
  c.q2_bytes = (__mmask16)((1u << ((tail + 3) / 4)) - 1);
  constexpr int64_t kBlock = 128;
  const int64_t full_blocks = D / kBlock;
  const int64_t rem = D - full_blocks * kBlock;
  const BlockFn<Idx> last = rem == 0 ? nullptr
                            : tail ? Blocks<F, Idx>::partial[(rem + 15) / 16]
                                   : Blocks<F, Idx>::full[rem / 16];
  BagCursor cur(b, bag_begin);
  for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
    float* out = r.out + bag * r.out_stride;
    const int64_t p0 = cur.begin(), p1 = cur.end();
    for (int64_t k = 0; k < full_blocks; k++) bag_block<F, Idx, 8, false>(c, p0, p1, kBlock * k, out, k == 0);
    if (last) last(c, p0, p1, kBlock * full_blocks, out, full_blocks == 0);
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

void embedding_bag__avx512(const Request& r, int64_t bag_begin, int64_t bag_end) {
  if (bag_begin >= bag_end) return;
  if (r.bags.index_type == IntType::i32)
    run_format<int32_t>(r, bag_begin, bag_end);
  else
    run_format<int64_t>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

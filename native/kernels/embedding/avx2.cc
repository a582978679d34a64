// AVX2 + FMA + F16C embedding bag. Bit-identical to ref.cc (README.md has the operation order).
//
// Layout of the work: a bag's D columns are cut into blocks of up to 64 floats (8 ymm accumulators
// held in registers); for each block the bag's rows are walked in index order, each row's group of 8
// codes is widened to fp32 and folded in with one add (bias) and one FMA (scale). Rows are
// prefetched `dist` lookups ahead (prefetch_distance: 16..32 by row size), across bag boundaries,
// during the first block's walk; for D <= kChunkMinDim later blocks of a row find it in L1/L2.
// For D > kChunkMinDim (256) a bag is walked in chunks of kChunk rows: every
// block of a chunk is folded into a D-float partial-sum buffer (in L1) before the next chunk, so a
// row's lines are all used while they are in L1 instead of being re-read from L2/L3 once per block
// (8 times at D = 512). Same per-element operation order either way (rows in index order).
// Every load stays inside its own row: q8/q4/q2 groups read 8, 4 and 4 bytes, which the 8- or 4-byte scale/bias trailer keeps in bounds even for the last group;
// f32 tails use vmaskmovps, f16 tails an overlapping load ending at the row's end. Output tails are
// written with vmaskmovps, so nothing beyond D floats of a bag's output row is touched.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

// Prefetch distance in lookups. Long streams of small rows need more rows in flight: every row is a
// TLB miss (4 KiB pages) and the loop body is too long for the reorder window to overlap many rows,
// so prefetch is what covers the latency; measured (Zen 3, q8, 20000 x 20 lookups over 4M rows): 32
// ahead beats 16 by 5-12% for rows <= 72 B and costs 1-3% in warm/cold 1000-lookup calls; for rows
// >= 136 B, 16 and 24 measured the same. So: 32 for rows <= 72 B, 16 from 144 B, in between by bytes.
inline int64_t prefetch_distance(int64_t row_bytes) {
  const int64_t d = 2304 / (row_bytes > 0 ? row_bytes : 1);
  return d < 16 ? 16 : d > 32 ? 32 : d;
}
constexpr int64_t kChunkMinDim = 256;  // D above this: chunked walk (see the file comment)
constexpr int64_t kChunk = 16;         // rows per chunk (16 x 520 B = 8 KiB at D = 512: in L1)

template <typename Idx>
struct Ctx {
  const uint8_t* data;
  int64_t stride, dim, trailer, row_bytes;  // trailer: byte offset of scale/bias in a row
  const Idx* idx;
  const int32_t* remap;
  const float* weights;
  int64_t p_limit;   // one past the last index position of the whole range (prefetch bound)
  int64_t dist;      // prefetch distance in lookups
  bool mean;
  __m256i tail_mask;  // lanes < dim % 8
  __m256i f16_perm;   // f16 tail: lane i <- lane i + 8 - dim % 8 of the load ending at the row end
};

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// 8 consecutive elements starting at column col (a multiple of 8) as fp32: the code values for the
// quantized formats, the values for f32/f16. Reads only bytes of this row (see the file comment).
template <Format F, typename Idx>
inline __m256 load8(const uint8_t* row, int64_t col, const Ctx<Idx>& c, bool partial) {
  if constexpr (F == Format::f32) {
    const float* p = reinterpret_cast<const float*>(row) + col;
    return partial ? _mm256_maskload_ps(p, c.tail_mask) : _mm256_loadu_ps(p);
  } else if constexpr (F == Format::f16) {
    if (!partial) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * col)));
    if (c.dim >= 8) {
      const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * (c.dim - 8))));
      return _mm256_permutevar8x32_ps(v, c.f16_perm);
    }
    alignas(16) uint16_t tmp[8] = {};
    for (int64_t d = col; d < c.dim; d++) std::memcpy(&tmp[d - col], row + 2 * d, 2);
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
  } else if constexpr (F == Format::q8) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + col))));
  } else if constexpr (F == Format::q4) {
    const __m256i v = _mm256_set1_epi32((int)load_u32(row + col / 2));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                       _mm256_set1_epi32(15));
    return _mm256_cvtepi32_ps(q);
  } else {
    const __m256i v = _mm256_set1_epi32((int)load_u32(row + col / 4));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                       _mm256_set1_epi32(3));
    return _mm256_cvtepi32_ps(q);
  }
}

// Folds rows [p0, p1) into acc (columns [col, col + 8*NV)) in index order; with kPartial the last
// vector holds only dim % 8 columns. Inlined into both walks below.
template <Format F, typename Idx, int NV, bool kPartial>
__attribute__((always_inline)) inline void fold_rows(const Ctx<Idx>& c, int64_t p0, int64_t p1, int64_t col,
                                                     __m256 (&acc)[NV], bool prefetch) {
  constexpr bool kQuant = F == Format::q8 || F == Format::q4 || F == Format::q2;
  for (int64_t p = p0; p < p1; p++) {
    // The prefetch is written out here, not in a helper: GCC marks a function whose only effect is
    // a prefetch as const and deletes calls to it.
    if (prefetch && p + c.dist < c.p_limit) {
      int64_t ahead = c.idx[p + c.dist];
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
      const __m256 vs = _mm256_set1_ps(w * scale), vc = _mm256_set1_ps(w * bias);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const __m256 x = load8<F>(base, col + 8 * j, c, kPartial && j == NV - 1);
        acc[j] = _mm256_fmadd_ps(vs, x, _mm256_add_ps(acc[j], vc));
      }
    } else {
      const __m256 vw = _mm256_set1_ps(w);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const __m256 x = load8<F>(base, col + 8 * j, c, kPartial && j == NV - 1);
        acc[j] = _mm256_fmadd_ps(vw, x, acc[j]);
      }
    }
  }
}

// One column block [col, col + 8*NV) of one bag (positions [p0, p1)); with kPartial the last vector
// holds only dim % 8 columns.
template <Format F, typename Idx, int NV, bool kPartial>
void bag_block(const Ctx<Idx>& c, int64_t p0, int64_t p1, int64_t col, float* out, bool prefetch) {
  __m256 acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) acc[j] = _mm256_setzero_ps();
  fold_rows<F, Idx, NV, kPartial>(c, p0, p1, col, acc, prefetch);
  if (c.mean && p1 > p0) {
    const __m256 inv = _mm256_set1_ps(1.0f / (float)(p1 - p0));
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = _mm256_mul_ps(acc[j], inv);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    if (kPartial && j == NV - 1)
      _mm256_maskstore_ps(out + col + 8 * j, c.tail_mask, acc[j]);
    else
      _mm256_storeu_ps(out + col + 8 * j, acc[j]);
  }
}

// One column block of one chunk (rows [q0, q1)) of a bag whose rows start at p0 and end at p1
// (chunked walk, D > kChunkMinDim): partial sums come from buf (32-byte aligned, D rounded up to 8
// floats) unless q0 == p0, and go back to buf unless q1 == p1, when the block is finished (mean)
// and stored to out.
template <Format F, typename Idx, int NV, bool kPartial>
void chunk_block(const Ctx<Idx>& c, int64_t p0, int64_t p1, int64_t q0, int64_t q1, int64_t col, float* buf,
                 float* out, bool prefetch) {
  __m256 acc[NV];
  const bool first = q0 == p0, last = q1 == p1;
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) acc[j] = first ? _mm256_setzero_ps() : _mm256_load_ps(buf + col + 8 * j);
  fold_rows<F, Idx, NV, kPartial>(c, q0, q1, col, acc, prefetch);
  if (!last) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) _mm256_store_ps(buf + col + 8 * j, acc[j]);
    return;
  }
  if (c.mean && p1 > p0) {
    const __m256 inv = _mm256_set1_ps(1.0f / (float)(p1 - p0));
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = _mm256_mul_ps(acc[j], inv);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    if (kPartial && j == NV - 1)
      _mm256_maskstore_ps(out + col + 8 * j, c.tail_mask, acc[j]);
    else
      _mm256_storeu_ps(out + col + 8 * j, acc[j]);
  }
}

template <typename Idx>
using BlockFn = void (*)(const Ctx<Idx>&, int64_t, int64_t, int64_t, float*, bool);
template <typename Idx>
using ChunkFn = void (*)(const Ctx<Idx>&, int64_t, int64_t, int64_t, int64_t, int64_t, float*, float*, bool);

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
  static constexpr ChunkFn<Idx> chunk_full[9] = {
      nullptr,
      chunk_block<F, Idx, 1, false>, chunk_block<F, Idx, 2, false>, chunk_block<F, Idx, 3, false>,
      chunk_block<F, Idx, 4, false>, chunk_block<F, Idx, 5, false>, chunk_block<F, Idx, 6, false>,
      chunk_block<F, Idx, 7, false>, chunk_block<F, Idx, 8, false>};
  static constexpr ChunkFn<Idx> chunk_partial[9] = {
      nullptr,
      chunk_block<F, Idx, 1, true>, chunk_block<F, Idx, 2, true>, chunk_block<F, Idx, 3, true>,
      chunk_block<F, Idx, 4, true>, chunk_block<F, Idx, 5, true>, chunk_block<F, Idx, 6, true>,
      chunk_block<F, Idx, 7, true>, chunk_block<F, Idx, 8, true>};
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
  c.dist = prefetch_distance(c.row_bytes);
  c.mean = b.pooling == Pooling::mean;
  const int tail = (int)(D % 8);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  c.tail_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), iota);
  c.f16_perm = _mm256_add_epi32(iota, _mm256_set1_epi32(8 - tail));
  const int64_t full_blocks = D / 64;
  const int64_t rem = D - full_blocks * 64;
  const BlockFn<Idx> last = rem == 0 ? nullptr
                            : tail ? Blocks<F, Idx>::partial[(rem + 7) / 8]
                                   : Blocks<F, Idx>::full[rem / 8];
  BagCursor cur(b, bag_begin);
  if (D > kChunkMinDim) {  // chunked walk: partial sums of the bag in buf between chunks
    const ChunkFn<Idx> last_chunk = rem == 0 ? nullptr
                                    : tail ? Blocks<F, Idx>::chunk_partial[(rem + 7) / 8]
                                           : Blocks<F, Idx>::chunk_full[rem / 8];
    const int64_t padded = (D + 7) / 8 * 8;
    alignas(32) float stack_buf[2048];
    std::unique_ptr<float[]> heap;
    float* buf = stack_buf;
    if (padded > 2048) {
      heap.reset(new float[(size_t)padded + 8]);
      buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(heap.get()) + 31) & ~(uintptr_t)31);
    }
    for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
      float* out = r.out + bag * r.out_stride;
      const int64_t p0 = cur.begin(), p1 = cur.end();
      int64_t q0 = p0;
      do {  // runs once for an empty bag (writes zeros)
        const int64_t q1 = p1 - q0 > kChunk ? q0 + kChunk : p1;
        for (int64_t k = 0; k < full_blocks; k++)
          chunk_block<F, Idx, 8, false>(c, p0, p1, q0, q1, 64 * k, buf, out, k == 0);
        if (last_chunk) last_chunk(c, p0, p1, q0, q1, 64 * full_blocks, buf, out, false);
        q0 = q1;
      } while (q0 < p1);
    }
    return;
  }
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

void embedding_bag__avx2(const Request& r, int64_t bag_begin, int64_t bag_end) {
  if (bag_begin >= bag_end) return;
  if (r.bags.index_type == IntType::i32)
    run_format<int32_t>(r, bag_begin, bag_end);
  else
    run_format<int64_t>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

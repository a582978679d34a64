// The embedding-bag loop shared by the SIMD kernels: bag ranges, prefetch, weights, pruned remap,
// column blocks, the chunked walk for wide rows, mean pooling and the stores.
//
// Included by exactly one .cc per ISA (avx2.cc, avx512.cc, neon.cc), which defines a traits class K
// (the vector type and its handful of operations, below) and calls run_kernel<K>. So the loop that
// AVX-512 runs is the loop that AVX2 runs and the tests execute here; only the row-loading and
// arithmetic primitives differ. Everything is in an anonymous namespace on purpose: each ISA's
// translation unit is compiled with its own -m flags, and a shared inline/template symbol could be
// merged by the linker with a copy that uses instructions the CPU lacks.
//
// What K provides (V holds K::kLanes consecutive fp32 columns; every operation rounds like the
// scalar reference: add, mul and a fused multiply-add with one rounding):
//   using V;  static constexpr int kLanes;    struct Tail;  static Tail make_tail(int64_t dim);
//   static V zero();  static V set1(float);  static V add(V, V);  static V mul(V, V);
//   static V fma(V a, V x, V acc);                          // a * x + acc, one rounding
//   template <Format F> static V load(const uint8_t* row, int64_t col, const Tail&, bool partial);
//       // columns [col, col + kLanes) of a row as fp32 (codes for q8/q4/q2); partial: only
//       // dim % kLanes of them are inside the row, and the load must read no byte past the row
//   static void store(float*, V);  static void store_tail(float*, V, const Tail&);  // dim % kLanes
//   static void store_f16(uint16_t*, V);  static void store_f16_tail(uint16_t*, V, const Tail&);
//       // the same as IEEE binary16 bits, rounded to nearest even (fp16_from_float)
//   static V load_buf(const float*);  static void store_buf(float*, V);             // scratch
//   static float half_to_float(uint16_t);
//
// Layout of the work (README.md, "SIMD kernels"): a bag's D columns are cut into blocks of up to
// kBlockVecs vectors held in registers; for each block the rows are folded in index order with one
// add (bias) and one FMA (scale), the order of ref.cc. Rows are prefetched `dist` lookups ahead,
// across bag boundaries. With one block, a bag is one walk. With several, the bag is walked in
// chunks of rows that fit in L1 (chunk_rows): the first block of a chunk does each row's scalar work
// and records it, the later blocks read the records back, and partial sums cross chunks in a
// D-float buffer. Each element sees the same operations in the same order either way.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

constexpr int kBlockVecs = 8;          // accumulators per column block (8 ymm / zmm / q-pairs)

// Prefetch distance in lookups. Long streams of small rows need more rows in flight: every row is a
// TLB miss (4 KiB pages) and the loop body is too long for the reorder window to overlap many rows,
// so prefetch is what covers the latency; measured (Zen 3, q8, 20000 x 20 lookups over 4M rows): 32
// ahead beats 16 by 5-12% for rows <= 72 B and costs 1-3% in warm/cold 1000-lookup calls; for rows
// >= 136 B, 16 and 24 measured the same. So: 32 for rows <= 72 B, 16 from 144 B, in between by bytes.
inline int64_t prefetch_distance(int64_t row_bytes) {
  const int64_t d = 2304 / (row_bytes > 0 ? row_bytes : 1);
  return d < 16 ? 16 : d > 32 ? 32 : d;
}

template <class K, typename Idx>
struct Ctx {
  const uint8_t* data;
  int64_t stride, dim, trailer, row_bytes;  // trailer: byte offset of scale/bias in a row
  const Idx* idx;
  const int32_t* remap;
  const float* weights;
  int64_t p_limit;  // one past the last index position of the whole range (prefetch bound)
  int64_t dist;     // prefetch distance in lookups
  bool mean;
  bool f16;         // output as binary16 (OutType::f16)
  typename K::Tail tail;
  // mixed precision (Table::hot_data): the hot rows
  const uint8_t* hot;
  const uint8_t* hot_index;
  int64_t hot_rows, hot_stride;
  bool hot_f16;
};

// One looked-up row, ready for the vector loop: its bytes and the per-row factors (q8/q4/q2:
// s = w * scale, c = w * bias; f32/f16: s = w).
struct RowRef {
  const uint8_t* base;
  float s, c;
  bool hot;  // a hot row of a mixed table: base is its f32/f16 row, s = w
};

// How a column block finds its rows (see block()).
enum class Walk {
  inline_only,    // the only block of the row: scalar work inline, nothing recorded
  inline_plain,   // the same, for calls without weights and remap (w = 1: no tests, no products)
  inline_record,  // the first of several blocks: scalar work inline, rows recorded in refs
  from_refs,      // a later block: rows read back from refs
};

// The scalar work for index position p: prefetch `dist` lookups ahead, remap, weight, scale and
// bias. Returns false for a pruned row. kPlain: the call has no weights and no remap (measured:
// dropping their tests and the w·scale, w·bias products is worth 1.1-1.25x warm for rows <= 72 B).
template <class K, Format F, typename Idx, bool kPlain, bool kMixed>
__attribute__((always_inline)) inline bool look_up(const Ctx<K, Idx>& c, int64_t p, RowRef* rr) {
  constexpr bool kQuant = F == Format::q8 || F == Format::q4 || F == Format::q2;
  // The prefetch is written out here, not in a helper: GCC marks a function whose only effect is a
  // prefetch as const and deletes calls to it.
  if (p + c.dist < c.p_limit) {
    int64_t ahead = c.idx[p + c.dist];
    if (!kPlain && c.remap) ahead = c.remap[ahead];
    // a hot row's quantized row is never read: not prefetched (its hot row is in cache)
    if (ahead >= 0 && !(kMixed && hot_slot(c.hot_index, c.hot_rows, ahead) >= 0)) {
      // every cache line the row touches, once
      const uintptr_t a = reinterpret_cast<uintptr_t>(c.data + ahead * c.stride);
      for (uintptr_t q = a & ~(uintptr_t)63; q < a + (uintptr_t)c.row_bytes; q += 64)
        __builtin_prefetch(reinterpret_cast<const void*>(q), 0, 3);
    }
  }
  int64_t row = c.idx[p];
  if (!kPlain && c.remap) {
    row = c.remap[row];
    if (row < 0) return false;
  }
  const float w = !kPlain && c.weights ? c.weights[p] : 1.0f;
  if constexpr (kMixed) {
    // decided from the hot index (small, in cache), not from the row: a mispredicted branch is
    // resolved in a few cycles instead of after the row's miss
    const int64_t slot = hot_slot(c.hot_index, c.hot_rows, row);
    rr->hot = slot >= 0;
    if (rr->hot) {  // looked up as an f32/f16 row, in its own format
      rr->base = c.hot + slot * c.hot_stride;
      rr->s = w;
      rr->c = 0.0f;
      return true;
    }
  }
  const uint8_t* base = c.data + row * c.stride;
  rr->base = base;
  if constexpr (kQuant) {
    float scale, bias;
    if constexpr (F == Format::q8) {
      std::memcpy(&scale, base + c.trailer, 4);
      std::memcpy(&bias, base + c.trailer + 4, 4);
    } else {
      uint16_t h[2];
      std::memcpy(h, base + c.trailer, 4);
      scale = K::half_to_float(h[0]);
      bias = K::half_to_float(h[1]);
    }
    rr->s = kPlain ? scale : w * scale;  // w = 1: the products are exact anyway
    rr->c = kPlain ? bias : w * bias;
  } else {
    rr->s = w;
    rr->c = 0.0f;
  }
  return true;
}

// One column block [col, col + kLanes*NV) of the rows at index positions [q0, q1) (a chunk of a
// bag). Partial sums come from buf unless `first` (the bag's first chunk), and go back to buf
// unless `last`, when the block is finished (times inv for mean pooling, when inv != 0) and stored
// to out (fp32, or fp16 converted from the finished fp32 registers: the conversion costs one
// instruction per vector and no pass over memory). Rows are folded in index order; with kPartial the last vector holds only dim % kLanes
// columns. The first block of a chunk does the scalar work of each row (look_up) inside its vector
// loop, where it overlaps the loads of cold rows; when more blocks follow it records the rows
// (refs, returning their count n), and the later blocks read them back, so that for wide rows the
// scalar work is done once per row, not once per block (measured: q8 D = 512 warm +10-35%).
template <class K, Format F, typename Idx, int NV, bool kPartial, Walk kWalk, bool kMixed>
int64_t block(const Ctx<K, Idx>& c, int64_t q0, int64_t q1, RowRef* refs, int64_t n, bool first, bool last,
              float inv, int64_t col, float* buf, void* out) {
  using V = typename K::V;
  constexpr bool kQuant = F == Format::q8 || F == Format::q4 || F == Format::q2;
  V acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) acc[j] = first ? K::zero() : K::load_buf(buf + col + K::kLanes * j);
  const int64_t count = kWalk == Walk::from_refs ? n : q1 - q0;
  int64_t recorded = 0;
  for (int64_t i = 0; i < count; i++) {
    RowRef one;
    const RowRef* rr;
    if constexpr (kWalk == Walk::from_refs) {
      rr = &refs[i];
    } else {
      RowRef* dst = kWalk == Walk::inline_record ? &refs[recorded] : &one;
      if (!look_up<K, F, Idx, kWalk == Walk::inline_plain, kMixed>(c, q0 + i, dst)) continue;
      recorded++;
      rr = dst;
    }
    const uint8_t* base = rr->base;
    const V vs = K::set1(rr->s);
    if constexpr (kMixed) {
      if (rr->hot) {  // the f32 / f16 order: acc = fma(w, x, acc)
        if (c.hot_f16) {
#pragma GCC unroll 8
          for (int j = 0; j < NV; j++)
            acc[j] = K::fma(vs, K::template load<Format::f16>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1), acc[j]);
        } else {
#pragma GCC unroll 8
          for (int j = 0; j < NV; j++)
            acc[j] = K::fma(vs, K::template load<Format::f32>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1), acc[j]);
        }
        continue;
      }
    }
    if constexpr (kQuant) {
      const V vc = K::set1(rr->c);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const V x = K::template load<F>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1);
        acc[j] = K::fma(vs, x, K::add(acc[j], vc));
      }
    } else {
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const V x = K::template load<F>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1);
        acc[j] = K::fma(vs, x, acc[j]);
      }
    }
  }
  if (!last) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) K::store_buf(buf + col + K::kLanes * j, acc[j]);
    return recorded;
  }
  if (inv != 0.0f) {
    const V vi = K::set1(inv);
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = K::mul(acc[j], vi);
  }
  if (c.f16) {  // once per bag and block: a branch the predictor gets right
    uint16_t* o = static_cast<uint16_t*>(out) + col;
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      if (kPartial && j == NV - 1)
        K::store_f16_tail(o + K::kLanes * j, acc[j], c.tail);
      else
        K::store_f16(o + K::kLanes * j, acc[j]);
    }
    return recorded;
  }
  float* o = static_cast<float*>(out) + col;
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    if (kPartial && j == NV - 1)
      K::store_tail(o + K::kLanes * j, acc[j], c.tail);
    else
      K::store(o + K::kLanes * j, acc[j]);
  }
  return recorded;
}

template <class K, typename Idx>
using BlockFn = int64_t (*)(const Ctx<K, Idx>&, int64_t, int64_t, RowRef*, int64_t, bool, bool, float, int64_t,
                            float*, void*);

// The block functions for NV = 1..8 vectors (index 0 unused).
template <class K, Format F, typename Idx, bool kPartial, Walk kWalk, bool kMixed>
struct BlockTable {
  static constexpr BlockFn<K, Idx> fn[9] = {
      nullptr,
      block<K, F, Idx, 1, kPartial, kWalk, kMixed>, block<K, F, Idx, 2, kPartial, kWalk, kMixed>,
      block<K, F, Idx, 3, kPartial, kWalk, kMixed>, block<K, F, Idx, 4, kPartial, kWalk, kMixed>,
      block<K, F, Idx, 5, kPartial, kWalk, kMixed>, block<K, F, Idx, 6, kPartial, kWalk, kMixed>,
      block<K, F, Idx, 7, kPartial, kWalk, kMixed>, block<K, F, Idx, 8, kPartial, kWalk, kMixed>};
};

// The function for a block of nv vectors (the last one partial or not) walked as w. A recording
// walk is only ever the first of several blocks, so it is always a full, non-partial block: only
// that one is instantiated (the other 15 would be dead code that every build compiles, and the
// sanitizer builds instrument, at ~1/4 of this header's compile time).
template <class K, Format F, typename Idx, bool kMixed>
BlockFn<K, Idx> block_fn(int64_t nv, bool partial, Walk w) {
  if (w == Walk::inline_record) return block<K, F, Idx, kBlockVecs, false, Walk::inline_record, kMixed>;
  if (partial) {
    if (w == Walk::inline_only) return BlockTable<K, F, Idx, true, Walk::inline_only, kMixed>::fn[nv];
    if (w == Walk::inline_plain) return BlockTable<K, F, Idx, true, Walk::inline_plain, kMixed>::fn[nv];
    return BlockTable<K, F, Idx, true, Walk::from_refs, kMixed>::fn[nv];
  }
  if (w == Walk::inline_only) return BlockTable<K, F, Idx, false, Walk::inline_only, kMixed>::fn[nv];
  if (w == Walk::inline_plain) return BlockTable<K, F, Idx, false, Walk::inline_plain, kMixed>::fn[nv];
  return BlockTable<K, F, Idx, false, Walk::from_refs, kMixed>::fn[nv];
}

// Rows per chunk of a bag with several column blocks: as many as stay in L1 (kChunkBytes) while the
// chunk's blocks are walked, at least kMinChunk, at most kMaxChunk (the size of the RowRef array).
// Measured (Zen 3, 4M-row q8/q4 tables, D = 128..512): 4-6 KiB chunks beat 12 KiB by 5-15% on
// cold-row calls and lose 0-5% warm; 8 KiB sits between.
constexpr int64_t kChunkBytes = 6 * 1024, kMinChunk = 8, kMaxChunk = 256;
inline int64_t chunk_rows(int64_t row_bytes) {
  const int64_t n = kChunkBytes / (row_bytes > 0 ? row_bytes : 1);
  return n < kMinChunk ? kMinChunk : n > kMaxChunk ? kMaxChunk : n;
}

template <class K, Format F, typename Idx, bool kMixed = false>
void run(const Request& r, int64_t bag_begin, int64_t bag_end) {
  constexpr int64_t kBlock = (int64_t)K::kLanes * kBlockVecs;  // columns per full block
  const Table& t = r.table;
  const Bags& b = r.bags;
  const int64_t D = t.dim;
  Ctx<K, Idx> c;
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
  c.f16 = r.out_type == OutType::f16;
  c.tail = K::make_tail(D);
  c.hot = t.hot_data;
  c.hot_index = t.hot_index;
  c.hot_rows = t.hot_rows;
  c.hot_stride = t.hot_stride;
  c.hot_f16 = t.hot_format == Format::f16;
  // Column blocks: full ones of kBlockVecs vectors, then one of rem_vecs (the last partial if D is
  // not a multiple of kLanes).
  const int64_t nvec = (D + K::kLanes - 1) / K::kLanes;
  const int64_t blocks = (nvec + kBlockVecs - 1) / kBlockVecs;
  const int64_t rem_vecs = nvec - (blocks - 1) * kBlockVecs;
  const bool partial = D % K::kLanes != 0;
  const bool several = blocks > 1;
  const BlockFn<K, Idx> first_fn = block_fn<K, F, Idx, kMixed>(several ? kBlockVecs : rem_vecs, !several && partial,
                                                       several ? Walk::inline_record
                                                       : !t.remap && !b.weights ? Walk::inline_plain
                                                                                : Walk::inline_only);
  const BlockFn<K, Idx> mid_fn = block_fn<K, F, Idx, kMixed>(kBlockVecs, false, Walk::from_refs);
  const BlockFn<K, Idx> last_fn = block_fn<K, F, Idx, kMixed>(rem_vecs, partial, Walk::from_refs);
  // Partial sums of one bag between chunks: D rounded up to whole vectors.
  const int64_t padded = nvec * K::kLanes;
  alignas(64) float stack_buf[2048];
  std::unique_ptr<float[]> heap;
  float* buf = stack_buf;
  if (several && padded > 2048) {
    heap.reset(new float[(size_t)padded + 16]);
    buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(heap.get()) + 63) & ~(uintptr_t)63);
  }
  const int64_t chunk = several ? chunk_rows(c.row_bytes) : INT64_MAX;
  RowRef refs[kMaxChunk];
  BagCursor cur(b, bag_begin);
  for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
    // element size by output type; the stride is in elements
    void* out = static_cast<uint8_t*>(r.out) + bag * r.out_stride * (c.f16 ? 2 : 4);
    const int64_t p0 = cur.begin(), p1 = cur.end();
    const float inv = c.mean && p1 > p0 ? 1.0f / (float)(p1 - p0) : 0.0f;
    int64_t q0 = p0;
    do {  // runs once for an empty bag (writes zeros)
      const int64_t q1 = p1 - q0 > chunk ? q0 + chunk : p1;
      const bool first = q0 == p0, fin = q1 == p1;
      const int64_t n = first_fn(c, q0, q1, refs, 0, first, fin, inv, 0, buf, out);
      for (int64_t k = 1; k < blocks; k++)
        (k + 1 < blocks ? mid_fn : last_fn)(c, q0, q1, refs, n, first, fin, inv, kBlock * k, buf, out);
      q0 = q1;
    } while (q0 < p1);
  }
}

template <class K, typename Idx>
void run_format(const Request& r, int64_t bag_begin, int64_t bag_end) {
  switch (r.table.format) {
    case Format::f32: return run<K, Format::f32, Idx>(r, bag_begin, bag_end);
    case Format::f16: return run<K, Format::f16, Idx>(r, bag_begin, bag_end);
    case Format::q8: return run<K, Format::q8, Idx>(r, bag_begin, bag_end);
    // mixed precision: its own instantiation, so plain q4/q2 tables pay nothing for it
    case Format::q4:
      return r.table.hot_data ? run<K, Format::q4, Idx, true>(r, bag_begin, bag_end) : run<K, Format::q4, Idx>(r, bag_begin, bag_end);
    case Format::q2:
      return r.table.hot_data ? run<K, Format::q2, Idx, true>(r, bag_begin, bag_end) : run<K, Format::q2, Idx>(r, bag_begin, bag_end);
  }
}

// The whole kernel for traits K: bags [bag_begin, bag_end) of a validated request.
template <class K>
void run_kernel(const Request& r, int64_t bag_begin, int64_t bag_end) {
  if (bag_begin >= bag_end) return;
  if (r.bags.index_type == IntType::i32)
    run_format<K, int32_t>(r, bag_begin, bag_end);
  else
    run_format<K, int64_t>(r, bag_begin, bag_end);
}

}  // namespace
}  // namespace embedding
}  // namespace lowbit

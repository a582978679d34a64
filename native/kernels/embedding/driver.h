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
//   static V load_buf(const float*);  static void store_buf(float*, V);             // scratch
//   static float half_to_float(uint16_t);
//
// Layout of the work (README.md, "SIMD kernels"): a bag's D columns are cut into blocks of up to
// kBlockVecs vectors held in registers; for each block the bag's rows are walked in index order,
// each row's vectors folded in with one add (bias) and one FMA (scale), the order of ref.cc. Rows
// are prefetched `dist` lookups ahead, across bag boundaries, during the first block's walk. For
// D > kChunkMinDim a bag is walked in chunks of kChunk rows: every block of a chunk is folded into
// a D-float partial-sum buffer (in L1) before the next chunk, so a row's lines are all used while
// they are in L1 instead of being re-read from L2/L3 once per block. Each element sees the same
// operations in the same order either way, so the results are the same bits.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

constexpr int kBlockVecs = 8;          // accumulators per column block (8 ymm / zmm / q-pairs)
constexpr int64_t kChunkMinDim = 256;  // D above this: chunked walk (see the file comment)
constexpr int64_t kChunk = 16;         // rows per chunk (16 x 520 B = 8 KiB at D = 512: in L1)

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
  typename K::Tail tail;
};

// Folds rows [p0, p1) into acc (columns [col, col + kLanes*NV)) in index order; with kPartial the
// last vector holds only dim % kLanes columns.
template <class K, Format F, typename Idx, int NV, bool kPartial>
__attribute__((always_inline)) inline void fold_rows(const Ctx<K, Idx>& c, int64_t p0, int64_t p1, int64_t col,
                                                     typename K::V (&acc)[NV], bool prefetch) {
  using V = typename K::V;
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
          __builtin_prefetch(reinterpret_cast<const void*>(q), 0, 3);
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
        scale = K::half_to_float(h[0]);
        bias = K::half_to_float(h[1]);
      }
      const V vs = K::set1(w * scale), vc = K::set1(w * bias);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const V x = K::template load<F>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1);
        acc[j] = K::fma(vs, x, K::add(acc[j], vc));
      }
    } else {
      const V vw = K::set1(w);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        const V x = K::template load<F>(base, col + K::kLanes * j, c.tail, kPartial && j == NV - 1);
        acc[j] = K::fma(vw, x, acc[j]);
      }
    }
  }
}

// One column block [col, col + kLanes*NV) of rows [q0, q1) of a bag whose rows are [p0, p1). Partial
// sums come from buf unless q0 == p0, and go back to buf unless q1 == p1, when the block is
// finished (mean) and stored to out. The plain walk calls it with [q0, q1) == [p0, p1): buf unused.
template <class K, Format F, typename Idx, int NV, bool kPartial>
void block(const Ctx<K, Idx>& c, int64_t p0, int64_t p1, int64_t q0, int64_t q1, int64_t col, float* buf,
           float* out, bool prefetch) {
  using V = typename K::V;
  V acc[NV];
  const bool first = q0 == p0, last = q1 == p1;
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) acc[j] = first ? K::zero() : K::load_buf(buf + col + K::kLanes * j);
  fold_rows<K, F, Idx, NV, kPartial>(c, q0, q1, col, acc, prefetch);
  if (!last) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) K::store_buf(buf + col + K::kLanes * j, acc[j]);
    return;
  }
  if (c.mean && p1 > p0) {
    const V inv = K::set1(1.0f / (float)(p1 - p0));
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[j] = K::mul(acc[j], inv);
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    if (kPartial && j == NV - 1)
      K::store_tail(out + col + K::kLanes * j, acc[j], c.tail);
    else
      K::store(out + col + K::kLanes * j, acc[j]);
  }
}

template <class K, typename Idx>
using BlockFn = void (*)(const Ctx<K, Idx>&, int64_t, int64_t, int64_t, int64_t, int64_t, float*, float*, bool);

template <class K, Format F, typename Idx>
struct Blocks {
  static constexpr BlockFn<K, Idx> full[9] = {
      nullptr,
      block<K, F, Idx, 1, false>, block<K, F, Idx, 2, false>, block<K, F, Idx, 3, false>,
      block<K, F, Idx, 4, false>, block<K, F, Idx, 5, false>, block<K, F, Idx, 6, false>,
      block<K, F, Idx, 7, false>, block<K, F, Idx, 8, false>};
  static constexpr BlockFn<K, Idx> partial[9] = {
      nullptr,
      block<K, F, Idx, 1, true>, block<K, F, Idx, 2, true>, block<K, F, Idx, 3, true>,
      block<K, F, Idx, 4, true>, block<K, F, Idx, 5, true>, block<K, F, Idx, 6, true>,
      block<K, F, Idx, 7, true>, block<K, F, Idx, 8, true>};
};

template <class K, Format F, typename Idx>
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
  c.tail = K::make_tail(D);
  const int64_t tail = D % K::kLanes;
  const int64_t full_blocks = D / kBlock;
  const int64_t rem = D - full_blocks * kBlock;
  const BlockFn<K, Idx> last = rem == 0 ? nullptr
                               : tail   ? Blocks<K, F, Idx>::partial[(rem + K::kLanes - 1) / K::kLanes]
                                        : Blocks<K, F, Idx>::full[rem / K::kLanes];
  // Partial sums of one bag between chunks (chunked walk only): D rounded up to whole vectors.
  const int64_t padded = (D + K::kLanes - 1) / K::kLanes * K::kLanes;
  alignas(64) float stack_buf[2048];
  std::unique_ptr<float[]> heap;
  float* buf = stack_buf;
  const bool chunked = D > kChunkMinDim;
  if (chunked && padded > 2048) {
    heap.reset(new float[(size_t)padded + 16]);
    buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(heap.get()) + 63) & ~(uintptr_t)63);
  }
  const int64_t chunk = chunked ? kChunk : INT64_MAX;
  BagCursor cur(b, bag_begin);
  for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
    float* out = r.out + bag * r.out_stride;
    const int64_t p0 = cur.begin(), p1 = cur.end();
    int64_t q0 = p0;
    do {  // runs once for an empty bag (writes zeros)
      const int64_t q1 = p1 - q0 > chunk ? q0 + chunk : p1;
      for (int64_t k = 0; k < full_blocks; k++)
        block<K, F, Idx, kBlockVecs, false>(c, p0, p1, q0, q1, kBlock * k, buf, out, k == 0);
      if (last) last(c, p0, p1, q0, q1, kBlock * full_blocks, buf, out, full_blocks == 0);
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
    case Format::q4: return run<K, Format::q4, Idx>(r, bag_begin, bag_end);
    case Format::q2: return run<K, Format::q2, Idx>(r, bag_begin, bag_end);
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

// Embedding-bag micro-benchmark: FBGEMM's EmbeddingSpMDM configurations (batch 10 bags, pooling 100
// on average, D = 32..512, int64 indices, sum pooling) on 8-bit and 4-bit rowwise tables, for the
// scalar reference and the best kernel this CPU runs, in three cache states:
//   warm   : the same call repeated (its rows stay in cache)
//   cold   : "cold rows": every cache line of the rows a call reads is flushed (clflush) before it
//   stream : one long call (20000 bags x 20 random lookups) over the whole table, which is what the
//            roofline gather tool measures (shared/tools/roofline/gather.cpp): compare with it.
// Reported: Mrows/s (lookups per second) and GB/s of table row bytes read.
// Usage: embedding_bench [rows=4000000] [reps=400]   (pin it: taskset -c 1 ...)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/embedding/embedding.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
static void flush_line(const void* p) { _mm_clflush(p); }
static void fence() { _mm_mfence(); }
#else
static void flush_line(const void* p) { asm volatile("dc civac, %0" ::"r"(p) : "memory"); }
static void fence() { asm volatile("dsb ish" ::: "memory"); }
#endif

using namespace lowbit;
using namespace lowbit::embedding;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Lookup {
  std::vector<int64_t> idx, off;
  int64_t bags;
};

Lookup make_lookup(std::mt19937_64& rng, int64_t rows, int64_t bags, int64_t min_len, int64_t max_len) {
  Lookup l;
  l.bags = bags;
  std::uniform_int_distribution<int64_t> len(min_len, max_len), id(0, rows - 1);
  for (int64_t b = 0; b < bags; b++) {
    l.off.push_back((int64_t)l.idx.size());
    const int64_t n = len(rng);
    for (int64_t i = 0; i < n; i++) l.idx.push_back(id(rng));
  }
  return l;
}

Request make_request(const uint8_t* table, int64_t rows, int64_t dim, Format f, const Lookup& l, float* out) {
  Request r;
  r.table.data = table;
  r.table.rows = rows;
  r.table.dim = dim;
  r.table.row_stride = row_bytes(f, dim);
  r.table.format = f;
  r.bags.indices = l.idx.data();
  r.bags.index_type = IntType::i64;
  r.bags.num_indices = (int64_t)l.idx.size();
  r.bags.offsets = l.off.data();
  r.bags.offset_type = IntType::i64;
  r.bags.form = BagForm::offsets;
  r.bags.num_bags = l.bags;
  r.out = out;
  r.out_stride = dim;
  return r;
}

void flush_rows(const Request& r) {
  const int64_t rb = r.table.row_stride;
  const int64_t* idx = static_cast<const int64_t*>(r.bags.indices);
  for (int64_t p = 0; p < r.bags.num_indices; p++) {
    const uint8_t* a = r.table.data + idx[p] * rb;
    for (int64_t o = 0; o < rb; o += 64) flush_line(a + o);
    flush_line(a + rb - 1);
  }
  fence();
}

// Median seconds per call.
double time_calls(EmbeddingBagFn fn, const Request& r, int reps, bool cold) {
  std::vector<double> t;
  fn(r, 0, r.bags.num_bags);
  for (int i = 0; i < reps; i++) {
    if (cold) flush_rows(r);
    const double t0 = now();
    fn(r, 0, r.bags.num_bags);
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void fill_table(uint8_t* t, int64_t rows, int64_t dim, Format f) {
  const int64_t rb = row_bytes(f, dim);
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t* w = reinterpret_cast<uint64_t*>(t);
  const size_t words = (size_t)(rows * rb) / 8;
  for (size_t i = 0; i < words; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    w[i] = s;
  }
  for (int64_t r = 0; r < rows; r++) {  // valid scale and bias
    uint8_t* row = t + r * rb;
    if (f == Format::q8) {
      const float sb[2] = {0.01f, -1.0f};
      std::memcpy(row + dim, sb, 8);
    } else {
      const uint16_t sb[2] = {fp16_from_float(0.01f), fp16_from_float(-1.0f)};
      std::memcpy(row + rb - 4, sb, 4);
    }
  }
}

// FBGEMM's figures from shared/ANCHORS.md (Mrows/s, AVX2 JIT, 1 thread).
double anchor(Format f, int64_t dim, bool cold) {
  const int64_t dims[5] = {32, 64, 128, 256, 512};
  const double q8w[5] = {189, 127, 67, 49, 26}, q8c[5] = {72.6, 55.9, 34.5, 21.3, 9.7};
  const double q4w[5] = {250, 137, 69, 34, 0}, q4c[5] = {89.8, 53.2, 37.9, 15.2, 0};
  for (int i = 0; i < 5; i++)
    if (dims[i] == dim) return f == Format::q8 ? (cold ? q8c[i] : q8w[i]) : (cold ? q4c[i] : q4w[i]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 400;
  const EmbeddingBagFn ref = embedding_kernels(Isa::scalar).embedding_bag;
  const EmbeddingKernels& best = embedding_kernels();
  std::printf("embedding bag: %lld rows, batch 10, pooling uniform 1..199 (avg 100), int64, sum; kernel %s; "
              "median of %d calls\n",
              (long long)rows, isa_name(best.isa), reps);
  std::printf("%-4s %4s %5s | %-6s | %9s %9s | %9s %7s | %6s %7s\n", "fmt", "D", "rowB", "state", "ref Mr/s",
              "simd Mr/s", "simd GB/s", "x ref", "FBGEMM", "x FBGEMM");
  std::mt19937_64 rng(42);
  for (Format f : {Format::q8, Format::q4}) {
    for (int64_t dim : {32, 64, 128, 256, 512}) {
      const int64_t rb = row_bytes(f, dim);
      std::vector<uint8_t> table((size_t)(rows * rb));
      fill_table(table.data(), rows, dim, f);
      const Lookup small = make_lookup(rng, rows, 10, 1, 199);
      const Lookup big = make_lookup(rng, rows, 20000, 20, 20);
      std::vector<float> out((size_t)(20000 * dim));
      const Request rs = make_request(table.data(), rows, dim, f, small, out.data());
      const Request rbig = make_request(table.data(), rows, dim, f, big, out.data());
      const double n = (double)small.idx.size();
      for (int cold = 0; cold < 2; cold++) {
        const double tr = time_calls(ref, rs, std::max(5, reps / 20), cold);
        const double ts = time_calls(best.embedding_bag, rs, reps, cold);
        const double a = anchor(f, dim, cold);
        std::printf("%-4s %4lld %5lld | %-6s | %9.1f %9.1f | %9.2f %7.1f | %6.1f %7.2f\n", f == Format::q8 ? "q8" : "q4",
                    (long long)dim, (long long)rb, cold ? "cold" : "warm", n / tr / 1e6, n / ts / 1e6,
                    n * rb / ts / 1e9, tr / ts, a, a > 0 ? n / ts / 1e6 / a : 0.0);
      }
      double tb = 1e30;
      for (int i = 0; i < 3; i++) {
        const double t0 = now();
        best.embedding_bag(rbig, 0, rbig.bags.num_bags);
        tb = std::min(tb, now() - t0);
      }
      const double nb = (double)big.idx.size();
      std::printf("%-4s %4lld %5lld | %-6s | %9s %9.1f | %9.2f %7s | %6s %7s\n", f == Format::q8 ? "q8" : "q4",
                  (long long)dim, (long long)rb, "stream", "-", nb / tb / 1e6, nb * rb / tb / 1e9, "-", "-", "-");
      std::fflush(stdout);
    }
  }
  return 0;
}

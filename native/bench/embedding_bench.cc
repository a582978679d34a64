// Embedding-bag micro-benchmark: FBGEMM's EmbeddingSpMDM configurations (batch 10 bags, pooling 100
// on average, D = 32..512, int64 indices, sum pooling) on 8-bit and 4-bit rowwise tables, for the
// scalar reference and the best kernel this CPU runs, in three cache states:
//   warm   : the same call repeated (its rows stay in cache)
//   cold   : "cold rows": every cache line of the rows a call reads is flushed (clflush) before it
//   stream : long calls (20000 bags x 20 random lookups) over the whole table, which is what the
//            roofline gather tool measures (shared/tools/roofline/gather.cpp): compare with it.
//            Each call takes the next of 10 disjoint slices of 200000 bags, so a call does not find
//            the previous call's rows in L3 (20000 x 20 rows of 72 B is already 29 MB); median of
//            21 calls (best in parentheses).
//   stream2: the same calls split between 2 threads (bags halved), for the 2-thread scaling.
// Reported: Mrows/s (lookups per second) and GB/s of table row bytes read.
// Tables are mmap'ed with madvise(MADV_NOHUGEPAGE) (4 KiB pages, like the gather tool's default) or,
// with huge=1, madvise(MADV_HUGEPAGE) (2 MiB pages where THP is 'madvise' or 'always').
// huge=2 fills the table in 4 KiB pages (as a caller's buffer) and then collapses its 2 MiB-aligned
// interior (MADV_HUGEPAGE + MADV_COLLAPSE), what lowbit does for tables given to EmbeddingTable.fromBuffer.
// Usage: embedding_bench [rows=4000000] [reps=400] [huge=0] [formats=q8,q4] [dims=32,64,128,256,512]
//                        [states=calls,stream]   (calls: warm + cold; stream: stream + stream2)
//        (pin it: taskset -c 1 ..., or -c 0,1 for stream2)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

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

// Table bytes, page-aligned, with a page-size hint; freed with munmap.
struct MappedTable {
  uint8_t* data = nullptr;
  size_t bytes = 0;
  MappedTable(size_t n, bool huge) : bytes(n ? n : 1) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::exit(1);
    }
    madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    data = static_cast<uint8_t*>(p);
  }
  // huge=2: the table was filled in 4 KiB pages (a caller's buffer); advise 2 MiB pages on its
  // aligned interior and collapse it now (MADV_COLLAPSE, Linux 6.1+), as lowbit does for tables the
  // caller hands it. Returns the seconds it took.
  double collapse() {
    const uintptr_t a = reinterpret_cast<uintptr_t>(data), e = a + bytes, h = (uintptr_t)2 << 20;
    const uintptr_t lo = (a + h - 1) & ~(h - 1), hi = e & ~(h - 1);
    if (hi <= lo) return 0;
    const double t0 = now();
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    if (madvise(reinterpret_cast<void*>(lo), hi - lo, 25 /* MADV_COLLAPSE */) != 0) std::perror("MADV_COLLAPSE");
    return now() - t0;
  }
  ~MappedTable() { munmap(data, bytes); }
};

// Median (and best) seconds of long calls over rotating slices; threads = 1 or 2 (bags halved).
void time_stream(EmbeddingBagFn fn, Request r, std::vector<float>& out, int threads, double* med,
                 double* best) {
  const int64_t slice_bags = 20000;
  std::vector<double> t;
  for (int i = 0; i < 22; i++) {
    const int64_t b0 = (i % 10) * slice_bags;
    r.out = out.data() - b0 * r.out_stride;  // the same output area for every slice
    const double t0 = now();
    if (threads == 2) {
      std::thread th([&] { fn(r, b0, b0 + slice_bags / 2); });
      fn(r, b0 + slice_bags / 2, b0 + slice_bags);
      th.join();
    } else {
      fn(r, b0, b0 + slice_bags);
    }
    if (i > 0) t.push_back(now() - t0);  // the first call warms up
  }
  std::sort(t.begin(), t.end());
  *med = t[t.size() / 2];
  *best = t[0];
}

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoll(p));
    while (*p && *p != ',') p++;
    if (*p) p++;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 400;
  const int huge = argc > 3 ? std::atoi(argv[3]) : 0;  // 0: 4 KiB, 1: 2 MiB at mapping, 2: collapsed after fill
  const std::string fmts = argc > 4 ? argv[4] : "q8,q4";
  const std::vector<int64_t> dims = parse_list(argc > 5 ? argv[5] : "32,64,128,256,512");
  const std::string states = argc > 6 ? argv[6] : "calls,stream";
  const bool do_calls = states.find("calls") != std::string::npos;
  const bool do_stream = states.find("stream") != std::string::npos;
  const EmbeddingBagFn ref = embedding_kernels(Isa::scalar).embedding_bag;
  const EmbeddingKernels& best = embedding_kernels();
  std::printf("embedding bag: %lld rows, batch 10, pooling uniform 1..199 (avg 100), int64, sum; kernel %s; "
              "median of %d calls; %s pages\n",
              (long long)rows, isa_name(best.isa), reps, huge == 1 ? "2 MiB (MADV_HUGEPAGE)" : huge == 2 ? "4 KiB, then collapsed to 2 MiB" : "4 KiB");
  std::printf("%-4s %4s %5s | %-6s | %9s %9s | %9s %7s | %6s %7s\n", "fmt", "D", "rowB", "state", "ref Mr/s",
              "simd Mr/s", "simd GB/s", "x ref", "FBGEMM", "x FBGEMM");
  std::mt19937_64 rng(42);
  for (Format f : {Format::q8, Format::q4}) {
    if (fmts.find(f == Format::q8 ? "q8" : "q4") == std::string::npos) continue;
    for (int64_t dim : dims) {
      const int64_t rb = row_bytes(f, dim);
      MappedTable mapped((size_t)(rows * rb), huge == 1);
      uint8_t* table = mapped.data;
      fill_table(table, rows, dim, f);
      if (huge == 2) std::printf("(MADV_COLLAPSE of %.0f MiB: %.1f ms)\n", rows * rb / 1048576.0, 1e3 * mapped.collapse());
      const Lookup small = make_lookup(rng, rows, 10, 1, 199);
      const Lookup big = make_lookup(rng, rows, 200000, 20, 20);
      std::vector<float> out((size_t)(20000 * dim));
      const Request rs = make_request(table, rows, dim, f, small, out.data());
      const Request rbig = make_request(table, rows, dim, f, big, out.data());
      const double n = (double)small.idx.size();
      for (int cold = 0; cold < 2 && do_calls; cold++) {
        const double tr = time_calls(ref, rs, std::max(5, reps / 20), cold);
        const double ts = time_calls(best.embedding_bag, rs, reps, cold);
        const double a = anchor(f, dim, cold);
        std::printf("%-4s %4lld %5lld | %-6s | %9.1f %9.1f | %9.2f %7.1f | %6.1f %7.2f\n", f == Format::q8 ? "q8" : "q4",
                    (long long)dim, (long long)rb, cold ? "cold" : "warm", n / tr / 1e6, n / ts / 1e6,
                    n * rb / ts / 1e9, tr / ts, a, a > 0 ? n / ts / 1e6 / a : 0.0);
      }
      const double nb = 20000.0 * 20;
      double t1 = 0, t1b = 0;
      for (int threads = 1; threads <= 2 && do_stream; threads++) {
        double tm, tb;
        time_stream(best.embedding_bag, rbig, out, threads, &tm, &tb);
        if (threads == 1) t1 = tm, t1b = tb;
        char xs[32] = "-";
        if (threads == 2) std::snprintf(xs, sizeof xs, "%.2fx1T", t1 / tm);
        std::printf("%-4s %4lld %5lld | %-7s| %9s %9.1f | %9.2f %7s | (best %.1f Mr/s %.2f GB/s)\n",
                    f == Format::q8 ? "q8" : "q4", (long long)dim, (long long)rb, threads == 1 ? "stream" : "stream2",
                    "-", nb / tm / 1e6, nb * rb / tm / 1e9, xs, nb / tb / 1e6, nb * rb / tb / 1e9);
      }
      (void)t1b;
      std::fflush(stdout);
    }
  }
  return 0;
}

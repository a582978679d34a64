// int8 GEMM micro-benchmark: GOPS (2*M*N*K / s) for ref, AVX2 exact (vpmaddwd) and AVX2 fast
// (vpmaddubsw, weights in [-64, 63] so that it is proven safe), on the shapes of shared/ANCHORS.md,
// with the FBGEMM / onnxruntime figures measured on this machine kind beside them.
//
//   cmake -S . -B build-gemm -DLOWBIT_BUILD_BENCH=ON && cmake --build build-gemm -j2
//   taskset -c 1 ./build-gemm/gemm_bench [--no-ref] [--reps N] [--isa avx2] [--peak G] [--wall]
//                                        [--best] [--min-s S]
//                                        [M N K ...]
// Output: uint8 requantized (FBGEMM's PackedRequantizeAcc32 benchmark does the same), one thread.
// Timing: the variants of a shape are timed in interleaved rounds (round r of every variant, then
// round r + 1, ...), each round >= 50 ms of calls (--min-s); the figure is the median round (--best:
// the fastest). To compare two kernels in one binary, add the other as a variant here.
// --peak G: the vpmaddwd peak measured in the same sitting (shared/tools/roofline/run peak),
// used for the ex%pk column (default 165, ANCHORS).
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"

using namespace lowbit;


namespace {

struct Shape {
  size_t M, N, K;
  double fbgemm;   // FBGEMM PackedRequantizeAcc32 GOPS (ANCHORS.md), 0 if none
  double ort_u8u8; // onnxruntime-node MatMulInteger u8u8 (exact), 0 if none
  double ort_u8s8; // onnxruntime-node MatMulInteger u8s8 (saturating), 0 if none
};

const Shape kShapes[] = {
    {156800, 4, 36, 13.1, 0, 0},   {156800, 8, 36, 28.9, 0, 0},   {156800, 16, 36, 43.4, 0, 0},
    {1, 128, 512, 4.2, 0, 0},      {1, 1024, 256, 8.7, 0, 0},     {1, 2048, 512, 21.1, 0, 0},
    {1, 4096, 1024, 28.6, 0, 0},   {6, 256, 1024, 79.9, 0, 0},    {6, 256, 2048, 99.9, 0, 0},
    {6, 512, 512, 86.1, 0, 0},     {6, 1024, 256, 55.3, 0, 0},    {6, 2048, 256, 64.7, 0, 0},
    {6, 2048, 512, 126.9, 0, 0},   {6, 4096, 256, 64.7, 0, 0},    {6, 4096, 1024, 153.5, 0, 0},
    {6, 4096, 2048, 155.2, 0, 0},  {10, 2048, 256, 89.2, 0, 0},   {10, 4096, 1024, 163.4, 0, 0},
    {20, 2048, 256, 113.3, 0, 0},  {20, 4096, 1024, 164.5, 0, 0}, {102, 1024, 512, 156.2, 0, 0},
    {102, 2323, 256, 131.6, 0, 0}, {102, 512, 256, 130.7, 0, 0},  {1, 800, 3200, 25.2, 0, 0},
    {1, 800, 8000, 27.9, 0, 0},    {16, 256, 1500, 119.5, 0, 0},  {16, 256, 1567, 130.6, 0, 0},
    // onnxruntime-node list (GOPS from JavaScript, session.run included)
    {1, 1024, 1024, 0, 49.1, 57.3},    {16, 1024, 1024, 0, 118, 167},   {64, 1024, 1024, 0, 135, 177},
    {256, 1024, 1024, 168.2, 137, 180}, {1024, 1024, 1024, 171.1, 130, 167},
    {128, 4096, 1024, 0, 134, 173},    {1, 4096, 4096, 0, 46.1, 56.1},  {64, 512, 2048, 0, 138, 181},
    {32, 256, 64, 0, 37.3, 40.6},      {1, 256, 512, 0, 12.9, 14.1},    {256, 256, 1152, 0, 137, 176},
};

// The benchmark machines are shared: by default the clock is this thread's CPU time, which leaves
// out the time slices other processes take on the same core (cache pollution still shows).
// --wall: the steady wall clock instead.
bool g_wall = false;
bool g_best = false;
double g_min_s = 0.05;  // --min-s: seconds per round  // --best: the fastest round instead of the median one
double now() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  if (!g_wall) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
  }
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of one round (calls until >= min_s has passed).
template <typename Fn>
double round_seconds(Fn& fn, double min_s) { return lowbit_bench::seconds_per_call(fn, min_s, now); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median seconds per call of each variant, rounds interleaved across the variants.
std::vector<double> interleaved(std::vector<std::function<void()>>& fns, int reps, double min_s) {
  std::vector<std::vector<double>> t(fns.size());
  for (auto& f : fns) f();  // warm up (scratch, caches)
  for (int r = 0; r < reps; r++)
    for (size_t i = 0; i < fns.size(); i++) t[i].push_back(round_seconds(fns[i], min_s));
  std::vector<double> m;
  for (auto& v : t) m.push_back(g_best ? *std::min_element(v.begin(), v.end()) : median(v));
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  bool with_ref = true;
  double peak = 165;
  int reps = 5;
  std::vector<Shape> shapes;
  Isa isa = active_isa();
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--no-ref")) {
      with_ref = false;
    } else if (!std::strcmp(argv[i], "--best")) {
      g_best = true;
    } else if (!std::strcmp(argv[i], "--min-s") && i + 1 < argc) {
      g_min_s = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--wall")) {
      g_wall = true;
    } else if (!std::strcmp(argv[i], "--peak") && i + 1 < argc) {
      peak = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      if (!isa_from_name(argv[++i], &isa) || !isa_supported(isa)) {
        std::fprintf(stderr, "isa %s not supported here\n", argv[i]);
        return 2;
      }
    } else if (i + 2 < argc) {
      shapes.push_back({(size_t)std::atoll(argv[i]), (size_t)std::atoll(argv[i + 1]),
                        (size_t)std::atoll(argv[i + 2]), 0, 0, 0});
      i += 2;
    }
  }
  if (shapes.empty()) shapes.assign(std::begin(kShapes), std::end(kShapes));
  const GemmKernels& k = gemm_kernels(isa);
  std::printf("kernel level: %s; GOPS = 2*M*N*K/s, %s of %d interleaved rounds; uint8 output; "
              "peaks: vpmaddwd %.0f (ex%%pk), maddubs idiom 197 (ANCHORS)\n",
              isa_name(k.isa), g_best ? "best" : "median", reps, peak);
  std::printf("%-16s %6s %7s %7s %6s %6s %6s %6s %6s %6s %7s\n", "M,N,K", "ref", "exact", "fast", "ex%pk",
              "FBGEMM", "ex/FB", "fa/FB", "ORTu8", "ex/ORT", "fa/ORTs");
  std::mt19937_64 rng(7);
  for (const Shape& s : shapes) {
    std::vector<uint8_t> a(s.M * s.K);
    for (auto& v : a) v = (uint8_t)(rng() & 255);
    std::vector<int8_t> bf(s.K * s.N), bs(s.K * s.N);
    for (size_t i = 0; i < bf.size(); i++) {
      bf[i] = (int8_t)(rng() & 255);
      bs[i] = (int8_t)((int)(rng() % 128) - 64);
    }
    const int32_t bzp = 0;
    const gemm::PackedB pf = gemm::pack_b(bf.data(), s.N, false, s.K, s.N, &bzp, false);
    const gemm::PackedB ps = gemm::pack_b(bs.data(), s.N, false, s.K, s.N, &bzp, false);
    std::vector<uint8_t> c(s.M * s.N);
    std::vector<int32_t> bias(s.N, 100);
    const float mult = 1.0f / 65536.0f;
    gemm::Output out;
    out.type = gemm::OutType::u8;
    out.c = c.data();
    out.ldc = s.N;
    out.scale = &mult;
    out.bias_s32 = bias.data();
    out.out_zp = 128;
    const gemm::Range r{0, s.M, 0, s.N};
    gemm::Options exact_opt;
    exact_opt.exact_only = true;
    const double ops = 2.0 * s.M * s.N * s.K;
    const double min_s = g_min_s;
    double g_ref = 0;
    if (with_ref && ops <= 4e8) {
      std::function<void()> f = [&] { gemm::gemm_u8s8__ref(a.data(), s.K, 3, pf, out, r, exact_opt); };
      f();
      g_ref = ops / round_seconds(f, 0.02) / 1e9;
    }
    std::vector<std::function<void()>> fns;
    fns.push_back([&] { k.gemm_u8s8(a.data(), s.K, 3, pf, out, r, exact_opt); });
    fns.push_back([&] { k.gemm_u8s8(a.data(), s.K, 3, ps, out, r, gemm::Options{}); });
    gemm::path_counters() = gemm::PathCounters{};
    const std::vector<double> t = interleaved(fns, reps, min_s);
    const bool fast_ran = gemm::path_counters().fast_blocks > 0;
    const double g_ex = ops / t[0] / 1e9, g_fa = ops / t[1] / 1e9;
    char name[40];
    std::snprintf(name, sizeof name, "%zu,%zu,%zu", s.M, s.N, s.K);
    auto fmt = [](char* buf, double v, const char* f) {
      if (v > 0)
        std::snprintf(buf, 16, f, v);
      else
        std::snprintf(buf, 16, "-");
      return buf;
    };
    char b1[16], b4[16], b5[16], b6[16], b7[16], b8[16], b9[16];
    std::printf("%-16s %6s %7.1f %6.1f%s %5.0f%% %6s %6s %6s %6s %6s %7s\n", name,
                fmt(b1, g_ref, "%.2f"), g_ex, g_fa, fast_ran ? " " : "*", 100 * g_ex / peak, fmt(b4, s.fbgemm, "%.1f"),
                fmt(b5, s.fbgemm > 0 ? g_ex / s.fbgemm : 0, "%.2f"),
                fmt(b6, s.fbgemm > 0 ? g_fa / s.fbgemm : 0, "%.2f"), fmt(b7, s.ort_u8u8, "%.0f"),
                fmt(b8, s.ort_u8u8 > 0 ? g_ex / s.ort_u8u8 : 0, "%.2f"),
                fmt(b9, s.ort_u8s8 > 0 ? g_fa / s.ort_u8s8 : 0, "%.2f"));
    std::fflush(stdout);
  }
  return 0;
}

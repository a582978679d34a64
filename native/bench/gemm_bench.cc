// int8 GEMM micro-benchmark: GOPS (2*M*N*K / s) for ref, AVX2 exact (vpmaddwd) and AVX2 fast
// (vpmaddubsw, weights in [-64, 63] so that it is proven safe), on the shapes of shared/ANCHORS.md,
// with the FBGEMM / onnxruntime figures measured on this machine kind beside them.
//
//   cmake -S . -B build-gemm -DLOWBIT_BUILD_BENCH=ON && cmake --build build-gemm -j2
//   taskset -c 1 ./build-gemm/gemm_bench [--no-ref] [--reps N] [--isa avx2] [M N K ...]
// Output: uint8 requantized (FBGEMM's PackedRequantizeAcc32 benchmark does the same), one thread.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

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

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best time of `reps` rounds, each round calling fn until >= min_s has passed.
template <typename Fn>
double best_seconds(Fn fn, int reps, double min_s) {
  double best = 1e30;
  fn();  // warm up (scratch, caches)
  for (int r = 0; r < reps; r++) {
    int iters = 0;
    const double t0 = now();
    double t;
    do {
      fn();
      iters++;
      t = now() - t0;
    } while (t < min_s);
    best = t / iters < best ? t / iters : best;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bool with_ref = true;
  int reps = 5;
  std::vector<Shape> shapes;
  Isa isa = active_isa();
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--no-ref")) {
      with_ref = false;
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
  std::printf("kernel level: %s; GOPS = 2*M*N*K/s, best of %d; uint8 output; peaks (ANCHORS): "
              "vpmaddwd 165, maddubs idiom 197\n",
              isa_name(k.isa), reps);
  std::printf("%-18s %7s %8s %8s %6s %6s %7s %7s %7s %7s\n", "M,N,K", "ref", "exact", "fast",
              "ex%pk", "fa%pk", "FBGEMM", "ex/FB", "fa/FB", "ex/ref");
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
    const double min_s = 0.05;
    double g_ref = 0;
    if (with_ref && ops <= 4e8)
      g_ref = ops / best_seconds([&] { gemm::gemm_u8s8__ref(a.data(), s.K, 3, pf, out, r, exact_opt); }, 1, 0.02) / 1e9;
    const double g_ex =
        ops / best_seconds([&] { k.gemm_u8s8(a.data(), s.K, 3, pf, out, r, exact_opt); }, reps, min_s) / 1e9;
    gemm::path_counters() = gemm::PathCounters{};
    const double g_fa =
        ops / best_seconds([&] { k.gemm_u8s8(a.data(), s.K, 3, ps, out, r, gemm::Options{}); }, reps, min_s) / 1e9;
    const bool fast_ran = gemm::path_counters().fast_blocks > 0;
    char name[40], fb[16] = "-", exfb[16] = "-", fafb[16] = "-", exref[16] = "-", refs[16] = "-";
    std::snprintf(name, sizeof name, "%zu,%zu,%zu", s.M, s.N, s.K);
    if (s.fbgemm > 0) {
      std::snprintf(fb, sizeof fb, "%.1f", s.fbgemm);
      std::snprintf(exfb, sizeof exfb, "%.2f", g_ex / s.fbgemm);
      std::snprintf(fafb, sizeof fafb, "%.2f", g_fa / s.fbgemm);
    }
    if (g_ref > 0) {
      std::snprintf(refs, sizeof refs, "%.2f", g_ref);
      std::snprintf(exref, sizeof exref, "%.0f", g_ex / g_ref);
    }
    std::printf("%-18s %7s %8.1f %7.1f%s %5.0f%% %5.0f%% %7s %7s %7s %7s", name, refs, g_ex, g_fa,
                fast_ran ? " " : "*", 100 * g_ex / 165, 100 * g_fa / 197, fb, exfb, fafb, exref);
    if (s.ort_u8u8 > 0)
      std::printf("  ort u8u8 %.0f (ex x%.2f) u8s8 %.0f (fa x%.2f)", s.ort_u8u8, g_ex / s.ort_u8u8,
                  s.ort_u8s8, g_fa / s.ort_u8s8);
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}

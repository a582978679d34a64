// int8 sparse FC micro-benchmark: the dense int8 GEMM (QuantizedLinear: gemm_u8s8 on the weights
// packed with gemm::pack_b) against sparse_fc_u8s8 on the same weights with 70/80/90/95% of the
// 1x4 blocks zero, M in {1, 16, 64}, N = K = 1024, uint8 output, one thread.
//
//   cmake -S . -B build-sfc -DLOWBIT_BUILD_BENCH=ON && cmake --build build-sfc -j2
//   taskset -c 1 ./build-sfc/sparse_fc_bench [--reps N] [--min-s S] [--wall] [--isa avx2] [--safe]
//
// GOPS are effective: dense operations 2*M*N*K per second, for both. Weights are full range
// [-128, 127] (both kernels on their always-exact vpmaddwd paths; on AVX-512 VNNI both run
// vpdpbusd, exact for any weights); --safe: [-64, 63], where the AVX2 kernels take their
// proven-safe vpmaddubsw paths (the GEMM for M > 1). Timing: interleaved rounds of
// >= min_s seconds each, median; clock = this thread's CPU time (--wall: steady clock).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <vector>

#include "bench/timing.h"
#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "kernels/sparse_fc/sparse_fc.h"

using namespace lowbit;

namespace {

bool g_wall = false;
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

double round_seconds(const std::function<void()>& fn, double min_s) { return lowbit_bench::seconds_per_call(fn, min_s, now); }

std::vector<double> interleaved(const std::vector<std::function<void()>>& fns, int reps, double min_s) {
  std::vector<std::vector<double>> t(fns.size());
  for (auto& f : fns) f();
  for (int r = 0; r < reps; r++)
    for (size_t i = 0; i < fns.size(); i++) t[i].push_back(round_seconds(fns[i], min_s));
  std::vector<double> m;
  for (auto& v : t) {
    std::sort(v.begin(), v.end());
    m.push_back(v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  double min_s = 0.05;
  bool safe = false;
  Isa isa = active_isa();
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-s") && i + 1 < argc) {
      min_s = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--wall")) {
      g_wall = true;
    } else if (!std::strcmp(argv[i], "--safe")) {
      safe = true;
    } else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      if (!isa_from_name(argv[++i], &isa) || !isa_supported(isa)) {
        std::fprintf(stderr, "isa %s not supported here\n", argv[i]);
        return 2;
      }
    }
  }
  const size_t N = 1024, K = 1024;
  const GemmKernels& gk = gemm_kernels(isa);
  const SparseFcKernels& sk = sparse_fc_kernels(isa);
  std::printf("levels: gemm %s, sparse_fc %s; N = K = %zu; weights %s; uint8 output; GOPS = 2*M*N*K/s "
              "(dense ops), median of %d interleaved rounds\n",
              isa_name(gk.isa), isa_name(sk.isa), N, safe ? "[-64,63]" : "[-128,127]", reps);
  std::printf("%4s %6s %9s %9s %9s %8s %8s %7s\n", "M", "sparse", "blk-sp", "dense", "sparse", "speedup", "path",
              "MiB");
  std::mt19937_64 rng(11);
  for (double sp : {0.70, 0.80, 0.90, 0.95}) {
    std::vector<int8_t> w(N * K);
    for (auto& v : w) v = safe ? (int8_t)((int)(rng() % 128) - 64) : (int8_t)(rng() & 255);
    const size_t G = K / 4;
    std::vector<size_t> idx(N * G);
    for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    for (size_t i = 0; i < (size_t)(sp * (double)idx.size() + 0.5); i++)
      std::memset(&w[idx[i] / G * K + idx[i] % G * 4], 0, 4);
    const sparse_fc::SparseFcInt8Weights sw = sparse_fc::pack_sparse_fc_int8(w.data(), N, K);
    const int32_t zero = 0;
    const gemm::PackedB pb = gemm::pack_b(w.data(), K, true, K, N, &zero, false);
    std::vector<float> mult(N);
    for (auto& m : mult) m = 1.0f / 4096.0f;
    for (size_t M : {1, 16, 64}) {
      std::vector<uint8_t> x(M * K);
      for (auto& v : x) v = (uint8_t)(rng() & 255);
      std::vector<uint8_t> cd(M * N), cs(M * N);
      gemm::Output od;
      od.type = gemm::OutType::u8;
      od.ldc = N;
      od.scale = mult.data();
      od.scale_per_channel = true;
      od.out_zp = 128;
      gemm::Output os = od;
      od.c = cd.data();
      os.c = cs.data();
      const sparse_fc::PathCounters before = sparse_fc::path_counters();
      std::vector<std::function<void()>> fns = {
          [&] { gk.gemm_u8s8(x.data(), K, 128, pb, od, gemm::Range{0, M, 0, N}, gemm::Options{}); },
          [&] { sk.sparse_fc_u8s8(sw, x.data(), K, M, 128, os, 0, N); }};
      const std::vector<double> t = interleaved(fns, reps, min_s);
      const sparse_fc::PathCounters after = sparse_fc::path_counters();
      const char* path = after.vnni_tiles > before.vnni_tiles ? "dpbusd"
                         : after.fast_tiles > before.fast_tiles ? "maddubs"
                                                                 : "maddwd";
      if (cd != cs) {
        std::fprintf(stderr, "MISMATCH sparse vs dense at M=%zu sp=%.2f\n", M, sp);
        return 1;
      }
      const double ops = 2.0 * (double)M * N * K;
      std::printf("%4zu %5.0f%% %8.1f%% %9.1f %9.1f %7.2fx %8s %7.2f\n", M, sp * 100, sw.block_sparsity() * 100,
                  ops / t[0] * 1e-9, ops / t[1] * 1e-9, t[0] / t[1], path,
                  sw.memory_bytes() / 1048576.0);
    }
  }
  return 0;
}

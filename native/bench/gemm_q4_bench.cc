// 4-bit GEMM micro-benchmark: GOPS (2*M*N*K / s) of the 4-bit kernel (q4.h, group 128, 1%
// outliers and none) beside the int8 GEMM (fp32 output) on the same shape, one thread, the variants
// timed in interleaved rounds (the median round), so the 4-bit / int8 ratio is measured side by side.
//
//   cmake -S . -B build-gemm -DLOWBIT_BUILD_BENCH=ON && cmake --build build-gemm --target gemm_q4_bench
//   taskset -c 1 ./build-gemm/gemm_q4_bench [--isa avx2] [--rounds N] [M N K ...]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "cpu/dispatch.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/q4.h"

using namespace lowbit;


int main(int argc, char** argv) {
  Isa isa = active_isa();
  int rounds = 5;
  std::vector<size_t> dims;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      if (!isa_from_name(argv[++i], &isa) || !isa_supported(isa)) {
        std::fprintf(stderr, "isa %s not supported here\n", argv[i]);
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      dims.push_back((size_t)std::strtoull(argv[i], nullptr, 10));
    }
  }
  if (dims.empty()) dims = {64, 4096, 4096, 64, 11008, 4096, 1, 4096, 4096, 1, 11008, 4096};
  const GemmKernels& gk = gemm_kernels(isa);
  const gemm::Q4GemmFn q4 = gemm::q4_kernel((int)isa);
  std::printf("kernel level: %s; GOPS, median of %d interleaved rounds, fp32 output, 1 thread\n", isa_name(gk.isa),
              rounds);
  std::printf("%-16s %8s %8s %8s %8s %8s\n", "M,N,K", "int8", "q4 1%", "q4 0%", "1%/int8", "0%/int8");
  std::mt19937 rng(1);
  for (size_t s = 0; s + 2 < dims.size(); s += 3) {
    const size_t M = dims[s], N = dims[s + 1], K = dims[s + 2];
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> wf(N * K);
    for (float& v : wf) v = nd(rng);
    std::vector<int8_t> w8(N * K);
    for (size_t i = 0; i < w8.size(); i++) w8[i] = (int8_t)std::max(-127.0f, std::min(127.0f, std::nearbyint(wf[i] * 40)));
    std::vector<uint8_t> a(M * K);
    for (auto& v : a) v = (uint8_t)(rng() & 255);
    const int32_t zp0 = 0;
    const gemm::PackedB pb = gemm::pack_b(w8.data(), K, true, K, N, &zp0, false);
    gemm::Q4Options o1;
    o1.group = 128;
    o1.outlier_fraction = 0.01;
    gemm::Q4Options o0 = o1;
    o0.outlier_fraction = 0;
    const gemm::Q4Weights q1 = gemm::quantize_q4(wf.data(), K, N, o1), q0 = gemm::quantize_q4(wf.data(), K, N, o0);
    std::vector<float> y(M * N);
    const float one = 0.01f;
    gemm::Output out;
    out.type = gemm::OutType::f32;
    out.c = y.data();
    out.ldc = N;
    out.scale = &one;
    const gemm::Range r{0, M, 0, N};
    gemm::Q4Call c;
    c.a = a.data();
    c.lda = K;
    c.a_zp = 128;
    c.a_scale = 0.01f;
    c.y = y.data();
    c.ldy = N;
    const std::function<void()> fns[3] = {
        [&] { gk.gemm_u8s8(a.data(), K, 128, pb, out, r, gemm::Options{}); },
        [&] { q4(q1, c, r); },
        [&] { q4(q0, c, r); },
    };
    std::vector<double> t[3];
    for (int i = 0; i < rounds; i++)
      for (int v = 0; v < 3; v++) t[v].push_back(lowbit_bench::seconds_per_call(fns[v], 0.05, lowbit_bench::wall_seconds));
    double g[3];
    for (int v = 0; v < 3; v++) {
      std::sort(t[v].begin(), t[v].end());
      g[v] = 2.0 * M * N * K / t[v][t[v].size() / 2] / 1e9;
    }
    char shape[64];
    std::snprintf(shape, sizeof shape, "%zu,%zu,%zu", M, N, K);
    std::printf("%-16s %8.1f %8.1f %8.1f %8.2f %8.2f\n", shape, g[0], g[1], g[2], g[1] / g[0], g[2] / g[0]);
  }
  return 0;
}

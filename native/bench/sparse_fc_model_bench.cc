// Checks the sparse-vs-dense performance model (ops/sparse_fc_model.h): for each shape,
// block sparsity, batch M and weight range it measures the dense GEMM and the sparse kernel
// (interleaved, median), prints both predictions, the kernel auto would pick and its loss against
// the faster kernel (auto's time / best time - 1). The model's promise: loss <= 5%.
//
//   cmake -S . -B build-bench -DLOWBIT_BUILD_BENCH=ON && cmake --build build-bench -j2
//   taskset -c 1 ./build-bench/sparse_fc_model_bench [--reps N] [--min-s S] [--safe] [--narrow]
//
// --safe: weights in [-64, 63] (both kernels on vpmaddubsw); --narrow: 7-bit activations (the
// dense kernel's fast path, as QuantizedLinear.forward with reduceRange). Thread CPU time.
#include <algorithm>
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
#include "ops/sparse_fc_model.h"
#include "kernels/sparse_fc/sparse_fc.h"

using namespace lowbit;

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
    m.push_back(v[v.size() / 2]);
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  double min_s = 0.01;
  bool safe = false, narrow = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--min-s") && i + 1 < argc) min_s = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--safe")) safe = true;
    else if (!std::strcmp(argv[i], "--narrow")) narrow = true;
  }
  const Isa isa = active_isa();
  const double t0 = now();
  const sparse_fc::PerfModel& model = sparse_fc::model_for(isa);
  std::printf("isa %s, calibration %.1f ms: %s\n", isa_name(isa), (now() - t0) * 1e3, model.describe().c_str());
  const GemmKernels& gk = gemm_kernels(isa);
  const SparseFcKernels& sk = sparse_fc_kernels(isa);
  std::printf("%5s %5s %4s %6s %10s %10s %10s %10s %6s %6s %6s\n", "N", "K", "M", "blk-sp", "dense us", "pred", "sparse us",
              "pred", "best", "auto", "loss");
  std::mt19937_64 rng(11);
  const size_t shapes[][2] = {{1024, 1024}, {256, 512}, {512, 1024}, {1000, 1022}};
  double worst = 0;
  for (const auto& sh : shapes) {
    const size_t N = sh[0], K = sh[1], G = (K + 3) / 4;
    for (double sp : {0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}) {
      std::vector<int8_t> w(N * K);
      for (auto& v : w) v = safe ? (int8_t)((int)(rng() % 128) - 64) : (int8_t)(rng() & 255);
      std::vector<size_t> idx(N * G);
      for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
      std::shuffle(idx.begin(), idx.end(), rng);
      for (size_t i = 0; i < (size_t)(sp * (double)idx.size() + 0.5); i++) {
        const size_t n = idx[i] / G, k0 = idx[i] % G * 4;
        std::memset(&w[n * K + k0], 0, std::min<size_t>(4, K - k0));
      }
      const sparse_fc::SparseFcInt8Weights sw = sparse_fc::pack_sparse_fc_int8(w.data(), N, K);
      const int32_t zero = 0;
      const gemm::PackedB pb = gemm::pack_b(w.data(), K, true, K, N, &zero, false);
      std::vector<float> mult(N, 1.0f / 4096.0f);
      for (size_t M : {1, 3, 8, 9, 16, 64}) {
        std::vector<uint8_t> x(M * K);
        for (auto& v : x) v = (uint8_t)(narrow ? rng() & 127 : rng() & 255);
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
        const std::vector<double> t = interleaved(
            {[&] { gk.gemm_u8s8(x.data(), K, 64, pb, od, gemm::Range{0, M, 0, N}, gemm::Options{}); },
             [&] { sk.sparse_fc_u8s8(sw, x.data(), K, M, 64, os, 0, N); }},
            reps, min_s);
        const sparse_fc::Prediction p = model.predict(sparse_fc::shape_of(sw), M, narrow || (pb.maddubs_safe && M > 1));
        const double best = std::min(t[0], t[1]), pick = p.use_sparse ? t[1] : t[0];
        worst = std::max(worst, pick / best - 1);
        std::printf("%5zu %5zu %4zu %5.1f%% %10.1f %10.1f %10.1f %10.1f %6s %6s %5.1f%%\n", N, K, M, sw.block_sparsity() * 100,
                    t[0] * 1e6, p.dense_s * 1e6, t[1] * 1e6, p.sparse_s * 1e6, t[1] < t[0] ? "sparse" : "dense",
                    p.use_sparse ? "sparse" : "dense", (pick / best - 1) * 100);
      }
    }
  }
  std::printf("worst auto loss: %.1f%%\n", worst * 100);
  return 0;
}

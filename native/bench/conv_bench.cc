// fp32 convolution micro-benchmark, batch 1, one thread: lowbit dense (packed GEMM) vs direct
// sparse convolution on the layers of shared/ANCHORS.md at 50/70/80/90/95% random sparsity.
// Effective GFLOPS = dense FLOPs (2 * cout * cin/g * kh * kw * oh * ow) / time, as SkimCaffe reports;
// pad_input is inside every timed call (both paths read the padded input). Variants are
// interleaved round by round and each keeps its best round (the machine is shared and noisy: the
// best round is the one least disturbed); the fp32 FMA peak is measured the same way, in the same
// sitting, so that GFLOPS can be read as a fraction of it.
//
//   cmake -S . -B build-conv -DLOWBIT_BUILD_BENCH=ON && cmake --build build-conv -j2
//   taskset -c 1 ./build-conv/conv_bench [--reps N] [--isa avx2] [--filter NAME] [--model]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "ops/conv_model.h"

using namespace lowbit;
using namespace lowbit::conv;

namespace {

struct Layer {
  const char* name;
  int cin, cout, k, s, p, g, hw;
  double ort;  // onnxruntime-node fp32 Conv GFLOPS (ANCHORS.md, groups 1), 0 if none
  bool sparse; // part of the sparse table (the ANCHORS list); else dense-only (ORT comparison)
};

const Layer kLayers[] = {
    {"alexnet.conv2 g2", 96, 256, 5, 1, 2, 2, 27, 0, true},
    {"alexnet.conv3", 256, 384, 3, 1, 1, 1, 13, 81, true},
    {"alexnet.conv4 g2", 384, 384, 3, 1, 1, 2, 13, 0, true},
    {"alexnet.conv5 g2", 384, 256, 3, 1, 1, 2, 13, 0, true},
    {"resnet 3x3 64@56", 64, 64, 3, 1, 1, 1, 56, 0, true},
    {"resnet 3x3 128@28", 128, 128, 3, 1, 1, 1, 28, 0, true},
    {"resnet 3x3 256@14", 256, 256, 3, 1, 1, 1, 14, 0, true},
    {"resnet 3x3 512@7", 512, 512, 3, 1, 1, 1, 7, 0, true},
    {"resnet 3x3 128 s2 28", 128, 128, 3, 2, 1, 1, 28, 0, true},
    {"resnet 1x1 256>64@56", 256, 64, 1, 1, 0, 1, 56, 0, true},
    {"resnet 1x1 512>128@28", 512, 128, 1, 1, 0, 1, 28, 0, true},
    {"resnet 1x1 1024>256@14", 1024, 256, 1, 1, 0, 1, 14, 0, true},
    {"resnet 1x1 2048>512@7", 2048, 512, 1, 1, 0, 1, 7, 0, true},
    // dense only, the onnxruntime-node layers (groups 1)
    {"alexnet.conv2 g1", 96, 256, 5, 1, 2, 1, 27, 91, false},
    {"alexnet.conv4 g1", 384, 384, 3, 1, 1, 1, 13, 77, false},
    {"alexnet.conv5 g1", 384, 256, 3, 1, 1, 1, 13, 76, false},
    {"1x1 256>256@14", 256, 256, 1, 1, 0, 1, 14, 62, false},
};

const double kSparsities[] = {0.5, 0.7, 0.8, 0.9, 0.95};
constexpr int kNs = sizeof(kSparsities) / sizeof(kSparsities[0]);

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call: calls fn until >= min_s passed, returns the mean.
template <typename Fn>
double time_call(Fn fn, double min_s) { return lowbit_bench::seconds_per_call(fn, min_s, now); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// 12 independent FMA chains in registers: the core's fp32 FMA peak (GFLOPS), best of `reps`.
__attribute__((target("avx2,fma"))) double fma_peak_once() {
  __m256 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  const long iters = 2000000;
  const double t0 = now();
  for (long it = 0; it < iters; it++) {
    for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __asm__ volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]), "+x"(a[4]), "+x"(a[5]), "+x"(a[6]),
                     "+x"(a[7]), "+x"(a[8]), "+x"(a[9]), "+x"(a[10]), "+x"(a[11]));
  }
  const double t = now() - t0;
  return iters * 12.0 * 16 / t * 1e-9;
}
#else
double fma_peak_once() { return 0; }
#endif

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<float> random_sparse(std::mt19937_64& r, size_t n, double sparsity) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(n);
  for (auto& v : w) v = u(r) + (u(r) >= 0 ? 1e-3f : -1e-3f);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; i++) idx[i] = i;
  std::shuffle(idx.begin(), idx.end(), r);
  const size_t z = (size_t)std::llround(sparsity * (double)n);
  for (size_t i = 0; i < z; i++) w[idx[i]] = 0.0f;
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 21;
  std::string filter;
  bool with_model = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--model")) with_model = true;
    else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      Isa isa;
      if (!isa_from_name(argv[++i], &isa) || !set_active_isa(isa)) {
        std::fprintf(stderr, "cannot use ISA %s\n", argv[i]);
        return 1;
      }
    }
  }
  const ConvKernels& kern = conv_kernels();
  std::printf("isa %s, batch 1, 1 thread, best of %d interleaved rounds\n", isa_name(kern.isa), reps);
  double peak = 0;
  for (int i = 0; i < 15; i++) peak = std::max(peak, fma_peak_once());
  std::printf("fp32 FMA peak (same sitting, best of 15): %.1f GFLOPS\n", peak);
  PerfModel model;
  if (with_model) {
    model = calibrate(kern);
    std::printf("calibration: %s\n", model.describe().c_str());
  }
  std::printf("%-24s %7s %6s |", "layer", "MFLOP", "dense");
  for (double sp : kSparsities) std::printf("   %2.0f%%: GF  x  ", sp * 100);
  std::printf("| ORT  lowbit/ORT\n");

  std::mt19937_64 rng(12345);
  std::vector<std::vector<double>> speedups(kNs);
  int wrong_choices = 0, choices = 0;
  double worst_auto_loss = 0;
  for (const Layer& ly : kLayers) {
    if (!filter.empty() && std::string(ly.name).find(filter) == std::string::npos) continue;
    ConvGeometry g;
    g.cin = ly.cin, g.cout = ly.cout, g.kh = g.kw = ly.k, g.stride_h = g.stride_w = ly.s;
    g.pad_h = g.pad_w = ly.p, g.groups = ly.g;
    ConvLayout L;
    const std::string err = make_layout(g, 1, ly.hw, ly.hw, &L);
    if (!err.empty()) {
      std::printf("%s: %s\n", ly.name, err.c_str());
      return 1;
    }
    const double flops = 2.0 * g.cout * g.taps() * L.out_pixels();
    std::vector<float> in(L.in_floats()), bias(g.cout), out(L.out_floats());
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : in) v = u(rng);
    for (auto& v : bias) v = u(rng);
    std::vector<float> padded(L.padded_floats);
    const std::vector<float> wd = random_sparse(rng, (size_t)g.cout * g.taps(), 0.0);
    const DenseConvWeights dw = DenseConvWeights::pack(g, wd.data());
    const int ns = ly.sparse ? kNs : 0;
    std::vector<SparseConvWeights> sws(ns);
    std::vector<std::shared_ptr<const SparseBinding>> bds(ns);
    for (int i = 0; i < ns; i++) {
      const std::vector<float> w = random_sparse(rng, (size_t)g.cout * g.taps(), kSparsities[i]);
      sws[i] = SparseConvWeights::from_dense(g, w.data());
      bds[i] = sws[i].bind(1, ly.hw, ly.hw);
    }
    auto run_dense = [&] {
      const float* src = in.data();
      if (!L.direct) pad_input(L, in.data(), padded.data()), src = padded.data();
      kern.dense_conv_f32(dw, L, src, bias.data(), true, out.data(), 0, g.cout);
    };
    auto run_sparse = [&](int i) {
      const float* src = in.data();
      if (!L.direct) pad_input(L, in.data(), padded.data()), src = padded.data();
      kern.sparse_conv_f32(*bds[i], src, bias.data(), true, out.data(), 0, g.cout);
    };
    const double min_s = 0.004;
    std::vector<double> td;
    std::vector<std::vector<double>> ts(ns);
    run_dense();
    for (int i = 0; i < ns; i++) run_sparse(i);
    for (int r = 0; r < reps; r++) {
      td.push_back(time_call(run_dense, min_s));
      for (int i = 0; i < ns; i++) ts[i].push_back(time_call([&] { run_sparse(i); }, min_s));
    }
    const double tdm = *std::min_element(td.begin(), td.end());
    std::printf("%-24s %7.1f %6.1f |", ly.name, flops * 1e-6, flops / tdm * 1e-9);
    for (int i = 0; i < kNs; i++) {
      if (i >= ns) {
        std::printf("  %14s ", "");
        continue;
      }
      const double t = *std::min_element(ts[i].begin(), ts[i].end());
      speedups[i].push_back(tdm / t);
      std::printf("  %6.1f %5.2fx ", flops / t * 1e-9, tdm / t);
    }
    if (ly.ort > 0) std::printf("| %4.0f  %.2fx", ly.ort, flops / tdm * 1e-9 / ly.ort);
    std::printf("\n");
    if (with_model) {
      for (int i = 0; i < ns; i++) {
        const Prediction pr = model.predict(sws[i], bds[i]->layout);
        const double t_s = *std::min_element(ts[i].begin(), ts[i].end());
        const bool sparse_better = t_s < tdm;
        choices++;
        const double chosen = pr.use_sparse ? t_s : tdm, best = std::min(t_s, tdm);
        worst_auto_loss = std::max(worst_auto_loss, chosen / best - 1);
        if (pr.use_sparse != sparse_better) {
          wrong_choices++;
          std::printf("    model at %.0f%%: measured dense %.3f ms sparse %.3f ms; %s (loss %.1f%%)\n",
                      kSparsities[i] * 100, tdm * 1e3, t_s * 1e3, pr.explain.c_str(), (chosen / best - 1) * 100);
        }
      }
    }
  }
  std::printf("%-24s %7s %6s |", "median over layers", "", "");
  for (int i = 0; i < kNs; i++)
    std::printf("  %6s %5.2fx ", "", speedups[i].empty() ? 0.0 : median(speedups[i]));
  std::printf("\n");
  if (with_model)
    std::printf("model: %d of %d choices differ from the faster measured kernel; worst loss %.1f%%\n",
                wrong_choices, choices, worst_auto_loss * 100);
  return 0;
}

// int8 dense convolution micro-benchmark (kernels/conv/int8.h), batch 1, one thread: the whole
// convolution against its parts (im2col of every pixel, the GEMM alone on the unfolded input at the
// same M x N x K, the NHWC -> NCHW transpose), 8-bit (exact kernel) and 7-bit activations (fast
// kernel, still exact), uint8 output. Variants are interleaved round by round, best round kept
// (the machine is shared and noisy). GOPS = 2 * MACs / time.
//
//   cmake -S . -B build-bench -DLOWBIT_BUILD_BENCH=ON && cmake --build build-bench -j2
//   taskset -c 1 ./build-bench/qconv_bench [--reps N] [--filter NAME] [--isa avx2]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"

using namespace lowbit;
using namespace lowbit::conv;

namespace {

struct Layer {
  const char* name;
  int cin, cout, k, s, p, g, hw;
};

const Layer kLayers[] = {
    {"alexnet conv2", 96, 256, 5, 1, 2, 2, 27},   {"alexnet conv3", 256, 384, 3, 1, 1, 1, 13},
    {"alexnet conv4", 384, 384, 3, 1, 1, 2, 13},  {"alexnet conv5", 384, 256, 3, 1, 1, 2, 13},
    {"resnet 3x3 64@56", 64, 64, 3, 1, 1, 1, 56}, {"resnet 3x3 128@28", 128, 128, 3, 1, 1, 1, 28},
    {"resnet 3x3 256@14", 256, 256, 3, 1, 1, 1, 14}, {"resnet 3x3 512@7", 512, 512, 3, 1, 1, 1, 7},
    {"resnet 3x3 128 s2", 128, 128, 3, 2, 1, 1, 28}, {"resnet 1x1 256>64@56", 256, 64, 1, 1, 0, 1, 56},
    {"resnet 1x1 512>128@28", 512, 128, 1, 1, 0, 1, 28}, {"resnet 1x1 1024>256@14", 1024, 256, 1, 1, 0, 1, 14},
    {"resnet 1x1 2048>512@7", 2048, 512, 1, 1, 0, 1, 7},
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// seconds per call of fn: calls repeated for >= 20 ms
double time_once(const std::function<void()>& fn) {
  fn();
  int n = 1;
  for (;;) {
    const double t0 = now();
    for (int i = 0; i < n; i++) fn();
    const double t = now() - t0;
    if (t > 0.02) return t / n;
    n *= 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  bool parts = false;
  std::string filter;
  Isa isa = active_isa();
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--parts")) parts = true;
    else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      const std::string s = argv[++i];
      for (Isa c : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::neon})
        if (s == isa_name(c)) isa = c;
    }
  }
  const GemmKernels& kern = gemm_kernels(isa);
  const QConvDirectFn direct = qconv_kernels(isa).qconv_u8s8_direct;
  std::printf("isa %s, batch 1, 1 thread, uint8 out, best of %d interleaved rounds; GOPS\n", isa_name(kern.isa), reps);
  std::printf("gemm: im2col + GEMM + transpose; direct: qconv_u8s8_direct (%s)\n", direct ? "present" : "none on this ISA");
  std::printf("%-24s %8s %8s %8s %8s", "layer", "gemm8", "direct8", "gemm7", "direct7");
  if (parts) std::printf(" | %8s %8s %8s %8s | %8s %8s", "im2col", "GEMM8", "GEMM7", "transp", "im2col%", "transp%");
  std::printf("\n");
  std::mt19937 rng(1);
  for (const Layer& L : kLayers) {
    if (!filter.empty() && std::string(L.name).find(filter) == std::string::npos) continue;
    ConvGeometry g;
    g.cin = L.cin, g.cout = L.cout, g.kh = g.kw = L.k, g.stride_h = g.stride_w = L.s, g.pad_h = g.pad_w = L.p;
    g.groups = L.g;
    ConvLayout lay;
    if (!make_layout(g, 1, L.hw, L.hw, &lay).empty()) return 1;
    const size_t K = (size_t)g.taps(), N = (size_t)g.cout_g(), P = lay.out_pixels();
    std::vector<int8_t> w((size_t)g.cout * K);
    for (auto& v : w) v = (int8_t)((int)(rng() % 255) - 127);
    const int32_t wz = 0;
    const QConvWeights qw = QConvWeights::pack(g, w.data(), &wz, false, direct != nullptr);
    std::vector<uint8_t> x8((size_t)g.cin * L.hw * L.hw), x7(x8.size());
    for (size_t i = 0; i < x8.size(); i++) x8[i] = (uint8_t)(i & 255), x7[i] = (uint8_t)(64 + rng() % 128);
    std::vector<uint8_t> y(lay.out_floats());
    const float mult = 0.001f;
    std::vector<int32_t> bias(g.cout, 0);
    QConvOutput out;
    out.type = gemm::OutType::u8;
    out.y = y.data();
    out.bias_s32 = bias.data();
    out.scale = &mult;
    out.out_zp = 128, out.qmin = 0, out.qmax = 255;
    const QConvPlan plan = plan_qconv(lay, 1), dplan = plan_qconv(lay, 1, true);
    const double ops = 2.0 * g.cout * K * P;
    auto conv = [&](const std::vector<uint8_t>& x) {
      for (size_t t = 0; t < plan.tasks; t++) qconv_u8s8_task(kern.gemm_u8s8, qw, lay, plan, x.data(), 128, out, gemm::Options{}, t);
    };
    auto dconv = [&](const std::vector<uint8_t>& x) {
      for (size_t t = 0; t < dplan.tasks; t++) direct(qw, lay, dplan, x.data(), 128, out, gemm::Options{}, t);
    };
    // parts of the im2col path, per group over all pixels at once
    std::vector<uint8_t> col(parts ? P * K : 0), tmp(parts ? P * N : 0);
    gemm::Output o;
    o.type = gemm::OutType::u8;
    o.c = tmp.data();
    o.ldc = N;
    o.scale = &mult;
    o.out_zp = 128, o.qmin = 0, o.qmax = 255;
    const size_t plane_in = (size_t)L.hw * L.hw;
    auto im2col = [&](const std::vector<uint8_t>& x) {
      for (int gr = 0; gr < g.groups; gr++) im2col_u8(lay, x.data() + gr * g.cin_g() * plane_in, 128, 0, P, col.data());
    };
    auto gemm_only = [&]() {
      for (int gr = 0; gr < g.groups; gr++)
        kern.gemm_u8s8(col.data(), K, 128, qw.groups[gr], o, gemm::Range{0, P, 0, N}, gemm::Options{});
    };
    auto transp = [&]() {
      for (int gr = 0; gr < g.groups; gr++)
        for (size_t c = 0; c < N; c++) {
          uint8_t* d = y.data() + (gr * N + c) * P;
          for (size_t i = 0; i < P; i++) d[i] = tmp[i * N + c];
        }
    };
    double b8 = 1e9, b7 = 1e9, d8 = 1e9, d7 = 1e9, bi = 1e9, bg8 = 1e9, bg7 = 1e9, bt = 1e9;
    for (int r = 0; r < reps; r++) {
      b8 = std::min(b8, time_once([&] { conv(x8); }));
      if (direct) d8 = std::min(d8, time_once([&] { dconv(x8); }));
      b7 = std::min(b7, time_once([&] { conv(x7); }));
      if (direct) d7 = std::min(d7, time_once([&] { dconv(x7); }));
      if (parts) {
        bi = std::min(bi, time_once([&] { im2col(x8); }));
        bg8 = std::min(bg8, time_once(gemm_only));
        im2col(x7);
        bg7 = std::min(bg7, time_once(gemm_only));
        bt = std::min(bt, time_once(transp));
      }
    }
    std::printf("%-24s %8.1f %8.1f %8.1f %8.1f", L.name, ops / b8 / 1e9, ops / d8 / 1e9, ops / b7 / 1e9, ops / d7 / 1e9);
    if (parts)
      std::printf(" | %8.2f %8.1f %8.1f %8.2f | %7.0f%% %7.0f%%", bi * 1e3, ops / bg8 / 1e9, ops / bg7 / 1e9, bt * 1e3,
                  100 * bi / b8, 100 * bt / b8);
    std::printf("\n");
  }
  if (parts) std::printf("im2col and transp: ms per call (whole image), %% of the im2col path's 8-bit convolution\n");
  return 0;
}

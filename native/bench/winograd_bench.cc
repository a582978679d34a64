// Winograd fp32 convolution micro-benchmark, batch 1 (or --n), one thread: F(2,3) and F(4,3)
// against lowbit's direct dense kernel on the 3x3 stride-1 layers, the Winograd call split into
// its parts (NHWC packing; the kernel: transforms + GEMMs). Interleaved rounds, best kept.
// Effective GFLOPS = direct FLOPs / time.
//
//   cmake -S . -B build-bench -DLOWBIT_BUILD_BENCH=ON && cmake --build build-bench -j2
//   flock /tmp/lowbit-bench.lock taskset -c 1 ./build-bench/winograd_bench [--n N] [--reps R]
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/winograd.h"

using namespace lowbit;
using namespace lowbit::conv;

namespace {

struct Layer {
  const char* name;
  int cin, cout, g, hw;
};

const Layer kLayers[] = {
    {"alexnet conv3", 256, 384, 1, 13},    {"alexnet conv4", 384, 384, 2, 13},    {"alexnet conv5", 384, 256, 2, 13},
    {"resnet 3x3 64@56", 64, 64, 1, 56},   {"resnet 3x3 128@28", 128, 128, 1, 28}, {"resnet 3x3 256@14", 256, 256, 1, 14},
    {"resnet 3x3 512@7", 512, 512, 1, 7},
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  int n = 1, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  const Isa isa = active_isa();
  const ConvKernels& k = conv_kernels(isa);
  const WinogradFn wk = winograd_kernel(isa);
  std::printf("isa %s, batch %d, GFLOPS (direct FLOPs / time)\n", isa_name(isa), n);
  std::printf("%-20s %8s %8s %8s %8s %8s %8s\n", "layer", "direct", "F(2,3)", "F(4,3)", "F2 pack%", "F4 pack%", "F4/dir");
  std::printf("%74s\n", "max error / RMS(exact): direct F(2,3) F(4,3)");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> U(-1, 1);
  for (const Layer& l : kLayers) {
    ConvGeometry g;
    g.cin = l.cin, g.cout = l.cout, g.kh = g.kw = 3, g.pad_h = g.pad_w = 1, g.groups = l.g;
    ConvLayout L;
    make_layout(g, n, l.hw, l.hw, &L);
    std::vector<float> w((size_t)g.cout * g.taps()), in(L.in_floats()), out(L.out_floats()), padded(L.padded_floats);
    for (auto& v : w) v = U(rng);
    for (auto& v : in) v = U(rng);
    const DenseConvWeights dw = DenseConvWeights::pack(g, w.data());
    WinoLayout WL[2];
    WinogradWeights WW[2];
    std::vector<float> nhwc[2];
    for (int i = 0; i < 2; i++) {
      make_wino_layout(g, 2 + 2 * i, n, l.hw, l.hw, &WL[i]);
      WW[i] = WinogradWeights::transform(g, 2 + 2 * i, w.data());
      nhwc[i].resize(WL[i].nhwc_floats);
    }
    double td = 1e30, tw[2] = {1e30, 1e30}, tp[2] = {1e30, 1e30};
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      pad_input(L, in.data(), padded.data());
      k.dense_conv_f32(dw, L, padded.data(), nullptr, false, out.data(), 0, g.cout);
      td = std::min(td, now() - t0);
      for (int i = 0; i < 2; i++) {
        t0 = now();
        winograd_pack_input(WL[i], in.data(), nhwc[i].data(), 0, (size_t)n * WL[i].hp);
        const double t1 = now();
        wk(WW[i], WL[i], nhwc[i].data(), nullptr, false, out.data(), 0, WL[i].tiles, 0, WL[i].panels);
        tw[i] = std::min(tw[i], now() - t0);
        tp[i] = std::min(tp[i], t1 - t0);
      }
    }
    // error against the double oracle: max |y - exact| relative to the RMS of the exact output
    std::vector<double> exact(L.out_floats());
    conv2d_direct_f64__ref(g, n, l.hw, l.hw, w.data(), in.data(), nullptr, false, exact.data(), nullptr);
    double rms = 0;
    for (double v : exact) rms += v * v;
    rms = std::sqrt(rms / exact.size());
    auto max_err = [&] {
      double e = 0;
      for (size_t i = 0; i < exact.size(); i++) e = std::max(e, std::fabs(out[i] - exact[i]));
      return e / rms;
    };
    pad_input(L, in.data(), padded.data());
    k.dense_conv_f32(dw, L, padded.data(), nullptr, false, out.data(), 0, g.cout);
    double err[3];
    err[0] = max_err();
    for (int i = 0; i < 2; i++) {
      winograd_pack_input(WL[i], in.data(), nhwc[i].data(), 0, (size_t)n * WL[i].hp);
      wk(WW[i], WL[i], nhwc[i].data(), nullptr, false, out.data(), 0, WL[i].tiles, 0, WL[i].panels);
      err[1 + i] = max_err();
    }
    const double fl = 2.0 * g.cout * g.taps() * L.out_pixels() * n * 1e-9;
    std::printf("%-20s %8.1f %8.1f %8.1f %7.0f%% %7.0f%% %7.2fx   %.1e %.1e %.1e\n", l.name, fl / td, fl / tw[0],
                fl / tw[1], 100 * tp[0] / tw[0], 100 * tp[1] / tw[1], td / tw[1], err[0], err[1], err[2]);
  }
  return 0;
}

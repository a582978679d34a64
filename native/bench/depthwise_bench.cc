// Depthwise micro-benchmark (kernels/conv/depthwise.h), batch 1, one thread: the fp32 and int8
// kernels of the active ISA on the MobileNetV2 depthwise layers, best of R rounds. GFLOPS / GOPS =
// 2 * MACs / time; "per plane" = time / channels.
//   flock /tmp/lowbit-bench.lock taskset -c 1 ./build-bench/depthwise_bench [--reps R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/depthwise.h"

using namespace lowbit;
using namespace lowbit::conv;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
struct Layer {
  const char* name;
  int c, hw, k, s;
};
const Layer kLayers[] = {{"dw 32@112", 32, 112, 3, 1},   {"dw 96@112 s2", 96, 112, 3, 2}, {"dw 144@56", 144, 56, 3, 1},
                         {"dw 144@56 s2", 144, 56, 3, 2}, {"dw 192@28", 192, 28, 3, 1},   {"dw 192@28 s2", 192, 28, 3, 2},
                         {"dw 576@14", 576, 14, 3, 1},    {"dw 576@14 s2", 576, 14, 3, 2}, {"dw 960@7", 960, 7, 3, 1},
                         {"dw5 240@14", 240, 14, 5, 1},   {"dw5 240@28 s2", 240, 28, 5, 2}};
}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  const DepthwiseKernels k = depthwise_kernels(active_isa());
  std::printf("isa %s; %-14s %8s %8s %10s %10s\n", isa_name(active_isa()), "layer", "f32", "int8", "f32 ns/pl", "i8 ns/pl");
  std::mt19937 rng(1);
  for (const Layer& l : kLayers) {
    ConvGeometry g;
    g.cin = g.cout = g.groups = l.c, g.kh = g.kw = l.k, g.stride_h = g.stride_w = l.s, g.pad_h = g.pad_w = l.k / 2;
    ConvLayout L;
    make_layout(g, 1, l.hw, l.hw, &L);
    std::vector<float> w((size_t)l.c * l.k * l.k), x(L.in_floats()), y(L.out_floats()), bias(l.c);
    std::vector<uint8_t> xq(L.in_floats()), yq(L.out_floats());
    for (auto& v : w) v = (float)(rng() % 255) - 127;
    for (auto& v : x) v = (float)(rng() % 100) * 0.01f;
    for (auto& v : xq) v = (uint8_t)rng();
    std::vector<int32_t> b32(l.c, 0);
    std::vector<float> sc(1, 0.001f);
    QConvOutput o;
    o.type = gemm::OutType::u8, o.y = yq.data(), o.bias_s32 = b32.data(), o.scale = sc.data(), o.out_zp = 128;
    double tf = 1e30, tq = 1e30;
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      k.f32(L, x.data(), w.data(), bias.data(), false, y.data(), 0, l.c);
      tf = std::min(tf, now() - t0);
      t0 = now();
      k.u8s8(L, xq.data(), 128, w.data(), o, 0, l.c);
      tq = std::min(tq, now() - t0);
    }
    const double ops = 2.0 * l.c * l.k * l.k * L.out_pixels() * 1e-9;
    std::printf("      %-14s %8.1f %8.1f %10.0f %10.0f\n", l.name, ops / tf, ops / tq, tf * 1e9 / l.c, tq * 1e9 / l.c);
  }
  return 0;
}

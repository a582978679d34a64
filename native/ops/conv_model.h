// A performance model that chooses between the sparse and the dense fp32 convolution per layer.
//
// Why a model and not a fixed sparsity threshold: the break-even sparsity moves with the layer
// (a 7x7 image wastes a larger share of each sparse register tile; a 1x1 layer's dense GEMM packs
// cheaply; few output channels leave the dense microkernel's rows idle). The model predicts both
// times from counts the layer fixes (dense FLOPs with the GEMM's tile rounding, nonzeros times the
// virtual pixels the sparse tiles really compute, tiles, bytes copied) and from rates measured
// once on the running CPU by calibrate() (a few milliseconds). It is deliberately simple: each
// time = work / rate + count * fixed cost.
#pragma once

#include <string>

#include "cpu/dispatch.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/winograd.h"

namespace lowbit {
namespace conv {

struct Prediction {
  double dense_s = 0, sparse_s = 0;  // predicted seconds for one call (batch included)
  bool use_sparse = false;
  bool close = false;   // the ratio is inside trial_band: the model's error could flip the choice
  std::string explain;  // one line: both predictions, the sparsity and the reason
};

// The Winograd prediction of a 3x3 stride-1 layer: the faster tile size and its time.
struct WinoPrediction {
  bool eligible = false;
  int m = 4;                   // 2: F(2x2,3x3), 4: F(4x4,3x3)
  double s = 0, s2 = 0, s4 = 0;  // predicted seconds of the chosen one, of F(2,3), of F(4,3)
};

struct PerfModel {
  // Rates (calibrated; the defaults are Zen 3 AVX2 figures so an uncalibrated model is sane).
  double dense_flops_per_s = 85e9;    // dense GEMM on full tiles, including B packing
  double sparse_macs_per_s = 17.5e9;   // nonzero x computed-pixel multiply-adds per second (k > 1)
  double sparse_1x1_macs_per_s = 13.7e9;  // the same for 1x1 layers (no reuse between taps in L1)
  double sparse_tile_s = 40e-9;       // fixed cost of one (channel, pixel tile): setup and stores
  double copy_bytes_per_s = 10e9;     // pad_input
  // Predictions within this factor of each other are too close to call: the model is within ~10%
  // on most layers but up to ~1.7x off where cache effects it does not model dominate (1x1 layers
  // whose input rows outgrow L2), so the binding times both kernels once for such a shape.
  double trial_band = 1.75;
  // Winograd: time = GEMM FLOPs (rows rounded to the microkernel) / rate + transformed elements
  // (V written, M read, outputs scattered, NHWC packed) x cost + U bytes streamed per tile block /
  // bandwidth. The GEMM rate and the element cost are calibrated; the U bandwidth is not (it is
  // what F(4,3) runs into on 512-channel layers, where U is 37.7 MB: L3 or DRAM).
  double wino_gemm_flops_per_s = 80e9;
  double wino_elem_s = 0.4e-9;
  double wino_u_bytes_per_s = 25e9;
  int wino_rows = 6;  // the GEMM microkernel's rows on the calibrated ISA
  int tile_pixels = 64;               // the sparse kernel's pixel tile on the calibrated ISA
  int gemm_nr = 16;                   // the dense microkernel's pixel panel

  Prediction predict(const SparseConvWeights& w, const ConvLayout& layout) const;
  // Seconds of one Winograd call with tile m (a valid layout).
  // density: the fraction of U's blocks kept by Winograd-domain pruning (WinogradWeights::prune).
  double winograd_seconds(const WinoLayout& L, double density = 1.0) const;
  // Both tile sizes for a shape (eligible = false when Winograd does not apply).
  WinoPrediction predict_winograd(const ConvGeometry& g, int n, int h, int w, double density = 1.0) const;
  std::string describe() const;
};

// Times a dense and three sparse convolutions with `k` (~20 ms in all, interleaved, best of 5
// rounds) and fits the rates. The caller caches the result per ISA.
// wk (optional): the ISA's Winograd kernel, whose rates are fitted too (~10 ms more).
PerfModel calibrate(const ConvKernels& k, WinogradFn wk = nullptr);

// The model of an ISA, calibrated on first use (thread-safe; kept for the process).
const PerfModel& model_for(Isa isa);

}  // namespace conv
}  // namespace lowbit

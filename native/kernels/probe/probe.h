// Hardware peak probes for the benchmark report: register-only loops of the int8 idioms the GEMM
// kernels use, so that `npm run bench` can plot GOPS against the peak measured in the same sitting
// (the shared/tools/roofline method, built into the addon so it needs no compiler at run time).
#pragma once

#include <cstdint>

namespace lowbit {
namespace probe {

// Multiply-accumulates per call: every function runs `iters` iterations of 10 independent chains.
// Each returns an opaque value so the work cannot be optimized away. ref: not available (returns 0
// MACs done), the levels without a probe report no peak.
uint64_t madd_s16__avx2(uint64_t iters, int32_t* sink);    // vpmaddwd + vpaddd: 16 MAC per pair
uint64_t maddubs_u8s8__avx2(uint64_t iters, int32_t* sink);  // vpmaddubsw + vpmaddwd + vpaddd: 32 MAC

}  // namespace probe
}  // namespace lowbit

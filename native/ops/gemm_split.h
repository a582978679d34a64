// Cutting one int8 product into disjoint rectangles for the `threads` option.
#pragma once

#include <algorithm>
#include <cstddef>

#include "cpu/parallel.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace ops {

// Runs fn(range) over disjoint rectangles covering M x N on `threads` threads: by rows (in steps
// of 4, the kernels' row tile) when there are enough of them, else by 8-column panels.
template <typename Fn>
void run_gemm_split(size_t M, size_t N, int threads, Fn&& fn) {
  const size_t panels = (N + gemm::kPanelN - 1) / gemm::kPanelN;
  if (threads <= 1 || (M < 2 && panels < 2)) {
    fn(gemm::Range{0, M, 0, N});
    return;
  }
  if (M >= (size_t)threads * 32 || panels < (size_t)threads) {
    const size_t t = std::min<size_t>((size_t)threads, M);
    const size_t rows = (M + t - 1) / t;
    const size_t step = (rows + 3) / 4 * 4;
    const size_t tasks = (M + step - 1) / step;
    parallel_for(tasks, threads, [&](size_t i) { fn(gemm::Range{i * step, std::min(M, (i + 1) * step), 0, N}); });
  } else {
    const size_t per = (panels + threads - 1) / threads;
    const size_t tasks = (panels + per - 1) / per;
    parallel_for(tasks, threads, [&](size_t i) {
      fn(gemm::Range{0, M, i * per * gemm::kPanelN, std::min(N, (i + 1) * per * gemm::kPanelN)});
    });
  }
}

}  // namespace ops
}  // namespace lowbit

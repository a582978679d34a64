#include "cpu/dispatch.h"

#include <array>

namespace lowbit {
namespace {

// Index of a level in a per-level table (small, dense).
constexpr int kLevels = 14;
inline int level_index(Isa isa) { return static_cast<int>(isa); }

// Picks, from candidates ordered best first, the first one whose level the request allows.
template <typename Table, size_t N>
const Table& pick(const Table (&best_first)[N], Isa isa) {
  for (const Table& t : best_first)
    if (isa_at_or_below(t.isa, isa)) return t;
  return best_first[N - 1];  // the scalar reference, always last
}

#define LOWBIT_QUANT_TABLE(isa_enum, suffix)                                                \
  QuantKernels {                                                                             \
    isa_enum, quant::quantize_f32_u8__##suffix, quant::quantize_f32_s8__##suffix,            \
        quant::dequantize_u8_f32__##suffix, quant::dequantize_s8_f32__##suffix               \
  }

const QuantKernels kQuantCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    LOWBIT_QUANT_TABLE(Isa::avx512, avx512),
#endif
#if defined(LOWBIT_HAVE_AVX2)
    LOWBIT_QUANT_TABLE(Isa::avx2, avx2),
#endif
#if defined(LOWBIT_HAVE_NEON)
    LOWBIT_QUANT_TABLE(Isa::neon, neon),
#endif
    LOWBIT_QUANT_TABLE(Isa::scalar, ref),
};

}  // namespace

const QuantKernels& quant_kernels(Isa isa) {
  static const std::array<const QuantKernels*, kLevels> tables = [] {
    std::array<const QuantKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kQuantCandidates, level);
    return t;
  }();
  const QuantKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kQuantCandidates, Isa::scalar);
}

}  // namespace lowbit

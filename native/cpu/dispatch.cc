#include "cpu/dispatch.h"

#include "cpu/cpu_features.h"

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
        quant::dequantize_u8_f32__##suffix, quant::dequantize_s8_f32__##suffix,              \
        quant::minmax_f32__##suffix                                                          \
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

#define LOWBIT_GEMM_TABLE(isa_enum, suffix) \
  GemmKernels { isa_enum, gemm::gemm_u8s8__##suffix, gemm::gemm_s8s8__##suffix }

const GemmKernels kGemmCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    LOWBIT_GEMM_TABLE(Isa::avx512, avx512),
#endif
#if defined(LOWBIT_HAVE_AVX2)
    LOWBIT_GEMM_TABLE(Isa::avx2, avx2),
#endif
#if defined(LOWBIT_HAVE_DOTPROD)
    LOWBIT_GEMM_TABLE(Isa::neon_dotprod, dotprod),
#endif
#if defined(LOWBIT_HAVE_NEON)
    LOWBIT_GEMM_TABLE(Isa::neon, neon),
#endif
    LOWBIT_GEMM_TABLE(Isa::scalar, ref),
};

const EmbeddingKernels kEmbeddingCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    EmbeddingKernels{Isa::avx512, embedding::embedding_bag__avx512},
#endif
#if defined(LOWBIT_HAVE_AVX2)
    EmbeddingKernels{Isa::avx2, embedding::embedding_bag__avx2},
#endif
#if defined(LOWBIT_HAVE_NEON)
    EmbeddingKernels{Isa::neon, embedding::embedding_bag__neon},
#endif
    EmbeddingKernels{Isa::scalar, embedding::embedding_bag__ref},
};

#define LOWBIT_CONV_TABLE(isa_enum, suffix)                                                   \
  ConvKernels {                                                                              \
    isa_enum, conv::sparse_conv_f32__##suffix, conv::dense_conv_f32__##suffix,               \
        conv::sparse_fc_f32__##suffix                                                        \
  }

const ConvKernels kConvCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    LOWBIT_CONV_TABLE(Isa::avx512, avx512),
#endif
#if defined(LOWBIT_HAVE_AVX2)
    LOWBIT_CONV_TABLE(Isa::avx2, avx2),
#endif
#if defined(LOWBIT_HAVE_NEON)
    LOWBIT_CONV_TABLE(Isa::neon, neon),
#endif
    LOWBIT_CONV_TABLE(Isa::scalar, ref),
};

const QConvKernels kQConvCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    QConvKernels{Isa::avx512, conv::qconv_u8s8_direct__avx512},
#endif
#if defined(LOWBIT_HAVE_AVX2)
    QConvKernels{Isa::avx2, conv::qconv_u8s8_direct__avx2},
#endif
    QConvKernels{Isa::scalar, nullptr},
};

const SparseFcKernels kSparseFcCandidates[] = {
#if defined(LOWBIT_HAVE_AVX512)
    SparseFcKernels{Isa::avx512, sparse_fc::sparse_fc_u8s8__avx512, 16},
#endif
#if defined(LOWBIT_HAVE_AVX2)
    SparseFcKernels{Isa::avx2, sparse_fc::sparse_fc_u8s8__avx2, 8},
#endif
#if defined(LOWBIT_HAVE_NEON)
    SparseFcKernels{Isa::neon, sparse_fc::sparse_fc_u8s8__neon, 8},
#endif
    SparseFcKernels{Isa::scalar, sparse_fc::sparse_fc_u8s8__ref, 8},
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

#if defined(LOWBIT_HAVE_AMX) && defined(LOWBIT_HAVE_AVX512)
// The AVX-512 level's GEMM where the process may use AMX tiles (amx_ready: CPUID, OS state, the
// Linux permission, LOWBIT_AMX != 0); the kernels fall back to the VNNI ones for calls AMX does not
// serve well (kernels/gemm/amx.cc).
const GemmKernels kGemmAmx = LOWBIT_GEMM_TABLE(Isa::avx512, amx);
#endif

const GemmKernels& gemm_kernels(Isa isa) {
  static const std::array<const GemmKernels*, kLevels> tables = [] {
    std::array<const GemmKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kGemmCandidates, level);
#if defined(LOWBIT_HAVE_AMX) && defined(LOWBIT_HAVE_AVX512)
    if (isa_supported(Isa::avx512) && amx_ready()) t[level_index(Isa::avx512)] = &kGemmAmx;
#endif
    return t;
  }();
  const GemmKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kGemmCandidates, Isa::scalar);
}

const EmbeddingKernels& embedding_kernels(Isa isa) {
  static const std::array<const EmbeddingKernels*, kLevels> tables = [] {
    std::array<const EmbeddingKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kEmbeddingCandidates, level);
    return t;
  }();
  const EmbeddingKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kEmbeddingCandidates, Isa::scalar);
}

const ConvKernels& conv_kernels(Isa isa) {
  static const std::array<const ConvKernels*, kLevels> tables = [] {
    std::array<const ConvKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kConvCandidates, level);
    return t;
  }();
  const ConvKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kConvCandidates, Isa::scalar);
}

#if defined(LOWBIT_HAVE_AMX) && defined(LOWBIT_HAVE_AVX512)
const QConvKernels kQConvAmx{Isa::avx512, conv::qconv_u8s8_direct__avx512_amx};
#endif

const QConvKernels& qconv_kernels(Isa isa) {
  static const std::array<const QConvKernels*, kLevels> tables = [] {
    std::array<const QConvKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kQConvCandidates, level);
#if defined(LOWBIT_HAVE_AMX) && defined(LOWBIT_HAVE_AVX512)
    // with AMX tiles the direct kernel's im2col blocks (7x7 planes) run on the AMX GEMM
    if (isa_supported(Isa::avx512) && amx_ready()) t[level_index(Isa::avx512)] = &kQConvAmx;
#endif
    return t;
  }();
  const QConvKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kQConvCandidates, Isa::scalar);
}

const SparseFcKernels& sparse_fc_kernels(Isa isa) {
  static const std::array<const SparseFcKernels*, kLevels> tables = [] {
    std::array<const SparseFcKernels*, kLevels> t{};
    for (Isa level : compiled_isas()) t[level_index(level)] = &pick(kSparseFcCandidates, level);
    return t;
  }();
  const SparseFcKernels* k = tables[level_index(isa)];
  return k ? *k : pick(kSparseFcCandidates, Isa::scalar);
}

}  // namespace lowbit

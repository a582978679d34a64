// The dispatch tables: for each op, the kernels to use at a given ISA level.
//
// This file and dispatch.cc are the only place that knows which kernels exist for which ISA
// (XNNPACK keeps selection in two files too). A table is filled once per level, on first use, and
// never changes, so a caller can take a table at call time and use it from any thread, even if
// the active level changes meanwhile (tests switch levels in one process).
#pragma once

#include "cpu/isa.h"
#include "kernels/gemm/gemm.h"
#include "kernels/quant/quant.h"
#include "kernels/embedding/embedding.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"
#include "kernels/sparse_fc/sparse_fc.h"

namespace lowbit {

struct QuantKernels {
  Isa isa;  // the level these kernels were written for (<= the level asked for)
  quant::QuantizeU8Fn quantize_u8;
  quant::QuantizeS8Fn quantize_s8;
  quant::DequantizeU8Fn dequantize_u8;
  quant::DequantizeS8Fn dequantize_s8;
  quant::MinMaxFn minmax;
};

// Kernels for `isa` (which must be supported); the no-argument form uses active_isa().
const QuantKernels& quant_kernels(Isa isa);
inline const QuantKernels& quant_kernels() { return quant_kernels(active_isa()); }

// int8 GEMM (kernels/gemm/gemm.h): the same PackedB serves every level.
struct GemmKernels {
  Isa isa;
  gemm::GemmU8S8Fn gemm_u8s8;
  gemm::GemmS8S8Fn gemm_s8s8;
};

const GemmKernels& gemm_kernels(Isa isa);
inline const GemmKernels& gemm_kernels() { return gemm_kernels(active_isa()); }

// Embedding bag (kernels/embedding/embedding.h): validate() and the table converters are scalar
// and shared; only the lookup kernel differs by level.
struct EmbeddingKernels {
  Isa isa;
  embedding::EmbeddingBagFn embedding_bag;
};

const EmbeddingKernels& embedding_kernels(Isa isa);
inline const EmbeddingKernels& embedding_kernels() { return embedding_kernels(active_isa()); }

// fp32 convolution (kernels/conv/conv.h): weights, bindings and pad_input are shared by every
// level; only the compute kernels differ.
struct ConvKernels {
  Isa isa;
  conv::SparseConvFn sparse_conv_f32;
  conv::DenseConvFn dense_conv_f32;
  conv::SparseFcFn sparse_fc_f32;
};

const ConvKernels& conv_kernels(Isa isa);
inline const ConvKernels& conv_kernels() { return conv_kernels(active_isa()); }

// int8 dense convolution (kernels/conv/int8.h): a direct kernel where one beats im2col + the GEMM
// (AVX2), else nullptr: im2col + gemm_kernels(isa).gemm_u8s8 (AVX-512 VNNI's exact vpdpbusd GEMM,
// NEON, scalar).
struct QConvKernels {
  Isa isa;
  conv::QConvDirectFn qconv_u8s8_direct;  // or nullptr
};

const QConvKernels& qconv_kernels(Isa isa);
inline const QConvKernels& qconv_kernels() { return qconv_kernels(active_isa()); }

// int8 sparse fully-connected (kernels/sparse_fc/sparse_fc.h): one packed weights object serves
// every level.
struct SparseFcKernels {
  Isa isa;
  sparse_fc::SparseFcU8S8Fn sparse_fc_u8s8;
  size_t tile_rows;  // rows of X per register tile (the performance models count tiles of this height)
};

const SparseFcKernels& sparse_fc_kernels(Isa isa);
inline const SparseFcKernels& sparse_fc_kernels() { return sparse_fc_kernels(active_isa()); }

}  // namespace lowbit

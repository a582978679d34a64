// The dispatch tables: for each op, the kernels to use at a given ISA level.
//
// This file and dispatch.cc are the only place that knows which kernels exist for which ISA
// (XNNPACK keeps selection in two files too). A table is filled once per level, on first use, and
// never changes, so a caller can take a table at call time and use it from any thread, even if
// the active level changes meanwhile (tests switch levels in one process).
#pragma once

#include "cpu/isa.h"
#include "kernels/quant/quant.h"

namespace lowbit {

struct QuantKernels {
  Isa isa;  // the level these kernels were written for (<= the level asked for)
  quant::QuantizeU8Fn quantize_u8;
  quant::QuantizeS8Fn quantize_s8;
  quant::DequantizeU8Fn dequantize_u8;
  quant::DequantizeS8Fn dequantize_s8;
};

// Kernels for `isa` (which must be supported); the no-argument form uses active_isa().
const QuantKernels& quant_kernels(Isa isa);
inline const QuantKernels& quant_kernels() { return quant_kernels(active_isa()); }

}  // namespace lowbit

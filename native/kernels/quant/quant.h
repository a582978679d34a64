// Per-tensor affine quantization between fp32 and 8-bit integers.
//
//   quantize:   q = clamp(nearbyint(x * (1.0f / scale)) + zero_point, qmin, qmax)
//               with round-half-to-even, the product in fp32, NaN -> zero_point,
//               +-Inf and overflow saturate to qmax / qmin.
//   dequantize: x = float(q - zero_point) * scale            (one fp32 rounding)
//
// Why x * (1/scale) and not x / scale: it is what FBGEMM and PyTorch compute (a multiply per
// element is much cheaper than a divide in SIMD), and every ISA here does the same two fp32
// roundings (1/scale once, then the product), so results are bit-identical across ISAs.
// The caller guarantees: scale finite, > 0, and 1/scale finite; qmin <= zero_point <= qmax
// inside the type's range. README.md in this folder states the contract in full.
//
// Every kernel of a family has the same signature; ref.cc is the oracle the others are tested
// against. Name = op_datatypes__isa, as in XNNPACK.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace lowbit {
namespace quant {

using QuantizeU8Fn = void (*)(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point,
                              int32_t qmin, int32_t qmax);
using QuantizeS8Fn = void (*)(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,
                              int32_t qmin, int32_t qmax);
using DequantizeU8Fn = void (*)(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point);
using DequantizeS8Fn = void (*)(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point);
// The range of x, ignoring NaN; (0, 0) when n == 0 or every element is NaN. -0 is reported as +0.
using MinMaxFn = void (*)(const float* x, size_t n, float* min, float* max);

#define LOWBIT_QUANT_DECLARE(isa)                                                                 \
  void quantize_f32_u8__##isa(const float* x, uint8_t* y, size_t n, float scale, int32_t zero_point, \
                              int32_t qmin, int32_t qmax);                                        \
  void quantize_f32_s8__##isa(const float* x, int8_t* y, size_t n, float scale, int32_t zero_point,  \
                              int32_t qmin, int32_t qmax);                                        \
  void dequantize_u8_f32__##isa(const uint8_t* q, float* y, size_t n, float scale, int32_t zero_point); \
  void dequantize_s8_f32__##isa(const int8_t* q, float* y, size_t n, float scale, int32_t zero_point); \
  void minmax_f32__##isa(const float* x, size_t n, float* min, float* max);

LOWBIT_QUANT_DECLARE(ref)
LOWBIT_QUANT_DECLARE(avx2)
LOWBIT_QUANT_DECLARE(avx512)
LOWBIT_QUANT_DECLARE(neon)
#undef LOWBIT_QUANT_DECLARE

// One element, exactly as every kernel computes it; ref.cc is built from it.
inline float quantize_one(float x, float inv_scale, float zp, float lo, float hi) {
  float v = x * inv_scale;
  v = std::nearbyint(v);  // default rounding mode: half to even
  v = v + zp;
  if (v != v) v = zp;  // NaN
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return v;
}

// Turns a running (min, max) into minmax's result: empty -> (0, 0), -0 -> +0.
inline void finish_minmax(float mn, float mx, float* min, float* max) {
  if (!(mn <= mx)) mn = mx = 0.0f;
  *min = mn + 0.0f;
  *max = mx + 0.0f;
}

// Parameters of an affine quantization, chosen from an observed [min, max].
struct QuantParams {
  float scale;
  int32_t zero_point;
  int32_t qmin;
  int32_t qmax;
};

// FBGEMM's ChooseQuantizationParams semantics (see README.md): the range is widened to include 0,
// symmetric keeps zero_point at the middle of the range (0 for int8, 128 / 64 for uint8).
// reduce_range uses 7 bits ([0,127] / [-64,63]), for kernels that must not overflow int16.
// Requires min <= max, both finite.
QuantParams choose_quant_params(float min, float max, bool is_signed, bool symmetric, bool reduce_range);

// Symmetric int8 quantization of fp32 weights (pack time, scalar): per output channel n (or one
// scale for the tensor), scale = max|w| / 127 (1 when the channel is all zero), q = clamp(
// nearbyint(w * (1/scale)), -127, 127) with quantize_one's rounding. w is K x N (element (k, n) at
// w[k * N + n]) or, transposed, N x K (w[n * K + k]); q has w's layout. scales gets N values (or 1).
void quantize_weights_symmetric(const float* w, size_t K, size_t N, bool transposed, bool per_channel,
                                int8_t* q, float* scales);

// The [qmin, qmax] of an 8-bit type, optionally reduced to 7 bits.
void quant_range(bool is_signed, bool reduce_range, int32_t* qmin, int32_t* qmax);

}  // namespace quant
}  // namespace lowbit

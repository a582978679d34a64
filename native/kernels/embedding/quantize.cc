// Table conversion fp32 <-> f16 / q8 / q4 / q2 rows, following FBGEMM's reference quantizers bit for
// bit (FloatOrHalfToFused8BitRowwiseQuantizedSBFloatRef, FloatOrHalfToFusedNBitRowwiseQuantizedSBHalfRef
// and the matching dequantizers; formulas in README.md). Scalar: run once when a table is built.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

void store_f32(uint8_t* p, float v) { std::memcpy(p, &v, 4); }
float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
void store_f16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }
float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_float(h);
}

void quantize_row_q8(const float* x, int64_t dim, uint8_t* out) {
  const float mn = *std::min_element(x, x + dim);
  const float mx = *std::max_element(x, x + dim);
  const float range = mx - mn;
  store_f32(out + dim, range / 255.0f);
  store_f32(out + dim + 4, mn);
  const float inv = 255.0f / (range + 1e-8f);
  for (int64_t d = 0; d < dim; d++) out[d] = (uint8_t)std::lrintf((x[d] - mn) * inv);
}

void quantize_row_nbit(const float* x, int64_t dim, int bits, uint8_t* out) {
  const int per_byte = 8 / bits;
  const int64_t code_bytes = (dim + per_byte - 1) / per_byte;
  const int L = (1 << bits) - 1;
  float mn = *std::min_element(x, x + dim);
  const float mx = *std::max_element(x, x + dim);
  const uint16_t mn_h = fp16_from_float(mn);
  mn = fp16_to_float(mn_h);
  const float range = mx - mn;
  float scale = range == 0 ? 1.0f : range / (float)L;
  scale = fp16_to_float(fp16_from_float(scale));
  if (scale == 0) scale = 1.0f;
  float inv = 1.0f / scale;
  if (std::isinf(inv)) {
    scale = 1.0f;
    inv = 1.0f;
  }
  store_f16(out + code_bytes, fp16_from_float(scale));
  store_f16(out + code_bytes + 2, mn_h);
  std::memset(out, 0, (size_t)code_bytes);
  for (int64_t d = 0; d < dim; d++) {
    const long q = std::lrintf((x[d] - mn) * inv);
    const int c = (int)std::max(0L, std::min((long)L, q));
    out[d / per_byte] |= (uint8_t)(c << ((d % per_byte) * bits));
  }
}

}  // namespace

void quantize_table(Format format, const float* src, int64_t rows, int64_t dim, uint8_t* dst) {
  const int64_t rb = row_bytes(format, dim);
  for (int64_t r = 0; r < rows; r++) {
    const float* x = src + r * dim;
    uint8_t* out = dst + r * rb;
    switch (format) {
      case Format::f32: std::memcpy(out, x, (size_t)dim * 4); break;
      case Format::f16:
        for (int64_t d = 0; d < dim; d++) store_f16(out + 2 * d, fp16_from_float(x[d]));
        break;
      case Format::q8: quantize_row_q8(x, dim, out); break;
      case Format::q4: quantize_row_nbit(x, dim, 4, out); break;
      case Format::q2: quantize_row_nbit(x, dim, 2, out); break;
    }
  }
}

void dequantize_table(Format format, const uint8_t* src, int64_t rows, int64_t dim, int64_t row_stride,
                      float* dst) {
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t* row = src + r * row_stride;
    float* y = dst + r * dim;
    switch (format) {
      case Format::f32: std::memcpy(y, row, (size_t)dim * 4); break;
      case Format::f16:
        for (int64_t d = 0; d < dim; d++) y[d] = load_f16(row + 2 * d);
        break;
      case Format::q8: {
        const float scale = load_f32(row + dim), bias = load_f32(row + dim + 4);
        for (int64_t d = 0; d < dim; d++) y[d] = (float)row[d] * scale + bias;
        break;
      }
      case Format::q4:
      case Format::q2: {
        const int bits = format == Format::q4 ? 4 : 2, per_byte = 8 / bits;
        const int64_t code_bytes = (dim + per_byte - 1) / per_byte;
        const float scale = load_f16(row + code_bytes), bias = load_f16(row + code_bytes + 2);
        for (int64_t d = 0; d < dim; d++) {
          const int q = (row[d / per_byte] >> ((d % per_byte) * bits)) & ((1 << bits) - 1);
          y[d] = (float)q * scale + bias;
        }
        break;
      }
    }
  }
}

}  // namespace embedding
}  // namespace lowbit

// Table conversion fp32 <-> f16 / q8 / q4 / q2 rows, following FBGEMM's reference quantizers bit for
// bit (FloatOrHalfToFused8BitRowwiseQuantizedSBFloatRef, FloatOrHalfToFusedNBitRowwiseQuantizedSBHalfRef
// and the matching dequantizers; formulas in README.md). Scalar: run once when a table is built.
#include <algorithm>
#include <cfloat>
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

// The row's minimum and maximum in the order FBGEMM's AVX2 quantizers take them (what PyTorch's
// embedding_bag_*_prepack run on x86): 8 lanes, each folded over columns j, j + 8, ... of the
// whole vectors with vminps / vmaxps semantics (`a < b ? a : b`: on a tie, or a NaN, the newer
// element wins), starting from +FLT_MAX / -FLT_MAX; then std::min / std::max over the lanes in
// order (on a tie the earlier one stays) and over the tail columns. Only the sign of a zero
// extremum (a row holding +0 and -0) and rows of +-Inf / NaN can differ from std::min_element;
// that sign lands in the stored bias (and, for a row of zeros only, in the 8-bit scale).
void row_min_max(const float* x, int64_t dim, float* mn_out, float* mx_out) {
  float lmin[8], lmax[8];
  for (int j = 0; j < 8; j++) {
    lmin[j] = FLT_MAX;
    lmax[j] = -FLT_MAX;
  }
  const int64_t whole = dim / 8 * 8;
  for (int64_t c = 0; c < whole; c += 8) {
    for (int j = 0; j < 8; j++) {
      const float v = x[c + j];
      lmin[j] = lmin[j] < v ? lmin[j] : v;
      lmax[j] = lmax[j] > v ? lmax[j] : v;
    }
  }
  float mn = FLT_MAX, mx = -FLT_MAX;
  for (int j = 0; j < 8; j++) {
    mn = std::min(mn, lmin[j]);
    mx = std::max(mx, lmax[j]);
  }
  for (int64_t c = whole; c < dim; c++) {
    mn = std::min(mn, x[c]);
    mx = std::max(mx, x[c]);
  }
  *mn_out = mn;
  *mx_out = mx;
}

void quantize_row_q8(const float* x, int64_t dim, uint8_t* out) {
  float mn, mx;
  row_min_max(x, dim, &mn, &mx);
  const float range = mx - mn;
  store_f32(out + dim, range / 255.0f);
  store_f32(out + dim + 4, mn);
  const float inv = 255.0f / (range + 1e-8f);
  for (int64_t d = 0; d < dim; d++) out[d] = (uint8_t)std::lrintf((x[d] - mn) * inv);
}

// One 4- or 2-bit row from its range [mn, mx] (FBGEMM's formulas; PyTorch's prepack with
// optimized_qparams computes the same from the range it chose).
void quantize_row_nbit_range(const float* x, int64_t dim, int bits, float mn, float mx, uint8_t* out) {
  const int per_byte = 8 / bits;
  const int64_t code_bytes = (dim + per_byte - 1) / per_byte;
  const int L = (1 << bits) - 1;
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

// PyTorch's calculate_quant_loss: the L2 norm of x minus its fake-quantized value for the range
// [xmin, xmax] (fp32, in column order, no FMA: this file is built with -ffp-contract=off).
float quant_loss(const float* x, int64_t dim, float xmin, float xmax, int bits) {
  xmin = fp16_to_float(fp16_from_float(xmin));
  const float range = xmax - xmin;
  const float qmax = (float)((1 << bits) - 1);
  const float scale = range == 0 ? 1.0f : fp16_to_float(fp16_from_float(range / qmax));
  const float inv = scale == 0 ? 1.0f : 1.0f / scale;
  float norm = 0.0f;
  for (int64_t i = 0; i < dim; i++) {
    float q = std::max(0.0f, std::min(std::nearbyint((x[i] - xmin) * inv), qmax));
    q = q * scale + xmin;
    const float e = x[i] - q;
    norm += e * e;
  }
  return std::sqrt(norm);
}

// PyTorch's choose_qparams_optimized (the greedy range search of FBGEMM's and PyTorch's 4/2-bit
// prepack with optimized_qparams): start from [min, max] (std::min_element order), shrink the
// range one step of (max - min) / nbins at a time from whichever end lowers the loss more, while
// more than nbins * (1 - ratio) steps remain, and keep the best local optimum seen.
void optimized_range(const float* x, int64_t dim, int bits, int64_t nbins, double ratio, float* mn_out,
                     float* mx_out) {
  float xmin = *std::min_element(x, x + dim);
  float xmax = *std::max_element(x, x + dim);
  const float step = (xmax - xmin) / (float)nbins;
  const int min_bins = (int)((double)nbins * (1.0 - (double)(float)ratio));
  const float loss = quant_loss(x, dim, xmin, xmax, bits);
  float best = loss, cur_min = xmin, cur_max = xmax, cur = loss;
  const float thr = (float)min_bins * step;
  while (cur_min + thr < cur_max) {
    const float loss1 = quant_loss(x, dim, cur_min + step, cur_max, bits);
    const float loss2 = quant_loss(x, dim, cur_min, cur_max - step, bits);
    if (cur < loss1 && cur < loss2 && cur < best) {
      best = cur;
      xmin = cur_min;
      xmax = cur_max;
    }
    const float before_min = cur_min, before_max = cur_max;
    if (loss1 < loss2) {
      cur_min = cur_min + step;
      cur = loss1;
    } else {
      cur_max = cur_max - step;
      cur = loss2;
    }
    // a step below the ulp of the end it moves changes nothing: PyTorch would loop forever there
    if (cur_min == before_min && cur_max == before_max) break;
  }
  *mn_out = xmin;
  *mx_out = xmax;
}

void quantize_row_nbit(const float* x, int64_t dim, int bits, const QuantizeOptions& o, uint8_t* out) {
  float mn, mx;
  if (o.optimized)
    optimized_range(x, dim, bits, o.nbins, o.ratio, &mn, &mx);
  else
    row_min_max(x, dim, &mn, &mx);
  quantize_row_nbit_range(x, dim, bits, mn, mx, out);
}

}  // namespace

void quantize_table(Format format, const float* src, int64_t rows, int64_t dim, uint8_t* dst,
                    const QuantizeOptions& options) {
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
      case Format::q4: quantize_row_nbit(x, dim, 4, options, out); break;
      case Format::q2: quantize_row_nbit(x, dim, 2, options, out); break;
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

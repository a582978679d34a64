// Scalar reference embedding bag: the oracle every SIMD kernel must match bit for bit. Plain loops
// over the order of operations written in README.md; compiled without auto-vectorization.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {
namespace {

float f32_at(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_float(h);
}

// Element d of a row as an fp32 value: the code (quantized formats) or the value (f32/f16).
float element(Format f, const uint8_t* row, int64_t d) {
  switch (f) {
    case Format::f32: return f32_at(row + 4 * d);
    case Format::f16: return f16_at(row + 2 * d);
    case Format::q8: return (float)row[d];
    case Format::q4: return (float)((row[d / 2] >> ((d % 2) * 4)) & 15);
    case Format::q2: return (float)((row[d / 4] >> ((d % 4) * 2)) & 3);
  }
  return 0.0f;
}

}  // namespace

void embedding_bag__ref(const Request& r, int64_t bag_begin, int64_t bag_end) {
  const Table& t = r.table;
  const Bags& b = r.bags;
  const int64_t D = t.dim;
  const int64_t codes = t.format == Format::q4 ? (D + 1) / 2 : t.format == Format::q2 ? (D + 3) / 4 : D;
  std::vector<float> acc((size_t)D);
  BagCursor cur(b, bag_begin);
  for (int64_t bag = bag_begin; bag < bag_end; bag++, cur.next()) {
    for (int64_t d = 0; d < D; d++) acc[d] = 0.0f;
    for (int64_t p = cur.begin(); p < cur.end(); p++) {
      int64_t row = load_int(b.indices, b.index_type, p);
      if (t.remap) row = t.remap[row];
      if (row < 0) continue;
      const uint8_t* base = t.data + row * t.row_stride;
      const float w = b.weights ? b.weights[p] : 1.0f;
      const int64_t slot = t.hot_data ? hot_slot(t.hot_index, t.hot_rows, row) : -1;
      if (slot >= 0) {  // a hot row: looked up in its own format
        const uint8_t* hot = t.hot_data + slot * t.hot_stride;
        for (int64_t d = 0; d < D; d++) acc[d] = std::fma(w, element(t.hot_format, hot, d), acc[d]);
      } else if (t.format == Format::f32 || t.format == Format::f16) {
        for (int64_t d = 0; d < D; d++) acc[d] = std::fma(w, element(t.format, base, d), acc[d]);
      } else {
        float scale, bias;
        if (t.format == Format::q8) {
          scale = f32_at(base + D);
          bias = f32_at(base + D + 4);
        } else {
          scale = f16_at(base + codes);
          bias = f16_at(base + codes + 2);
        }
        const float s = w * scale, c = w * bias;
        for (int64_t d = 0; d < D; d++) acc[d] = std::fma(s, element(t.format, base, d), acc[d] + c);
      }
    }
    const int64_t len = cur.end() - cur.begin();
    if (b.pooling == Pooling::mean && len > 0) {
      const float inv = 1.0f / (float)len;
      for (int64_t d = 0; d < D; d++) acc[d] = acc[d] * inv;
    }
    if (r.out_type == OutType::f16) {
      uint16_t* out = static_cast<uint16_t*>(r.out) + bag * r.out_stride;
      for (int64_t d = 0; d < D; d++) out[d] = fp16_from_float(acc[d]);
    } else {
      float* out = static_cast<float*>(r.out) + bag * r.out_stride;
      for (int64_t d = 0; d < D; d++) out[d] = acc[d];
    }
  }
}

}  // namespace embedding
}  // namespace lowbit

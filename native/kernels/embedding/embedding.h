// Embedding bag over fp32 / fp16 / 8-, 4-, 2-bit rowwise-quantized tables (FBGEMM/PyTorch layouts).
//
// Why the API is shaped this way:
// - One Request = one table's lookups for a batch. A DLRM request (26 tables) is an array of
//   Requests; the binding validates them all, then runs (request, bag range) work items on its
//   threads. Each kernel call takes a bag sub-range [bag_begin, bag_end), so splitting a batch
//   across threads or tables costs nothing extra (for the lengths form the start of the range is
//   a prefix sum over bag_begin lengths).
// - Validation is separate and comes first (validate()): kernels trust their input and never
//   branch on errors, and a bad request is refused before any output byte is written.
// - Every ISA kernel has the same signature (EmbeddingBagFn) and is bit-identical to ref; the exact
//   fp32 operation order is in README.md. Name = op__isa, as in XNNPACK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lowbit {
namespace embedding {

enum class Format : int32_t { f32 = 0, f16 = 1, q8 = 2, q4 = 3, q2 = 4 };
enum class IntType : int32_t { i32 = 0, i64 = 1 };
// offsets: num_bags entries, offsets[0] == 0, last bag ends at num_indices (PyTorch default).
// offsets_include_last: num_bags + 1 entries, the last == num_indices (include_last_offset=True).
// lengths: num_bags entries, each >= 0, summing to num_indices.
enum class BagForm : int32_t { offsets = 0, offsets_include_last = 1, lengths = 2 };
enum class Pooling : int32_t { sum = 0, mean = 1 };
// Output element type. f16: IEEE binary16 bits, each the fp32 result rounded to nearest even
// (fp16_from_float), so an f16 output is exactly the f32 output converted.
enum class OutType : int32_t { f32 = 0, f16 = 1 };

// Bytes of one row as FBGEMM/PyTorch lay it out; 0 for an unknown format or dim < 1.
inline int64_t row_bytes(Format format, int64_t dim) {
  if (dim < 1) return 0;
  switch (format) {
    case Format::f32: return 4 * dim;
    case Format::f16: return 2 * dim;
    case Format::q8: return dim + 8;
    case Format::q4: return (dim + 1) / 2 + 4;
    case Format::q2: return (dim + 3) / 4 + 4;
  }
  return 0;
}

struct Table {
  const uint8_t* data = nullptr;  // rows * row_stride bytes (the last row may end right there)
  int64_t rows = 0;
  int64_t dim = 0;                // D >= 1
  int64_t row_stride = 0;         // bytes between rows, >= row_bytes(format, dim)
  Format format = Format::f32;
  const int32_t* remap = nullptr;  // optional (pruned table): id -> stored row, or -1 = skip
  int64_t remap_size = 0;          // ids are < remap_size when remap is given, < rows otherwise
  // Mixed precision (q4 / q2 tables only, no remap): hot rows kept in f32 or f16. hot_index
  // holds, per group of 64 ids, 12 bytes: a little-endian u64 whose bit i says id 64g + i is hot,
  // then a u32: the hot ids before the group. A hot id's slot is that count plus the hot ids
  // before it in its word (hot_slot); the row read is hot row min(slot, hot_rows - 1) of hot_data
  // (stride hot_stride, format hot_format), looked up as an f32/f16 row; its quantized row is not
  // read (README.md, "Mixed precision").
  const uint8_t* hot_index = nullptr;  // 12 * ceil(rows / 64) bytes
  const uint8_t* hot_data = nullptr;
  int64_t hot_rows = 0;     // >= 1 when hot_data is set
  int64_t hot_stride = 0;   // >= row_bytes(hot_format, dim)
  Format hot_format = Format::f32;
};

// The most hot rows a table can have, and the bytes of its hot index.
constexpr int64_t kMaxHotRows = int64_t(1) << 31;
inline int64_t hot_index_bytes(int64_t rows) { return 12 * ((rows + 63) / 64); }
// The hot slot of stored row `row`, or -1 when it is cold. Bounded by hot_rows, so an index that
// disagrees with hot_rows cannot send a lookup outside the hot rows.
inline int64_t hot_slot(const uint8_t* index, int64_t hot_rows, int64_t row) {
  const uint8_t* g = index + 12 * (row >> 6);
  uint64_t bits;
  uint32_t before;
  std::memcpy(&bits, g, 8);
  std::memcpy(&before, g + 8, 4);
  const int b = (int)(row & 63);
  if (!((bits >> b) & 1)) return -1;
  const int64_t s = (int64_t)before + __builtin_popcountll(bits & ((uint64_t(1) << b) - 1));
  return s < hot_rows ? s : hot_rows - 1;
}

struct Bags {
  const void* indices = nullptr;  // int32 or int64, num_indices entries
  IntType index_type = IntType::i64;
  int64_t num_indices = 0;
  const void* offsets = nullptr;  // offsets or lengths (see BagForm), int32 or int64
  IntType offset_type = IntType::i64;
  BagForm form = BagForm::offsets;
  int64_t num_bags = 0;
  const float* weights = nullptr;  // optional, num_indices entries (per_sample_weights)
  Pooling pooling = Pooling::sum;
};

struct Request {
  Table table;
  Bags bags;
  void* out = nullptr;      // float* (f32) or uint16_t* (f16); bag b is written at
                            // out + b * out_stride elements: dim elements, nothing else
  int64_t out_stride = 0;   // in elements, >= dim (dim for a dense [num_bags, D] output)
  OutType out_type = OutType::f32;
};

enum class Error : int32_t {
  none = 0,
  bad_table,              // unknown format, dim < 1, rows < 0, row_stride < row_bytes, null data
  bad_count,              // num_indices / num_bags < 0, null arrays with nonzero counts, out_stride < dim
  offsets_first_not_zero, // offsets[0] != 0
  offsets_decreasing,     // offsets[k] < offsets[k-1]
  offset_out_of_range,    // offsets[k] > num_indices
  last_offset_mismatch,   // include_last: offsets[num_bags] != num_indices
  negative_length,        // lengths[b] < 0
  lengths_sum_mismatch,   // running sum > num_indices, or total != num_indices
  index_negative,         // indices[p] < 0
  index_out_of_range,     // indices[p] >= rows (or >= remap_size with a remap)
  remap_out_of_range,     // remap[indices[p]] < -1 or >= rows
};

// The first problem found: the bag, and the position (index position for index errors, the
// offsets/lengths entry for structure errors), and the offending value. bag/position are -1 when
// they do not apply (bad_table, bad_count).
struct Status {
  Error error = Error::none;
  int64_t bag = -1;
  int64_t position = -1;
  int64_t value = 0;
  bool ok() const { return error == Error::none; }
};

const char* error_message(Error e);
// Checks everything a kernel relies on (not the table's byte length: the binding checks the
// buffer holds rows * row_stride bytes). O(num_bags + num_indices), reads no table rows.
Status validate(const Request& r);

// Computes bags [bag_begin, bag_end) of a validated request. Same contract for every ISA.
using EmbeddingBagFn = void (*)(const Request& r, int64_t bag_begin, int64_t bag_end);

#define LOWBIT_EMBEDDING_DECLARE(isa) \
  void embedding_bag__##isa(const Request& r, int64_t bag_begin, int64_t bag_end);
LOWBIT_EMBEDDING_DECLARE(ref)
LOWBIT_EMBEDDING_DECLARE(avx2)
LOWBIT_EMBEDDING_DECLARE(avx512)
LOWBIT_EMBEDDING_DECLARE(neon)
#undef LOWBIT_EMBEDDING_DECLARE

// ---- table conversion (scalar; FBGEMM's reference formulas, see README.md)
// fp32 rows [rows, dim] -> rows of `format` with stride row_bytes(format, dim). f32 copies, f16 rounds
// to nearest even, q8/q4/q2 quantize rowwise.
struct QuantizeOptions {
  // q4/q2: choose each row's range by PyTorch's greedy L2 search (embedding_bag_4bit_prepack(...,
  // optimized_qparams=True, nbins, ratio)) instead of [min, max]; q8/f32/f16 ignore it
  bool optimized = false;
  int64_t nbins = 200;   // >= 1
  double ratio = 0.16;   // in [0, 1]
};
void quantize_table(Format format, const float* src, int64_t rows, int64_t dim, uint8_t* dst,
                    const QuantizeOptions& options = QuantizeOptions());
// Rows of `format` (stride row_stride) -> fp32 [rows, dim].
void dequantize_table(Format format, const uint8_t* src, int64_t rows, int64_t dim, int64_t row_stride,
                      float* dst);

// ---- helpers shared by kernels, tests and the binding
// IEEE binary32 -> binary16, round to nearest even (overflow -> Inf, subnormals kept, NaN quiet).
inline uint16_t fp16_from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u | ((ax >> 13) & 0x3FFu) : 0));
  if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);  // rounds to >= 65520: Inf
  if (ax < 0x38800000u) {                                     // below 2^-14: subnormal half (or 0)
    if (ax < 0x33000000u) return (uint16_t)sign;              // < 2^-25: rounds to 0 (tie at 2^-25 -> 0)
    const uint32_t e = ax >> 23;                              // 102..112
    const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - e;                           // 14..24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((ax - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rem = ax & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)(sign | h);
}
inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FFu;
  uint32_t x;
  if (e == 0x1F) {
    x = sign | 0x7F800000u | (m << 13);
  } else if (e != 0) {
    x = sign | ((e + 112) << 23) | (m << 13);
  } else if (m == 0) {
    x = sign;
  } else {  // subnormal: m * 2^-24, exact in fp32
    float f = (float)m * 5.9604644775390625e-8f;
    std::memcpy(&x, &f, 4);
    x |= sign;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

inline int64_t load_int(const void* p, IntType t, int64_t i) {
  return t == IntType::i32 ? (int64_t) static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

// Walks the bags of a validated request from bag_begin: begin() is the first index position of
// the current bag, end() one past its last; next() moves on. Used by every kernel.
class BagCursor {
 public:
  BagCursor(const Bags& b, int64_t bag) : b_(b), bag_(bag) {
    if (b.form == BagForm::lengths) {
      begin_ = 0;
      for (int64_t i = 0; i < bag; i++) begin_ += load_int(b.offsets, b.offset_type, i);
    } else {
      begin_ = bag < b.num_bags || b.form == BagForm::offsets_include_last
                   ? load_int(b.offsets, b.offset_type, bag)
                   : b.num_indices;
    }
    end_ = bag < b.num_bags ? compute_end() : begin_;
  }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  void next() {
    bag_++;
    begin_ = end_;
    if (bag_ < b_.num_bags) end_ = compute_end();
  }
  // First index position of bag `bag` (bag <= num_bags) without moving the cursor.
  static int64_t start_of(const Bags& b, int64_t bag) { return BagCursor(b, bag).begin(); }

 private:
  int64_t compute_end() const {
    if (b_.form == BagForm::lengths) return begin_ + load_int(b_.offsets, b_.offset_type, bag_);
    if (b_.form == BagForm::offsets && bag_ + 1 == b_.num_bags) return b_.num_indices;
    return load_int(b_.offsets, b_.offset_type, bag_ + 1);
  }
  const Bags& b_;
  int64_t bag_, begin_ = 0, end_ = 0;
};

}  // namespace embedding
}  // namespace lowbit

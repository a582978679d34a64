// Validation of an embedding-bag request: everything a kernel relies on, checked once, in a fixed
// order (bag structure first, then indices by position), so the binding can refuse a bad request
// before any output is written. Baseline code shared by every ISA.
#include "kernels/embedding/embedding.h"

namespace lowbit {
namespace embedding {

const char* error_message(Error e) {
  switch (e) {
    case Error::none: return "ok";
    case Error::bad_table: return "bad table (format, dim, rows or row stride)";
    case Error::bad_count: return "bad counts or missing arrays";
    case Error::offsets_first_not_zero: return "offsets[0] must be 0";
    case Error::offsets_decreasing: return "offsets must be non-decreasing";
    case Error::offset_out_of_range: return "offset is greater than the number of indices";
    case Error::last_offset_mismatch: return "last offset must equal the number of indices";
    case Error::negative_length: return "length is negative";
    case Error::lengths_sum_mismatch: return "lengths must sum to the number of indices";
    case Error::index_negative: return "index is negative";
    case Error::index_out_of_range: return "index is out of range";
    case Error::remap_out_of_range: return "remap entry is out of range";
  }
  return "unknown error";
}

namespace {

Status fail(Error e, int64_t bag, int64_t position, int64_t value) {
  Status s;
  s.error = e;
  s.bag = bag;
  s.position = position;
  s.value = value;
  return s;
}

Status check_structure(const Bags& b) {
  const int64_t n = b.num_indices, nb = b.num_bags;
  if (b.form == BagForm::lengths) {
    int64_t sum = 0;
    for (int64_t i = 0; i < nb; i++) {
      const int64_t len = load_int(b.offsets, b.offset_type, i);
      if (len < 0) return fail(Error::negative_length, i, i, len);
      if (len > n - sum) return fail(Error::lengths_sum_mismatch, i, i, len);
      sum += len;
    }
    if (sum != n) return fail(Error::lengths_sum_mismatch, nb - 1, nb - 1, sum);
    return Status{};
  }
  const int64_t entries = b.form == BagForm::offsets_include_last ? nb + 1 : nb;
  int64_t prev = 0;
  for (int64_t k = 0; k < entries; k++) {
    const int64_t o = load_int(b.offsets, b.offset_type, k);
    const int64_t bag = k < nb ? k : nb - 1;
    if (k == 0 && o != 0) return fail(Error::offsets_first_not_zero, 0, 0, o);
    if (o < prev) return fail(Error::offsets_decreasing, bag, k, o);
    if (o > n) return fail(Error::offset_out_of_range, bag, k, o);
    prev = o;
  }
  if (b.form == BagForm::offsets_include_last && prev != n)
    return fail(Error::last_offset_mismatch, nb - 1 < 0 ? 0 : nb - 1, nb, prev);
  return Status{};
}

// The common case first: are all indices (and the remap entries they select) valid? One tight loop,
// no bag walk (the walk alongside cost ~9% of a 512-bag q4 D = 64 call); only a request that fails
// here is walked again by position to name the bag. A negative index is a huge unsigned value.
template <typename Idx>
bool indices_ok(const Idx* idx, int64_t n, uint64_t limit, const int32_t* remap, int64_t rows) {
  uint64_t top = 0;
  for (int64_t p = 0; p < n; p++) {
    const uint64_t i = (uint64_t)(int64_t)idx[p];
    top = i > top ? i : top;
  }
  if (top >= limit) return false;
  if (!remap) return true;
  // remap entries in [-1, rows): +1 puts them in [0, rows]
  uint64_t rtop = 0;
  for (int64_t p = 0; p < n; p++) {
    const uint64_t r = (uint64_t)((int64_t)remap[idx[p]] + 1);
    rtop = r > rtop ? r : rtop;
  }
  return rtop <= (uint64_t)rows;
}

}  // namespace

Status validate(const Request& r) {
  const Table& t = r.table;
  const Bags& b = r.bags;
  const int64_t rb = row_bytes(t.format, t.dim);
  if (rb == 0 || t.rows < 0 || t.row_stride < rb || (t.rows > 0 && !t.data) ||
      (t.remap && t.remap_size < 0))
    return fail(Error::bad_table, -1, -1, 0);
  if (t.hot_data && (t.remap || !t.hot_index || (t.format != Format::q4 && t.format != Format::q2) ||
                     (t.hot_format != Format::f32 && t.hot_format != Format::f16) || t.hot_rows < 1 ||
                     t.hot_rows > kMaxHotRows || t.hot_stride < row_bytes(t.hot_format, t.dim)))
    return fail(Error::bad_table, -1, -1, 0);
  if (b.num_indices < 0 || b.num_bags < 0 || (b.num_indices > 0 && !b.indices) ||
      (!b.offsets && (b.num_bags > 0 || b.form == BagForm::offsets_include_last)) ||
      (b.num_bags > 0 && (!r.out || r.out_stride < t.dim)) ||
      (r.out_type != OutType::f32 && r.out_type != OutType::f16) ||
      (b.form == BagForm::offsets && b.num_bags == 0 && b.num_indices > 0))
    return fail(Error::bad_count, -1, -1, 0);
  if (b.form == BagForm::offsets_include_last && b.num_bags == 0) {
    // one entry, which must be 0 == num_indices
    const int64_t o = load_int(b.offsets, b.offset_type, 0);
    if (o != 0) return fail(Error::offsets_first_not_zero, 0, 0, o);
    if (b.num_indices != 0) return fail(Error::last_offset_mismatch, 0, 0, o);
    return Status{};
  }
  Status s = check_structure(b);
  if (!s.ok()) return s;
  // indices, by position; the bag of a bad position is found by walking the bags alongside
  const int64_t limit = t.remap ? t.remap_size : t.rows;
  const bool ok = b.index_type == IntType::i32
                      ? indices_ok(static_cast<const int32_t*>(b.indices), b.num_indices, (uint64_t)limit, t.remap, t.rows)
                      : indices_ok(static_cast<const int64_t*>(b.indices), b.num_indices, (uint64_t)limit, t.remap, t.rows);
  if (ok) return Status{};
  BagCursor cur(b, 0);
  int64_t bag = 0;
  for (int64_t p = 0; p < b.num_indices; p++) {
    while (p >= cur.end()) {
      cur.next();
      bag++;
    }
    const int64_t i = load_int(b.indices, b.index_type, p);
    if (i < 0) return fail(Error::index_negative, bag, p, i);
    if (i >= limit) return fail(Error::index_out_of_range, bag, p, i);
    if (t.remap) {
      const int64_t row = t.remap[i];
      if (row < -1 || row >= t.rows) return fail(Error::remap_out_of_range, bag, p, row);
    }
  }
  return Status{};
}

}  // namespace embedding
}  // namespace lowbit

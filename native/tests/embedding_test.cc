// Embedding bag: every ISA kernel against the scalar reference, bit for bit; validation; quantizers
// (hand-derived FBGEMM bytes, round trips). Tables end at a PROT_NONE page, so a kernel that reads a
// byte past the last row faults; outputs live in Guarded buffers, so a write past D is caught.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/embedding/embedding.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;
using namespace lowbit::embedding;

namespace {

const Format kFormats[] = {Format::f32, Format::f16, Format::q8, Format::q4, Format::q2};
const char* fmt_name(Format f) {
  switch (f) {
    case Format::f32: return "f32";
    case Format::f16: return "f16";
    case Format::q8: return "q8";
    case Format::q4: return "q4";
    case Format::q2: return "q2";
  }
  return "?";
}
const int64_t kDims[] = {1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 255, 256, 512};

// Bytes that end exactly at an inaccessible page: reading past the end faults.
class FencedBytes {
 public:
  explicit FencedBytes(size_t n) : n_(n) {
    page_ = (size_t)sysconf(_SC_PAGESIZE);
    span_ = (n + page_ - 1) / page_ * page_ + page_;
    base_ = (uint8_t*)mmap(nullptr, span_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(base_ + span_ - page_, page_, PROT_NONE);
  }
  ~FencedBytes() { munmap(base_, span_); }
  uint8_t* data() { return base_ + span_ - page_ - n_; }

 private:
  size_t n_, page_, span_;
  uint8_t* base_;
};

EmbeddingBagFn kernel_for(Isa isa) { return embedding_kernels(isa).embedding_bag; }

struct Scenario {
  Format format;
  int64_t dim, rows;
  int64_t stride_pad;  // extra bytes per row beyond row_bytes
  IntType index_type, offset_type;
  BagForm form;
  bool weights, mean, remap;
  int64_t out_pad;  // out_stride = dim + out_pad
  int64_t num_bags, max_len;
  bool mixed = false;  // q4/q2: some rows hot, in hot_format (Table::hot_data)
  Format hot_format = Format::f32;
};

std::string describe(const Scenario& s) {
  std::ostringstream os;
  os << fmt_name(s.format) << " D=" << s.dim << " rows=" << s.rows << " pad=" << s.stride_pad
     << " idx=" << (s.index_type == IntType::i32 ? 32 : 64) << " off=" << (s.offset_type == IntType::i32 ? 32 : 64)
     << " form=" << (int)s.form << " w=" << s.weights << " mean=" << s.mean << " remap=" << s.remap
     << " bags=" << s.num_bags << (s.mixed && !s.remap ? (s.hot_format == Format::f16 ? " mixed(f16)" : " mixed(f32)") : "");
  return os.str();
}

// Everything one request needs, owned.
struct Built {
  std::unique_ptr<FencedBytes> table, hot, hot_index;
  std::vector<int32_t> idx32, remap;
  std::vector<int64_t> idx64;
  std::vector<int32_t> off32;
  std::vector<int64_t> off64;
  std::vector<float> weights;
  Request req;
};

// The hot index of a mixed table whose hot ids (ascending) are `ids` (embedding.h, Table::hot_index).
void build_hot_index(const std::vector<int64_t>& ids, int64_t rows, uint8_t* index) {
  std::memset(index, 0, (size_t)hot_index_bytes(rows));
  for (int64_t id : ids) index[12 * (id >> 6) + (id & 63) / 8] |= (uint8_t)(1u << (id & 7));
  uint32_t before = 0;
  for (int64_t g = 0; g < (rows + 63) / 64; g++) {
    std::memcpy(index + 12 * g + 8, &before, 4);
    uint64_t bits;
    std::memcpy(&bits, index + 12 * g, 8);
    before += (uint32_t)__builtin_popcountll(bits);
  }
}

void build(const Scenario& s, Built* b) {
  const int64_t rb = row_bytes(s.format, s.dim), stride = rb + s.stride_pad;
  // rows from quantizing random fp32 (realistic scales), with the stride padding filled with junk
  std::vector<float> x((size_t)(s.rows * s.dim));
  for (float& v : x) v = rand_float(-2.0f, 2.0f) * (rand_int(0, 3) == 0 ? 100.0f : 1.0f);
  std::vector<uint8_t> packed((size_t)(s.rows * rb));
  quantize_table(s.format, x.data(), s.rows, s.dim, packed.data());
  int64_t hot_rows = 0;
  const bool mixed = s.mixed && !s.remap;  // scenarios varied after random_scenario may add a remap
  if (mixed) {  // a random subset of rows hot: their values in hot_format, a marker in the q row
    std::vector<int64_t> ids;
    for (int64_t r = 0; r < s.rows; r++)
      if (rand_int(0, 2) == 0) ids.push_back(r);
    if (ids.empty()) ids.push_back(0);
    hot_rows = (int64_t)ids.size();
    const int64_t hb = row_bytes(s.hot_format, s.dim);
    std::vector<float> hx((size_t)(hot_rows * s.dim));
    for (int64_t k = 0; k < hot_rows; k++) std::memcpy(&hx[(size_t)(k * s.dim)], &x[(size_t)(ids[k] * s.dim)], (size_t)s.dim * 4);
    b->hot.reset(new FencedBytes((size_t)(hot_rows * hb)));
    quantize_table(s.hot_format, hx.data(), hot_rows, s.dim, b->hot->data());
    b->hot_index.reset(new FencedBytes((size_t)hot_index_bytes(s.rows)));
    build_hot_index(ids, s.rows, b->hot_index->data());
  }
  const size_t bytes = (size_t)(s.rows ? (s.rows - 1) * stride + rb : 0);
  b->table.reset(new FencedBytes(bytes ? bytes : 1));
  uint8_t* t = b->table->data();
  for (int64_t r = 0; r < s.rows; r++) {
    std::memcpy(t + r * stride, packed.data() + r * rb, (size_t)rb);
    if (r + 1 < s.rows)
      for (int64_t k = rb; k < stride; k++) t[r * stride + k] = (uint8_t)rand_int(0, 255);
  }
  // bags
  std::vector<int64_t> lens((size_t)s.num_bags);
  int64_t n = 0;
  for (auto& l : lens) {
    const int kind = (int)rand_int(0, 5);
    l = kind == 0 ? 0 : kind == 1 ? 1 : rand_int(0, s.max_len);
    n += l;
  }
  const int64_t id_limit = s.remap ? s.rows + 7 : s.rows;
  if (s.remap) {
    b->remap.resize((size_t)id_limit);
    for (auto& m : b->remap) m = rand_int(0, 3) == 0 ? -1 : (int32_t)rand_int(0, s.rows - 1);
  }
  b->idx32.clear();
  b->idx64.clear();
  for (int64_t p = 0; p < n; p++) {
    const int64_t i = rand_int(0, id_limit - 1);
    b->idx32.push_back((int32_t)i);
    b->idx64.push_back(i);
  }
  std::vector<int64_t> arr;
  if (s.form == BagForm::lengths) {
    arr = lens;
  } else {
    int64_t o = 0;
    for (int64_t l : lens) {
      arr.push_back(o);
      o += l;
    }
    if (s.form == BagForm::offsets_include_last) arr.push_back(o);
  }
  b->off64 = arr;
  b->off32.assign(arr.begin(), arr.end());
  b->weights.clear();
  for (int64_t p = 0; p < n; p++) b->weights.push_back(rand_float(-1.5f, 1.5f));

  Request& q = b->req;
  q = Request{};
  q.table.data = t;
  q.table.rows = s.rows;
  q.table.dim = s.dim;
  q.table.row_stride = stride;
  q.table.format = s.format;
  if (s.remap) {
    q.table.remap = b->remap.data();
    q.table.remap_size = id_limit;
  }
  if (mixed) {
    q.table.hot_index = b->hot_index->data();
    q.table.hot_data = b->hot->data();
    q.table.hot_rows = hot_rows;
    q.table.hot_stride = row_bytes(s.hot_format, s.dim);
    q.table.hot_format = s.hot_format;
  }
  q.bags.indices = s.index_type == IntType::i32 ? (const void*)b->idx32.data() : (const void*)b->idx64.data();
  q.bags.index_type = s.index_type;
  q.bags.num_indices = n;
  q.bags.offsets = s.offset_type == IntType::i32 ? (const void*)b->off32.data() : (const void*)b->off64.data();
  q.bags.offset_type = s.offset_type;
  q.bags.form = s.form;
  q.bags.num_bags = s.num_bags;
  q.bags.weights = s.weights ? b->weights.data() : nullptr;
  q.bags.pooling = s.mean ? Pooling::mean : Pooling::sum;
  q.out_stride = s.dim + s.out_pad;
}

Scenario random_scenario(Format f, int64_t dim) {
  Scenario s;
  s.format = f;
  s.dim = dim;
  s.rows = rand_int(1, 40);
  s.stride_pad = rand_int(0, 2) == 0 ? rand_int(1, 9) : 0;
  s.index_type = rand_int(0, 1) ? IntType::i32 : IntType::i64;
  s.offset_type = rand_int(0, 1) ? IntType::i32 : IntType::i64;
  s.form = (BagForm)rand_int(0, 2);
  s.weights = rand_int(0, 1);
  s.mean = rand_int(0, 1);
  s.remap = rand_int(0, 3) == 0;
  s.out_pad = rand_int(0, 1) ? 0 : rand_int(1, 5);
  s.num_bags = rand_int(1, 7);
  s.max_len = dim > 128 ? 6 : 12;
  if ((f == Format::q4 || f == Format::q2) && rand_int(0, 2) == 0) {
    s.mixed = true;
    s.remap = false;
    s.hot_format = rand_int(0, 1) ? Format::f16 : Format::f32;
  }
  return s;
}

// Runs `fn` over the whole request, and again as two sub-ranges; checks bits against ref.
void check_against_ref(EmbeddingBagFn fn, const Scenario& s) {
  Built b;
  build(s, &b);
  const size_t out_n = (size_t)(s.num_bags * (s.dim + s.out_pad));
  Guarded<float> want(out_n), got(out_n), split(out_n);
  Request r = b.req;
  r.out = want.data();
  LOWBIT_CHECK(validate(r).ok(), describe(s) << " validate: " << error_message(validate(r).error));
  embedding_bag__ref(r, 0, s.num_bags);
  r.out = got.data();
  fn(r, 0, s.num_bags);
  r.out = split.data();
  const int64_t k = rand_int(0, s.num_bags);
  fn(r, 0, k);
  fn(r, k, s.num_bags);
  for (int64_t bag = 0; bag < s.num_bags; bag++) {
    for (int64_t d = 0; d < s.dim; d++) {
      const size_t i = (size_t)(bag * (s.dim + s.out_pad) + d);
      if (!same_bits(want[i], got[i]) || !same_bits(want[i], split[i])) {
        LOWBIT_CHECK(false, describe(s) << " bag=" << bag << " d=" << d << " want=" << want[i]
                                        << " got=" << got[i] << " split=" << split[i]);
        return;
      }
    }
    // the gap between output rows is never written
    for (int64_t d = s.dim; d < s.dim + s.out_pad; d++) {
      const size_t i = (size_t)(bag * (s.dim + s.out_pad) + d);
      uint32_t g, sp;
      std::memcpy(&g, &got[i], 4);
      std::memcpy(&sp, &split[i], 4);
      LOWBIT_CHECK(g == 0xA5A5A5A5u && sp == 0xA5A5A5A5u, describe(s) << " wrote the stride gap");
    }
  }
  LOWBIT_CHECK(got.guards_intact() && split.guards_intact(), describe(s) << " guard bytes overwritten");
  if (current_failed()) return;
  // fp16 output of the same request: bit for bit the reference's, which is the fp32 result above
  // rounded to nearest even; the stride gap and the guards are left alone
  Guarded<uint16_t> want16(out_n), got16(out_n), split16(out_n);
  r.out_type = OutType::f16;
  r.out = want16.data();
  embedding_bag__ref(r, 0, s.num_bags);
  r.out = got16.data();
  fn(r, 0, s.num_bags);
  r.out = split16.data();
  fn(r, 0, k);
  fn(r, k, s.num_bags);
  for (int64_t bag = 0; bag < s.num_bags; bag++) {
    for (int64_t d = 0; d < s.dim + s.out_pad; d++) {
      const size_t i = (size_t)(bag * (s.dim + s.out_pad) + d);
      const uint16_t expect = d < s.dim ? fp16_from_float(want[i]) : (uint16_t)0xA5A5;
      if (want16[i] != expect || got16[i] != expect || split16[i] != expect) {
        LOWBIT_CHECK(false, describe(s) << " f16 bag=" << bag << " d=" << d << " fp32=" << want[i] << " expect="
                                        << expect << " ref=" << want16[i] << " got=" << got16[i]
                                        << " split=" << split16[i]);
        return;
      }
    }
  }
  LOWBIT_CHECK(got16.guards_intact() && split16.guards_intact(), describe(s) << " f16 guard bytes overwritten");
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

// binary32 -> binary16 rounding, hand-derived: ties to even in normal and subnormal range, the
// overflow threshold (65520 rounds to Inf, just below it to 65504), NaN kept quiet with its sign.
LOWBIT_TEST(embedding_fp16_from_float_edge_cases) {
  const struct {
    uint32_t in;
    uint16_t out;
  } cases[] = {
      {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, {0x3F800000u, 0x3C00},  // 0, -0, 1
      {0x3F801000u, 0x3C00}, {0x3F803000u, 0x3C02}, {0x3F801001u, 0x3C01},  // 1 + half ulp ties, above
      {0x477FE000u, 0x7BFF}, {0x477FEFFFu, 0x7BFF}, {0x477FF000u, 0x7C00},  // 65504, < 65520, 65520
      {0xC77FF000u, 0xFC00}, {0x501502F9u, 0x7C00},                          // -65520, 1e10
      {0x7F800000u, 0x7C00}, {0xFF800000u, 0xFC00},                          // +-Inf
      {0x7FC00000u, 0x7E00}, {0xFFFFFFFFu, 0xFFFF}, {0x7F800001u, 0x7E00},  // qNaN, -NaN all ones, sNaN
      {0x7FA00000u, 0x7F00},                                                 // sNaN with payload: quieted
      {0x33800000u, 0x0001}, {0x33000000u, 0x0000}, {0x33000001u, 0x0001},  // 2^-24, 2^-25 tie, above
      {0x33C00000u, 0x0002}, {0x34200000u, 0x0002}, {0xB3C00000u, 0x8002},  // 1.5, 2.5 x 2^-24 ties
      {0x387FC000u, 0x03FF}, {0x387FE000u, 0x0400}, {0x38800000u, 0x0400},  // max subnormal, tie up, 2^-14
      {0x00000001u, 0x0000}, {0x807FFFFFu, 0x8000},                          // fp32 subnormals -> +-0
  };
  for (const auto& c : cases)
    LOWBIT_CHECK(fp16_from_float(float_of(c.in)) == c.out,
                 std::hex << c.in << " -> " << fp16_from_float(float_of(c.in)) << ", want " << c.out);
  // every non-NaN half widens and rounds back to itself
  for (uint32_t h = 0; h < 0x10000u; h++)
    if ((h & 0x7C00u) != 0x7C00u || (h & 0x3FFu) == 0)
      LOWBIT_CHECK(fp16_from_float(fp16_to_float((uint16_t)h)) == h, std::hex << h);
}

// The fp16 stores of every ISA on the values that matter for conversion: one-row bags of an f32
// table give out = row exactly (fma(1, x, +0) = x, -0 -> +0, NaN quieted), so the fp16 output must
// be fp16_from_float of the row value: ties, overflow, Inf, NaN, subnormals, and random bit patterns
// (full vectors and tails: D = 37).
LOWBIT_TEST(embedding_bag_fp16_output_conversion_edge_cases) {
  std::vector<uint32_t> vals = {0x00000000u, 0x80000000u, 0x3F800000u, 0x3F801000u, 0x3F803000u, 0x477FE000u,
                                0x477FEFFFu, 0x477FF000u, 0xC77FF000u, 0x501502F9u, 0x7F800000u, 0xFF800000u,
                                0x7FC00000u, 0xFFFFFFFFu, 0x7FA00000u, 0x33800000u, 0x33000000u, 0x33000001u,
                                0x33C00000u, 0x34200000u, 0xB3C00000u, 0x387FC000u, 0x387FE000u, 0x38800000u,
                                0x00000001u, 0x807FFFFFu, 0x3EAAAAABu, 0x40490FDBu};
  const int64_t D = 37;
  while (vals.size() % D != 0 || vals.size() < 64 * D) vals.push_back((uint32_t)rand_int(0, 0xFFFFFFFFll));
  const int64_t rows = (int64_t)vals.size() / D;
  std::vector<int32_t> idx((size_t)rows), len((size_t)rows, 1);
  for (int64_t i = 0; i < rows; i++) idx[(size_t)i] = (int32_t)i;
  for_each_isa([&](Isa isa) {
    Request r;
    r.table.data = reinterpret_cast<const uint8_t*>(vals.data());
    r.table.rows = rows;
    r.table.dim = D;
    r.table.row_stride = 4 * D;
    r.table.format = Format::f32;
    r.bags.indices = idx.data();
    r.bags.index_type = IntType::i32;
    r.bags.num_indices = rows;
    r.bags.offsets = len.data();
    r.bags.offset_type = IntType::i32;
    r.bags.form = BagForm::lengths;
    r.bags.num_bags = rows;
    r.out_stride = D;
    r.out_type = OutType::f16;
    std::vector<uint16_t> want((size_t)(rows * D)), got(want.size());
    r.out = want.data();
    embedding_bag__ref(r, 0, rows);
    r.out = got.data();
    kernel_for(isa)(r, 0, rows);
    for (size_t i = 0; i < vals.size(); i++) {
      const float x = float_of(vals[i]);
      // the row value as the kernel sees it after fma(1, x, +0): -0 -> +0, NaN quieted
      const uint16_t expect = x != x ? fp16_from_float(float_of(vals[i] | 0x00400000u))
                              : x == 0.0f ? (uint16_t)0 : fp16_from_float(x);
      if (got[i] != expect || want[i] != expect) {
        LOWBIT_CHECK(false, "value " << std::hex << vals[i] << " want " << expect << " ref " << want[i] << " got "
                                     << got[i]);
        return;
      }
    }
  });
}

LOWBIT_TEST(embedding_bag_matches_reference_all_dims) {
  for_each_isa([](Isa isa) {
    EmbeddingBagFn fn = kernel_for(isa);
    for (Format f : kFormats)
      for (int64_t dim : kDims)
        for (int rep = 0; rep < 4; rep++) check_against_ref(fn, random_scenario(f, dim));
  });
}

// Every combination of the options, at a few D around the vector and block widths.
LOWBIT_TEST(embedding_bag_matches_reference_all_options) {
  for_each_isa([](Isa isa) {
    EmbeddingBagFn fn = kernel_for(isa);
    for (Format f : kFormats) {
      for (int64_t dim : {5, 24, 67}) {
        for (int mask = 0; mask < 64; mask++) {
          Scenario s = random_scenario(f, dim);
          s.index_type = mask & 1 ? IntType::i32 : IntType::i64;
          s.offset_type = mask & 2 ? IntType::i32 : IntType::i64;
          s.weights = mask & 4;
          s.mean = mask & 8;
          s.remap = mask & 16;
          s.form = (BagForm)((mask >> 5) + (rand_int(0, 1) ? 1 : 0));  // all three forms over the masks
          check_against_ref(fn, s);
        }
      }
    }
  });
}

// Long bags and many bags: prefetch runs far ahead and across bag boundaries.
LOWBIT_TEST(embedding_bag_matches_reference_long_bags) {
  for_each_isa([](Isa isa) {
    EmbeddingBagFn fn = kernel_for(isa);
    for (Format f : kFormats) {
      for (int64_t dim : {16, 33, 100}) {
        Scenario s = random_scenario(f, dim);
        s.rows = 300;
        s.num_bags = 9;
        s.max_len = 60;
        check_against_ref(fn, s);
      }
    }
  });
}

// D > 256: the AVX2 kernel walks a bag in chunks of 16 rows with partial sums in a buffer; bags
// longer than a chunk (and exactly one or two chunks), every option, full and partial last blocks.
LOWBIT_TEST(embedding_bag_matches_reference_wide_chunked) {
  for_each_isa([](Isa isa) {
    EmbeddingBagFn fn = kernel_for(isa);
    for (Format f : kFormats) {
      for (int64_t dim : {257, 300, 320, 520, 1100, 2100}) {
        for (int mask = 0; mask < 16; mask++) {
          Scenario s = random_scenario(f, dim);
          s.rows = 50;
          s.num_bags = 5;
          s.max_len = mask & 8 ? 48 : 33;  // crosses 16-row chunk boundaries, hits 16 and 32 exactly
          s.weights = mask & 1;
          s.mean = mask & 2;
          s.remap = mask & 4;
          check_against_ref(fn, s);
        }
      }
    }
  });
}

// The reference itself against hand-computed sums (so that ref is the formula, not just self-consistent).
LOWBIT_TEST(embedding_bag_reference_formula) {
  // q8, D = 3, two rows; bag {0, 1, 0} weighted, mean
  const int64_t D = 3;
  uint8_t t[2][11];
  const uint8_t codes[2][3] = {{0, 10, 255}, {7, 1, 128}};
  const float sb[2][2] = {{0.5f, -1.0f}, {0.03125f, 2.0f}};
  for (int r = 0; r < 2; r++) {
    std::memcpy(t[r], codes[r], 3);
    std::memcpy(t[r] + 3, sb[r], 8);
  }
  const int64_t idx[3] = {0, 1, 0};
  const int64_t off[1] = {0};
  const float w[3] = {1.0f, 0.5f, -2.0f};
  Request q;
  q.table.data = &t[0][0];
  q.table.rows = 2;
  q.table.dim = D;
  q.table.row_stride = 11;
  q.table.format = Format::q8;
  q.bags.indices = idx;
  q.bags.num_indices = 3;
  q.bags.offsets = off;
  q.bags.num_bags = 1;
  q.bags.weights = w;
  q.bags.pooling = Pooling::mean;
  float out[3];
  q.out = out;
  q.out_stride = 3;
  LOWBIT_CHECK(validate(q).ok(), "validate");
  embedding_bag__ref(q, 0, 1);
  for (int d = 0; d < 3; d++) {
    float acc = 0.0f;
    for (int p = 0; p < 3; p++) {
      const int r = (int)idx[p];
      const float s = w[p] * sb[r][0], c = w[p] * sb[r][1];
      acc = std::fma(s, (float)codes[r][d], acc + c);
    }
    acc = acc * (1.0f / 3.0f);
    LOWBIT_CHECK(same_bits(acc, out[d]), "d=" << d << " want " << acc << " got " << out[d]);
  }
  // the values themselves: d=2: 0.5*255-1 + 0.5*(0.03125*128+2) - 2*(0.5*255-1) = -126.5 + 3 = -123.5, /3
  LOWBIT_CHECK(std::fabs(out[2] - (-123.5f / 3.0f)) < 1e-4f, "value " << out[2]);
}

LOWBIT_TEST(embedding_bag_empty_and_pruned_bags_are_zero) {
  for_each_isa([](Isa isa) {
    EmbeddingBagFn fn = kernel_for(isa);
    for (Format f : kFormats) {
      Scenario s = random_scenario(f, 19);
      s.remap = true;
      Built b;
      build(s, &b);
      // all ids pruned
      for (auto& m : b.remap) m = -1;
      Guarded<float> out((size_t)(s.num_bags * (s.dim + s.out_pad)));
      for (size_t i = 0; i < out.size(); i++) out[i] = 7.0f;
      Request r = b.req;
      r.out = out.data();
      fn(r, 0, s.num_bags);
      bool zero = true;
      for (int64_t bag = 0; bag < s.num_bags; bag++)
        for (int64_t d = 0; d < s.dim; d++)
          if (!same_bits(out[(size_t)(bag * (s.dim + s.out_pad) + d)], 0.0f)) zero = false;
      LOWBIT_CHECK(zero, describe(s));
    }
  });
}

// ---- validation
namespace {

struct ValCase {
  std::vector<int64_t> idx, arr;
  BagForm form;
  int64_t num_bags;
  Error want;
  int64_t bag, position;
};

}  // namespace

LOWBIT_TEST(embedding_validate_catches_each_bad_input) {
  const int64_t rows = 10;
  std::vector<uint8_t> table((size_t)(rows * row_bytes(Format::q8, 4)));
  const std::vector<ValCase> cases = {
      {{1, 2, 3}, {0, 1}, BagForm::offsets, 2, Error::none, -1, -1},
      {{1, -2, 3}, {0, 1}, BagForm::offsets, 2, Error::index_negative, 1, 1},
      {{1, 2, 10}, {0, 1}, BagForm::offsets, 2, Error::index_out_of_range, 1, 2},
      {{9, 2, 3}, {0, 3}, BagForm::offsets, 2, Error::none, -1, -1},
      {{1, 2, 3}, {1, 2}, BagForm::offsets, 2, Error::offsets_first_not_zero, 0, 0},
      {{1, 2, 3}, {0, 2, 1}, BagForm::offsets, 3, Error::offsets_decreasing, 2, 2},
      {{1, 2, 3}, {0, 4}, BagForm::offsets, 2, Error::offset_out_of_range, 1, 1},
      {{1, 2, 3}, {0, 1, 3}, BagForm::offsets_include_last, 2, Error::none, -1, -1},
      {{1, 2, 3}, {0, 1, 2}, BagForm::offsets_include_last, 2, Error::last_offset_mismatch, 1, 2},
      {{1, 2, 3}, {0, 1, 4}, BagForm::offsets_include_last, 2, Error::offset_out_of_range, 1, 2},
      {{1, 2, 3}, {1, 0, 2}, BagForm::lengths, 3, Error::none, -1, -1},
      {{1, 2, 3}, {1, 1}, BagForm::lengths, 2, Error::lengths_sum_mismatch, 1, 1},
      {{1, 2, 3}, {2, 2}, BagForm::lengths, 2, Error::lengths_sum_mismatch, 1, 1},
      {{1, 2, 3}, {4, -1}, BagForm::lengths, 2, Error::lengths_sum_mismatch, 0, 0},
      {{1, 2, 3}, {3, -1, 1}, BagForm::lengths, 3, Error::negative_length, 1, 1},
      {{1, 2, 3, 4}, {0, 0, 2, 2}, BagForm::offsets, 4, Error::none, -1, -1},
      {{1, 2, 3, 14}, {0, 0, 2, 2}, BagForm::offsets, 4, Error::index_out_of_range, 3, 3},
  };
  for (size_t k = 0; k < cases.size(); k++) {
    const ValCase& c = cases[k];
    for (int types = 0; types < 4; types++) {
      std::vector<int32_t> i32(c.idx.begin(), c.idx.end()), a32(c.arr.begin(), c.arr.end());
      Request q;
      q.table.data = table.data();
      q.table.rows = rows;
      q.table.dim = 4;
      q.table.row_stride = row_bytes(Format::q8, 4);
      q.table.format = Format::q8;
      q.bags.index_type = types & 1 ? IntType::i32 : IntType::i64;
      q.bags.indices = types & 1 ? (const void*)i32.data() : (const void*)c.idx.data();
      q.bags.offset_type = types & 2 ? IntType::i32 : IntType::i64;
      q.bags.offsets = types & 2 ? (const void*)a32.data() : (const void*)c.arr.data();
      q.bags.num_indices = (int64_t)c.idx.size();
      q.bags.form = c.form;
      q.bags.num_bags = c.num_bags;
      float out[64];
      q.out = out;
      q.out_stride = 4;
      const Status s = validate(q);
      LOWBIT_CHECK(s.error == c.want && (c.want == Error::none || (s.bag == c.bag && s.position == c.position)),
                   "case " << k << ": got " << error_message(s.error) << " bag " << s.bag << " pos "
                           << s.position << ", want " << error_message(c.want) << " bag " << c.bag
                           << " pos " << c.position);
    }
  }
  // remap: ids bounded by remap_size, entries bounded by rows
  {
    const int32_t remap[4] = {3, -1, 9, 10};
    const int64_t idx[4] = {0, 1, 2, 3};
    const int64_t off[2] = {0, 2};
    Request q;
    q.table.data = table.data();
    q.table.rows = rows;
    q.table.dim = 4;
    q.table.row_stride = row_bytes(Format::q8, 4);
    q.table.format = Format::q8;
    q.table.remap = remap;
    q.table.remap_size = 4;
    q.bags.indices = idx;
    q.bags.offsets = off;
    q.bags.num_indices = 3;  // ids 0..2: fine
    q.bags.num_bags = 2;
    float out[8];
    q.out = out;
    q.out_stride = 4;
    LOWBIT_CHECK(validate(q).ok(), "remap ok case: " << error_message(validate(q).error));
    q.bags.num_indices = 4;  // id 3 -> row 10 >= rows
    Status s = validate(q);
    LOWBIT_CHECK(s.error == Error::remap_out_of_range && s.bag == 1 && s.position == 3,
                 "remap bad row: " << error_message(s.error));
    const int64_t idx2[4] = {0, 1, 2, 4};  // id 4 >= remap_size
    q.bags.indices = idx2;
    s = validate(q);
    LOWBIT_CHECK(s.error == Error::index_out_of_range && s.position == 3, "remap id range");
  }
  // bad table / counts
  {
    Request q;
    q.table.data = table.data();
    q.table.rows = rows;
    q.table.dim = 4;
    q.table.row_stride = row_bytes(Format::q8, 4) - 1;
    q.table.format = Format::q8;
    LOWBIT_CHECK(validate(q).error == Error::bad_table, "short stride");
    q.table.row_stride = row_bytes(Format::q8, 4);
    q.table.format = (Format)9;
    LOWBIT_CHECK(validate(q).error == Error::bad_table, "bad format");
  }
}

// ---- quantizers
LOWBIT_TEST(embedding_quantize_matches_fbgemm_bytes) {
  auto f32_bytes = [](float v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    return std::vector<uint8_t>(b, b + 4);
  };
  {  // 8-bit: min -1, range 3, inv = 255 / (3 + 1e-8f) = 85; (x+1)*85 = 0, 85, 127.5 -> 128 (ties to even), 255
    const float x[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
    uint8_t out[12];
    quantize_table(Format::q8, x, 1, 4, out);
    std::vector<uint8_t> want = {0, 85, 128, 255};
    for (uint8_t v : f32_bytes(3.0f / 255.0f)) want.push_back(v);
    for (uint8_t v : f32_bytes(-1.0f)) want.push_back(v);
    LOWBIT_CHECK(std::vector<uint8_t>(out, out + 12) == want, "q8 bytes");
  }
  {  // 4-bit: min 0, range 7.5, scale 0.5 (0x3800), codes 0 2 4 6 15 packed low nibble first
    const float x[5] = {0.0f, 1.0f, 2.0f, 3.0f, 7.5f};
    uint8_t out[7];
    quantize_table(Format::q4, x, 1, 5, out);
    const std::vector<uint8_t> want = {0x20, 0x64, 0x0F, 0x00, 0x38, 0x00, 0x00};
    LOWBIT_CHECK(std::vector<uint8_t>(out, out + 7) == want, "q4 bytes");
  }
  {  // 4-bit, bias rounded to fp16 first: min 0.1 -> 0x2E66 (0.0999755859375), range 0.9000244140625,
     // scale = range/15 -> fp16 0x2BAE (0.05999755859375); codes 0 and 15
    const float x[2] = {0.1f, 1.0f};
    uint8_t out[5];
    quantize_table(Format::q4, x, 1, 2, out);
    const std::vector<uint8_t> want = {0xF0, 0xAE, 0x2B, 0x66, 0x2E};
    LOWBIT_CHECK(std::vector<uint8_t>(out, out + 5) == want, "q4 fp16 bias bytes");
  }
  {  // 2-bit: scale 1 (0x3C00), codes 0 1 2 3 and lrintf(1.5) = 2: 0b11100100, 0b10
    const float x[5] = {0.0f, 1.0f, 2.0f, 3.0f, 1.5f};
    uint8_t out[6];
    quantize_table(Format::q2, x, 1, 5, out);
    const std::vector<uint8_t> want = {0xE4, 0x02, 0x00, 0x3C, 0x00, 0x00};
    LOWBIT_CHECK(std::vector<uint8_t>(out, out + 6) == want, "q2 bytes");
  }
  {  // constant row: 8-bit scale 0, codes 0; 4-bit scale 1.0, codes 0
    const float x[3] = {4.25f, 4.25f, 4.25f};
    uint8_t o8[11], o4[6];
    quantize_table(Format::q8, x, 1, 3, o8);
    quantize_table(Format::q4, x, 1, 3, o4);
    std::vector<uint8_t> want8 = {0, 0, 0};
    for (uint8_t v : f32_bytes(0.0f)) want8.push_back(v);
    for (uint8_t v : f32_bytes(4.25f)) want8.push_back(v);
    LOWBIT_CHECK(std::vector<uint8_t>(o8, o8 + 11) == want8, "q8 constant row");
    const std::vector<uint8_t> want4 = {0x00, 0x00, 0x00, 0x3C, 0x40, 0x44};  // 4.25 = 0x4440
    LOWBIT_CHECK(std::vector<uint8_t>(o4, o4 + 6) == want4, "q4 constant row");
  }
  // fp16 rounding at the edges
  LOWBIT_CHECK(fp16_from_float(65504.0f) == 0x7BFF && fp16_from_float(65519.99f) == 0x7BFF &&
                   fp16_from_float(65520.0f) == 0x7C00 && fp16_from_float(-1e9f) == 0xFC00,
               "fp16 overflow");
  LOWBIT_CHECK(fp16_from_float(5.9604644775390625e-8f) == 0x0001 && fp16_from_float(2.98023223876953125e-8f) == 0 &&
                   fp16_from_float(2.98023224e-8f * 1.0000001f) == 0x0001 && fp16_from_float(6.103515625e-05f) == 0x0400,
               "fp16 subnormals");
  LOWBIT_CHECK(fp16_from_float(1.0f + 1.0f / 2048) == 0x3C00 && fp16_from_float(1.0f + 3.0f / 2048) == 0x3C02,
               "fp16 ties to even");
  bool exact = true;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaN
    if (fp16_from_float(fp16_to_float((uint16_t)h)) != h) exact = false;
  }
  LOWBIT_CHECK(exact, "fp16 -> fp32 -> fp16 round trip");
}

// FBGEMM's AVX2 quantizers (PyTorch on x86) take the minimum in 8 lanes (vminps: on a tie the newer
// element wins), then over the lanes and the tail (std::min: the earlier stays): the sign of a zero
// minimum follows that order, not std::min_element's first element.
LOWBIT_TEST(embedding_quantize_zero_sign_follows_fbgemm_lanes) {
  auto bias_bits_q8 = [](const std::vector<float>& x) {
    std::vector<uint8_t> out((size_t)row_bytes(Format::q8, (int64_t)x.size()));
    quantize_table(Format::q8, x.data(), 1, (int64_t)x.size(), out.data());
    uint32_t b;
    std::memcpy(&b, out.data() + x.size() + 4, 4);
    return b;
  };
  auto bias_bits_q4 = [](const std::vector<float>& x) {
    std::vector<uint8_t> out((size_t)row_bytes(Format::q4, (int64_t)x.size()));
    quantize_table(Format::q4, x.data(), 1, (int64_t)x.size(), out.data());
    uint16_t b;
    std::memcpy(&b, out.data() + (x.size() + 1) / 2 + 2, 2);
    return b;
  };
  std::vector<float> x(16, 1.0f);
  x[0] = 0.0f;
  x[8] = -0.0f;  // same lane, later: lane 0 holds -0
  LOWBIT_CHECK(bias_bits_q8(x) == 0x80000000u && bias_bits_q4(x) == 0x8000u, "lane 0: the later -0 wins");
  x[0] = -0.0f;
  x[8] = 0.0f;
  LOWBIT_CHECK(bias_bits_q8(x) == 0u && bias_bits_q4(x) == 0u, "lane 0: the later +0 wins");
  std::vector<float> y(16, 1.0f);
  y[1] = 0.0f;
  y[2] = -0.0f;  // different lanes: the earlier lane stays
  LOWBIT_CHECK(bias_bits_q8(y) == 0u, "lanes: the first stays");
  std::vector<float> z(9, 1.0f);
  z[3] = -0.0f;
  z[8] = 0.0f;  // the tail (column 8 of 9) does not replace an equal lane minimum
  LOWBIT_CHECK(bias_bits_q8(z) == 0x80000000u, "tail: the vector part stays");
  std::vector<float> w(5, 1.0f);
  w[1] = -0.0f;
  w[3] = 0.0f;  // no whole vector: the first minimum, as std::min_element
  LOWBIT_CHECK(bias_bits_q8(w) == 0x80000000u, "short row: first minimum");
  std::vector<float> zeros(16, 0.0f);
  zeros[8] = -0.0f;  // min -0, max -0 (lane 0), range +0: scale +0
  std::vector<uint8_t> out((size_t)row_bytes(Format::q8, 16));
  quantize_table(Format::q8, zeros.data(), 1, 16, out.data());
  uint32_t sc, bi;
  std::memcpy(&sc, out.data() + 16, 4);
  std::memcpy(&bi, out.data() + 20, 4);
  LOWBIT_CHECK(sc == 0u && bi == 0x80000000u, "signed zeros only");
}

// PyTorch's optimized_qparams search never widens the range and lowers (or keeps) the L2 error.
LOWBIT_TEST(embedding_quantize_optimized_qparams_lowers_error) {
  for (Format f : {Format::q4, Format::q2}) {
    const int64_t rows = 40, dim = 24;
    std::vector<float> x((size_t)(rows * dim)), y0(x.size()), y1(x.size());
    uint64_t s = 99;
    for (float& v : x) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const float u = (float)((s >> 40) & 0xFFFFFF) / 16777216.0f;
      v = (u - 0.5f) * (u - 0.5f) * (u - 0.5f) * 40.0f;  // heavy tails: clipping pays off
    }
    const int64_t rb = row_bytes(f, dim);
    std::vector<uint8_t> q0((size_t)(rows * rb)), q1(q0.size());
    quantize_table(f, x.data(), rows, dim, q0.data());
    QuantizeOptions o;
    o.optimized = true;
    quantize_table(f, x.data(), rows, dim, q1.data(), o);
    dequantize_table(f, q0.data(), rows, dim, rb, y0.data());
    dequantize_table(f, q1.data(), rows, dim, rb, y1.data());
    double e0 = 0, e1 = 0;
    for (size_t i = 0; i < x.size(); i++) {
      e0 += (double)(y0[i] - x[i]) * (y0[i] - x[i]);
      e1 += (double)(y1[i] - x[i]) * (y1[i] - x[i]);
    }
    LOWBIT_CHECK(e1 < e0, "optimized error below min/max error");
    // a constant row and a tiny-step row end (no endless search)
    std::vector<float> c(8, 1e8f);
    c[7] = 1e8f + 8.0f;
    std::vector<uint8_t> qc((size_t)row_bytes(f, 8));
    quantize_table(f, c.data(), 1, 8, qc.data(), o);
  }
}

LOWBIT_TEST(embedding_quantize_round_trip) {
  for (Format f : kFormats) {
    for (int64_t dim : kDims) {
      const int64_t rows = 5;
      std::vector<float> x((size_t)(rows * dim)), y(x.size());
      for (size_t i = 0; i < x.size(); i++) x[i] = rand_float(-3.0f, 3.0f) + (i % 7 == 0 ? 10.0f : 0.0f);
      const int64_t rb = row_bytes(f, dim);
      std::vector<uint8_t> q((size_t)(rows * rb));
      quantize_table(f, x.data(), rows, dim, q.data());
      dequantize_table(f, q.data(), rows, dim, rb, y.data());
      double worst = 0;
      for (int64_t r = 0; r < rows; r++) {
        float mn = x[r * dim], mx = mn;
        for (int64_t d = 0; d < dim; d++) {
          mn = std::min(mn, x[r * dim + d]);
          mx = std::max(mx, x[r * dim + d]);
        }
        const float range = mx - mn;
        double tol;
        switch (f) {
          case Format::f32: tol = 0; break;
          case Format::f16: tol = std::fabs(mx) > std::fabs(mn) ? std::fabs(mx) / 2048 : std::fabs(mn) / 2048; tol += 1e-7; break;
          case Format::q8: tol = range / 255 * 0.5 * 1.001 + 1e-6 * std::fabs(mn) + 1e-6; break;
          default: {
            const double L = f == Format::q4 ? 15 : 3;
            tol = range / L * 0.5 * 1.01 + std::fabs(mn) / 1024 + 1e-6;
          }
        }
        for (int64_t d = 0; d < dim; d++) {
          const double e = std::fabs((double)y[r * dim + d] - x[r * dim + d]);
          worst = std::max(worst, e / (tol > 0 ? tol : 1));
          LOWBIT_CHECK(e <= tol, fmt_name(f) << " D=" << dim << " r=" << r << " d=" << d << " x=" << x[r * dim + d]
                                             << " y=" << y[r * dim + d] << " tol=" << tol);
          if (current_failed()) return;
        }
      }
    }
  }
}

// A one-row bag of weight 1 computes fma(scale, q, bias): within 1 ulp of the dequantized value.
LOWBIT_TEST(embedding_single_row_bag_is_dequantized_row) {
  for (Format f : kFormats) {
    const int64_t dim = 37, rows = 3;
    std::vector<float> x((size_t)(rows * dim)), y(x.size());
    for (float& v : x) v = rand_float(-1.0f, 1.0f);
    std::vector<uint8_t> q((size_t)(rows * row_bytes(f, dim)));
    quantize_table(f, x.data(), rows, dim, q.data());
    dequantize_table(f, q.data(), rows, dim, row_bytes(f, dim), y.data());
    const int64_t idx[1] = {2}, len[1] = {1};
    Request r;
    r.table.data = q.data();
    r.table.rows = rows;
    r.table.dim = dim;
    r.table.row_stride = row_bytes(f, dim);
    r.table.format = f;
    r.bags.indices = idx;
    r.bags.num_indices = 1;
    r.bags.offsets = len;
    r.bags.form = BagForm::lengths;
    r.bags.num_bags = 1;
    std::vector<float> out((size_t)dim);
    r.out = out.data();
    r.out_stride = dim;
    embedding_bag__ref(r, 0, 1);
    // fma(s, q, b) vs q * s + b: they differ by at most the rounding of the product, half an ulp
    // of |q * s| (plus that of the sum): bound by 2^-23 * (|x| + |bias|) with |x| <= range + |bias|
    float mn = x[2 * dim], mx = mn;
    for (int64_t d = 0; d < dim; d++) {
      mn = std::min(mn, x[2 * dim + d]);
      mx = std::max(mx, x[2 * dim + d]);
    }
    const float bound = (std::fabs(mn) + std::fabs(mx) + (mx - mn)) * 1.2e-7f + 1e-30f;
    for (int64_t d = 0; d < dim; d++) {
      const float want = y[2 * dim + d];
      LOWBIT_CHECK(std::fabs(out[d] - want) <= bound,
                   fmt_name(f) << " d=" << d << " " << out[d] << " vs " << want);
    }
  }
}

// Mixed precision: a hot row gives exactly what the same row of an f32 (f16) table gives, a cold
// row what the q4/q2 table gives; both in one bag, in index order. The reference against itself
// over single-format tables (every ISA is checked against the reference by the scenarios above).
LOWBIT_TEST(embedding_mixed_rows_look_up_in_their_own_format) {
  for (Format cold : {Format::q4, Format::q2}) {
    for (Format hotf : {Format::f32, Format::f16}) {
      const int64_t rows = 6, dim = 19;
      std::vector<float> x((size_t)(rows * dim));
      for (float& v : x) v = rand_float(-3.0f, 3.0f);
      const int64_t rb = row_bytes(cold, dim), hb = row_bytes(hotf, dim);
      std::vector<uint8_t> q((size_t)(rows * rb)), full((size_t)(rows * hb)), hot((size_t)(2 * hb));
      quantize_table(cold, x.data(), rows, dim, q.data());
      quantize_table(hotf, x.data(), rows, dim, full.data());
      // rows 1 and 4 hot, in slots 0 and 1
      std::memcpy(hot.data(), full.data() + 1 * hb, (size_t)hb);
      std::memcpy(hot.data() + hb, full.data() + 4 * hb, (size_t)hb);
      std::vector<uint8_t> mixed = q, index((size_t)hot_index_bytes(rows));
      build_hot_index({1, 4}, rows, index.data());
      const int64_t idx[] = {1, 4, 4, 0, 2, 1, 5};
      const float w[] = {0.5f, -1.25f, 2.0f, 1.5f, -0.75f, 1.0f, 0.3f};
      // expected, element by element: the reference's order with each row's own operations
      std::vector<float> want((size_t)dim, 0.0f);
      for (int p = 0; p < 7; p++) {
        const int64_t r = idx[p];
        Request one{};
        const bool is_hot = r == 1 || r == 4;
        one.table.data = is_hot ? full.data() : q.data();
        one.table.rows = rows;
        one.table.dim = dim;
        one.table.row_stride = is_hot ? hb : rb;
        one.table.format = is_hot ? hotf : cold;
        // one-row bag of weight w[p] starting from the running sum: reproduce via dequantized math
        const uint8_t* base = one.table.data + r * one.table.row_stride;
        for (int64_t d = 0; d < dim; d++) {
          if (is_hot) {
            float v;
            if (hotf == Format::f32) std::memcpy(&v, base + 4 * d, 4);
            else {
              uint16_t h;
              std::memcpy(&h, base + 2 * d, 2);
              v = fp16_to_float(h);
            }
            want[d] = std::fma(w[p], v, want[d]);
          } else {
            const int bits = cold == Format::q4 ? 4 : 2, per = 8 / bits;
            const int64_t codes = (dim + per - 1) / per;
            uint16_t sh, bh;
            std::memcpy(&sh, base + codes, 2);
            std::memcpy(&bh, base + codes + 2, 2);
            const float s = w[p] * fp16_to_float(sh), c = w[p] * fp16_to_float(bh);
            const float code = (float)((base[d / per] >> ((d % per) * bits)) & ((1 << bits) - 1));
            want[d] = std::fma(s, code, want[d] + c);
          }
        }
      }
      const int64_t off[] = {0};
      for_each_isa([&](Isa isa) {
        Request r{};
        r.table.data = mixed.data();
        r.table.rows = rows;
        r.table.dim = dim;
        r.table.row_stride = rb;
        r.table.format = cold;
        r.table.hot_index = index.data();
        r.table.hot_data = hot.data();
        r.table.hot_rows = 2;
        r.table.hot_stride = hb;
        r.table.hot_format = hotf;
        r.bags.indices = idx;
        r.bags.num_indices = 7;
        r.bags.offsets = off;
        r.bags.num_bags = 1;
        r.bags.weights = w;
        std::vector<float> got((size_t)dim);
        r.out = got.data();
        r.out_stride = dim;
        LOWBIT_CHECK(validate(r).ok(), "mixed request validates");
        kernel_for(isa)(r, 0, 1);
        for (int64_t d = 0; d < dim; d++) LOWBIT_CHECK(same_bits(got[(size_t)d], want[(size_t)d]), "isa " << (int)isa << " d=" << d);
        // an index naming a slot past the hot rows reads the last hot row, never out of bounds
        r.table.hot_rows = 1;
        kernel_for(isa)(r, 0, 1);
        r.table.format = Format::q8;
        LOWBIT_CHECK(validate(r).error == Error::bad_table, "hot rows need a q4/q2 table");
      });
    }
  }
}

// int8 GEMM kernel core: C = (A - a_zp) * (B - b_zp), int32 exact, with fused output pipelines.
//
// Why this shape of API:
// - B (the weights) is packed once into PackedB: fixed panels of 8 columns x groups of 4 k values
//   (the layout every ISA here consumes: vpmaddubsw / vpmaddwd on AVX2, vpdpbusd on AVX-512 VNNI,
//   sdot / smlal on NEON), plus everything that depends on B alone (column sums, zero points, and
//   whether the saturating AVX2 vpmaddubsw path is provably exact for these weights). The layout is
//   the same on every ISA, so a PackedB is portable (serialize / deserialize).
// - Every kernel has the same signature; ref is the oracle (plain loops on the unpacked math).
// - A call computes any sub-rectangle [m_begin, m_end) x [n_begin, n_end) of C, so the binding can
//   split one product across threads (disjoint rectangles write disjoint outputs).
// - The kernels never read or write outside A's rows (K bytes each), the output rectangle, and the
//   N-entry parameter arrays. They keep no state except thread-local scratch: any number of
//   threads may use the same PackedB concurrently.
// README.md in this folder states the math, the layout and the rounding in full.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lowbit {
namespace gemm {

constexpr size_t kPanelN = 8;  // columns per packed panel
constexpr size_t kGroupK = 4;  // consecutive k values per group (one 32-bit lane per column)
constexpr size_t kPanelGroupBytes = kPanelN * kGroupK;  // 32

// Owns a 64-byte aligned byte array (copyable, movable).
class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(size_t n);
  AlignedBytes(const AlignedBytes& o);
  AlignedBytes(AlignedBytes&& o) noexcept;
  AlignedBytes& operator=(AlignedBytes o) noexcept;
  ~AlignedBytes();
  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

// A form of the weights derived from PackedB::data on first use and kept with it (the AMX
// kernel's 16-column tiles, amx.cc). A copy or an assignment starts empty, so that a derived form
// never outlives the data it was made from; get() is thread-safe (the first caller builds).
class DerivedForm {
 public:
  DerivedForm() : s_(new State) {}
  DerivedForm(const DerivedForm&) : s_(new State) {}
  DerivedForm& operator=(const DerivedForm&) {
    s_.reset(new State);
    return *this;
  }
  template <typename Build>
  const uint8_t* get(Build&& build) const {
    std::call_once(s_->once, [&] { build(s_->bytes); });
    return s_->bytes.data();
  }
  size_t size() const { return s_->bytes.size(); }  // 0 until built

 private:
  struct State {
    std::once_flag once;
    AlignedBytes bytes;
  };
  std::unique_ptr<State> s_;
};

// Packed int8 weights. data holds panels * k_groups blocks of 32 bytes:
//   byte (p * k_groups + g) * 32 + c * 4 + j  =  B[4g + j][8p + c]   (0 where k >= K or n >= N)
struct PackedB {
  size_t K = 0, N = 0;
  size_t k_groups = 0;  // ceil(K / 4)
  size_t panels = 0;    // ceil(N / 8)
  bool b_zp_per_channel = false;
  bool b_zp_all_zero = true;
  // True when, for every column and every k pair (4g, 4g+1) and (4g+2, 4g+3):
  //   255 * (max(b0,0) + max(b1,0)) <= 32767  and  255 * (max(-b0,0) + max(-b1,0)) <= 32768,
  // i.e. vpmaddubsw of any uint8 activations with these weights cannot saturate.
  bool maddubs_safe = false;
  std::vector<int32_t> b_zp;     // N entries (the same value repeated when per tensor)
  std::vector<int32_t> col_sum;  // N entries: sum over k < K of B[k][n]
  AlignedBytes data;
  DerivedForm amx;  // the AMX tiles of data (amx.cc), built by the first AMX call

  int8_t weight(size_t k, size_t n) const {  // B[k][n], read back from the packed layout
    return (int8_t)data.data()[((n / kPanelN) * k_groups + k / kGroupK) * kPanelGroupBytes +
                               (n % kPanelN) * kGroupK + k % kGroupK];
  }
  size_t memory_bytes() const {  // everything this object owns, for external-memory accounting
    return sizeof(*this) + data.size() + amx.size() + (b_zp.size() + col_sum.size()) * sizeof(int32_t);
  }
};

// Packs int8 weights. Not transposed: B is K x N, element (k, n) at b[k * ldb + n] (ldb >= N).
// Transposed: B is given as N x K, element (k, n) at b[n * ldb + k] (ldb >= K).
// b_zp: one value (per tensor) or N values (per output channel), each in [-128, 127] (or any
// int32: the arithmetic is modulo 2^32 either way). Requires K >= 1, N >= 1.
PackedB pack_b(const int8_t* b, size_t ldb, bool transposed, size_t K, size_t N, const int32_t* b_zp,
               bool b_zp_per_channel);

// Portable byte form (little-endian header + the arrays). deserialize re-derives every flag and
// checks sizes (exact: no trailing bytes), zero points in [-128, 127] and zero padding; it returns
// false (leaving *out unchanged) on any inconsistency, before allocating more than the bytes hold.
std::vector<uint8_t> serialize(const PackedB& b);
bool deserialize(const uint8_t* bytes, size_t size, PackedB* out);

// ---- output pipelines (README.md: "Output pipelines")
enum class OutType : int { s32 = 0, u8 = 1, s8 = 2, f32 = 3 };

struct Output {
  OutType type = OutType::s32;
  void* c = nullptr;  // element (m, n) at c[m * ldc + n], of the type's size
  size_t ldc = 0;     // in elements, >= n_end of every call
  // Optional, N entries: added to the exact int32 result (modulo 2^32), every output type.
  const int32_t* bias_s32 = nullptr;
  // u8/s8: the requantization multiplier (a_scale * b_scale[n] / out_scale, see requant_multiplier);
  // f32: the dequantization scale (a_scale * b_scale[n], see dequant_scale). One value or N values.
  const float* scale = nullptr;
  bool scale_per_channel = false;
  // Optional, N entries. u8/s8: a bias in accumulator units (see requant_float_bias), added to
  // float(acc) before the multiply. f32: added after the multiply.
  const float* bias_f32 = nullptr;
  int32_t out_zp = 0, qmin = 0, qmax = 255;  // u8/s8 (fused ReLU: qmin = out_zp)
  bool relu = false;                         // f32 only
};

struct Range {
  size_t m_begin, m_end, n_begin, n_end;  // rows and columns of C to compute (any values)
};

// A sparse residual R (residual.h) whose product every kernel adds to its int32 sums before the
// output pipeline: acc[m][n] += sum over column n's entries (k, v) of (A[m][k] - a_zp) * v.
// Plain pointers into a Residual the caller keeps alive; col_start == nullptr: none.
struct ResidualView {
  const uint32_t* col_start = nullptr;  // N + 1
  const uint32_t* k_index = nullptr;
  const int8_t* value = nullptr;
  const int32_t* col_value_sum = nullptr;  // N
};

struct Options {
  // Use the always-exact kernel even where a faster one is proven exact (benchmarks, tests).
  bool exact_only = false;
  // The weights were split into PackedB (dense, maddubs_safe) + this residual (see residual.h).
  ResidualView residual;
};

// The scalar formulas every kernel applies per element (ref.cc is written with them).
inline float requant_one(int32_t acc, float scale, float bias_acc, float zp, float lo, float hi) {
  float f = (float)acc;  // round to nearest even
  f = f + bias_acc;      // bias_acc = 0 when there is none (exact: float(acc) + 0 == float(acc))
  f = f * scale;
  f = std::nearbyint(f);  // half to even (default rounding mode)
  f = f + zp;
  f = f > lo ? f : lo;
  f = f < hi ? f : hi;
  return f;
}
inline float dequant_one(int32_t acc, float scale, float bias, bool relu) {
  float f = (float)acc * scale;
  f = f + bias;  // bias = 0 when there is none
  if (relu) f = f > 0.0f ? f : 0.0f;
  return f;
}
// How the binding turns scales into the kernel's multipliers (fp32, two roundings, this order).
inline float dequant_scale(float a_scale, float b_scale) { return a_scale * b_scale; }
inline float requant_multiplier(float a_scale, float b_scale, float out_scale) {
  return (a_scale * b_scale) / out_scale;
}
inline float requant_float_bias(float bias, float a_scale, float b_scale) {
  return bias / (a_scale * b_scale);
}

// ---- the kernels. a: M x K row-major (row m at a + m * lda, lda >= K), values uint8 or int8.
using GemmU8S8Fn = void (*)(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b,
                            const Output& out, const Range& r, const Options& opt);
using GemmS8S8Fn = void (*)(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b,
                            const Output& out, const Range& r, const Options& opt);

#define LOWBIT_GEMM_DECLARE(isa)                                                                \
  void gemm_u8s8__##isa(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b,           \
                        const Output& out, const Range& r, const Options& opt);                  \
  void gemm_s8s8__##isa(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b,            \
                        const Output& out, const Range& r, const Options& opt);

LOWBIT_GEMM_DECLARE(ref)
LOWBIT_GEMM_DECLARE(avx2)
LOWBIT_GEMM_DECLARE(avx512)
LOWBIT_GEMM_DECLARE(amx)  // AVX-512 level with AMX tiles: only where amx_ready() (cpu/cpu_features.h)
LOWBIT_GEMM_DECLARE(neon)
LOWBIT_GEMM_DECLARE(dotprod)
#undef LOWBIT_GEMM_DECLARE

// Per-thread counters of the m-blocks each kernel family ran (tests use them to prove that the
// fast path really ran; benchmarks to report which path was taken).
struct PathCounters {
  uint64_t exact_blocks = 0, fast_blocks = 0;
  uint64_t wide_blocks = 0;  // of the exact blocks, those that ran the AVX2 wide kernel
  uint64_t amx_blocks = 0;   // row blocks (32 rows) that ran on AMX tiles (amx.cc)
};
PathCounters& path_counters();

}  // namespace gemm
}  // namespace lowbit

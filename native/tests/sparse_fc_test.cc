// int8 sparse FC: every kernel against the scalar reference and a direct int64 loop over the dense
// weights, bit-exact, over sparsities, odd K, N, M, zero points, extreme weights and activations,
// every output type, channel sub-ranges and guard bytes; and bit-identical to the dense int8 GEMM
// (QuantizedLinear) on the same weights.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/dispatch.h"
#include "kernels/sparse_fc/sparse_fc.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::sparse_fc;
using namespace lowbit::test;
using gemm::Output;
using gemm::OutType;

namespace {

enum class WRange { full, safe, extreme };  // [-128,127]; [-64,63] (maddubs safe); only -128 / 127

// N x K weights with a fraction `sp` of the 1x4 blocks all zero (random positions) and some
// single zeros inside kept blocks.
std::vector<int8_t> make_w(size_t N, size_t K, double sp, WRange r) {
  std::vector<int8_t> w(N * K);
  for (auto& v : w) {
    if (r == WRange::extreme)
      v = rand_int(0, 1) ? 127 : -128;
    else if (r == WRange::safe)
      v = (int8_t)rand_int(-64, 63);
    else
      v = (int8_t)rand_int(-128, 127);
    if (r != WRange::extreme && rand_int(0, 9) == 0) v = 0;
  }
  const size_t G = (K + 3) / 4, total = N * G;
  std::vector<size_t> idx(total);
  for (size_t i = 0; i < total; i++) idx[i] = i;
  std::shuffle(idx.begin(), idx.end(), rng());
  const size_t z = (size_t)std::llround(sp * (double)total);
  for (size_t i = 0; i < z; i++) {
    const size_t n = idx[i] / G, g = idx[i] % G;
    for (size_t k = 4 * g; k < std::min(K, 4 * g + 4); k++) w[n * K + k] = 0;
  }
  return w;
}

struct Params {
  OutType type;
  bool bias_s32, bias_f32, per_channel, relu;
  std::vector<int32_t> bs;
  std::vector<float> scale, bf;
  int32_t out_zp = 0, qmin = 0, qmax = 255;
};

Params make_params(int variant, size_t N, size_t K) {
  Params p;
  p.type = (OutType)(variant % 4);
  p.bias_s32 = (variant / 4) % 2;
  p.bias_f32 = (variant / 8) % 2;
  p.per_channel = (variant / 16) % 2;
  p.relu = (variant / 2) % 3 == 0;
  p.bs.resize(N);
  p.scale.resize(N);
  p.bf.resize(N);
  const float base = 1.0f / (float)(64.0 * std::sqrt((double)K) + 1.0);
  for (size_t n = 0; n < N; n++) {
    p.bs[n] = (int32_t)rand_int(-20000, 20000);
    p.scale[n] = base * rand_float(0.25f, 4.0f);
    p.bf[n] = rand_float(-3000.0f, 3000.0f);
  }
  if (p.type == OutType::u8) {
    p.out_zp = (int32_t)rand_int(0, 255), p.qmin = p.relu ? p.out_zp : 0, p.qmax = 255;
  } else if (p.type == OutType::s8) {
    p.out_zp = (int32_t)rand_int(-128, 127), p.qmin = p.relu ? p.out_zp : -128, p.qmax = 127;
  }
  return p;
}

Output make_out(const Params& p, void* c, size_t ldc) {
  Output o;
  o.type = p.type;
  o.c = c;
  o.ldc = ldc;
  o.bias_s32 = p.bias_s32 ? p.bs.data() : nullptr;
  o.scale = p.type == OutType::s32 ? nullptr : p.scale.data();
  o.scale_per_channel = p.per_channel;
  o.bias_f32 = p.bias_f32 ? p.bf.data() : nullptr;
  o.out_zp = p.out_zp, o.qmin = p.qmin, o.qmax = p.qmax;
  o.relu = p.relu;
  return o;
}

size_t esize(OutType t) { return t == OutType::s32 || t == OutType::f32 ? 4 : 1; }

// The direct oracle: int64 sum over the dense weights, wrapped, then gemm.h's formulas.
void oracle(const std::vector<int8_t>& w, size_t K, const uint8_t* x, size_t ldx, size_t M,
            int32_t x_zp, const Output& out, size_t n0, size_t n1) {
  for (size_t j = 0; j < M; j++)
    for (size_t n = n0; n < n1; n++) {
      int64_t s = 0;
      for (size_t k = 0; k < K; k++) s += ((int64_t)x[j * ldx + k] - x_zp) * (int64_t)w[n * K + k];
      uint32_t u = (uint32_t)(uint64_t)s;
      if (out.bias_s32) u += (uint32_t)out.bias_s32[n];
      const int32_t acc = (int32_t)u;
      const float sc = out.scale ? out.scale[out.scale_per_channel ? n : 0] : 1.0f;
      const float b = out.bias_f32 ? out.bias_f32[n] : 0.0f;
      const size_t at = j * out.ldc + n;
      switch (out.type) {
        case OutType::s32: static_cast<int32_t*>(out.c)[at] = acc; break;
        case OutType::u8:
          static_cast<uint8_t*>(out.c)[at] =
              (uint8_t)(int32_t)gemm::requant_one(acc, sc, b, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::s8:
          static_cast<int8_t*>(out.c)[at] =
              (int8_t)(int32_t)gemm::requant_one(acc, sc, b, (float)out.out_zp, (float)out.qmin, (float)out.qmax);
          break;
        case OutType::f32: static_cast<float*>(out.c)[at] = gemm::dequant_one(acc, sc, b, out.relu); break;
      }
    }
}

struct Case {
  size_t N, K, M;
  double sp;
  WRange wr;
  bool x_max;  // every activation 255
  int32_t x_zp;
  int variant;
  int parts;  // channel ranges per call (1: the whole [0, N); more: split_by_blocks + one odd range)
};

// Runs one case on one ISA; returns false on a mismatch (reported).
bool run_case(Isa isa, const Case& c, bool vs_gemm) {
  const SparseFcKernels& k = sparse_fc_kernels(isa);
  const std::vector<int8_t> wd = make_w(c.N, c.K, c.sp, c.wr);
  const SparseFcInt8Weights w = pack_sparse_fc_int8(wd.data(), c.N, c.K);
  const size_t ldx = c.K + (size_t)rand_int(0, 5);
  std::vector<uint8_t> x(c.M * ldx);
  for (auto& v : x) v = c.x_max ? 255 : (uint8_t)rand_int(0, 255);
  const Params p = make_params(c.variant, c.N, c.K);
  const size_t ldc = c.N + (size_t)rand_int(0, 3), es = esize(p.type), bytes = c.M * ldc * es;

  Guarded<uint8_t> got(bytes, (size_t)rand_int(0, 3) * es), want(bytes), ref(bytes);
  std::memset(got.data(), 0x5A, bytes);
  std::memset(want.data(), 0x5A, bytes);
  std::memset(ref.data(), 0x5A, bytes);
  std::vector<size_t> bounds;
  split_by_blocks(w, (size_t)c.parts, &bounds);
  for (int t = 0; t < c.parts; t++) {
    const size_t n0 = bounds[t], n1 = bounds[t + 1];
    k.sparse_fc_u8s8(w, x.data(), ldx, c.M, c.x_zp, make_out(p, got.data(), ldc), n0, n1);
    sparse_fc_u8s8__ref(w, x.data(), ldx, c.M, c.x_zp, make_out(p, ref.data(), ldc), n0, n1);
    oracle(wd, c.K, x.data(), ldx, c.M, c.x_zp, make_out(p, want.data(), ldc), n0, n1);
  }
  // an empty and an out-of-range call write nothing
  k.sparse_fc_u8s8(w, x.data(), ldx, c.M, c.x_zp, make_out(p, got.data(), ldc), c.N, c.N + 5);
  k.sparse_fc_u8s8(w, x.data(), ldx, 0, c.x_zp, make_out(p, got.data(), ldc), 0, c.N);
  bool ok = got.guards_intact();
  LOWBIT_CHECK(ok, "wrote outside its output N=" << c.N << " K=" << c.K << " M=" << c.M);
  const bool same_ref = std::memcmp(ref.data(), want.data(), bytes) == 0;
  const bool same = std::memcmp(got.data(), want.data(), bytes) == 0;
  bool same_gemm = true;
  if (vs_gemm && c.parts == 1) {
    const int32_t zero = 0;
    const gemm::PackedB pb = gemm::pack_b(wd.data(), c.K, true, c.K, c.N, &zero, false);
    Guarded<uint8_t> g(bytes);
    std::memset(g.data(), 0x5A, bytes);
    gemm_kernels(isa).gemm_u8s8(x.data(), ldx, c.x_zp, pb, make_out(p, g.data(), ldc), gemm::Range{0, c.M, 0, c.N},
                                gemm::Options{});
    same_gemm = std::memcmp(g.data(), got.data(), bytes) == 0;
  }
  LOWBIT_CHECK(same_ref && same && same_gemm,
               "N=" << c.N << " K=" << c.K << " M=" << c.M << " sp=" << c.sp << " wr=" << (int)c.wr
                    << " xmax=" << c.x_max << " x_zp=" << c.x_zp << " variant=" << c.variant << " parts=" << c.parts
                    << " ref_ok=" << same_ref << " kernel_ok=" << same << " gemm_ok=" << same_gemm);
  return ok && same_ref && same && same_gemm;
}

}  // namespace

LOWBIT_TEST(sparse_fc_pack_format) {
  for_each_isa([](Isa) {
    for (size_t K : {1, 3, 4, 5, 37}) {
      const size_t N = 9;
      const std::vector<int8_t> wd = make_w(N, K, 0.5, WRange::full);
      const SparseFcInt8Weights w = pack_sparse_fc_int8(wd.data(), N, K);
      LOWBIT_CHECK(w.k_groups == (K + 3) / 4 && w.row_ptr.size() == N + 1 && w.w.size() == 4 * w.nnz_blocks(), K);
      size_t blocks = 0;
      for (size_t n = 0; n < N; n++) {
        int32_t sum = 0;
        for (size_t k = 0; k < K; k++) {
          sum += wd[n * K + k];
          LOWBIT_CHECK(w.weight(n, k) == wd[n * K + k], "n=" << n << " k=" << k);
        }
        LOWBIT_CHECK(w.row_sum[n] == sum, "row sum n=" << n);
        for (size_t g = 0; g < w.k_groups; g++) {
          bool any = false;
          for (size_t k = 4 * g; k < std::min(K, 4 * g + 4); k++) any |= wd[n * K + k] != 0;
          blocks += any;
        }
        for (uint32_t b = w.row_ptr[n]; b + 1 < w.row_ptr[n + 1]; b++) LOWBIT_CHECK(w.kg[b] < w.kg[b + 1], "ascending");
      }
      LOWBIT_CHECK(blocks == w.nnz_blocks(), "a block is kept iff any weight is nonzero");
      for (uint32_t b = 0; b < w.nnz_blocks(); b++)  // padding past K is zero
        for (size_t i = 0; i < 4; i++)
          if ((size_t)w.kg[b] * 4 + i >= K) LOWBIT_CHECK(w.w[(size_t)b * 4 + i] == 0, "padding");
      LOWBIT_CHECK(w.memory_bytes() >= w.nnz_blocks() * 8, "memory");
    }
    // the maddubs pair check
    const int8_t safe[8] = {63, 63, -64, -64, 127, -128, 0, 0}, unsafe[4] = {127, 2, 0, 0}, unsafe2[4] = {-128, -1, 0, 0};
    LOWBIT_CHECK(pack_sparse_fc_int8(safe, 1, 8).maddubs_safe, "safe");
    LOWBIT_CHECK(!pack_sparse_fc_int8(unsafe, 1, 4).maddubs_safe, "unsafe +");
    LOWBIT_CHECK(!pack_sparse_fc_int8(unsafe2, 1, 4).maddubs_safe, "unsafe -");
    // all-zero weights: no blocks, sparsity 1
    const std::vector<int8_t> z(5 * 7, 0);
    const SparseFcInt8Weights wz = pack_sparse_fc_int8(z.data(), 5, 7);
    LOWBIT_CHECK(wz.nnz_blocks() == 0 && wz.block_sparsity() == 1.0, "empty");
    // split_by_blocks covers [0, N) in order
    const std::vector<int8_t> wd = make_w(33, 40, 0.7, WRange::full);
    const SparseFcInt8Weights w = pack_sparse_fc_int8(wd.data(), 33, 40);
    for (size_t parts : {1, 2, 3, 7, 40}) {
      std::vector<size_t> b;
      split_by_blocks(w, parts, &b);
      bool mono = b.size() == parts + 1 && b.front() == 0 && b.back() == 33;
      for (size_t i = 0; i + 1 < b.size(); i++) mono &= b[i] <= b[i + 1];
      LOWBIT_CHECK(mono, "split parts=" << parts);
    }
  });
}

LOWBIT_TEST(sparse_fc_sweep) {
  for_each_isa([](Isa isa) {
    int variant = 0, bad = 0;
    const double sps[] = {0.0, 0.5, 0.9, 1.0};
    const int32_t zps[] = {0, 128, 255};
    for (double sp : sps)
      for (size_t K : {1, 3, 5, 37, 100})
        for (size_t N = 1; N <= 17; N++)
          for (size_t M : {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 40}) {
            if (bad > 3) return;
            const WRange wr = (WRange)(variant % 3);
            const Case c{N, K, M, sp, wr, variant % 11 == 0, zps[variant % 3], variant % 32, 1 + variant % 3};
            if (!run_case(isa, c, variant % 5 == 0)) bad++;
            variant++;
          }
  });
}

LOWBIT_TEST(sparse_fc_extremes) {
  for_each_isa([](Isa isa) {
    // adversarial: all-255 activations with -128/127 weights (exact path) and with [-64,63] weights
    // (the vpmaddubsw path at its bound), long K, every output type, zero points 0/128/255
    int variant = 0;
    for (WRange wr : {WRange::extreme, WRange::safe, WRange::full})
      for (size_t K : {255, 1024, 1027})
        for (int32_t zp : {0, 128, 255})
          for (int t = 0; t < 4; t++) {
            const Case c{19, K, (size_t)(t == 0 ? 1 : 8 + t), 0.3, wr, variant % 2 == 0, zp, t + 4 * (variant % 8), 1};
            run_case(isa, c, true);
            variant++;
          }
    // K = 8193 with weights -128 and all-255 X: |sum| up to 2.7e8, far from int16 and within int32
    run_case(isa, Case{3, 8193, 9, 0.0, WRange::extreme, true, 0, 0, 1}, true);
  });
}

LOWBIT_TEST(sparse_fc_paths) {
  for_each_isa([](Isa isa) {
    // QuantizedLinear-sized shapes, all rows, against the dense GEMM and the reference
    for (double sp : {0.7, 0.95})
      for (size_t M : {1, 16, 64}) run_case(isa, Case{200, 256, M, sp, WRange::full, false, 128, 1, 2}, true);
    if (isa == Isa::avx2) {
      // the vpmaddubsw path runs (and only) for safe weights
      const PathCounters before = path_counters();
      run_case(isa, Case{40, 64, 16, 0.5, WRange::safe, true, 0, 0, 1}, false);
      LOWBIT_CHECK(path_counters().fast_tiles == before.fast_tiles + 2, "fast path ran");
      const PathCounters mid = path_counters();
      run_case(isa, Case{40, 64, 16, 0.5, WRange::full, true, 0, 0, 1}, false);
      LOWBIT_CHECK(path_counters().fast_tiles == mid.fast_tiles && path_counters().exact_tiles == mid.exact_tiles + 2,
                   "exact path for unsafe weights");
    }
    if (isa == Isa::avx512) {
      // the VNNI kernel runs for any weights: 16-row tiles, one-row calls
      const PathCounters before = path_counters();
      run_case(isa, Case{40, 64, 33, 0.5, WRange::extreme, true, 0, 0, 1}, false);
      LOWBIT_CHECK(path_counters().vnni_tiles == before.vnni_tiles + 3, "VNNI tiles ran (16 + 16 + 1 rows)");
    }
  });
}

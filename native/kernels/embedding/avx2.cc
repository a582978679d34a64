// AVX2 + FMA + F16C embedding bag: the row primitives for driver.h (which holds the bag loop, the
// column blocks, prefetch and the chunked walk). Bit-identical to ref.cc (README.md has the order).
//
// A vector is 8 fp32 columns (ymm); a column block is 64 floats in 8 accumulators. Every load stays
// inside its own row: q8/q4/q2 groups read 8, 4 and 4 bytes, which the 8- or 4-byte scale/bias
// trailer keeps in bounds even for the last group; f32 tails use vmaskmovps, f16 tails an
// overlapping load ending at the row's end (D >= 8) or a copy. Output tails are written with
// vmaskmovps (fp16 output: vcvtps2ph, tails through a copy), so nothing beyond D elements of a
// bag's output row is touched.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/embedding/driver.h"

namespace lowbit {
namespace embedding {
namespace {

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Avx2 {
  using V = __m256;
  static constexpr int kLanes = 8;
  struct Tail {
    int64_t dim;
    __m256i mask;      // lanes < dim % 8
    __m256i f16_perm;  // f16 tail: lane i <- lane i + 8 - dim % 8 of the load ending at the row end
  };
  static Tail make_tail(int64_t dim) {
    const int tail = (int)(dim % 8);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {dim, _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), iota), _mm256_add_epi32(iota, _mm256_set1_epi32(8 - tail))};
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V x, V acc) { return _mm256_fmadd_ps(a, x, acc); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store_tail(float* p, V v, const Tail& t) { _mm256_maskstore_ps(p, t.mask, v); }
  // vcvtps2ph imm 0: round to nearest even whatever MXCSR says; NaN stays NaN (quiet, payload's
  // top bits), overflow gives Inf, subnormal halves are kept: fp16_from_float bit for bit.
  static void store_f16(uint16_t* p, V v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, 0));
  }
  static void store_f16_tail(uint16_t* p, V v, const Tail& t) {
    // no 16-bit masked store in AVX2: convert all 8, copy the dim % 8 that belong to the row
    alignas(16) uint16_t tmp[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), _mm256_cvtps_ph(v, 0));
    std::memcpy(p, tmp, (size_t)(t.dim % 8) * 2);
  }
  static V load_buf(const float* p) { return _mm256_loadu_ps(p); }
  static void store_buf(float* p, V v) { _mm256_storeu_ps(p, v); }
  static float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

  template <Format F>
  static V load(const uint8_t* row, int64_t col, const Tail& t, bool partial) {
    if constexpr (F == Format::f32) {
      const float* p = reinterpret_cast<const float*>(row) + col;
      return partial ? _mm256_maskload_ps(p, t.mask) : _mm256_loadu_ps(p);
    } else if constexpr (F == Format::f16) {
      if (!partial) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * col)));
      if (t.dim >= 8) {
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * (t.dim - 8))));
        return _mm256_permutevar8x32_ps(v, t.f16_perm);
      }
      alignas(16) uint16_t tmp[8] = {};
      for (int64_t d = col; d < t.dim; d++) std::memcpy(&tmp[d - col], row + 2 * d, 2);
      return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
    } else if constexpr (F == Format::q8) {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + col))));
    } else if constexpr (F == Format::q4) {
      const __m256i v = _mm256_set1_epi32((int)load_u32(row + col / 2));
      const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                         _mm256_set1_epi32(15));
      return _mm256_cvtepi32_ps(q);
    } else {
      const __m256i v = _mm256_set1_epi32((int)load_u32(row + col / 4));
      const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                         _mm256_set1_epi32(3));
      return _mm256_cvtepi32_ps(q);
    }
  }
};

}  // namespace

void embedding_bag__avx2(const Request& r, int64_t bag_begin, int64_t bag_end) {
  run_kernel<Avx2>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

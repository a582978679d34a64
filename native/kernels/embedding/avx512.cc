// AVX-512 (F/BW/DQ/VL) embedding bag: the row primitives for driver.h, which holds the bag loop
// (the same code the AVX2 kernel runs and the tests execute on every CI machine). A vector is 16
// fp32 columns (zmm), a column block 128 floats in 8 accumulators; the partial last group of a row
// is read with a fault-suppressing masked load of exactly its bytes, and written with a masked
// store (fp16 output: vcvtps2ph, then a masked 16-bit store). Bit-identical to ref.cc: the same add-then-FMA per element (README.md).
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

struct Avx512 {
  using V = __m512;
  static constexpr int kLanes = 16;
  struct Tail {
    __mmask16 lanes;     // lanes < dim % 16
    __mmask16 q4_bytes;  // bytes holding those lanes, 4-bit
  };
  static Tail make_tail(int64_t dim) {
    const unsigned tail = (unsigned)(dim % 16);
    return {(__mmask16)((1u << tail) - 1), (__mmask16)((1u << ((tail + 1) / 2)) - 1)};
  }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V x, V acc) { return _mm512_fmadd_ps(a, x, acc); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store_tail(float* p, V v, const Tail& t) { _mm512_mask_storeu_ps(p, t.lanes, v); }
  // vcvtps2ph imm 0 (nearest even, no SAE: NaN/Inf/overflow/subnormals as fp16_from_float)
  static void store_f16(uint16_t* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, 0));
  }
  static void store_f16_tail(uint16_t* p, V v, const Tail& t) {
    _mm256_mask_storeu_epi16(p, t.lanes, _mm512_cvtps_ph(v, 0));
  }
  static V load_buf(const float* p) { return _mm512_loadu_ps(p); }
  static void store_buf(float* p, V v) { _mm512_storeu_ps(p, v); }
  static float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

  template <Format F>
  static V load(const uint8_t* row, int64_t col, const Tail& t, bool partial) {
    if constexpr (F == Format::f32) {
      const float* p = reinterpret_cast<const float*>(row) + col;
      return partial ? _mm512_maskz_loadu_ps(t.lanes, p) : _mm512_loadu_ps(p);
    } else if constexpr (F == Format::f16) {
      const uint8_t* p = row + 2 * col;
      const __m256i h = partial ? _mm256_maskz_loadu_epi16(t.lanes, p)
                                : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      return _mm512_cvtph_ps(h);
    } else if constexpr (F == Format::q8) {
      const uint8_t* p = row + col;
      const __m128i b = partial ? _mm_maskz_loadu_epi8(t.lanes, p) : _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
    } else if constexpr (F == Format::q4) {
      const uint8_t* p = row + col / 2;
      const __m128i b = partial ? _mm_maskz_loadu_epi8(t.q4_bytes, p) : _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      const __m128i m = _mm_set1_epi8(15);
      const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
      return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
    } else {
      // 16 lanes = 4 bytes; a 4-byte read at col/4 stays inside the row thanks to the 4-byte trailer
      (void)t;
      (void)partial;
      const __m512i v = _mm512_set1_epi32((int)load_u32(row + col / 4));
      const __m512i q = _mm512_and_si512(
          _mm512_srlv_epi32(v, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)),
          _mm512_set1_epi32(3));
      return _mm512_cvtepi32_ps(q);
    }
  }
};

}  // namespace

void embedding_bag__avx512(const Request& r, int64_t bag_begin, int64_t bag_end) {
  run_kernel<Avx512>(r, bag_begin, bag_end);
}

}  // namespace embedding
}  // namespace lowbit

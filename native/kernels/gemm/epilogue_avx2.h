// The AVX2 epilogue (8 columns per call), shared by the AVX2 and AVX-512 kernels. Include after
// driver.h, in a translation unit compiled with AVX2 enabled (anonymous namespace: see driver.h).
#pragma once

#include <immintrin.h>

#include "kernels/gemm/driver.h"

namespace lowbit {
namespace gemm {
namespace {

inline void epilogue_avx2(const int32_t* acc8, const EpiChunk& e, int32_t rowsum, const Output& out,
                        size_t from, size_t to, void* dst) {
  __m256i c = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc8)),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.colterm)));
  if (e.bz)
    c = _mm256_sub_epi32(c, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.bz)),
                                               _mm256_set1_epi32(rowsum)));
  const bool full = from == 0 && to == kPanelN;
  alignas(32) uint8_t tmp[32];
  const size_t esz = out_elem_size(out.type);
  uint8_t* where = full ? static_cast<uint8_t*>(dst) : tmp;
  if (out.type == OutType::s32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(where), c);
  } else {
    const __m256 s = e.scale_pc ? _mm256_loadu_ps(e.scale) : _mm256_set1_ps(e.scale[0]);
    __m256 f = _mm256_cvtepi32_ps(c);
    if (out.type == OutType::f32) {
      f = _mm256_mul_ps(f, s);
      if (e.biasf) f = _mm256_add_ps(f, _mm256_loadu_ps(e.biasf));
      if (out.relu) f = _mm256_max_ps(f, _mm256_setzero_ps());
      _mm256_storeu_ps(reinterpret_cast<float*>(where), f);
    } else {
      if (e.biasf) f = _mm256_add_ps(f, _mm256_loadu_ps(e.biasf));
      f = _mm256_mul_ps(f, s);
      f = _mm256_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      f = _mm256_add_ps(f, _mm256_set1_ps((float)out.out_zp));
      f = _mm256_max_ps(f, _mm256_set1_ps((float)out.qmin));
      f = _mm256_min_ps(f, _mm256_set1_ps((float)out.qmax));
      const __m256i i = _mm256_cvtps_epi32(f);  // exact: integral and within [qmin, qmax]
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
      const __m128i bytes = out.type == OutType::u8 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(where), bytes);
    }
  }
  if (!full) std::memcpy(static_cast<uint8_t*>(dst) + from * esz, tmp + from * esz, (to - from) * esz);
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

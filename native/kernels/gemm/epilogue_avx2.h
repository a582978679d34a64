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


// The epilogue of a whole tile: rows [0, mr), columns [from, to) of the tile (to <= 8 * chunks),
// tile element (i, j) at tile[i * tld + j]. e points at the window entries of the tile's column 0;
// dst at C's (row 0, column 0) of the tile, ldc_bytes apart. Same arithmetic as epilogue_avx2
// (element by element), organised for speed: the output type is a template parameter, the loop runs
// over 8-column chunks and then rows (so the column parameters are loaded once per chunk), full
// chunks are stored directly, and 8-bit outputs of two rows share one pack sequence.
template <OutType OT>
inline void epilogue_tile_avx2_t(const int32_t* tile, size_t tld, int mr, const int32_t* rowsum,
                                 const EpiChunk& e, const Output& out, size_t from, size_t to, uint8_t* dst,
                                 size_t ldc_bytes) {
  constexpr size_t esz = OT == OutType::s32 || OT == OutType::f32 ? 4 : 1;
  constexpr bool q8 = OT == OutType::u8 || OT == OutType::s8;
  const __m256 vzp = _mm256_set1_ps((float)out.out_zp), vlo = _mm256_set1_ps((float)out.qmin),
               vhi = _mm256_set1_ps((float)out.qmax);
  const bool relu = out.relu;
  for (size_t c0 = from / kPanelN * kPanelN; c0 < to; c0 += kPanelN) {
    const __m256i ct = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.colterm + c0));
    const __m256i bz = e.bz ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.bz + c0)) : _mm256_setzero_si256();
    const __m256 s = e.scale_pc ? _mm256_loadu_ps(e.scale + c0) : _mm256_set1_ps(e.scale[0]);
    const __m256 bf = e.biasf ? _mm256_loadu_ps(e.biasf + c0) : _mm256_setzero_ps();
    const size_t lo = c0 < from ? from - c0 : 0, hi = to - c0 < kPanelN ? to - c0 : kPanelN;
    const bool full = lo == 0 && hi == kPanelN;
    // the int32 result of row i (bz * rowsum skipped when every bz is 0: the product is 0 anyway)
    auto acc = [&](int i) {
      __m256i c = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + i * tld + c0)), ct);
      if (e.bz) c = _mm256_sub_epi32(c, _mm256_mullo_epi32(bz, _mm256_set1_epi32(rowsum[i])));
      return c;
    };
    // requantized to integral floats in [qmin, qmax], then int32 (exact)
    auto q = [&](__m256i c) {
      __m256 f = _mm256_cvtepi32_ps(c);
      if (e.biasf) f = _mm256_add_ps(f, bf);
      f = _mm256_mul_ps(f, s);
      f = _mm256_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      f = _mm256_add_ps(f, vzp);
      f = _mm256_max_ps(f, vlo);
      f = _mm256_min_ps(f, vhi);
      return _mm256_cvtps_epi32(f);
    };
    int i = 0;
    if constexpr (q8) {
      for (; i + 2 <= mr; i += 2) {
        // [r0 c0..3, r1 c0..3 | r0 c4..7, r1 c4..7] -> [r0 c0..7 | r1 c0..7] as int16 -> bytes
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q(acc(i)), q(acc(i + 1))), 0xD8);
        const __m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);
        const __m128i bytes = OT == OutType::u8 ? _mm_packus_epi16(wl, wh) : _mm_packs_epi16(wl, wh);
        uint8_t* d0 = dst + i * ldc_bytes + c0;
        if (full) {
          _mm_storel_epi64(reinterpret_cast<__m128i*>(d0), bytes);
          _mm_storel_epi64(reinterpret_cast<__m128i*>(d0 + ldc_bytes), _mm_unpackhi_epi64(bytes, bytes));
        } else {
          alignas(16) uint8_t tmp[16];
          _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
          std::memcpy(d0 + lo, tmp + lo, hi - lo);
          std::memcpy(d0 + ldc_bytes + lo, tmp + 8 + lo, hi - lo);
        }
      }
    }
    for (; i < mr; i++) {
      uint8_t* d = dst + i * ldc_bytes + c0 * esz;
      alignas(32) uint8_t tmp[32];
      uint8_t* where = full ? d : tmp;
      const __m256i c = acc(i);
      if constexpr (OT == OutType::s32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(where), c);
      } else if constexpr (OT == OutType::f32) {
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(c), s);
        if (e.biasf) f = _mm256_add_ps(f, bf);
        if (relu) f = _mm256_max_ps(f, _mm256_setzero_ps());
        _mm256_storeu_ps(reinterpret_cast<float*>(where), f);
      } else {
        const __m256i v = q(c);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128i bytes = OT == OutType::u8 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(where), bytes);
      }
      if (!full) std::memcpy(d + lo * esz, tmp + lo * esz, (hi - lo) * esz);
    }
  }
}

inline void epilogue_tile_avx2(const int32_t* tile, size_t tld, int mr, const int32_t* rowsum,
                               const EpiChunk& e, const Output& out, size_t from, size_t to, uint8_t* dst,
                               size_t ldc_bytes) {
  switch (out.type) {
    case OutType::s32: epilogue_tile_avx2_t<OutType::s32>(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes); break;
    case OutType::u8: epilogue_tile_avx2_t<OutType::u8>(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes); break;
    case OutType::s8: epilogue_tile_avx2_t<OutType::s8>(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes); break;
    case OutType::f32: epilogue_tile_avx2_t<OutType::f32>(tile, tld, mr, rowsum, e, out, from, to, dst, ldc_bytes); break;
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

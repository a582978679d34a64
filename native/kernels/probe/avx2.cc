#include <immintrin.h>

#include "kernels/probe/probe.h"

namespace lowbit {
namespace probe {

#if defined(__GNUC__)
#define LOWBIT_KEEP(x) __asm__ volatile("" : "+x"(x))
#else
#define LOWBIT_KEEP(x) (void)0
#endif

// One step per chain in asm volatile: identical steps must not be merged by the compiler.
#if defined(__GNUC__)
#define MADD(X)                                                                              \
  do {                                                                                       \
    __m256i t;                                                                               \
    __asm__ volatile("vpmaddwd %[b], %[a], %[t]\n\tvpaddd %[t], %[s], %[s]"                   \
                     : [s] "+x"(X), [t] "=&x"(t) : [a] "x"(a), [b] "x"(b));                   \
  } while (0)
#define IDIOM(X)                                                                                  \
  do {                                                                                            \
    __m256i t;                                                                                    \
    __asm__ volatile("vpmaddubsw %[b], %[a], %[t]\n\tvpmaddwd %[o], %[t], %[t]\n\tvpaddd %[t], %[s], %[s]" \
                     : [s] "+x"(X), [t] "=&x"(t) : [a] "x"(a), [b] "x"(b), [o] "x"(one));          \
  } while (0)
#else  // MSVC: intrinsics (the figure may then be optimistic; the report labels it as measured)
#define MADD(X) X = _mm256_add_epi32(X, _mm256_madd_epi16(a, b))
#define IDIOM(X) X = _mm256_add_epi32(X, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), one))
#endif

uint64_t madd_s16__avx2(uint64_t iters, int32_t* sink) {
  __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(5);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
  LOWBIT_KEEP(a);
  LOWBIT_KEEP(b);
  for (uint64_t i = 0; i < iters; i++) {
    MADD(c0);
    MADD(c1);
    MADD(c2);
    MADD(c3);
    MADD(c4);
    MADD(c5);
    MADD(c6);
    MADD(c7);
    MADD(c8);
    MADD(c9);
  }
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                               _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
  *sink = _mm256_extract_epi32(s, 0);
  return iters * 10 * 16;
}

uint64_t maddubs_u8s8__avx2(uint64_t iters, int32_t* sink) {
  __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
  LOWBIT_KEEP(a);
  LOWBIT_KEEP(b);
  LOWBIT_KEEP(one);
  for (uint64_t i = 0; i < iters; i++) {
    IDIOM(c0); IDIOM(c1); IDIOM(c2); IDIOM(c3); IDIOM(c4); IDIOM(c5); IDIOM(c6); IDIOM(c7); IDIOM(c8); IDIOM(c9);
  }
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                               _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
  *sink = _mm256_extract_epi32(s, 0);
  return iters * 10 * 32;
}

}  // namespace probe
}  // namespace lowbit

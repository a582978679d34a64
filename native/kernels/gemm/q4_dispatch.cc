// The 4-bit GEMM kernel of an ISA (q4.h), guarded by what this build compiled.
#include "cpu/isa.h"
#include "kernels/gemm/q4.h"

namespace lowbit {
namespace gemm {

Q4GemmFn q4_kernel(int isa) {
  switch ((Isa)isa) {
#if defined(LOWBIT_HAVE_AVX512)
    case Isa::avx512: return q4_gemm__avx512;
#endif
#if defined(LOWBIT_HAVE_AVX2)
    case Isa::avx2: return q4_gemm__avx2;
#endif
#if defined(LOWBIT_HAVE_DOTPROD)
    case Isa::neon_dotprod:
    case Isa::neon_i8mm: return q4_gemm__dotprod;
#endif
    default: return q4_gemm__ref;
  }
}

}  // namespace gemm
}  // namespace lowbit

// CPU detection and dispatch: the tables pick what the CPU can run, and capping works.
#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;

LOWBIT_TEST(supported_isas_follow_cpu_features) {
  const CpuFeatures& f = cpu_features();
  LOWBIT_CHECK(supported_isas().front() == Isa::scalar, "scalar first");
  LOWBIT_CHECK(isa_supported(Isa::avx2) == (f.avx2 && f.fma && f.f16c && isa_supported(Isa::avx2)),
               "avx2 needs avx2+fma+f16c");
  if (isa_supported(Isa::avx512)) LOWBIT_CHECK(f.avx512f && f.avx512bw && f.avx512vnni && f.os_zmm, "avx512 needs zmm state");
  if (isa_supported(Isa::neon_dotprod)) LOWBIT_CHECK(f.dotprod, "dotprod");
  std::printf("  cpu: arch=%s avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vnni=%d os_zmm=%d neon=%d dotprod=%d i8mm=%d\n",
              f.arch, f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vnni, f.os_zmm, f.neon, f.dotprod, f.i8mm);
}

LOWBIT_TEST(dispatch_picks_best_kernel_at_or_below_level) {
  for_each_isa([](Isa isa) {
    const QuantKernels& k = quant_kernels(isa);
    LOWBIT_CHECK(isa_at_or_below(k.isa, isa), "kernel " << isa_name(k.isa) << " above level " << isa_name(isa));
    const Isa expected = (isa == Isa::neon_dotprod || isa == Isa::neon_i8mm) ? Isa::neon : isa;
    LOWBIT_CHECK(k.isa == expected, "quant kernel for " << isa_name(isa) << " is " << isa_name(k.isa));
  });
}

LOWBIT_TEST(active_isa_can_be_capped_and_restored) {
  const Isa best = supported_isas().back();
  LOWBIT_CHECK(set_active_isa(Isa::scalar), "scalar is always allowed");
  LOWBIT_CHECK(active_isa() == Isa::scalar && quant_kernels().isa == Isa::scalar, "capped to scalar");
  for (Isa isa : compiled_isas())
    if (!isa_supported(isa)) LOWBIT_CHECK(!set_active_isa(isa), "unsupported " << isa_name(isa) << " accepted");
  LOWBIT_CHECK(set_active_isa(best) && active_isa() == best, "restore best");
  Isa parsed;
  LOWBIT_CHECK(isa_from_name("avx2", &parsed) && parsed == Isa::avx2, "parse avx2");
  LOWBIT_CHECK(!isa_from_name("avx3", &parsed), "unknown name rejected");
}

#if defined(LOWBIT_HAVE_AVX2)
#include "kernels/probe/probe.h"

// The peak probes do the work they claim (the benchmark divides by their MAC counts).
LOWBIT_TEST(peak_probes_count_their_work) {
  if (!isa_supported(Isa::avx2)) return;
  int32_t sink = 0;
  LOWBIT_CHECK(probe::madd_s16__avx2(1000, &sink) == 160000, "MAC count");
  LOWBIT_CHECK(sink == 10 * 1000 * 30, "madd result " << sink);  // 3*5 + 3*5 per lane and step
  LOWBIT_CHECK(probe::maddubs_u8s8__avx2(1000, &sink) == 320000, "MAC count");
  LOWBIT_CHECK(sink == 10 * 1000 * 60, "maddubs result " << sink);  // four 3*5 per lane and step
}
#endif

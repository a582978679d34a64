#include "cpu/isa.h"

#include <atomic>
#include <cstdlib>

#include "cpu/cpu_features.h"

namespace lowbit {
namespace {

struct IsaInfo {
  Isa isa;
  const char* name;
};
const IsaInfo kIsaNames[] = {
    {Isa::scalar, "scalar"}, {Isa::avx2, "avx2"},         {Isa::avx512, "avx512"},
    {Isa::neon, "neon"},     {Isa::neon_dotprod, "neon_dotprod"}, {Isa::neon_i8mm, "neon_i8mm"},
};

bool cpu_can_run(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl &&
             f.avx512vnni;
    case Isa::neon: return f.neon;
    case Isa::neon_dotprod: return f.neon && f.dotprod;
    case Isa::neon_i8mm: return f.neon && f.dotprod && f.i8mm;
  }
  return false;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(supported_isas().back())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  for (const IsaInfo& i : kIsaNames)
    if (i.isa == isa) return i.name;
  return "unknown";
}

bool isa_from_name(const std::string& name, Isa* out) {
  for (const IsaInfo& i : kIsaNames) {
    if (name == i.name) {
      *out = i.isa;
      return true;
    }
  }
  return false;
}

const std::vector<Isa>& compiled_isas() {
  static const std::vector<Isa> list = [] {
    std::vector<Isa> v{Isa::scalar};
#if defined(LOWBIT_HAVE_AVX2)
    v.push_back(Isa::avx2);
#endif
#if defined(LOWBIT_HAVE_AVX512)
    v.push_back(Isa::avx512);
#endif
#if defined(LOWBIT_HAVE_NEON)
    v.push_back(Isa::neon);
#endif
#if defined(LOWBIT_HAVE_DOTPROD)
    v.push_back(Isa::neon_dotprod);
#endif
#if defined(LOWBIT_HAVE_I8MM)
    v.push_back(Isa::neon_i8mm);
#endif
    return v;
  }();
  return list;
}

const std::vector<Isa>& supported_isas() {
  static const std::vector<Isa> list = [] {
    std::vector<Isa> v;
    for (Isa isa : compiled_isas())
      if (cpu_can_run(isa)) v.push_back(isa);
    return v;
  }();
  return list;
}

bool isa_supported(Isa isa) {
  for (Isa s : supported_isas())
    if (s == isa) return true;
  return false;
}

bool isa_at_or_below(Isa kernel, Isa active) {
  if (kernel == Isa::scalar) return true;
  // Levels of the two architectures never mix; within one the enum order is the level order.
  const bool kernel_arm = static_cast<int>(kernel) >= 10, active_arm = static_cast<int>(active) >= 10;
  return kernel_arm == active_arm && static_cast<int>(kernel) <= static_cast<int>(active);
}

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

std::string apply_isa_env() {
  const char* env = std::getenv("LOWBIT_ISA");
  if (env == nullptr || *env == '\0') return "";
  Isa isa;
  std::string names;
  for (Isa s : supported_isas()) names += std::string(names.empty() ? "" : ", ") + isa_name(s);
  if (!isa_from_name(env, &isa)) {
    return std::string("LOWBIT_ISA=") + env + " is not an ISA lowbit knows; this CPU can run: " + names;
  }
  if (!set_active_isa(isa)) {
    return std::string("LOWBIT_ISA=") + env + " cannot run on this CPU (" + cpu_features().arch +
           "); it can run: " + names;
  }
  return "";
}

}  // namespace lowbit

// The instruction-set levels lowbit compiles kernels for, and which one is in use.
//
// Why a single ordered list per architecture: every op's dispatch table picks, for the active
// level, the best kernel at or below it. So capping the level (LOWBIT_ISA, setIsa) is one number,
// and an op that has no kernel for a level (say no dotprod quantizer) falls back to the level
// below without any special case.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

enum class Isa : int {
  scalar = 0,
  // x86-64
  avx2 = 1,    // AVX2 + FMA + F16C
  avx512 = 2,  // AVX-512 F/BW/DQ/VL + VNNI
  // aarch64
  neon = 11,          // Advanced SIMD (baseline on aarch64)
  neon_dotprod = 12,  // + SDOT/UDOT
  neon_i8mm = 13,     // + SMMLA/UMMLA (and dotprod)
};

const char* isa_name(Isa isa);
// Parses a name as written by isa_name ("avx2", "neon_dotprod", ...). Returns false if unknown.
bool isa_from_name(const std::string& name, Isa* out);

// All levels this build has kernels for, lowest first (scalar always first).
const std::vector<Isa>& compiled_isas();
// The compiled levels this CPU and OS can run, lowest first.
const std::vector<Isa>& supported_isas();
bool isa_supported(Isa isa);
// True if a kernel for level `kernel` may serve requests made at level `active`.
bool isa_at_or_below(Isa kernel, Isa active);

// The level in use, process-wide. Starts at the best supported level, or at LOWBIT_ISA if set.
Isa active_isa();
// Sets the level in use; returns false (and changes nothing) if the CPU cannot run it.
bool set_active_isa(Isa isa);
// Reads LOWBIT_ISA once and applies it. Returns an empty string when fine, else the reason.
std::string apply_isa_env();

}  // namespace lowbit

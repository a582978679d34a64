// cpu(), setIsa(): what the CPU supports and which kernels are in use.
#include "cpu/cpu_features.h"
#include <algorithm>
#include <chrono>

#include "cpu/dispatch.h"
#include "kernels/probe/probe.h"
#include "napi/args.h"
#include "napi/exports.h"

namespace lowbit {
namespace napi {
namespace {

Napi::Array isa_list(Napi::Env env, const std::vector<Isa>& isas) {
  Napi::Array a = Napi::Array::New(env, isas.size());
  for (size_t i = 0; i < isas.size(); i++) a.Set((uint32_t)i, isa_name(isas[i]));
  return a;
}

Napi::Value Cpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object out = Napi::Object::New(env);
  out.Set("arch", f.arch);
  Napi::Object feat = Napi::Object::New(env);
  if (std::string(f.arch) == "x64") {
    feat.Set("sse41", f.sse41);
    feat.Set("avx", f.avx);
    feat.Set("avx2", f.avx2);
    feat.Set("fma", f.fma);
    feat.Set("f16c", f.f16c);
    feat.Set("avx512f", f.avx512f);
    feat.Set("avx512bw", f.avx512bw);
    feat.Set("avx512dq", f.avx512dq);
    feat.Set("avx512vl", f.avx512vl);
    feat.Set("avx512vnni", f.avx512vnni);
    feat.Set("avxvnni", f.avxvnni);
    feat.Set("amxTile", f.amx_tile);
    feat.Set("amxInt8", f.amx_int8);
    feat.Set("osYmm", f.os_ymm);
    feat.Set("osZmm", f.os_zmm);
  } else if (std::string(f.arch) == "arm64") {
    feat.Set("neon", f.neon);
    feat.Set("dotprod", f.dotprod);
    feat.Set("i8mm", f.i8mm);
    feat.Set("fp16", f.fp16);
  }
  out.Set("features", feat);
  const Isa active = active_isa();
  out.Set("isa", isa_name(active));
  out.Set("supported", isa_list(env, supported_isas()));
  out.Set("compiled", isa_list(env, compiled_isas()));
  Napi::Object kernels = Napi::Object::New(env);
  kernels.Set("quantize", isa_name(quant_kernels(active).isa));
  kernels.Set("gemm", isa_name(gemm_kernels(active).isa));
  kernels.Set("embeddingBag", isa_name(embedding_kernels(active).isa));
  kernels.Set("conv", isa_name(conv_kernels(active).isa));
  out.Set("kernels", kernels);
  out.Set("amx", amx_ready());
  return out;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", "isa must be a string, got " + describe(info.Env(), info[0]));
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Isa isa;
  if (!isa_from_name(name, &isa) || !set_active_isa(isa)) {
    std::string names;
    for (Isa s : supported_isas()) names += std::string(names.empty() ? "" : ", ") + isa_name(s);
    throw_range_error(env, "ERR_LOWBIT_ISA_UNSUPPORTED",
                      "isa must be one this CPU can run (" + names + "), got '" + name + "'");
  }
  return env.Undefined();
}

// peaks(seconds) -> { maddS16Gops, maddubsGops } measured now on this core, or {} where this build
// has no probe for the CPU (non-AVX2). For the benchmark report's roofline lines.
Napi::Value Peaks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double seconds = number(info, 0, "seconds");
  Napi::Object out = Napi::Object::New(env);
#if defined(LOWBIT_HAVE_AVX2)
  if (isa_supported(Isa::avx2)) {
    using clock = std::chrono::steady_clock;
    auto gops = [&](uint64_t (*fn)(uint64_t, int32_t*)) {
      int32_t sink;
      double best = 0;
      for (int r = 0; r < 5; r++) {
        const auto t0 = clock::now();
        const uint64_t macs = fn((uint64_t)(seconds / 5 * 2e8), &sink);
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        best = std::max(best, 2.0 * (double)macs / dt / 1e9);
      }
      return best;
    };
    out.Set("maddS16Gops", gops(probe::madd_s16__avx2));
    out.Set("maddubsGops", gops(probe::maddubs_u8s8__avx2));
  }
#endif
  return out;
}

}  // namespace

void register_cpu(Napi::Env env, Napi::Object exports) {
  exports.Set("cpu", Napi::Function::New(env, Cpu, "cpu"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("_peaks", Napi::Function::New(env, Peaks, "_peaks"));
}

}  // namespace napi
}  // namespace lowbit

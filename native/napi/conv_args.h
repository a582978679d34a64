// The geometry argument of the convolution layers (Int32Array of 11 values, checked).
#pragma once

#include <string>

#include "kernels/conv/conv.h"
#include "napi/args.h"

namespace lowbit {
namespace napi {

// geometry: Int32Array[11] = (cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
inline conv::ConvGeometry conv_geometry_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  const View<int32_t> g = typed_array<int32_t>(info, i, "geometry");
  if (g.length != 11) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "geometry must hold 11 values");
  const conv::ConvGeometry geo{g.data[0], g.data[1], g.data[2], g.data[3], g.data[4], g.data[5],
                               g.data[6], g.data[7], g.data[8], g.data[9], g.data[10]};
  const std::string why = conv::validate_geometry(geo);
  if (!why.empty()) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", why);
  return geo;
}

}  // namespace napi
}  // namespace lowbit

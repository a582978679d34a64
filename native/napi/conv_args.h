// The geometry argument of the convolution layers (Int32Array of 11 values, checked).
#pragma once

#include <string>

#include "kernels/conv/conv.h"
#include "napi/args.h"
#include "napi/call.h"

namespace lowbit {
namespace napi {

// geometry: Int32Array[11] = (cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
inline conv::ConvGeometry conv_geometry_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  const OwnedCopy<int32_t> g = copy_of<int32_t>(array_arg(env, info[i], {napi_int32_array}, "geometry"));
  if (g.length != 11) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", "geometry must hold 11 values");
  const conv::ConvGeometry geo{g.data[0], g.data[1], g.data[2], g.data[3], g.data[4], g.data[5],
                               g.data[6], g.data[7], g.data[8], g.data[9], g.data[10]};
  const std::string why = conv::validate_geometry(geo);
  if (!why.empty()) throw_range_error(env, "ERR_LOWBIT_INVALID_ARGUMENT", why);
  return geo;
}

// The layout of an input shape given as arguments i, i+1, i+2 (n, h, w), checked against the geometry.
inline conv::ConvLayout conv_layout_arg(const Napi::CallbackInfo& info, size_t i, const conv::ConvGeometry& geo) {
  const int n = (int)integer(info, i, "n", 1, 1 << 20), h = (int)integer(info, i + 1, "h", 1, 1 << 20),
            w = (int)integer(info, i + 2, "w", 1, 1 << 20);
  conv::ConvLayout l;
  const std::string why = conv::make_layout(geo, n, h, w, &l);
  if (!why.empty()) throw_range_error(info.Env(), "ERR_LOWBIT_INVALID_ARGUMENT", why);
  return l;
}

// [n, cout, oh, ow] of a layout, as a JS array (the layers' outputShape()).
inline Napi::Value output_shape(Napi::Env env, const conv::ConvLayout& l) {
  Napi::Array a = Napi::Array::New(env, 4);
  a.Set(0u, l.n);
  a.Set(1u, l.geo.cout);
  a.Set(2u, l.oh);
  a.Set(3u, l.ow);
  return a;
}

}  // namespace napi
}  // namespace lowbit

// The padded plane buffer of the depthwise kernels (depthwise.h), shared by every ISA and the
// reference: one (image, channel) plane at a time, zero borders, stride 2 split into 4 phase
// planes, so that output pixel (oy, ox) reads tap t at buf[off[t] + oy * rs + ox] with
// consecutive pixels in consecutive floats. Rows have 8 floats of slack past the last column any
// output reads, so a whole 8-lane vector may be loaded at the end of a row (its extra lanes are
// dropped by the stores).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/conv/conv.h"

namespace lowbit {
namespace conv {

struct DwPlane {
  int k = 3, s = 1, ph = 0, pw = 0;  // kernel, stride, padding
  int h = 0, w = 0, oh = 0, ow = 0;
  int rows = 0;       // rows of one (phase) plane in the buffer
  int rs = 0;         // floats per buffer row
  size_t phase = 0;   // floats per phase plane (stride 2), rows * rs
  size_t floats = 0;  // the whole buffer
  int off[25] = {0};  // tap t = ky * k + kx
  static DwPlane of(const ConvLayout& L);
};

// The thread's buffer for P, grown as needed and zeroed (the borders are never written after).
float* dw_buffer(const DwPlane& P, std::vector<float>* buf);
// Writes the plane's interior: x (h * w floats), or (x - x_zp) as floats for uint8.
void dw_fill_f32(const DwPlane& P, const float* x, float* buf);
void dw_fill_u8(const DwPlane& P, const uint8_t* x, int32_t x_zp, float* buf);

}  // namespace conv
}  // namespace lowbit

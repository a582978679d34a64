// Scalar references (compiled without auto-vectorization): the double-precision oracle on the
// unpadded input, and plain-loop fp32 versions of the sparse, dense and sparse-FC kernels.
#include <cmath>

#include "kernels/conv/conv.h"

namespace lowbit {
namespace conv {

void conv2d_direct_f64__ref(const ConvGeometry& g, int n, int h, int w, const float* weights,
                            const float* input, const float* bias, bool relu, double* out,
                            double* absw_x) {
  const int oh = (h + 2 * g.pad_h - (g.kh - 1) * g.dil_h - 1) / g.stride_h + 1;
  const int ow = (w + 2 * g.pad_w - (g.kw - 1) * g.dil_w - 1) / g.stride_w + 1;
  const int cig = g.cin_g(), cog = g.cout_g();
  for (int b = 0; b < n; b++)
    for (int co = 0; co < g.cout; co++) {
      const int grp = co / cog;
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          double acc = bias ? bias[co] : 0.0, mag = bias ? std::fabs((double)bias[co]) : 0.0;
          for (int ci = 0; ci < cig; ci++)
            for (int ky = 0; ky < g.kh; ky++) {
              const int y = oy * g.stride_h - g.pad_h + ky * g.dil_h;
              if (y < 0 || y >= h) continue;
              for (int kx = 0; kx < g.kw; kx++) {
                const int x = ox * g.stride_w - g.pad_w + kx * g.dil_w;
                if (x < 0 || x >= w) continue;
                const double wv = weights[(((size_t)co * cig + ci) * g.kh + ky) * g.kw + kx];
                const double xv = input[(((size_t)b * g.cin + grp * cig + ci) * h + y) * w + x];
                acc += wv * xv;
                mag += std::fabs(wv * xv);
              }
            }
          if (relu && acc < 0) acc = 0;
          const size_t o = (((size_t)b * g.cout + co) * oh + oy) * ow + ox;
          out[o] = acc;
          if (absw_x) absw_x[o] = mag;
        }
    }
}

void sparse_conv_f32__ref(const SparseBinding& bd, const float* padded, const float* bias, bool relu,
                          float* out, int oc_begin, int oc_end) {
  const ConvLayout& L = bd.layout;
  const ConvGeometry& g = L.geo;
  for (int b = 0; b < L.n; b++)
    for (int co = oc_begin; co < oc_end; co++) {
      const float* base = padded + b * L.image_stride + (size_t)(co / g.cout_g()) * g.cin_g() * L.chan_stride;
      const Nonzero* nz = bd.nz.data() + bd.row_ptr[co];
      const int cnt = bd.row_ptr[co + 1] - bd.row_ptr[co];
      float* o = out + ((size_t)b * g.cout + co) * L.out_pixels();
      for (int oy = 0; oy < L.oh; oy++)
        for (int ox = 0; ox < L.ow; ox++) {
          const size_t q = (size_t)oy * L.wq + ox;
          float acc = bias ? bias[co] : 0.0f;
          for (int j = 0; j < cnt; j++) acc += nz[j].w * base[nz[j].off + q];
          if (relu && acc < 0.0f) acc = 0.0f;
          o[(size_t)oy * L.ow + ox] = acc;
        }
    }
}

void dense_conv_f32__ref(const DenseConvWeights& dw, const ConvLayout& L, const float* padded,
                         const float* bias, bool relu, float* out, int oc_begin, int oc_end) {
  const ConvGeometry& g = L.geo;
  const int K = g.taps();
  for (int b = 0; b < L.n; b++)
    for (int co = oc_begin; co < oc_end; co++) {
      const float* base = padded + b * L.image_stride + (size_t)(co / g.cout_g()) * g.cin_g() * L.chan_stride;
      float* o = out + ((size_t)b * g.cout + co) * L.out_pixels();
      for (int oy = 0; oy < L.oh; oy++)
        for (int ox = 0; ox < L.ow; ox++) {
          const size_t q = (size_t)oy * L.wq + ox;
          float acc = bias ? bias[co] : 0.0f;
          for (int t = 0; t < K; t++) acc += dw.at(co, t) * base[L.koff[t] + q];
          if (relu && acc < 0.0f) acc = 0.0f;
          o[(size_t)oy * L.ow + ox] = acc;
        }
    }
}

void sparse_fc_f32__ref(const SparseConvWeights& w, const float* x, size_t ncols, const float* bias,
                        bool relu, float* y, int oc_begin, int oc_end) {
  for (int co = oc_begin; co < oc_end; co++)
    for (size_t j = 0; j < ncols; j++) {
      const float* xg = x + (size_t)(co / w.geo.cout_g()) * w.geo.cin_g() * ncols;
      float acc = bias ? bias[co] : 0.0f;
      for (int e = w.row_ptr[co]; e < w.row_ptr[co + 1]; e++) acc += w.values[e] * xg[(size_t)w.tap[e] * ncols + j];
      if (relu && acc < 0.0f) acc = 0.0f;
      y[(size_t)co * ncols + j] = acc;
    }
}

}  // namespace conv
}  // namespace lowbit

// Geometry checks, the padded layout, weight formats (sparse CSR, packed dense), pruning.
// Scalar and shared by every ISA.
#include <atomic>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "kernels/conv/conv.h"

namespace lowbit {
namespace conv {

std::string validate_geometry(const ConvGeometry& g) {
  std::ostringstream e;
  if (g.cin < 1 || g.cout < 1) e << "channels must be >= 1 (cin " << g.cin << ", cout " << g.cout << ")";
  else if (g.kh < 1 || g.kw < 1) e << "kernel size must be >= 1 (" << g.kh << "x" << g.kw << ")";
  else if (g.stride_h < 1 || g.stride_w < 1) e << "stride must be >= 1 (" << g.stride_h << ", " << g.stride_w << ")";
  else if (g.dil_h < 1 || g.dil_w < 1) e << "dilation must be >= 1 (" << g.dil_h << ", " << g.dil_w << ")";
  else if (g.groups < 1 || g.cin % g.groups || g.cout % g.groups)
    e << "groups (" << g.groups << ") must divide cin (" << g.cin << ") and cout (" << g.cout << ")";
  else if (g.pad_h < 0 || g.pad_w < 0 || g.pad_h > (g.kh - 1) * g.dil_h + 1 ||
           g.pad_w > (g.kw - 1) * g.dil_w + 1)
    e << "padding (" << g.pad_h << ", " << g.pad_w << ") must be >= 0 and not larger than the kernel";
  else if ((double)g.cin_g() * g.kh * g.kw > 1e8) e << "kernel too large";
  return e.str();
}

std::string make_layout(const ConvGeometry& g, int n, int h, int w, ConvLayout* L) {
  std::string err = validate_geometry(g);
  if (!err.empty()) return err;
  if (n < 1 || h < 1 || w < 1) return "input batch, height and width must be >= 1";
  const int ext_h = (g.kh - 1) * g.dil_h + 1, ext_w = (g.kw - 1) * g.dil_w + 1;
  const long hp = (long)h + 2L * g.pad_h, wp = (long)w + 2L * g.pad_w;
  if (hp < ext_h || wp < ext_w) return "input (with padding) is smaller than the kernel";
  ConvLayout& o = *L;
  o = ConvLayout{};
  o.geo = g;
  o.n = n, o.h = h, o.w = w;
  o.oh = (int)((hp - ext_h) / g.stride_h + 1);
  o.ow = (int)((wp - ext_w) / g.stride_w + 1);
  o.sh = g.stride_h, o.sw = g.stride_w;
  o.direct = g.pointwise();
  o.hp = (int)hp, o.wp = (int)wp;
  o.hq = (int)((hp + o.sh - 1) / o.sh);
  o.wq = (int)((wp + o.sw - 1) / o.sw);
  o.plane = (size_t)o.hq * o.wq;
  o.chan_stride = (size_t)o.sh * o.sw * o.plane;
  o.image_stride = (size_t)g.cin * o.chan_stride;
  if (o.image_stride + o.wq + 64 >= (size_t)INT32_MAX) return "input image too large (over 2^31 floats)";
  o.padded_floats = (size_t)n * o.image_stride + (o.direct ? 0 : (size_t)o.wq + 64);
  o.q_virtual = (size_t)o.oh * o.wq;
  o.koff.resize((size_t)g.taps());
  for (int ci = 0; ci < g.cin_g(); ci++)
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++) {
        const int y = ky * g.dil_h, x = kx * g.dil_w;  // position in the padded image
        const size_t phase = (size_t)(y % o.sh) * o.sw + (size_t)(x % o.sw);
        o.koff[((size_t)ci * g.kh + ky) * g.kw + kx] =
            (int32_t)(ci * o.chan_stride + phase * o.plane + (size_t)(y / o.sh) * o.wq + (size_t)(x / o.sw));
      }
  return "";
}

void pad_input(const ConvLayout& L, const float* in, float* padded) {
  const size_t planes = (size_t)L.n * L.geo.cin;
  if (L.direct) {
    if (padded != in) std::memcpy(padded, in, planes * L.plane * sizeof(float));
    return;
  }
  const int ph = L.geo.pad_h, pw = L.geo.pad_w;
  if (L.sh == 1 && L.sw == 1) {
    // every float written once: zero rows, then [pw zeros | a row | the rest zeros], then the slack
    // (the caller's buffer may be uninitialized)
    const size_t wq = (size_t)L.wq, w = (size_t)L.w;
    for (size_t c = 0; c < planes; c++) {
      const float* src = in + c * L.h * L.w;
      float* dst = padded + c * L.chan_stride;
      std::memset(dst, 0, (size_t)ph * wq * sizeof(float));
      for (int y = 0; y < L.h; y++) {
        float* row = dst + (size_t)(y + ph) * wq;
        std::memset(row, 0, (size_t)pw * sizeof(float));
        std::memcpy(row + pw, src + (size_t)y * w, w * sizeof(float));
        std::memset(row + pw + w, 0, (wq - pw - w) * sizeof(float));
      }
      std::memset(dst + (size_t)(ph + L.h) * wq, 0, ((size_t)L.hq - ph - L.h) * wq * sizeof(float));
    }
    std::memset(padded + planes * L.chan_stride, 0, (L.padded_floats - planes * L.chan_stride) * sizeof(float));
    return;
  }
  std::memset(padded, 0, L.padded_floats * sizeof(float));
  for (size_t c = 0; c < planes; c++) {
    const float* src = in + c * L.h * L.w;
    float* dst = padded + c * L.chan_stride;
    for (int y = 0; y < L.h; y++) {
      const int yp = y + ph;
      float* row = dst + ((size_t)(yp % L.sh) * L.sw) * L.plane + (size_t)(yp / L.sh) * L.wq;
      const float* s = src + (size_t)y * L.w;
      if (L.sw == 1) {
        std::memcpy(row + pw, s, L.w * sizeof(float));
      } else if (L.sw == 2) {
        // both phase planes in one pass: even and odd padded columns (short rows: loop overhead
        // dominates, so one loop, not two)
        float* d[2] = {row + (size_t)(pw % 2) * L.plane + pw / 2, row + (size_t)((pw + 1) % 2) * L.plane + (pw + 1) / 2};
        int x = 0;
        for (int i = 0; x + 1 < L.w; x += 2, i++) {
          d[0][i] = s[x];
          d[1][i] = s[x + 1];
        }
        if (x < L.w) d[0][x / 2] = s[x];
      } else {
        // one phase plane at a time: a strided copy, no division per element
        for (int r = 0; r < L.sw; r++) {
          const int x0 = ((r - pw) % L.sw + L.sw) % L.sw;  // first x with (x + pw) % sw == r
          float* d = row + (size_t)r * L.plane + (size_t)(x0 + pw) / L.sw;
          for (int x = x0, i = 0; x < L.w; x += L.sw, i++) d[i] = s[x];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

SparseConvWeights SparseConvWeights::from_dense(const ConvGeometry& geo, const float* w) {
  SparseConvWeights s;
  s.geo = geo;
  const int K = geo.taps();
  s.row_ptr.assign((size_t)geo.cout + 1, 0);
  for (int co = 0; co < geo.cout; co++) {
    for (int t = 0; t < K; t++) {
      const float v = w[(size_t)co * K + t];
      if (v != 0.0f) {
        s.tap.push_back(t);
        s.values.push_back(v);
      }
    }
    s.row_ptr[co + 1] = (int32_t)s.values.size();
  }
  return s;
}

std::shared_ptr<const SparseBinding> SparseConvWeights::bind(int n, int h, int w, std::string* err) const {
  {
    std::lock_guard<std::mutex> lock(cache_.mu);
    for (auto& b : cache_.entries)
      if (b->layout.n == n && b->layout.h == h && b->layout.w == w) return b;
  }
  auto b = std::make_shared<SparseBinding>();
  const std::string e = make_layout(geo, n, h, w, &b->layout);
  if (!e.empty()) {
    if (err) *err = e;
    return nullptr;
  }
  b->row_ptr = row_ptr;
  b->nz.resize(values.size());
  for (size_t j = 0; j < values.size(); j++) b->nz[j] = Nonzero{values[j], b->layout.koff[tap[j]]};
  std::lock_guard<std::mutex> lock(cache_.mu);
  // Callers that missed the cache at once each built a binding: keep the first one stored, so
  // that concurrent first calls of one shape do not fill the cache with copies of it (evicting
  // the other shapes).
  for (auto& c : cache_.entries)
    if (c->layout.n == n && c->layout.h == h && c->layout.w == w) return c;
  if (cache_.entries.size() >= 4) cache_.entries.erase(cache_.entries.begin());
  cache_.entries.push_back(b);
  return b;
}

size_t SparseConvWeights::memory_bytes() const {
  size_t m = sizeof(*this) + row_ptr.size() * 4 + tap.size() * 4 + values.size() * 4;
  std::lock_guard<std::mutex> lock(cache_.mu);
  for (auto& b : cache_.entries) m += b->nz.size() * sizeof(Nonzero) + (b->layout.koff.size() + b->row_ptr.size()) * 4;
  return m;
}

void split_by_nonzeros(const SparseConvWeights& w, int parts, std::vector<int>* bounds) {
  const int C = w.geo.cout;
  if (parts < 1) parts = 1;
  bounds->assign((size_t)parts + 1, C);
  (*bounds)[0] = 0;
  const double per_channel = 8.0;  // a channel's fixed cost (tile setup, stores), in nonzeros
  const double total = (double)w.nnz() + per_channel * C;
  double acc = 0;
  int p = 1;
  for (int co = 0; co < C && p < parts; co++) {
    acc += (double)w.nnz(co) + per_channel;
    while (p < parts && acc >= total * p / parts) (*bounds)[p++] = co + 1;
  }
}

// ---------------------------------------------------------------------------------------------

DenseConvWeights DenseConvWeights::pack(const ConvGeometry& geo, const float* w) {
  DenseConvWeights d;
  d.geo = geo;
  const int K = geo.taps(), M = geo.cout_g();
  d.m_pad = (M + kMr - 1) / kMr * kMr;
  d.group_floats = (size_t)K * d.m_pad;
  d.packed.assign(d.group_floats * geo.groups, 0.0f);
  for (int g = 0; g < geo.groups; g++)
    for (int k0 = 0; k0 < K; k0 += kKc) {
      const int kc = std::min(kKc, K - k0);
      float* blk = d.packed.data() + g * d.group_floats + (size_t)k0 * d.m_pad;
      for (int m = 0; m < M; m++)
        for (int k = 0; k < kc; k++)
          blk[(size_t)(m / kMr) * kMr * kc + (size_t)k * kMr + m % kMr] =
              w[((size_t)g * M + m) * K + k0 + k];
    }
  d.lanes_ = std::make_shared<LanesCache>();
  return d;
}

struct DenseConvWeights::LanesCache {
  std::once_flag once;
  std::vector<float> v;
};

const std::vector<float>& DenseConvWeights::lanes() const {
  std::call_once(lanes_->once, [this] {
    const int K = geo.taps(), M = geo.cout_g(), panels = lanes_panels();
    std::vector<float>& v = lanes_->v;
    v.assign((size_t)geo.groups * panels * K * kCn + kCn, 0.0f);
    for (int g = 0; g < geo.groups; g++)
      for (int m = 0; m < M; m++) {
        float* dst = v.data() + ((size_t)g * panels + m / kCn) * K * kCn + m % kCn;
        for (int t = 0; t < K; t++) dst[(size_t)t * kCn] = at(g * M + m, t);
      }
  });
  return lanes_->v;
}

size_t pixel_block(size_t P, size_t NR) {
  const size_t target = std::max<size_t>(NR, 192 / NR * NR);
  const size_t blocks = (P + target - 1) / target;
  const size_t per = (P + blocks - 1) / blocks;
  return (per + NR - 1) / NR * NR;
}

int lane_rows(size_t P) {
  int best = 6;
  size_t best_pad = (P + 5) / 6 * 6;
  for (int r = 5; r >= 4; r--) {
    const size_t pad = (P + r - 1) / r * r;
    if (pad < best_pad) best = r, best_pad = pad;
  }
  return best;
}

double dense_panel_work(const ConvLayout& L, int N, int NR) {
  const size_t P = L.out_pixels(), nc = pixel_block(P, (size_t)NR);
  double cols = 0;
  for (size_t p0 = 0; p0 < P; p0 += nc) {
    const size_t n = std::min(nc, P - p0), tail = n % (size_t)NR;
    cols += (double)(n - tail) + (tail == 0 ? 0 : tail <= (size_t)N ? N : NR);
  }
  const int M = L.geo.cout_g();
  return cols * ((M + kMr - 1) / kMr * kMr);
}

double dense_lane_work(const ConvLayout& L) {
  const size_t P = L.out_pixels();
  const int M = L.geo.cout_g(), R = lane_rows(P);
  return (double)((P + R - 1) / R * R) * ((M + kCn - 1) / kCn * kCn);
}

namespace {
std::atomic<int> g_dense_variant{0};
}
void set_dense_variant(DenseVariant v) { g_dense_variant.store((int)v); }
DenseVariant dense_variant() { return (DenseVariant)g_dense_variant.load(); }

// ---------------------------------------------------------------------------------------------

size_t prune_magnitude(const float* w, int rows, int cols, double sparsity, float* out, int br, int bc) {
  const size_t n = (size_t)rows * cols;
  if (out != w) std::memcpy(out, w, n * sizeof(float));
  if (br < 1) br = 1;
  if (bc < 1) bc = 1;
  const int nbr = (rows + br - 1) / br, nbc = (cols + bc - 1) / bc;
  const size_t blocks = (size_t)nbr * nbc;
  sparsity = std::min(1.0, std::max(0.0, sparsity));
  const size_t k = (size_t)std::llround(sparsity * (double)blocks);
  if (k == 0) return 0;
  std::vector<double> score(blocks, 0.0);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) score[(size_t)(r / br) * nbc + c / bc] += std::fabs((double)w[(size_t)r * cols + c]);
  std::vector<size_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  // Smallest score first; equal scores: lower index first (deterministic). NaN ranks as largest.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const double sa = std::isnan(score[a]) ? INFINITY : score[a], sb = std::isnan(score[b]) ? INFINITY : score[b];
    return sa < sb;
  });
  size_t zeroed = 0;
  for (size_t i = 0; i < k; i++) {
    const int bi = (int)(order[i] / nbc), bj = (int)(order[i] % nbc);
    for (int r = bi * br; r < std::min(rows, (bi + 1) * br); r++)
      for (int c = bj * bc; c < std::min(cols, (bj + 1) * bc); c++) {
        out[(size_t)r * cols + c] = 0.0f;
        zeroed++;
      }
  }
  return zeroed;
}

}  // namespace conv
}  // namespace lowbit

// Winograd convolution: the shared scalar parts (layout, weight transform in double, NHWC input
// packing), the scalar reference kernel (plain loops over the same layouts), the kernel table and
// the error scale of the README's bound.
#include "kernels/conv/winograd.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lowbit {
namespace conv {
namespace {

const double kBT2[16] = {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1};
const double kG2[12] = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};
const double kAT2[8] = {1, 1, 1, 0, 0, 1, -1, -1};
const double kBT4[36] = {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0,
                         0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1};
const double kG4[18] = {1.0 / 4,  0,         0,        -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
                        1.0 / 24, 1.0 / 12,  1.0 / 6,  1.0 / 24, -1.0 / 12, 1.0 / 6, 0,        0,       1};
const double kAT4[24] = {1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0, 0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1};

size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

}  // namespace

const double* winograd_bt(int m) { return m == 2 ? kBT2 : kBT4; }
const double* winograd_g(int m) { return m == 2 ? kG2 : kG4; }
const double* winograd_at(int m) { return m == 2 ? kAT2 : kAT4; }

bool winograd_eligible(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1;
}

std::string make_wino_layout(const ConvGeometry& g, int m, int n, int h, int w, WinoLayout* out) {
  std::string why = validate_geometry(g);
  if (!why.empty()) return why;
  if (!winograd_eligible(g)) return "Winograd needs a 3x3 kernel, stride 1 and dilation 1";
  if (m != 2 && m != 4) return "Winograd tile must be 2 or 4";
  if (n < 1 || h < 1 || w < 1) return "input n, h, w must be >= 1";
  WinoLayout L;
  L.geo = g;
  L.m = m;
  L.alpha = m + 2;
  L.n = n, L.h = h, L.w = w;
  L.oh = h + 2 * g.pad_h - 2;
  L.ow = w + 2 * g.pad_w - 2;
  if (L.oh < 1 || L.ow < 1) return "input is smaller than the kernel";
  L.ty = (L.oh + m - 1) / m;
  L.tx = (L.ow + m - 1) / m;
  L.tiles = (size_t)n * L.ty * L.tx;
  L.hp = L.ty * m + 2;
  L.wp = L.tx * m + 2;
  L.cig_p = (int)round_up((size_t)g.cin_g(), kWinoChan);
  L.cogp = (int)round_up((size_t)g.cout_g(), kWinoPanel);
  L.cp = g.groups * L.cig_p;
  L.mcols = g.groups * L.cogp;
  L.panels = L.mcols / kWinoPanel;
  const double per_image = (double)L.hp * L.wp * L.cp;
  if (per_image > 2147483647.0 || (double)L.mcols * L.alpha * L.alpha > 2147483647.0) return "input too large";
  L.nhwc_floats = (size_t)n * L.hp * L.wp * L.cp;
  // V and M of a block of tiles within ~1 MiB (L2 and a little of L3), at least 24 tiles (4
  // microkernel row blocks: U is streamed once per block), balanced so the last is no sliver
  const size_t per_tile = (size_t)L.alpha * L.alpha * (L.cp + L.mcols) * sizeof(float);
  size_t tb = std::max<size_t>(24, (1u << 20) / per_tile);
  tb = std::min(tb, L.tiles);
  const size_t blocks = (L.tiles + tb - 1) / tb;
  L.tile_block = (int)((L.tiles + blocks - 1) / blocks);
  *out = std::move(L);
  return "";
}

WinogradWeights WinogradWeights::transform(const ConvGeometry& geo, int m, const float* w) {
  WinogradWeights W;
  W.geo = geo;
  W.m = m;
  W.alpha = m + 2;
  const int A = W.alpha, A2 = A * A, cig = geo.cin_g(), cog = geo.cout_g();
  W.cig_p = (int)round_up((size_t)cig, kWinoChan);
  W.cogp = (int)round_up((size_t)cog, kWinoPanel);
  const int ppg = W.cogp / kWinoPanel;
  W.u.assign((size_t)geo.groups * A2 * W.cogp * W.cig_p, 0.0f);
  const double* G = winograd_g(m);
  for (int co = 0; co < geo.cout; co++) {
    const int gi = co / cog, c = co % cog;
    for (int ci = 0; ci < cig; ci++) {
      const float* k = w + ((size_t)co * cig + ci) * 9;
      double tmp[6][3], u[6][6];  // G g, then (G g) G^T
      for (int i = 0; i < A; i++)
        for (int j = 0; j < 3; j++) {
          double s = 0;
          for (int l = 0; l < 3; l++) s += G[i * 3 + l] * k[l * 3 + j];
          tmp[i][j] = s;
        }
      for (int i = 0; i < A; i++)
        for (int j = 0; j < A; j++) {
          double s = 0;
          for (int l = 0; l < 3; l++) s += tmp[i][l] * G[j * 3 + l];
          u[i][j] = s;
        }
      for (int xi = 0; xi < A2; xi++)
        W.u[(((size_t)gi * A2 + xi) * ppg + c / kWinoPanel) * W.cig_p * kWinoPanel + (size_t)ci * kWinoPanel +
            c % kWinoPanel] = (float)u[xi / A][xi % A];
    }
  }
  return W;
}

double WinogradWeights::prune(double sparsity) {
  const int A2 = alpha * alpha, ppg = cogp / kWinoPanel, cig = geo.cin_g();
  const size_t nb = (size_t)geo.groups * A2 * ppg;  // (group, xi, panel) blocks of cig_p rows
  struct Block {
    float score;
    size_t at;  // offset of the row in u
  };
  std::vector<Block> blocks;
  blocks.reserve(nb * cig);
  for (size_t b = 0; b < nb; b++)
    for (int ci = 0; ci < cig; ci++) {
      const size_t at = (b * cig_p + ci) * kWinoPanel;
      float s = 0;
      for (int c = 0; c < kWinoPanel; c++) s += std::fabs(u[at + c]);
      blocks.push_back({s, at});
    }
  const size_t z = (size_t)std::llround(std::min(1.0, std::max(0.0, sparsity)) * (double)blocks.size());
  std::stable_sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) { return a.score < b.score; });
  for (size_t i = 0; i < z; i++) std::fill(u.begin() + blocks[i].at, u.begin() + blocks[i].at + kWinoPanel, 0.0f);
  sparse = true;
  sp_ptr.assign(nb + 1, 0);
  sp_ci.clear();
  sp_u.clear();
  size_t zeros = 0, real = 0;
  for (size_t b = 0; b < nb; b++) {
    for (int ci = 0; ci < cig; ci++) {
      const float* row = u.data() + (b * cig_p + ci) * kWinoPanel;
      bool any = false;
      for (int c = 0; c < kWinoPanel; c++) any = any || row[c] != 0.0f;
      if (any) {
        sp_ci.push_back(ci);
        sp_u.insert(sp_u.end(), row, row + kWinoPanel);
      }
    }
    sp_ptr[b + 1] = (int32_t)sp_ci.size();
  }
  const int cog = geo.cout_g();
  for (size_t b = 0; b < nb; b++)
    for (int ci = 0; ci < cig; ci++)
      for (int c = 0; c < kWinoPanel; c++) {
        if ((int)((b % ppg) * kWinoPanel + c) >= cog) continue;
        real++;
        zeros += u[(b * cig_p + ci) * kWinoPanel + c] == 0.0f;
      }
  return real ? (double)zeros / real : 0.0;
}

double WinogradWeights::density() const {
  if (!sparse) return 1.0;
  const size_t blocks = (sp_ptr.size() - 1) * (size_t)geo.cin_g();
  return blocks ? (double)sp_ci.size() / blocks : 1.0;
}

void winograd_pack_input(const WinoLayout& L, const float* input, float* nhwc, size_t row_begin, size_t row_end) {
  const ConvGeometry& g = L.geo;
  const int cig = g.cin_g();
  for (size_t row = row_begin; row < row_end; row++) {
    const int b = (int)(row / L.hp), yp = (int)(row % L.hp), y = yp - g.pad_h;
    float* dst = nhwc + row * L.wp * L.cp;
    std::memset(dst, 0, sizeof(float) * L.wp * L.cp);
    if (y < 0 || y >= L.h) continue;
    // one input row of every channel: a transpose of cin x w into w x cp (channels padded per group)
    for (int gi = 0; gi < g.groups; gi++)
      for (int c = 0; c < cig; c++) {
        const float* src = input + (((size_t)b * g.cin + gi * cig + c) * L.h + y) * L.w;
        float* d = dst + (size_t)g.pad_w * L.cp + gi * L.cig_p + c;
        const int wmax = std::min(L.w, L.wp - g.pad_w);
        for (int x = 0; x < wmax; x++) d[(size_t)x * L.cp] = src[x];
      }
  }
}

void winograd_conv_f32__ref(const WinogradWeights& W, const WinoLayout& L, const float* nhwc, const float* bias,
                            bool relu, float* out, size_t tile_begin, size_t tile_end, int panel_begin, int panel_end) {
  const ConvGeometry& g = L.geo;
  const int m = L.m, A = L.alpha, A2 = A * A, cig = g.cin_g(), cog = g.cout_g(), ppg = L.cogp / kWinoPanel;
  const double* BTd = winograd_bt(m);
  const double* ATd = winograd_at(m);
  float BT[36], AT[24];
  for (int i = 0; i < A2; i++) BT[i] = (float)BTd[i];
  for (int i = 0; i < m * A; i++) AT[i] = (float)ATd[i];
  const size_t tiles_img = (size_t)L.ty * L.tx;
  std::vector<float> V((size_t)cig * A2);
  for (size_t tile = tile_begin; tile < tile_end; tile++) {
    const size_t b = tile / tiles_img, r = tile % tiles_img;
    const int oy0 = (int)(r / L.tx) * m, ox0 = (int)(r % L.tx) * m;
    int v_group = -1;  // the group V holds
    for (int j = panel_begin; j < panel_end; j++) {
      const int gi = j / ppg;
      // V = B^T d B for every input channel of the group
      for (int ci = 0; ci < cig && gi != v_group; ci++) {
        float d[36], tmp[36];
        for (int y = 0; y < A; y++)
          for (int x = 0; x < A; x++)
            d[y * A + x] = nhwc[(((size_t)b * L.hp + oy0 + y) * L.wp + ox0 + x) * L.cp + gi * L.cig_p + ci];
        for (int i = 0; i < A; i++)
          for (int x = 0; x < A; x++) {
            float s = 0;
            for (int k = 0; k < A; k++) s += BT[i * A + k] * d[k * A + x];
            tmp[i * A + x] = s;
          }
        for (int i = 0; i < A; i++)
          for (int jj = 0; jj < A; jj++) {
            float s = 0;
            for (int k = 0; k < A; k++) s += tmp[i * A + k] * BT[jj * A + k];
            V[(size_t)ci * A2 + i * A + jj] = s;
          }
      }
      v_group = gi;
      for (int c = (j % ppg) * kWinoPanel; c < (j % ppg + 1) * kWinoPanel && c < cog; c++) {
        float Mx[36], tmp[24];
        for (int xi = 0; xi < A2; xi++) {
          const float* u = W.u.data() + (((size_t)gi * A2 + xi) * ppg + c / kWinoPanel) * L.cig_p * kWinoPanel + c % kWinoPanel;
          float s = 0;
          for (int ci = 0; ci < cig; ci++) s += u[(size_t)ci * kWinoPanel] * V[(size_t)ci * A2 + xi];
          Mx[xi] = s;
        }
        for (int i = 0; i < m; i++)
          for (int x = 0; x < A; x++) {
            float s = 0;
            for (int k = 0; k < A; k++) s += AT[i * A + k] * Mx[k * A + x];
            tmp[i * A + x] = s;
          }
        const int co = gi * cog + c;
        for (int i = 0; i < m; i++)
          for (int jj = 0; jj < m; jj++) {
            float s = 0;
            for (int k = 0; k < A; k++) s += tmp[i * A + k] * AT[jj * A + k];
            s += bias ? bias[co] : 0.0f;
            if (relu && s < 0.0f) s = 0.0f;
            const int oy = oy0 + i, ox = ox0 + jj;
            if (oy < L.oh && ox < L.ow) out[(((size_t)b * g.cout + co) * L.oh + oy) * L.ow + ox] = s;
          }
      }
    }
  }
}

WinogradFn winograd_kernel(Isa isa) {
  switch (isa) {
#if defined(LOWBIT_HAVE_AVX512)
    case Isa::avx512:
      return winograd_conv_f32__avx512;
#endif
#if defined(LOWBIT_HAVE_AVX2)
    case Isa::avx2:
      return winograd_conv_f32__avx2;
#endif
#if defined(LOWBIT_HAVE_NEON)
    case Isa::neon:
    case Isa::neon_dotprod:
    case Isa::neon_i8mm:
      return winograd_conv_f32__neon;
#endif
    default:
      return winograd_conv_f32__ref;
  }
}

void winograd_error_scale(const ConvGeometry& g, int m, int n, int h, int w, const float* weights, const float* input,
                          const float* bias, double* scale) {
  const int A = m + 2, A2 = A * A, cig = g.cin_g(), cog = g.cout_g();
  const int oh = h + 2 * g.pad_h - 2, ow = w + 2 * g.pad_w - 2, ty = (oh + m - 1) / m, tx = (ow + m - 1) / m;
  const double* BT = winograd_bt(m);
  const double* G = winograd_g(m);
  const double* AT = winograd_at(m);
  // |G| |g| |G|^T per (co, ci) and |B^T| |d| |B| per (image, channel, tile), each once
  std::vector<double> U((size_t)g.cout * cig * A2, 0.0), V((size_t)n * g.cin * ty * tx * A2, 0.0);
  for (int co = 0; co < g.cout; co++)
    for (int ci = 0; ci < cig; ci++) {
      const float* k = weights + ((size_t)co * cig + ci) * 9;
      double* u = &U[((size_t)co * cig + ci) * A2];
      for (int i = 0; i < A; i++)
        for (int j = 0; j < A; j++)
          for (int a = 0; a < 3; a++)
            for (int c = 0; c < 3; c++) u[i * A + j] += std::fabs(G[i * 3 + a]) * std::fabs((double)k[a * 3 + c]) * std::fabs(G[j * 3 + c]);
    }
  for (int b = 0; b < n; b++)
    for (int ch = 0; ch < g.cin; ch++)
      for (int t = 0; t < ty * tx; t++) {
        const int oy0 = t / tx * m, ox0 = t % tx * m;
        double d[36];
        for (int y = 0; y < A; y++)
          for (int x = 0; x < A; x++) {
            const int iy = oy0 + y - g.pad_h, ix = ox0 + x - g.pad_w;
            d[y * A + x] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? 0.0
                                                                   : std::fabs((double)input[(((size_t)b * g.cin + ch) * h + iy) * w + ix]);
          }
        double* v = &V[(((size_t)b * g.cin + ch) * ty * tx + t) * A2];
        for (int i = 0; i < A; i++)
          for (int j = 0; j < A; j++)
            for (int a = 0; a < A; a++)
              for (int c = 0; c < A; c++) v[i * A + j] += std::fabs(BT[i * A + a]) * d[a * A + c] * std::fabs(BT[j * A + c]);
      }
  for (int b = 0; b < n; b++)
    for (int co = 0; co < g.cout; co++) {
      const int gi = co / cog;
      for (int t = 0; t < ty * tx; t++) {
        const int oy0 = t / tx * m, ox0 = t % tx * m;
        double Mx[36] = {0};
        for (int ci = 0; ci < cig; ci++) {
          const double* u = &U[((size_t)co * cig + ci) * A2];
          const double* v = &V[(((size_t)b * g.cin + gi * cig + ci) * ty * tx + t) * A2];
          for (int k = 0; k < A2; k++) Mx[k] += u[k] * v[k];
        }
        for (int i = 0; i < m && oy0 + i < oh; i++)
          for (int j = 0; j < m && ox0 + j < ow; j++) {
            double s = bias ? std::fabs((double)bias[co]) : 0.0;
            for (int a = 0; a < A; a++)
              for (int c = 0; c < A; c++) s += std::fabs(AT[i * A + a]) * Mx[a * A + c] * std::fabs(AT[j * A + c]);
            scale[(((size_t)b * g.cout + co) * oh + oy0 + i) * ow + ox0 + j] = s;
          }
      }
    }
}

}  // namespace conv
}  // namespace lowbit

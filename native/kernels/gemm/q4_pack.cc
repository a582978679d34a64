// 4-bit quantization with outliers, packing, and the byte form (q4.h). Run once per layer.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/gemm/q4.h"

namespace lowbit {
namespace gemm {
namespace {

void put(std::vector<uint8_t>& v, uint64_t x, int bytes) {
  for (int i = 0; i < bytes; i++) v.push_back((uint8_t)(x >> (8 * i)));
}
uint64_t get(const uint8_t* p, int bytes) {
  uint64_t x = 0;
  for (int i = 0; i < bytes; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}
void put_f32(std::vector<uint8_t>& v, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  put(v, u, 4);
}
float get_f32(const uint8_t* p) {
  const uint32_t u = (uint32_t)get(p, 4);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

size_t group_of(size_t K, size_t group, bool per_channel) {
  return per_channel ? (K + kQ4ChunkK - 1) / kQ4ChunkK * kQ4ChunkK : group;
}

}  // namespace

Q4Weights pack_q4(const int8_t* q_nk, const float* scales_ng, size_t K, size_t N, size_t group, bool per_channel,
                  const std::vector<uint32_t>& out_start, const std::vector<uint32_t>& out_k,
                  const std::vector<int8_t>& out_v, const float* out_scale) {
  Q4Weights w;
  w.K = K;
  w.N = N;
  w.per_channel = per_channel;
  w.group = group_of(K, group, per_channel);
  w.groups = (K + w.group - 1) / w.group;
  w.Kp = w.groups * w.group;
  w.panels = (N + kPanelN - 1) / kPanelN;
  const size_t chunks = w.chunks();
  w.data = AlignedBytes(w.panels * chunks * kQ4ChunkBytes);
  std::memset(w.data.data(), 0x88, w.data.size());  // nibble 8: weight 0 (the padding)
  w.scales.assign(w.panels * w.groups * kPanelN, 0.0f);
  w.qsum.assign(w.panels * w.groups * kPanelN, 0);
  uint8_t* d = w.data.data();
  for (size_t n = 0; n < N; n++) {
    const size_t p = n / kPanelN, c = n % kPanelN;
    for (size_t k = 0; k < K; k++) {
      const int q = q_nk[n * K + k];
      uint8_t& b = d[(p * chunks + k / kQ4ChunkK) * kQ4ChunkBytes + c * 4 + k % 4];
      const uint8_t nib = (uint8_t)(q + 8);
      b = (k % kQ4ChunkK) < 4 ? (uint8_t)((b & 0xF0) | nib) : (uint8_t)((b & 0x0F) | (nib << 4));
      w.qsum[(p * w.groups + k / w.group) * kPanelN + c] += q;
    }
    for (size_t g = 0; g < w.groups; g++) w.scales[(p * w.groups + g) * kPanelN + c] = scales_ng[n * w.groups + g];
  }
  w.out_start = out_start;
  w.out_k = out_k;
  w.out_v = out_v;
  w.out_scale.assign(out_scale, out_scale + N);
  w.out_vsum.assign(N, 0);
  for (size_t n = 0; n < N; n++)
    for (uint32_t e = out_start[n]; e < out_start[n + 1]; e++) w.out_vsum[n] += out_v[e];
  return w;
}

Q4Weights quantize_q4(const float* w_nk, size_t K, size_t N, const Q4Options& o) {
  const size_t total = K * N;
  // 1. the outliers: |w| >= threshold, or the largest `fraction` of all |w| (ties: by index)
  std::vector<uint8_t> is_out(total, 0);
  if (o.outlier_threshold > 0) {
    for (size_t i = 0; i < total; i++) is_out[i] = std::fabs(w_nk[i]) >= o.outlier_threshold;
  } else {
    const size_t count = std::min(total, (size_t)std::llround(o.outlier_fraction * (double)total));
    if (count > 0) {
      std::vector<uint32_t> idx(total);
      for (size_t i = 0; i < total; i++) idx[i] = (uint32_t)i;
      auto larger = [&](uint32_t x, uint32_t y) {
        const float ax = std::fabs(w_nk[x]), ay = std::fabs(w_nk[y]);
        return ax > ay || (ax == ay && x < y);
      };
      std::nth_element(idx.begin(), idx.begin() + (count - 1), idx.end(), larger);
      for (size_t i = 0; i < count; i++) is_out[idx[i]] = 1;
    }
  }
  // 2. the outliers in int8, one scale per column (max |outlier| / 127)
  std::vector<uint32_t> out_start(N + 1, 0), out_k;
  std::vector<int8_t> out_v;
  std::vector<float> out_scale(N, 0.0f);
  for (size_t n = 0; n < N; n++) {
    float mx = 0;
    for (size_t k = 0; k < K; k++)
      if (is_out[n * K + k]) mx = std::max(mx, std::fabs(w_nk[n * K + k]));
    const float s = mx / 127.0f;
    out_scale[n] = s;
    for (size_t k = 0; k < K; k++) {
      if (!is_out[n * K + k]) continue;
      const long v = s > 0 ? std::lround(w_nk[n * K + k] / s) : 0;
      if (v == 0) continue;  // (an outlier of 0 only where the column's largest is 0)
      out_k.push_back((uint32_t)k);
      out_v.push_back((int8_t)std::max(-127l, std::min(127l, v)));
    }
    out_start[n + 1] = (uint32_t)out_k.size();
  }
  // 3. the rest in 4 bits: per group, scale = max |w| / 7, q = clamp(round(w / scale), -8, 7)
  const size_t group = group_of(K, o.group, o.group == 0);
  const size_t groups = (K + group - 1) / group;
  std::vector<int8_t> q(total, 0);
  std::vector<float> scales(N * groups, 0.0f);
  for (size_t n = 0; n < N; n++) {
    for (size_t g = 0; g < groups; g++) {
      const size_t k0 = g * group, k1 = std::min(K, k0 + group);
      float mx = 0;
      for (size_t k = k0; k < k1; k++)
        if (!is_out[n * K + k]) mx = std::max(mx, std::fabs(w_nk[n * K + k]));
      const float s = mx / 7.0f;
      scales[n * groups + g] = s;
      if (s == 0) continue;
      for (size_t k = k0; k < k1; k++) {
        if (is_out[n * K + k]) continue;
        const long v = std::lround(w_nk[n * K + k] / s);
        q[n * K + k] = (int8_t)std::max(-8l, std::min(7l, v));
      }
    }
  }
  return pack_q4(q.data(), scales.data(), K, N, o.group, o.group == 0, out_start, out_k, out_v, out_scale.data());
}

std::vector<float> dequantize_q4(const Q4Weights& w) {
  std::vector<float> f(w.K * w.N);
  for (size_t n = 0; n < w.N; n++) {
    for (size_t k = 0; k < w.K; k++) f[n * w.K + k] = (float)w.q(k, n) * w.scale(n, k / w.group);
    for (uint32_t e = w.out_start[n]; e < w.out_start[n + 1]; e++) f[n * w.K + w.out_k[e]] += (float)w.out_v[e] * w.out_scale[n];
  }
  return f;
}

// "LBQ4", u32 version 1, u64 K, u64 N, u32 group (0: per channel), then the packed data, the
// scales ([panel][group][8] fp32), u64 outlier count, N + 1 u32 column starts, count u32 k,
// count i8 values, N fp32 outlier scales.
std::vector<uint8_t> serialize_q4(const Q4Weights& w) {
  std::vector<uint8_t> v;
  v.insert(v.end(), {'L', 'B', 'Q', '4'});
  put(v, 1, 4);
  put(v, w.K, 8);
  put(v, w.N, 8);
  put(v, w.per_channel ? 0 : w.group, 4);
  v.insert(v.end(), w.data.data(), w.data.data() + w.data.size());
  for (float s : w.scales) put_f32(v, s);
  put(v, w.out_v.size(), 8);
  for (uint32_t s : w.out_start) put(v, s, 4);
  for (uint32_t k : w.out_k) put(v, k, 4);
  for (int8_t x : w.out_v) v.push_back((uint8_t)x);
  for (float s : w.out_scale) put_f32(v, s);
  return v;
}

bool deserialize_q4(const uint8_t* bytes, size_t size, Q4Weights* out) {
  if (size < 28 || std::memcmp(bytes, "LBQ4", 4) != 0 || get(bytes + 4, 4) != 1) return false;
  const uint64_t K = get(bytes + 8, 8), N = get(bytes + 16, 8), g = get(bytes + 24, 4);
  if (K == 0 || N == 0 || K > (1ull << 30) || N > (1ull << 30)) return false;
  if (g != 0 && g != 32 && g != 64 && g != 128) return false;
  const bool per_channel = g == 0;
  const size_t group = group_of(K, g, per_channel), groups = (K + group - 1) / group, Kp = groups * group;
  const size_t panels = (N + kPanelN - 1) / kPanelN;
  const long double data_bytes = (long double)panels * (Kp / kQ4ChunkK) * kQ4ChunkBytes;
  const long double scale_bytes = 4.0L * panels * groups * kPanelN;
  const long double fixed = 28.0L + data_bytes + scale_bytes + 8.0L + 4.0L * (N + 1) + 4.0L * N;
  if ((long double)size < fixed) return false;
  const uint8_t* p = bytes + 28;
  const uint8_t* data = p;
  p += (size_t)data_bytes;
  const uint8_t* sc = p;
  p += (size_t)scale_bytes;
  const uint64_t count = get(p, 8);
  p += 8;
  if (count > K * N || (long double)size != fixed + 5.0L * count) return false;
  // 4-bit values and scales, unpacked, checked
  std::vector<int8_t> q(K * N);
  std::vector<float> scales(N * groups);
  for (size_t pn = 0; pn < panels; pn++)
    for (size_t t = 0; t < Kp / kQ4ChunkK; t++)
      for (size_t c = 0; c < kPanelN; c++)
        for (size_t j = 0; j < 8; j++) {
          const uint8_t b = data[(pn * (Kp / kQ4ChunkK) + t) * kQ4ChunkBytes + c * 4 + j % 4];
          const int nib = j < 4 ? (b & 15) : (b >> 4);
          const size_t n = pn * kPanelN + c, k = t * kQ4ChunkK + j;
          if (n >= N || k >= K) {
            if (nib != 8) return false;  // padding: weight 0
          } else {
            q[n * K + k] = (int8_t)(nib - 8);
          }
        }
  for (size_t pn = 0; pn < panels; pn++)
    for (size_t gi = 0; gi < groups; gi++)
      for (size_t c = 0; c < kPanelN; c++) {
        const float s = get_f32(sc + 4 * ((pn * groups + gi) * kPanelN + c));
        const size_t n = pn * kPanelN + c;
        if (!std::isfinite(s) || (n >= N && s != 0.0f)) return false;
        if (n < N) scales[n * groups + gi] = s;
      }
  std::vector<uint32_t> starts(N + 1), ks(count);
  std::vector<int8_t> vs(count);
  std::vector<float> oscale(N);
  for (size_t i = 0; i <= N; i++) starts[i] = (uint32_t)get(p + 4 * i, 4);
  p += 4 * (N + 1);
  for (size_t i = 0; i < count; i++) ks[i] = (uint32_t)get(p + 4 * i, 4);
  p += 4 * count;
  for (size_t i = 0; i < count; i++) vs[i] = (int8_t)p[i];
  p += count;
  for (size_t i = 0; i < N; i++) oscale[i] = get_f32(p + 4 * i);
  if (starts[0] != 0 || starts[N] != count) return false;
  for (size_t n = 0; n < N; n++) {
    if (starts[n + 1] < starts[n] || !std::isfinite(oscale[n])) return false;
    for (uint32_t e = starts[n]; e < starts[n + 1]; e++) {
      if (ks[e] >= K || (e > starts[n] && ks[e] <= ks[e - 1]) || vs[e] == -128) return false;
    }
  }
  *out = pack_q4(q.data(), scales.data(), K, N, g, per_channel, starts, ks, vs, oscale.data());
  return true;
}

}  // namespace gemm
}  // namespace lowbit

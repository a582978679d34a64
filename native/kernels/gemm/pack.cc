// Weight packing, shared by every ISA (the packed layout is the same everywhere; see gemm.h).
#include <cstring>
#include <new>
#include <utility>

#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace gemm {

AlignedBytes::AlignedBytes(size_t n) : n_(n) {
  if (n) {
    p_ = static_cast<uint8_t*>(::operator new(n, std::align_val_t(64)));
    std::memset(p_, 0, n);
  }
}
AlignedBytes::AlignedBytes(const AlignedBytes& o) : AlignedBytes(o.n_) {
  if (n_) std::memcpy(p_, o.p_, n_);
}
AlignedBytes::AlignedBytes(AlignedBytes&& o) noexcept : p_(o.p_), n_(o.n_) {
  o.p_ = nullptr;
  o.n_ = 0;
}
AlignedBytes& AlignedBytes::operator=(AlignedBytes o) noexcept {
  std::swap(p_, o.p_);
  std::swap(n_, o.n_);
  return *this;
}
AlignedBytes::~AlignedBytes() {
  if (p_) ::operator delete(p_, std::align_val_t(64));
}

PathCounters& path_counters() {
  static thread_local PathCounters c;
  return c;
}

namespace {

// vpmaddubsw(u8 a, s8 b) adds two products a0*b0 + a1*b1 into int16 with saturation.
inline bool pair_safe(int b0, int b1) {
  const int pos = (b0 > 0 ? b0 : 0) + (b1 > 0 ? b1 : 0);
  const int neg = (b0 < 0 ? -b0 : 0) + (b1 < 0 ? -b1 : 0);
  return 255 * pos <= 32767 && 255 * neg <= 32768;
}

// Fills every field derived from data, K, N and b_zp.
void derive(PackedB* p) {
  p->col_sum.assign(p->N, 0);
  bool safe = true;
  const uint8_t* d = p->data.data();
  for (size_t pn = 0; pn < p->panels; pn++) {
    for (size_t g = 0; g < p->k_groups; g++) {
      const int8_t* blk = reinterpret_cast<const int8_t*>(d + (pn * p->k_groups + g) * kPanelGroupBytes);
      for (size_t c = 0; c < kPanelN; c++) {
        const int8_t* q = blk + c * kGroupK;
        safe = safe && pair_safe(q[0], q[1]) && pair_safe(q[2], q[3]);
        const size_t n = pn * kPanelN + c;
        if (n < p->N) p->col_sum[n] += (int32_t)q[0] + q[1] + q[2] + q[3];
      }
    }
  }
  p->maddubs_safe = safe;
  p->b_zp_all_zero = true;
  for (int32_t z : p->b_zp) p->b_zp_all_zero = p->b_zp_all_zero && z == 0;
}

}  // namespace

PackedB pack_b(const int8_t* b, size_t ldb, bool transposed, size_t K, size_t N, const int32_t* b_zp,
               bool b_zp_per_channel) {
  PackedB p;
  p.K = K;
  p.N = N;
  p.k_groups = (K + kGroupK - 1) / kGroupK;
  p.panels = (N + kPanelN - 1) / kPanelN;
  p.data = AlignedBytes(p.panels * p.k_groups * kPanelGroupBytes);  // zero-filled: the padding
  uint8_t* d = p.data.data();
  for (size_t k = 0; k < K; k++) {
    for (size_t n = 0; n < N; n++) {
      const int8_t v = transposed ? b[n * ldb + k] : b[k * ldb + n];
      d[((n / kPanelN) * p.k_groups + k / kGroupK) * kPanelGroupBytes + (n % kPanelN) * kGroupK +
        k % kGroupK] = (uint8_t)v;
    }
  }
  p.b_zp_per_channel = b_zp_per_channel;
  p.b_zp.resize(N);
  for (size_t n = 0; n < N; n++) p.b_zp[n] = b_zp_per_channel ? b_zp[n] : b_zp[0];
  derive(&p);
  return p;
}

// Byte form: "LBG1", u32 version 1, u64 K, u64 N, u32 per_channel, then N x i32 b_zp (1 when per
// tensor), then the packed data (panels * k_groups * 32 bytes). All little-endian.
namespace {
void put(std::vector<uint8_t>& v, uint64_t x, int bytes) {
  for (int i = 0; i < bytes; i++) v.push_back((uint8_t)(x >> (8 * i)));
}
uint64_t get(const uint8_t* p, int bytes) {
  uint64_t x = 0;
  for (int i = 0; i < bytes; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}
}  // namespace

std::vector<uint8_t> serialize(const PackedB& b) {
  std::vector<uint8_t> v;
  v.insert(v.end(), {'L', 'B', 'G', '1'});
  put(v, 1, 4);
  put(v, b.K, 8);
  put(v, b.N, 8);
  put(v, b.b_zp_per_channel ? 1 : 0, 4);
  const size_t nzp = b.b_zp_per_channel ? b.N : 1;
  for (size_t i = 0; i < nzp; i++) put(v, (uint32_t)b.b_zp[i], 4);
  v.insert(v.end(), b.data.data(), b.data.data() + b.data.size());
  return v;
}

bool deserialize(const uint8_t* bytes, size_t size, PackedB* out) {
  if (size < 28 || std::memcmp(bytes, "LBG1", 4) != 0 || get(bytes + 4, 4) != 1) return false;
  const uint64_t K = get(bytes + 8, 8), N = get(bytes + 16, 8), pc = get(bytes + 24, 4);
  if (K == 0 || N == 0 || pc > 1 || K > (1ull << 40) || N > (1ull << 40)) return false;
  PackedB p;
  p.K = K;
  p.N = N;
  p.k_groups = (K + kGroupK - 1) / kGroupK;
  p.panels = (N + kPanelN - 1) / kPanelN;
  p.b_zp_per_channel = pc == 1;
  const size_t nzp = p.b_zp_per_channel ? N : 1;
  const long double data_bytes = (long double)p.panels * p.k_groups * kPanelGroupBytes;
  if ((long double)size != 28.0L + 4.0L * nzp + data_bytes) return false;
  const uint8_t* q = bytes + 28;
  p.b_zp.resize(N);
  for (size_t n = 0; n < N; n++) {
    p.b_zp[n] = (int32_t)(uint32_t)get(q + 4 * (p.b_zp_per_channel ? n : 0), 4);
    if (p.b_zp[n] < -128 || p.b_zp[n] > 127) return false;  // what pack_b's callers accept
  }
  q += 4 * nzp;
  p.data = AlignedBytes((size_t)data_bytes);
  std::memcpy(p.data.data(), q, (size_t)data_bytes);
  // The padding must be zero: the kernels rely on it.
  for (size_t pn = 0; pn < p.panels; pn++)
    for (size_t g = 0; g < p.k_groups; g++)
      for (size_t c = 0; c < kPanelN; c++)
        for (size_t j = 0; j < kGroupK; j++)
          if ((pn * kPanelN + c >= N || g * kGroupK + j >= K) &&
              p.data.data()[(pn * p.k_groups + g) * kPanelGroupBytes + c * kGroupK + j] != 0)
            return false;
  derive(&p);
  *out = std::move(p);
  return true;
}

}  // namespace gemm
}  // namespace lowbit

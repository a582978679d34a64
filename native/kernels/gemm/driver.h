// The GEMM driver shared by the SIMD kernels: row blocking, A packing, zero-point corrections,
// the choice between the always-exact and the fast microkernel, tails, and the epilogue loop.
//
// Included by exactly one .cc per ISA, which defines a Traits class (microkernels + epilogue) and
// instantiates run<Traits>. Everything here is in an anonymous namespace on purpose: each ISA's
// translation unit is compiled with its own -m flags, and a shared inline/template symbol could be
// merged by the linker with a copy that uses instructions the CPU lacks. For the same reason this
// file uses no std:: templates (no vector, no min) and no inline function of gemm.h.
//
// Loop order (README.md, "Blocking"): for each block of Mc rows of A: pack them (int16 for the
// exact kernel, 8-bit for the fast one, K padded to a multiple of 4 with zeros, each tile of MR
// rows interleaved as [k/4][row][4]); then for each group of G panels of B (8 columns each) and
// each MR-row tile: microkernel over the whole K into an int32 tile, then the epilogue. With a
// "wide" kernel (AVX2), each group's panels are first widened to int16 into scratch (WideOf below).
#pragma once

#include <cmath>
#include <cstring>
#include <new>
#include <type_traits>

#include "cpu/scratch.h"
#include "kernels/gemm/gemm.h"

namespace lowbit {
namespace gemm {
namespace {

// How the fast kernel's A operand is formed. p = a - shift must fit the operand type.
enum class FastKind {
  none,        // no fast kernel on this ISA
  u8_checked,  // u8 operand through a saturating instruction: proven safe per block (AVX2 maddubs)
  u8_always,   // u8 operand, exact for any input (VNNI vpdpbusd)
  s8_always,   // s8 operand, exact for any input (sdot)
};

inline size_t dmin(size_t a, size_t b) { return a < b ? a : b; }
inline size_t dmax(size_t a, size_t b) { return a > b ? a : b; }

inline Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

// What the epilogue needs for one 8-column chunk (all arrays hold 8 readable entries).
struct EpiChunk {
  const int32_t* colterm;  // bias + K*z*bz[n] - z*colsum[n]  (modulo 2^32)
  const int32_t* bz;       // per-column b zero point, or nullptr when every bz is 0
  const float* scale;      // 8 entries, or 1 entry when !scale_pc
  bool scale_pc;
  const float* biasf;  // or nullptr
};

inline size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// The scalar epilogue (ISAs without a SIMD one use it; the formulas are those of gemm.h,
// restated here: see the note at the top of this file).
inline void epilogue_scalar(const int32_t* acc, const EpiChunk& e, int32_t rowsum, const Output& out,
                            size_t from, size_t to, void* dst_row_chunk) {
  for (size_t j = from; j < to; j++) {
    uint32_t u = (uint32_t)acc[j] + (uint32_t)e.colterm[j];
    if (e.bz) u -= (uint32_t)e.bz[j] * (uint32_t)rowsum;
    const int32_t c = (int32_t)u;
    const float s = e.scale_pc ? e.scale[j] : e.scale[0];
    const float bias = e.biasf ? e.biasf[j] : 0.0f;
    // (memcpy: the output need not be aligned to its element type)
    if (out.type == OutType::s32) {
      std::memcpy(static_cast<uint8_t*>(dst_row_chunk) + 4 * j, &c, 4);
    } else if (out.type == OutType::f32) {
      float f = (float)c * s;
      f = f + bias;
      if (out.relu) f = f > 0.0f ? f : 0.0f;
      std::memcpy(static_cast<uint8_t*>(dst_row_chunk) + 4 * j, &f, 4);
    } else {
      float f = (float)c;
      f = f + bias;
      f = f * s;
      f = std::nearbyint(f);
      f = f + (float)out.out_zp;
      f = f > (float)out.qmin ? f : (float)out.qmin;
      f = f < (float)out.qmax ? f : (float)out.qmax;
      if (out.type == OutType::u8)
        static_cast<uint8_t*>(dst_row_chunk)[j] = (uint8_t)(int32_t)f;
      else
        static_cast<int8_t*>(dst_row_chunk)[j] = (int8_t)(int32_t)f;
    }
  }
}

inline size_t out_elem_size(OutType t) {
  return t == OutType::s32 || t == OutType::f32 ? 4 : 1;
}

// Calls T::exact<MR,NP> / T::fast<MR,NP> for a runtime (mr, np), mr in 1..6, np in 1..4.
#define LOWBIT_GEMM_NP_SWITCH(KIND, MR)                                                       \
  switch (np) {                                                                              \
    case 1: T::template KIND<MR, 1>(ap, bp, pstride, k4, tile, tld); break;                   \
    case 2: T::template KIND<MR, 2>(ap, bp, pstride, k4, tile, tld); break;                   \
    case 3: T::template KIND<MR, 3>(ap, bp, pstride, k4, tile, tld); break;                   \
    default: T::template KIND<MR, 4>(ap, bp, pstride, k4, tile, tld); break;                  \
  }
#define LOWBIT_GEMM_MR_SWITCH(KIND)                      \
  switch (mr) {                                          \
    case 1: LOWBIT_GEMM_NP_SWITCH(KIND, 1) break;        \
    case 2: LOWBIT_GEMM_NP_SWITCH(KIND, 2) break;        \
    case 3: LOWBIT_GEMM_NP_SWITCH(KIND, 3) break;        \
    case 4: LOWBIT_GEMM_NP_SWITCH(KIND, 4) break;        \
    case 5: LOWBIT_GEMM_NP_SWITCH(KIND, 5) break;        \
    default: LOWBIT_GEMM_NP_SWITCH(KIND, 6) break;       \
  }

template <class T>
void call_exact(int mr, int np, const int16_t* ap, const int8_t* bp, size_t pstride, size_t k4,
                int32_t* tile, size_t tld) {
  LOWBIT_GEMM_MR_SWITCH(exact)
}
template <class T>
void call_fast(int mr, int np, const uint8_t* ap, const int8_t* bp, size_t pstride, size_t k4,
               int32_t* tile, size_t tld) {
  LOWBIT_GEMM_MR_SWITCH(fast)
}
#undef LOWBIT_GEMM_MR_SWITCH
#undef LOWBIT_GEMM_NP_SWITCH

// Optional "wide" exact kernel (AVX2): B panels sign-extended to int16 once per row block and
// panel group (T::widen_b into scratch), then T::exact_wide<MR, NP> runs on them. Traits that have
// one define kWideMinRows (> 0) and kWideMaxK4: it is used for blocks of at least that many rows
// and at most that many k groups (where it measured faster than the exact kernel), and kMRWide,
// kNPWide (its tile).
template <class T, class = void>
struct WideOf {
  static constexpr int min_rows = 0, mr = 1, np = 1, max_k4 = 0;
};
template <class T>
struct WideOf<T, std::void_t<decltype(T::kWideMinRows)>> {
  static constexpr int min_rows = T::kWideMinRows, mr = T::kMRWide, np = T::kNPWide, max_k4 = T::kWideMaxK4;
};

// Optional AVX2-style hooks, used when present: T::epilogue_tile (a whole tile per call), and
// T::pack_row16 / T::pack_row8 (vectorized packing of one A row to int16 / 8 bits, the contract of
// pack_row), both announced by kHasPackRow16.
template <class T, class = void>
struct HasTileEpi : std::false_type {};
template <class T>
struct HasTileEpi<T, std::void_t<decltype(&T::epilogue_tile)>> : std::true_type {};
template <class T, class = void>
struct HasPack16 : std::false_type {};
template <class T>
struct HasPack16<T, std::void_t<decltype(T::kHasPackRow16)>> : std::true_type {};

template <class T>
void call_wide(int mr, int np, const int16_t* ap, const int16_t* bw, size_t wstride, size_t k4,
               int32_t* tile, size_t tld) {
#define LOWBIT_GEMM_W(MR)                                        \
  if (np == 1)                                                   \
    T::template exact_wide<MR, 1>(ap, bw, wstride, k4, tile, tld); \
  else                                                           \
    T::template exact_wide<MR, 2>(ap, bw, wstride, k4, tile, tld);
  switch (mr) {
    case 1: LOWBIT_GEMM_W(1) break;
    case 2: LOWBIT_GEMM_W(2) break;
    case 3: LOWBIT_GEMM_W(3) break;
    case 4: LOWBIT_GEMM_W(4) break;
    case 5: LOWBIT_GEMM_W(5) break;
    default: LOWBIT_GEMM_W(6) break;
  }
#undef LOWBIT_GEMM_W
}

// Packs one row of A: dst[g * stride4 * 4 + j] = a[4g + j] - shift (0 beyond K); returns the sum of
// the packed values over k < K. Full groups first (no per-element test), then the tail group.
template <typename TA, typename TP>
inline int32_t pack_row(const TA* a, size_t K, size_t k4, int32_t shift, size_t stride4, TP* dst) {
  int32_t sum = 0;
  const size_t full = K / kGroupK;
  const size_t step = stride4 * kGroupK;
  for (size_t g = 0; g < full; g++) {
    const int32_t p0 = (int32_t)a[4 * g] - shift, p1 = (int32_t)a[4 * g + 1] - shift;
    const int32_t p2 = (int32_t)a[4 * g + 2] - shift, p3 = (int32_t)a[4 * g + 3] - shift;
    TP* d = dst + g * step;
    d[0] = (TP)p0;
    d[1] = (TP)p1;
    d[2] = (TP)p2;
    d[3] = (TP)p3;
    sum += p0 + p1 + p2 + p3;
  }
  if (full < k4) {
    TP* d = dst + full * step;
    for (size_t j = 0; j < kGroupK; j++) {
      const size_t k = full * kGroupK + j;
      int32_t p = 0;
      if (k < K) {
        p = (int32_t)a[k] - shift;
        sum += p;
      }
      d[j] = (TP)p;
    }
  }
  return sum;
}

// Traits T provides:
//   static constexpr FastKind kFast;  static constexpr bool kHasExact;  (at least one kernel)
//   static constexpr int kMRExact, kMRFast;   (rows per tile, <= kMRMax)
//   static int np_exact(int mr), np_fast(int mr)   (panels per microkernel call, 1..4)
//   template <int MR, int NP> static void exact(const int16_t* ap, const int8_t* bp, size_t pstride,
//       size_t k4, int32_t* tile, size_t tld);      (tile[r * tld + c], c < 8 * NP)
//   template <int MR, int NP> static void fast(const uint8_t* ap, ...same...);
//   static void epilogue(const int32_t* acc8, const EpiChunk&, int32_t rowsum, const Output&,
//       size_t from, size_t to, void* dst_chunk);  (columns [from, to) of the chunk, to <= 8)
constexpr int kMRMax = 6;  // most rows per microkernel tile (T::kMRExact, T::kMRFast <= 6)

// The residual (Options::residual) per row block, vectorized over rows: the block's activations
// transposed once, at[k * rs + i] = A[row i][k] - a_zp (int16, rs = rows rounded up to 16, zeros
// beyond), then per panel group racc[c * rs + i] = sum over column c's entries (k, v) of
// at[k * rs + i] * v, added to each tile before its epilogue. Plain loops: each ISA's translation
// unit vectorizes them with its own flags (16 rows per step on AVX2). Every product fits int32
// exactly (|a - a_zp| <= 255, |v| <= 128), the sums wrap modulo 2^32 like every other term.
template <typename TA>
inline void residual_transpose(const TA* a, size_t lda, int32_t a_zp, size_t rows, size_t rs, size_t K, int16_t* at) {
  // in blocks of 64 k: each row's 64 bytes read in order, the 64 destination lines stay in L1
  for (size_t kb = 0; kb < K; kb += 64) {
    const size_t ke = dmin(K, kb + 64);
    for (size_t i = 0; i < rows; i++) {
      const TA* src = a + i * lda;
      for (size_t k = kb; k < ke; k++) at[k * rs + i] = (int16_t)((int32_t)src[k] - a_zp);
    }
    for (size_t k = kb; k < ke; k++)
      for (size_t i = rows; i < rs; i++) at[k * rs + i] = 0;
  }
}
inline void residual_columns(const ResidualView& res, const int16_t* at, size_t rs, size_t from, size_t to, size_t c0,
                             int32_t* racc) {
  for (size_t n = from; n < to; n++) {
    uint32_t* acc = reinterpret_cast<uint32_t*>(racc + (n - c0) * rs);
    for (size_t i = 0; i < rs; i++) acc[i] = 0;
    for (uint32_t e = res.col_start[n]; e < res.col_start[n + 1]; e++) {
      const int16_t* x = at + (size_t)res.k_index[e] * rs;
      const int32_t v = res.value[e];
      for (size_t i = 0; i < rs; i++) acc[i] += (uint32_t)((int32_t)x[i] * v);
    }
  }
}

// The per-column parameters of a call's columns [c0, c0 + W) (zeros past N) that every x86 tile
// epilogue reads, in 8-entry readable chunks: the column terms, b zero points, per-channel scales,
// fp32 biases. Lives in caller-provided scratch (bytes(W)).
struct ColumnWindow {
  int32_t* colterm = nullptr;
  int32_t* bz = nullptr;
  float* scale = nullptr;
  float* biasf = nullptr;
  float scale_one = 1.0f;
  const int32_t* bz_use = nullptr;  // nullptr when every b zero point is 0
  const Output* out = nullptr;
  size_t c0 = 0, W = 0;

  static size_t bytes(size_t W) { return 4 * W * 4; }
  ColumnWindow(const PackedB& b, const Output& o, size_t first, size_t width, uint8_t* mem) : out(&o), c0(first), W(width) {
    colterm = reinterpret_cast<int32_t*>(mem);
    bz = colterm + W;
    scale = reinterpret_cast<float*>(bz + W);
    biasf = scale + W;
    for (size_t i = 0; i < W; i++) {
      const size_t n = c0 + i;
      const bool in = n < b.N;
      bz[i] = in ? b.b_zp[n] : 0;
      scale[i] = in && o.scale && o.scale_per_channel ? o.scale[n] : 0.0f;
      biasf[i] = in && o.bias_f32 ? o.bias_f32[n] : 0.0f;
    }
    scale_one = o.scale ? o.scale[0] : 1.0f;
    bz_use = b.b_zp_all_zero ? nullptr : bz;
  }
  // colterm[i] = bias_s32[n] + K z bz[n] - z colsum[n] (mod 2^32), n = c0 + i, where z = a_zp -
  // shift is the zero point of the packed values p = a - shift (a kernel may change the shift per
  // row block and call this again).
  void set_terms(const PackedB& b, int32_t z_signed) {
    const uint32_t z = (uint32_t)z_signed;
    for (size_t i = 0; i < W; i++) {
      const size_t n = c0 + i;
      uint32_t c = 0;
      if (n < b.N) {
        c = (uint32_t)b.K * z * (uint32_t)b.b_zp[n] - z * (uint32_t)b.col_sum[n];
        if (out->bias_s32) c += (uint32_t)out->bias_s32[n];
      }
      colterm[i] = (int32_t)c;
    }
  }
  // The epilogue parameters of the chunk starting at window index wi.
  EpiChunk at(size_t wi) const {
    return EpiChunk{colterm + wi, bz_use ? bz_use + wi : nullptr, out->scale_per_channel ? scale + wi : &scale_one,
                    out->scale_per_channel, out->bias_f32 ? biasf + wi : nullptr};
  }
};

template <class T>
void run(const void* a_ptr, bool a_signed, size_t lda, int32_t a_zp, const PackedB& b,
         const Output& out, const Range& r, const Options& opt) {
  const size_t n0 = r.n_begin, n1 = dmin(r.n_end, b.N);
  const size_t m0 = r.m_begin, m1 = r.m_end;
  if (n0 >= n1 || m0 >= m1) return;
  const size_t K = b.K, k4 = b.k_groups, pstride = k4 * kPanelGroupBytes;
  const size_t p0 = n0 / kPanelN, p1 = (n1 + kPanelN - 1) / kPanelN;
  const size_t W = (p1 - p0) * kPanelN;  // padded column window, index n - p0 * 8
  const uint8_t* a_u8 = static_cast<const uint8_t*>(a_ptr);
  const int8_t* a_s8 = static_cast<const int8_t*>(a_ptr);

  // (an ISA without a separate exact kernel has only exact-by-construction fast kernels)
  const bool fast_possible = T::kFast != FastKind::none && !(opt.exact_only && T::kHasExact);
  const bool use_exact_only = !fast_possible;
  // Rows per block: the packed block stays within ~128 KiB (L2), at least one tile.
  const size_t row_bytes = k4 * kGroupK * (use_exact_only || T::kFast == FastKind::u8_checked ? 2 : 1);
  size_t Mc = dmax((size_t)12, (128 * 1024 / row_bytes) / 12 * 12);
  Mc = dmin(Mc, round_up(m1 - m0, 1));

  // Scratch: packed A block (int16 worst case), widened B panels (wide kernel), rowsums, the
  // column window's parameters.
  const size_t a_bytes = (Mc + kMRMax) * k4 * kGroupK * 2;
  constexpr bool kWide = WideOf<T>::min_rows > 0;
  const size_t wstride = k4 * kPanelGroupBytes;  // int16 elements per widened panel
  const size_t off_wide = round_up(a_bytes, 64);
  const size_t wide_bytes = kWide && k4 <= (size_t)WideOf<T>::max_k4 ? (size_t)WideOf<T>::np * wstride * 2 : 0;
  const size_t off_rowsum = round_up(off_wide + wide_bytes, 64);
  const size_t off_window = off_rowsum + round_up(Mc * 4, 64);
  // the residual's transposed activations and per-group sums (see residual_transpose)
  const bool has_res = opt.residual.col_start != nullptr;
  const size_t rs = round_up(Mc, 16);
  const size_t off_at = round_up(off_window + ColumnWindow::bytes(W), 64);
  const size_t off_racc = off_at + (has_res ? round_up(K * rs * 2, 64) : 0);
  uint8_t* base = scratch().get(off_racc + (has_res ? 4 * kPanelN * rs * 4 : 0));
  int16_t* at = reinterpret_cast<int16_t*>(base + off_at);
  int32_t* racc = reinterpret_cast<int32_t*>(base + off_racc);
  int32_t* rowsum = reinterpret_cast<int32_t*>(base + off_rowsum);
  ColumnWindow win(b, out, p0 * kPanelN, W, base + off_window);
  const size_t esz = out_elem_size(out.type);
  alignas(64) int32_t tile[kMRMax * 4 * kPanelN];
  const size_t tld = 4 * kPanelN;

  for (size_t mb = m0; mb < m1; mb += Mc) {
    const size_t rows = dmin(Mc, m1 - mb);
    // ---- choose the kernel and the shift: packed value p = a - shift
    // With a short K and enough rows, the wide exact kernel beats the 8-bit one (measured:
    // 156800x16x36 runs 55 GOPS exact-wide against 35 fast), so the fast path is not tried there.
    bool fast = fast_possible && !(T::kFast == FastKind::u8_checked && kWide && rows >= (size_t)WideOf<T>::min_rows &&
                                   k4 <= 16);
    int32_t shift = 0;
    if (fast) {
      switch (T::kFast) {
        case FastKind::u8_checked:
          if (b.maddubs_safe) {
            shift = a_signed ? -128 : 0;
          } else {
            int lo = 255, hi = -128;
            for (size_t i = 0; i < rows && hi - lo <= 127; i++) {
              const size_t row = (mb + i) * lda;
              int rl = 255, rh = -128;
              if (a_signed) {
                for (size_t k = 0; k < K; k++) {
                  const int v = a_s8[row + k];
                  rl = v < rl ? v : rl;
                  rh = v > rh ? v : rh;
                }
              } else {
                for (size_t k = 0; k < K; k++) {
                  const int v = a_u8[row + k];
                  rl = v < rl ? v : rl;
                  rh = v > rh ? v : rh;
                }
              }
              lo = rl < lo ? rl : lo;
              hi = rh > hi ? rh : hi;
            }
            if (hi - lo <= 127) {
              shift = lo;
            } else {
              fast = false;
            }
          }
          break;
        case FastKind::u8_always: shift = a_signed ? -128 : 0; break;
        case FastKind::s8_always: shift = a_signed ? 0 : 128; break;
        case FastKind::none: break;
      }
    }
    if (fast)
      path_counters().fast_blocks++;
    else
      path_counters().exact_blocks++;

    const bool wide = kWide && !fast && rows >= (size_t)WideOf<T>::min_rows && k4 <= (size_t)WideOf<T>::max_k4;
    if (wide) path_counters().wide_blocks++;
    const int kMR = fast ? T::kMRFast : wide ? WideOf<T>::mr : T::kMRExact;
    // ---- pack A: tiles of kMR rows, [k/4][row][4], zero padded; rowsum of p over k < K
    const size_t ntiles = (rows + kMR - 1) / kMR;
    for (size_t t = 0; t < ntiles; t++) {
      const size_t mr = dmin((size_t)kMR, rows - t * kMR);
      const size_t tile_elems = (size_t)kMR * k4 * kGroupK;
      for (size_t i = 0; i < mr; i++) {
        const size_t row = (mb + t * kMR + i) * lda;
        int32_t sum = 0;
        if (fast) {
          uint8_t* dst = base + t * tile_elems + i * kGroupK;
          if constexpr (HasPack16<T>::value)
            sum = a_signed ? T::pack_row8(a_s8 + row, K, shift, mr, dst) : T::pack_row8(a_u8 + row, K, shift, mr, dst);
          else
            sum = a_signed ? pack_row(a_s8 + row, K, k4, shift, mr, dst) : pack_row(a_u8 + row, K, k4, shift, mr, dst);
        } else {
          int16_t* dst = reinterpret_cast<int16_t*>(base) + t * tile_elems + i * kGroupK;
          if constexpr (HasPack16<T>::value)
            sum = a_signed ? T::pack_row16(a_s8 + row, K, mr, dst) : T::pack_row16(a_u8 + row, K, mr, dst);
          else
            sum = a_signed ? pack_row(a_s8 + row, K, k4, 0, mr, dst) : pack_row(a_u8 + row, K, k4, 0, mr, dst);
        }
        rowsum[t * kMR + i] = sum;
      }
    }
    // ---- column terms for this block's z = a_zp - shift
    win.set_terms(b, a_zp - shift);

    if (has_res) {
      if (a_signed)
        residual_transpose(a_s8 + mb * lda, lda, a_zp, rows, rs, K, at);
      else
        residual_transpose(a_u8 + mb * lda, lda, a_zp, rows, rs, K, at);
    }
    // ---- tiles
    const int G = fast   ? T::np_fast(rows >= (size_t)kMR ? kMR : (int)rows)
                  : wide ? WideOf<T>::np
                         : dmax(2, T::np_exact(rows >= (size_t)kMR ? kMR : (int)rows));
    int16_t* wbuf = reinterpret_cast<int16_t*>(base + off_wide);
    const size_t tile_elems = (size_t)kMR * k4 * kGroupK;  // packed A elements per tile
    for (size_t pg = p0; pg < p1; pg += G) {
      const size_t gp = dmin((size_t)G, p1 - pg);
      if (has_res)
        residual_columns(opt.residual, at, rs, dmax(pg * kPanelN, n0), dmin((pg + gp) * kPanelN, n1), pg * kPanelN, racc);
      // epilogue of tile t (mr rows) of this panel group, from its int32 sums in tl
      auto epilogue_of = [&](size_t t, int mr, const int32_t* tl) {
        if (has_res) {
          const size_t c0 = pg * kPanelN, from = dmax(c0, n0), to = dmin(c0 + gp * kPanelN, n1);
          for (size_t n = from; n < to; n++)
            for (int i = 0; i < mr; i++) {
              int32_t* x = tile + i * tld + (n - c0);
              *x = (int32_t)((uint32_t)*x + (uint32_t)racc[(n - c0) * rs + t * kMR + i]);
            }
        }
        if constexpr (HasTileEpi<T>::value) {
          const size_t c0 = pg * kPanelN;
          const EpiChunk e = win.at(c0 - p0 * kPanelN);
          uint8_t* dst = static_cast<uint8_t*>(out.c) + ((mb + t * kMR) * out.ldc + c0) * esz;
          T::epilogue_tile(tl, tld, mr, rowsum + t * kMR, e, out, c0 < n0 ? n0 - c0 : 0,
                           dmin(gp * kPanelN, n1 - c0), dst, out.ldc * esz);
        } else {
          // one 8-column chunk at a time, clipped to [n0, n1)
          for (int i = 0; i < mr; i++) {
            const size_t m = mb + t * kMR + i;
            for (size_t q = 0; q < gp; q++) {
              const size_t c0 = (pg + q) * kPanelN;
              const size_t from = c0 < n0 ? n0 - c0 : 0;
              const size_t to = dmin(kPanelN, n1 - c0);
              const EpiChunk e = win.at(c0 - p0 * kPanelN);
              // dst points at column c0 of row m; only [from, to) is written
              uint8_t* dst = static_cast<uint8_t*>(out.c) + (m * out.ldc + c0) * esz;
              T::epilogue(tl + i * tld + q * kPanelN, e, rowsum[t * kMR + i], out, from, to, dst);
            }
          }
        }
      };
      if constexpr (kWide) {
        if (wide) {
          // widen this group's panels once, then every tile of the block runs over them
          for (size_t q = 0; q < gp; q++)
            T::widen_b(reinterpret_cast<const int8_t*>(b.data.data()) + (pg + q) * pstride, k4,
                       wbuf + q * wstride);
          for (size_t t = 0; t < ntiles; t++) {
            const int mr = (int)dmin((size_t)kMR, rows - t * kMR);
            call_wide<T>(mr, (int)gp, reinterpret_cast<const int16_t*>(base) + t * tile_elems, wbuf, wstride,
                         k4, tile, tld);
            epilogue_of(t, mr, tile);
          }
          continue;
        }
      }
      for (size_t t = 0; t < ntiles; t++) {
        const int mr = (int)dmin((size_t)kMR, rows - t * kMR);
        const int npmax = fast ? T::np_fast(mr) : T::np_exact(mr);
        for (size_t q = 0; q < gp; q += npmax) {
          const int np = (int)dmin((size_t)npmax, gp - q);
          const int8_t* bp = reinterpret_cast<const int8_t*>(b.data.data()) + (pg + q) * pstride;
          if constexpr (T::kFast != FastKind::none) {
            if (fast) {
              call_fast<T>(mr, np, base + t * tile_elems, bp, pstride, k4, tile + q * kPanelN, tld);
              continue;
            }
          }
          if constexpr (T::kHasExact)
            call_exact<T>(mr, np, reinterpret_cast<const int16_t*>(base) + t * tile_elems, bp, pstride,
                          k4, tile + q * kPanelN, tld);
        }
        epilogue_of(t, mr, tile);
      }
    }
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

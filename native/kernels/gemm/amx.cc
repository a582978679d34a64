// int8 GEMM on AMX tiles (Intel AMX-INT8: Sapphire Rapids and later), exact, for the AVX-512
// level where cpu/cpu_features.h's amx_ready() says the process may use them (dispatch picks it).
//
// Why: one TDPBUSD multiplies a 16 x 64 uint8 tile by a 64 x 16 int8 tile into 16 x 16 int32
// (16384 multiply-adds; the four u8 x s8 products of each lane summed in int32, as vpdpbusd, so
// exact for any values), about 16x the multiply-adds of a zmm vpdpbusd per instruction. The
// AVX-512 VNNI kernel reached 0.70-0.79x of onnxruntime's MatMulInteger on such a CPU (which
// uses AMX there); this kernel is the answer.
//
// Layout and loop (README.md, "AMX"):
// - B: PackedB::data's 8-column panels re-tiled once per PackedB (PackedB::amx, built on the
//   first call): [16-column panel][64-byte k block][16 k groups][16 columns][4 k], zero padded in
//   k and n, so that every B tile is one 1 KiB block (row stride 64).
// - A: 32 rows at a time copied as p = a - shift (shift 0 for uint8, -128 for int8, as the VNNI
//   kernel's), rows of K padded to a multiple of 64 with zeros (tiles never read past A's rows),
//   with their row sums of p.
// - For each 32 x 32 block of C: tmm0-3 accumulate over the k blocks (2 A tiles, 2 B tiles, 4
//   TDPBUSD per k block), then are stored to a 32 x 32 int32 tile that the AVX2 tile epilogue
//   (epilogue_avx2.h, the same code and operation order as every x86 kernel) corrects for the
//   zero points (colterm, b_zp * rowsum) and writes out.
// Calls with a sparse residual (Options::residual) or fewer than kMinRows rows run the AVX-512
// VNNI kernel (the residual split exists only to reach a fast instruction, which AMX already is;
// a row or two would use 1/16 of each tile).
#include <immintrin.h>

#include "kernels/gemm/amx_tiles.h"
#include "kernels/gemm/driver.h"
#include "kernels/gemm/epilogue_avx2.h"

namespace lowbit {
namespace gemm {
namespace {

constexpr size_t kTile = 16;      // rows of every tile; also columns of a C or B tile
constexpr size_t kTileK = 64;     // bytes of k per A tile row
constexpr size_t kBlockM = 32;    // rows of A per block (2 A tiles)
constexpr size_t kMinRows = 8;    // fewer rows: the VNNI kernel

// PackedB's panels (8 columns, 32 bytes per k group) as [16-col panel][k block][16 g][16 c][4].
void build_tiles(const PackedB& b, AlignedBytes& dst) {
  const size_t q16 = (b.N + kTile - 1) / kTile, kb = (b.k_groups + kTile - 1) / kTile;
  dst = AlignedBytes(q16 * kb * 1024);
  std::memset(dst.data(), 0, dst.size());
  const uint8_t* src = b.data.data();
  for (size_t p = 0; p < b.panels; p++)
    for (size_t g = 0; g < b.k_groups; g++) {
      const uint8_t* s = src + (p * b.k_groups + g) * kPanelGroupBytes;  // 8 columns x 4 k
      const size_t n = p * kPanelN;
      uint8_t* d = dst.data() + ((n / kTile) * kb + g / kTile) * 1024 + (g % kTile) * 64 + (n % kTile) * kGroupK;
      std::memcpy(d, s, kPanelGroupBytes);
    }
}

template <typename TA>
void run_amx(const TA* a, bool a_signed, size_t lda, int32_t a_zp, const PackedB& b, const Output& out,
             const Range& r) {
  const size_t n0 = r.n_begin, n1 = dmin(r.n_end, b.N), m0 = r.m_begin, m1 = r.m_end;
  const size_t K = b.K, kb = (b.k_groups + kTile - 1) / kTile, Kp = kb * kTileK;
  const uint8_t* bt = b.amx.get([&b](AlignedBytes& d) { build_tiles(b, d); });
  const size_t q0 = n0 / kTile, q1 = (n1 + kTile - 1) / kTile;
  const size_t W = (q1 - q0) * kTile;  // column window, index n - q0 * 16
  const int32_t shift = a_signed ? -128 : 0;

  // Loop order: super-blocks of up to kSuperM rows of A packed at once; within one, chunks of
  // columns whose B tiles (nb x Kp bytes) stay in L2 while every 32-row block of the super-block
  // passes over them (with rows outside, a 4 MiB B was streamed from L3 once per 32 rows:
  // 128 x 4096 x 1024 ran at half the speed of 64 x 1024 x 1024).
  constexpr size_t kSuperM = 1024;
  const size_t nb = dmax(2 * kTile, (256 * 1024 / Kp) / (2 * kTile) * (2 * kTile));  // columns per chunk
  const size_t super_rows = round_up(dmin(kSuperM, m1 - m0), kBlockM);
  // scratch: A super-block, row sums, the offsets of its k blocks, the column window
  const size_t off_rowsum = round_up(super_rows * Kp, 64);
  const size_t off_koff = off_rowsum + round_up(super_rows * 4, 64);
  const size_t off_window = off_koff + round_up(kb * sizeof(size_t), 64);
  uint8_t* base = scratch().get(off_window + ColumnWindow::bytes(W));
  int32_t* rowsum = reinterpret_cast<int32_t*>(base + off_rowsum);
  size_t* koff = reinterpret_cast<size_t*>(base + off_koff);
  for (size_t t = 0; t < kb; t++) koff[t] = t * kTileK;
  ColumnWindow win(b, out, q0 * kTile, W, base + off_window);
  win.set_terms(b, a_zp - shift);
  const size_t esz = out_elem_size(out.type);
  alignas(64) int32_t ct[kBlockM * 32];

  load_tile_config();
  for (size_t ms = m0; ms < m1; ms += kSuperM) {
    const size_t srows = dmin(kSuperM, m1 - ms), salloc = round_up(srows, kBlockM);
    for (size_t i = 0; i < salloc; i++) {
      uint8_t* d = base + i * Kp;
      int32_t sum = 0;
      if (i < srows) {
        const TA* s = a + (ms + i) * lda;
        for (size_t k = 0; k < K; k++) {
          const int32_t p = (int32_t)s[k] - shift;
          d[k] = (uint8_t)p;
          sum += p;
        }
        std::memset(d + K, 0, Kp - K);
      } else {
        std::memset(d, 0, Kp);
      }
      rowsum[i] = sum;
    }
    for (size_t qc = q0; qc < q1; qc += nb / kTile) {
      const size_t qe = dmin(q1, qc + nb / kTile);
      for (size_t mb = ms; mb < ms + srows; mb += kBlockM) {
        const size_t rows = dmin(kBlockM, ms + srows - mb);
        const uint8_t* ap = base + (mb - ms) * Kp;
        path_counters().amx_blocks++;
        for (size_t q = qc; q < qe; q += 2) {
          const bool two = q + 1 < qe;
          const uint8_t* b0 = bt + q * kb * 1024;
          tile_block(rows > kTile, two, ap, ap + kTile * Kp, koff, Kp, b0, b0 + kb * 1024, kb, ct);
          const size_t c0 = q * kTile;
          uint8_t* dst = static_cast<uint8_t*>(out.c) + (mb * out.ldc + c0) * esz;
          epilogue_tile_avx2(ct, 32, (int)rows, rowsum + (mb - ms), win.at(c0 - q0 * kTile), out, c0 < n0 ? n0 - c0 : 0,
                             dmin((two ? 2 : 1) * kTile, n1 - c0), dst, out.ldc * esz);
        }
      }
    }
  }
  _tile_release();
}

bool use_vnni(const Range& r, size_t N, const Options& opt) {
  return opt.residual.col_start != nullptr || r.m_end <= r.m_begin || r.m_end - r.m_begin < kMinRows ||
         r.n_begin >= (r.n_end < N ? r.n_end : N);
}

}  // namespace

void gemm_u8s8__amx(const uint8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out, const Range& r,
                    const Options& opt) {
  if (use_vnni(r, b.N, opt)) return gemm_u8s8__avx512(a, lda, a_zp, b, out, r, opt);
  run_amx(a, false, lda, a_zp, b, out, r);
}
void gemm_s8s8__amx(const int8_t* a, size_t lda, int32_t a_zp, const PackedB& b, const Output& out, const Range& r,
                    const Options& opt) {
  if (use_vnni(r, b.N, opt)) return gemm_s8s8__avx512(a, lda, a_zp, b, out, r, opt);
  run_amx(a, true, lda, a_zp, b, out, r);
}

}  // namespace gemm
}  // namespace lowbit

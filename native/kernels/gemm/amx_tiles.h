// The AMX tile product shared by the AMX GEMM (gemm/amx.cc) and the AMX convolution
// (conv/amx_int8.cc): the tile configuration, and up to 2 x 2 C tiles (32 rows x 32 columns of
// int32) accumulated over a list of k steps. Include after <immintrin.h> in a translation unit
// compiled with -mamx-tile -mamx-int8; anonymous namespace, as driver.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit {
namespace gemm {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {0};
  uint16_t colsb[16] = {0};
  uint8_t rows[16] = {0};
};

// tmm0-3: C (16 x 16 int32); tmm4-5: A (16 rows x ka bytes of k); tmm6-7: B (ka / 4 k groups x 16
// columns x 4). ka = 64 but for a convolution with fewer channels (its only chunk is ka wide).
inline void load_tile_config(int ka = 64) {
  TileConfig c;
  for (int i = 0; i < 8; i++) c.rows[i] = 16, c.colsb[i] = 64;
  c.colsb[4] = c.colsb[5] = (uint16_t)ka;
  c.rows[6] = c.rows[7] = (uint8_t)(ka / 4);
  _tile_loadconfig(&c);
}

// C rows 0-15 from A tiles at a0 + aoff[i], rows 16-31 (ROWS2) from a1 + aoff[i], both with row
// stride astride; columns 0-15 from the B tiles b0 + 1024 i, columns 16-31 (COLS2) from b1 + 1024 i;
// for i < steps. Stored into ct (32 x 32 int32, row stride 128 bytes).
template <bool ROWS2, bool COLS2>
void tile_block(const uint8_t* a0, const uint8_t* a1, const size_t* aoff, size_t astride, const uint8_t* b0,
                const uint8_t* b1, size_t steps, int32_t* ct) {
  _tile_zero(0);
  if (COLS2) _tile_zero(1);
  if (ROWS2) _tile_zero(2);
  if (ROWS2 && COLS2) _tile_zero(3);
  for (size_t i = 0; i < steps; i++) {
    const size_t o = aoff[i];
    _tile_loadd(4, a0 + o, astride);
    _tile_loadd(6, b0 + i * 1024, 64);
    if (COLS2) _tile_loadd(7, b1 + i * 1024, 64);
    _tile_dpbusd(0, 4, 6);
    if (COLS2) _tile_dpbusd(1, 4, 7);
    if (ROWS2) {
      _tile_loadd(5, a1 + o, astride);
      _tile_dpbusd(2, 5, 6);
      if (COLS2) _tile_dpbusd(3, 5, 7);
    }
  }
  _tile_stored(0, ct, 128);
  if (COLS2) _tile_stored(1, ct + 16, 128);
  if (ROWS2) _tile_stored(2, ct + 16 * 32, 128);
  if (ROWS2 && COLS2) _tile_stored(3, ct + 16 * 32 + 16, 128);
}

// tile_block for runtime (rows2, cols2).
inline void tile_block(bool rows2, bool cols2, const uint8_t* a0, const uint8_t* a1, const size_t* aoff, size_t astride,
                       const uint8_t* b0, const uint8_t* b1, size_t steps, int32_t* ct) {
  if (rows2) {
    if (cols2) tile_block<true, true>(a0, a1, aoff, astride, b0, b1, steps, ct);
    else tile_block<true, false>(a0, a1, aoff, astride, b0, b1, steps, ct);
  } else {
    if (cols2) tile_block<false, true>(a0, a1, aoff, astride, b0, b1, steps, ct);
    else tile_block<false, false>(a0, a1, aoff, astride, b0, b1, steps, ct);
  }
}

}  // namespace
}  // namespace gemm
}  // namespace lowbit

// AMX int8 and bf16 weight kernels: the tile multiply unit computes a 16 x 16 block of C
// from a 16-row A tile and a B tile of 64-byte rows in one instruction (TDPBUSD: u8 x s8
// into int32, TDPBF16PS: bf16 pairs into fp32).
//
// The weight panels are B tiles already: 64 bytes of a panel are one group of 4 k (int8) or
// one pair of k (bf16) for its 16 columns, which is one B-tile row, so 16 consecutive
// groups or pairs (1 KB) are loaded straight from the weights. A is prepared into tiles of
// 16 rows x 64 bytes of one k block, each tile 1 KB contiguous: every tile load is
// sequential, and no row stride can be a power of two that maps the 16 rows to one cache set.
//
// int8 stores A as q + 128 and subtracts 128 * column_sum afterwards, as the VNNI variant
// does, with the same epilogue, so its results are identical to VNNI's bit for bit. bf16
// rounds A as the AVX-512 BF16 variant does, but the tile unit accumulates in its own
// order, so results differ from vdpbf16ps's by fp32 rounding.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "lowp_driver.h"
#include "q8_avx512.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kTileRows = 16;  // rows of A and C per tile, and k units (groups, pairs) per B tile
constexpr int kTileRowBytes = 64;
constexpr size_t kTileBytes = kTileRows * kTileRowBytes;
// Micro-tile of 2 A tiles x 2 B tiles: 4 C tiles, as many as the 8 tile registers hold
// beside the operands of one k block.
constexpr int kMr = 2 * kTileRows;
constexpr int kNp = 2;
// Rows whose prepared A (at most 256 x 3 KB at k = 1536 bf16) stays in L2 while a pair of
// panels sweeps them; a slab of the encoder's 1500 rows split 8 ways is a single block.
constexpr int kMc = 256;

// Palette 1 layout of LDTILECFG's 64-byte operand.
struct TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

// Tile registers: C of A tile i and panel j is tmm(2 i + j), the A tiles are tmm4 and tmm5,
// the B tiles tmm6 and tmm7, all 16 rows of 64 bytes. The configuration is per thread, and
// other code on the thread (another library's AMX kernels) may have replaced it since our
// last task, so every task loads it. Inline asm because GCC 12's _tile_loadconfig declares
// a read of only 8 bytes of its operand, which lets the compiler drop the other stores.
void load_tile_config() {
  TileConfig cfg{};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.bytes_per_row[t] = kTileRowBytes;
    cfg.rows[t] = kTileRows;
  }
  asm volatile("ldtilecfg %0" ::"m"(cfg));
}

// GCC 12's tile load macros pass the address as a plain register, so the compiler does not
// know that they read memory: stores into a buffer that a tile load reads next are fenced.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

inline int min_int(int a, int b) { return a < b ? a : b; }

// The two encodings: k values per 64-byte tile row of A, and per panel row (a group or pair).
template <bool Int8>
struct Encoding {
  static constexpr int kBlockValues = Int8 ? 64 : 32;
  static constexpr int kUnitValues = Int8 ? 4 : 2;
  static int blocks(int k) { return (k + kBlockValues - 1) / kBlockValues; }
  static int units(int k) { return (k + kUnitValues - 1) / kUnitValues; }
};

// A row r's 64 bytes of k block kb, in the layout above (tiles of 16 rows, k blocks of one
// tile consecutive): a row of `stride` bytes is blocks x 64, so a tile of 16 rows starts at
// (r / 16) * 16 * stride.
inline uint8_t* a_slot(uint8_t* dst, size_t stride, int r, int kb) {
  return dst + static_cast<size_t>(r / kTileRows) * kTileRows * stride + static_cast<size_t>(kb) * kTileBytes +
         static_cast<size_t>(r % kTileRows) * kTileRowBytes;
}

template <bool Int8>
size_t row_bytes(int k) {
  return static_cast<size_t>(Encoding<Int8>::blocks(k)) * kTileRowBytes;
}

// Rows past r1 up to the end of its 16-row tile are filled with `fill` bytes: the last tile
// of A is loaded whole, and its extra rows should hold defined values (their C rows are
// computed and dropped). Only the task that prepares the last rows writes them.
void fill_tile_rest(uint8_t* dst, size_t stride, int r1, int blocks, uint8_t fill) {
  for (int r = r1; r % kTileRows != 0; ++r) {
    for (int kb = 0; kb < blocks; ++kb) std::memset(a_slot(dst, stride, r, kb), fill, kTileRowBytes);
  }
}

// The rows rounded to bf16 with vcvtne2ps2bf16, the rounding of lowp_bf16.cpp's
// vcvtneps2bf16, so both variants multiply the same A; zero past k.
void prepare_bf16(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float*) {
  const int blocks = Encoding<false>::blocks(k);
  for (int r = r0; r < r1; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    for (int kb = 0; kb < blocks; ++kb) {
      const int i = kb * 32;
      const __m512 lo = _mm512_maskz_loadu_ps(column_mask(k - i), x + i);
      const __m512 hi = _mm512_maskz_loadu_ps(column_mask(k - i - 16), x + i + 16);
      _mm512_store_si512(a_slot(dst, stride, r, kb), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
  fill_tile_rest(dst, stride, r1, blocks, 0);
}

// The rows quantised as every int8 variant does (q8_avx512.h), stored as q + 128; past k the
// value is 128 (q = 0), as in the VNNI variant.
void prepare_q8(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float* scale) {
  const int blocks = Encoding<true>::blocks(k);
  for (int r = r0; r < r1; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    const float m = q8_row_max(x, k);
    const __m512 inv = q8_inverse_scale(m);
    for (int kb = 0; kb < blocks; ++kb) {
      uint8_t* slot = a_slot(dst, stride, r, kb);
      for (int part = 0; part < 4; ++part) {
        _mm_store_si128(reinterpret_cast<__m128i*>(slot + part * 16), q8_offset_lanes(x, kb * 64 + part * 16, k, inv));
      }
    }
    scale[r] = m / 127.0f;
  }
  fill_tile_rest(dst, stride, r1, blocks, 128);
}

// C tiles of one micro-tile, as the tile unit left them.
template <bool Int8>
using TileSums = std::conditional_t<Int8, int32_t, float>[2 * kNp][kTileRows][kTileRows];

// MT A tiles (rows a, a + tile_stride) x NT B tiles (panels b[j]) over `blocks` k blocks; the
// last block of each panel is read from b_last[j]. Tile numbers are literals: the intrinsics
// paste them into the instruction text.
template <bool Int8, int MT, int NT>
void tile_product(const uint8_t* a, size_t tile_stride, const uint8_t* const* b, const uint8_t* const* b_last, int blocks,
                  TileSums<Int8>& sums) {
  _tile_zero(0);
  if constexpr (NT > 1) _tile_zero(1);
  if constexpr (MT > 1) _tile_zero(2);
  if constexpr (MT > 1 && NT > 1) _tile_zero(3);
  constexpr long kStride = kTileRowBytes;
  for (int kb = 0; kb < blocks; ++kb) {
    const bool last = kb + 1 == blocks;
    const size_t at = static_cast<size_t>(kb) * kTileBytes;
    _tile_loadd(4, a + at, kStride);
    _tile_loadd(6, last ? b_last[0] : b[0] + at, kStride);
    if constexpr (NT > 1) _tile_loadd(7, last ? b_last[1] : b[1] + at, kStride);
    if constexpr (MT > 1) _tile_loadd(5, a + tile_stride + at, kStride);
    if constexpr (Int8) {
      _tile_dpbusd(0, 4, 6);
      if constexpr (NT > 1) _tile_dpbusd(1, 4, 7);
      if constexpr (MT > 1) _tile_dpbusd(2, 5, 6);
      if constexpr (MT > 1 && NT > 1) _tile_dpbusd(3, 5, 7);
    } else {
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (NT > 1) _tile_dpbf16ps(1, 4, 7);
      if constexpr (MT > 1) _tile_dpbf16ps(2, 5, 6);
      if constexpr (MT > 1 && NT > 1) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, sums[0], kStride);
  if constexpr (NT > 1) _tile_stored(1, sums[1], kStride);
  if constexpr (MT > 1) _tile_stored(2, sums[2], kStride);
  if constexpr (MT > 1 && NT > 1) _tile_stored(3, sums[3], kStride);
}

// C = (accumulate ? C : 0) + bias + sums for `rows` rows from `row` and the `cols` columns of
// np panels from `panel`. int8 does what the VNNI epilogue does, in the same order:
// (sums - 128 column_sum) as float times (a_scale b_scale), plus bias, plus the old C.
template <bool Int8>
void store_sums(const LowpArgs& g, const TileSums<Int8>& sums, int row, int rows, int panel, int np, int cols) {
  const int col0 = panel * kPanel;
  __mmask16 mask[kNp], load_mask[kNp];
  __m512 bias[kNp], b_scale[kNp];
  __m512i offset[kNp];
  for (int j = 0; j < np; ++j) {
    mask[j] = column_mask(cols - 16 * j);
    load_mask[j] = g.accumulate ? mask[j] : 0;
    bias[j] = g.bias ? _mm512_maskz_loadu_ps(mask[j], g.bias + col0 + 16 * j) : _mm512_setzero_ps();
    if constexpr (Int8) {
      b_scale[j] = _mm512_loadu_ps(g.b_scale + col0 + 16 * j);
      offset[j] = _mm512_slli_epi32(_mm512_loadu_si512(g.b_sum + col0 + 16 * j), 7);
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* c = g.c + static_cast<size_t>(row + i) * g.ldc + col0;
    const int tile = i / kTileRows * kNp;
    const int tile_row = i % kTileRows;
    for (int j = 0; j < np; ++j) {
      __m512 v;
      if constexpr (Int8) {
        const __m512i dot = _mm512_sub_epi32(_mm512_load_si512(sums[tile + j][tile_row]), offset[j]);
        v = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(_mm512_set1_ps(g.a_scale[row + i]), b_scale[j]));
      } else {
        v = _mm512_load_ps(sums[tile + j][tile_row]);
      }
      // C enters through the load mask rather than a branch (all-zero when not accumulating).
      const __m512 old = _mm512_maskz_loadu_ps(load_mask[j], c + 16 * j);
      _mm512_mask_storeu_ps(c + 16 * j, mask[j], _mm512_add_ps(_mm512_add_ps(v, bias[j]), old));
    }
  }
}

// Rows [r0, r1) x panels [p0, p1): blocks of kMc rows, each pair of panels over every
// micro-tile of the block, so the pair's slice of B is reused from cache by all of them.
template <bool Int8>
void run(const LowpArgs& g, int r0, int r1, int p0, int p1) {
  using E = Encoding<Int8>;
  const int blocks = E::blocks(g.k);
  // A panel holds only last_rows rows of its last B tile; loaded whole, the tile would take
  // the rest from the next panel or from past the weights, so it is copied into zero padding.
  const int last_rows = E::units(g.k) - (blocks - 1) * kTileRows;
  alignas(64) uint8_t b_tail[kNp][kTileBytes];
  if (last_rows < kTileRows) std::memset(b_tail, 0, sizeof b_tail);
  alignas(64) TileSums<Int8> sums;
  load_tile_config();
  for (int rb = r0; rb < r1; rb += kMc) {
    const int mc = min_int(kMc, r1 - rb);
    for (int p = p0; p < p1; p += kNp) {
      const int np = min_int(kNp, p1 - p);
      const int cols = min_int(np * kPanel, g.n - p * kPanel);
      const uint8_t* b[kNp];
      const uint8_t* b_last[kNp];
      for (int j = 0; j < np; ++j) {
        b[j] = g.b + (p + j) * g.panel_bytes;
        b_last[j] = b[j] + static_cast<size_t>(blocks - 1) * kTileBytes;
        if (last_rows < kTileRows) {
          std::memcpy(b_tail[j], b_last[j], static_cast<size_t>(last_rows) * kTileRowBytes);
          b_last[j] = b_tail[j];
        }
      }
      compiler_barrier();
      for (int t = 0; t < mc; t += kMr) {
        const int row = rb + t;
        const int rows = min_int(kMr, mc - t);
        const uint8_t* a = g.a + static_cast<size_t>(row) * g.a_stride;
        const size_t tile_stride = kTileRows * g.a_stride;
        if (rows > kTileRows) {
          if (np > 1) tile_product<Int8, 2, 2>(a, tile_stride, b, b_last, blocks, sums);
          else tile_product<Int8, 2, 1>(a, tile_stride, b, b_last, blocks, sums);
        } else {
          if (np > 1) tile_product<Int8, 1, 2>(a, tile_stride, b, b_last, blocks, sums);
          else tile_product<Int8, 1, 1>(a, tile_stride, b, b_last, blocks, sums);
        }
        store_sums<Int8>(g, sums, row, rows, p, np, cols);
      }
    }
  }
  // Back to the init state: the kernel then need not save 8 KB of tile data when it
  // switches this thread out.
  _tile_release();
}

}  // namespace

const LowpKernel kQ8Amx = {kMr, kNp, &row_bytes<true>, &prepare_q8, &run<true>};
const LowpKernel kBf16Amx = {kMr, kNp, &row_bytes<false>, &prepare_bf16, &run<false>};

}  // namespace chorus::kernels::detail

// AVX-512 BF16 weight micro-kernel: 12 rows x 2 panels of fp32 accumulators fed by
// vdpbf16ps, which multiplies a bf16 pair of A by the matching pair of each column and adds
// both products. A rows are rounded to bf16 (nearest even) when prepared.
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "lowp_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 12;
constexpr int kNp = 2;

// vdpbf16ps through inline asm: with the intrinsic, GCC 12 copied every accumulator through
// a spare register and the stack on each step (its tied-operand allocation).
inline void dpbf16(__m512& acc, __m512i a, __m512i b) {
  asm("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
}

inline __mmask16 column_mask(int cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : cols <= 0 ? 0 : static_cast<__mmask16>((1u << cols) - 1);
}

template <int MR, int NP>
void tile(const LowpArgs& g, int row, int panel, int cols) {
  const int pairs = (g.k + 1) / 2;
  const uint8_t* a = g.a + static_cast<size_t>(row) * g.a_stride;  // tile of kMr interleaved rows
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const int col0 = panel * kPanel;
  __mmask16 mask[NP], load_mask[NP];
  __m512 acc[MR][NP];
#pragma GCC unroll 2
  for (int j = 0; j < NP; ++j) {
    mask[j] = column_mask(cols - 16 * j);
    // C enters through the load mask rather than a branch (all-zero when not accumulating).
    load_mask[j] = g.accumulate ? mask[j] : 0;
    const __m512 init = g.bias ? _mm512_maskz_loadu_ps(mask[j], g.bias + col0 + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const float* c = g.c + static_cast<size_t>(row + i) * g.ldc + col0 + 16 * j;
      acc[i][j] = _mm512_add_ps(init, _mm512_maskz_loadu_ps(load_mask[j], c));
    }
  }
  // One accumulator per output and the same order of additions whatever the tile's row
  // count, so a row's result does not depend on which other rows share the call (a decoder
  // step gives a hypothesis the same logits alone or batched). int8 can split its sums
  // (integer addition is exact); here a split would change the rounding with the batch.
  for (int q = 0; q < pairs; ++q) {
    __m512i bv[NP];
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) bv[j] = _mm512_loadu_si512(b + j * g.panel_bytes + static_cast<size_t>(q) * 64);
    const int32_t* aq = reinterpret_cast<const int32_t*>(a) + static_cast<size_t>(q) * kMr;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512i av = _mm512_set1_epi32(aq[i]);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) dpbf16(acc[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) {
      _mm512_mask_storeu_ps(g.c + static_cast<size_t>(row + i) * g.ldc + col0 + 16 * j, mask[j], acc[i][j]);
    }
  }
}

template <int... I>
constexpr LowpTileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I / kNp + 1, I % kNp + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr * kNp>{});

struct Bf16 {
  static constexpr int MR = kMr, NP = kNp, MC = 96;
  static void tile(int mr, int np, const LowpArgs& g, int row, int panel, int cols) {
    kTiles.fn[(mr - 1) * kNp + (np - 1)](g, row, panel, cols);
  }
};

size_t bf16_row_bytes(int k) { return static_cast<size_t>(k + 1) / 2 * 2 * sizeof(uint16_t); }

// Rounds rows to bf16 into the tiled layout (tiled_unit), a zero after an odd k.
void prepare(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float*) {
  alignas(64) uint16_t h[16];
  for (int r = r0; r < r1; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    for (int i = 0; i < k; i += 16) {
      const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(column_mask(k - i), x + i));
      _mm256_store_si256(reinterpret_cast<__m256i*>(h), (__m256i)v);
      const int units = (k - i + 1) / 2 < 8 ? (k - i + 1) / 2 : 8;
      for (int u = 0; u < units; ++u) std::memcpy(tiled_unit<kMr>(dst, stride, r, i / 2 + u), h + 2 * u, 4);
    }
  }
}

}  // namespace

const LowpKernel kBf16Native = {kMr, kNp, &bf16_row_bytes, &prepare, &lowp_range<Bf16>};

}  // namespace chorus::kernels::detail

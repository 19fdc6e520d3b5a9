// AVX-512F bf16 weight micro-kernel for CPUs without AVX-512 BF16: 8 rows x 2 panels, B
// widened to fp32 by shifting (even k, low halves) and masking (odd k, high halves), A
// read as fp32, so the only rounding beyond fp32 gemm's is that of the stored weights.
#include <immintrin.h>

#include <utility>

#include "lowp_driver.h"

namespace chorus::kernels::detail {
namespace {

// 8 rows, not 12: A is read in place through one pointer per row, and 12 of them plus the
// loop state spilled general registers.
constexpr int kMr = 8;
constexpr int kNp = 2;

inline __mmask16 column_mask(int cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : cols <= 0 ? 0 : static_cast<__mmask16>((1u << cols) - 1);
}

template <int MR, int NP>
void tile(const LowpArgs& g, int row, int panel, int cols) {
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const int col0 = panel * kPanel;
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
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
  const float* a = g.a_f32 + static_cast<size_t>(row) * g.lda;
  const int full = g.k / 2;
  for (int q = 0; q < full; ++q) {
    __m512 e[NP], o[NP];
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) {
      const __m512i w = _mm512_loadu_si512(b + j * g.panel_bytes + static_cast<size_t>(q) * 64);
      e[j] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
      o[j] = _mm512_castsi512_ps(_mm512_and_si512(w, high));
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const float* ai = a + static_cast<size_t>(i) * g.lda + 2 * q;
      const __m512 ae = _mm512_set1_ps(ai[0]), ao = _mm512_set1_ps(ai[1]);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_fmadd_ps(ao, o[j], _mm512_fmadd_ps(ae, e[j], acc[i][j]));
    }
  }
  if (g.k % 2) {
    __m512 e[NP];
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) {
      const __m512i w = _mm512_loadu_si512(b + j * g.panel_bytes + static_cast<size_t>(full) * 64);
      e[j] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ae = _mm512_set1_ps(a[static_cast<size_t>(i) * g.lda + 2 * full]);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_fmadd_ps(ae, e[j], acc[i][j]);
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

size_t no_row_bytes(int) { return 0; }

}  // namespace

const LowpKernel kBf16Avx512 = {kMr, kNp, &no_row_bytes, nullptr, &lowp_range<Bf16>};

}  // namespace chorus::kernels::detail

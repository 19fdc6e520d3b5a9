// AVX-512 gemm micro-kernel: up to 12 rows x 2 panels (32 columns) of C held in 24 zmm
// accumulators; per reduction step two panel loads feed 24 FMAs with A broadcast from the
// packed tile. Built with AVX-512 flags and only called after the run-time check.
#include <immintrin.h>

#include <utility>

#include "gemm_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 12;
constexpr int kNp = 2;

inline __mmask16 column_mask(int cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1);
}

template <int MR, int NP>
void tile(int kc, const float* a, const float* b, size_t b_stride, float* c, int ldc, int cols,
          const float* bias, bool load_c) {
  __mmask16 mask[NP];
  __m512 acc[MR][NP];
#pragma GCC unroll 2
  for (int j = 0; j < NP; ++j) {
    mask[j] = column_mask(cols - 16 * j);
    const __m512 init = bias ? _mm512_maskz_loadu_ps(mask[j], bias + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      acc[i][j] = load_c ? _mm512_add_ps(init, _mm512_maskz_loadu_ps(mask[j], c + static_cast<size_t>(i) * ldc + 16 * j))
                         : init;
    }
  }
  for (int kk = 0; kk < kc; ++kk) {
    __m512 bv[NP];
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) bv[j] = _mm512_loadu_ps(b + j * b_stride + static_cast<size_t>(kk) * 16);
    const float* ak = a + static_cast<size_t>(kk) * kMr;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(ak[i]);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) _mm512_mask_storeu_ps(c + static_cast<size_t>(i) * ldc + 16 * j, mask[j], acc[i][j]);
  }
}

template <int... I>
constexpr TileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I / kNp + 1, I % kNp + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr * kNp>{});

struct Avx512 {
  static constexpr int MR = kMr;
  static constexpr int NP = kNp;
  static constexpr int MC = 120;
  static constexpr int KC = 512;
  static void tile(int mr, int np, int kc, const float* a, const float* b, size_t b_stride,
                   float* c, int ldc, int cols, const float* bias, bool load_c) {
    kTiles.fn[(mr - 1) * kNp + (np - 1)](kc, a, b, b_stride, c, ldc, cols, bias, load_c);
  }
};

}  // namespace

const GemmKernel kGemmAvx512 = {kMr, kNp, &gemm_range<Avx512>};

}  // namespace chorus::kernels::detail

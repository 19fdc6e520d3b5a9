// AVX2 gemm micro-kernel: up to 6 rows x 1 panel (16 columns as two ymm) of C held in 12
// accumulators, leaving registers for the two panel halves and the A broadcast.
#include <immintrin.h>

#include <utility>

#include "gemm_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 6;

// Lane masks for columns [0, cols) of each 8-wide half of a panel.
inline void column_masks(int cols, __m256i* lo, __m256i* hi) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  *lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lanes);
  *hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lanes);
}

template <int MR>
void tile(int kc, const float* a, const float* b, size_t /*b_stride*/, float* c, int ldc,
          int cols, const float* bias, bool load_c) {
  __m256 acc[MR][2];
  if (cols >= 16) {
    const __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + static_cast<size_t>(i) * ldc;
      acc[i][0] = load_c ? _mm256_add_ps(b0, _mm256_loadu_ps(ci)) : b0;
      acc[i][1] = load_c ? _mm256_add_ps(b1, _mm256_loadu_ps(ci + 8)) : b1;
    }
  } else {
    __m256i m0, m1;
    column_masks(cols, &m0, &m1);
    const __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + static_cast<size_t>(i) * ldc;
      acc[i][0] = load_c ? _mm256_add_ps(b0, _mm256_maskload_ps(ci, m0)) : b0;
      acc[i][1] = load_c ? _mm256_add_ps(b1, _mm256_maskload_ps(ci + 8, m1)) : b1;
    }
  }
  for (int kk = 0; kk < kc; ++kk) {
    const __m256 bv0 = _mm256_loadu_ps(b + static_cast<size_t>(kk) * 16);
    const __m256 bv1 = _mm256_loadu_ps(b + static_cast<size_t>(kk) * 16 + 8);
    const float* ak = a + static_cast<size_t>(kk) * kMr;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(ak + i);
      acc[i][0] = _mm256_fmadd_ps(av, bv0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, bv1, acc[i][1]);
    }
  }
  if (cols >= 16) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + static_cast<size_t>(i) * ldc;
      _mm256_storeu_ps(ci, acc[i][0]);
      _mm256_storeu_ps(ci + 8, acc[i][1]);
    }
  } else {
    __m256i m0, m1;
    column_masks(cols, &m0, &m1);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + static_cast<size_t>(i) * ldc;
      _mm256_maskstore_ps(ci, m0, acc[i][0]);
      _mm256_maskstore_ps(ci + 8, m1, acc[i][1]);
    }
  }
}

template <int... I>
constexpr TileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr>{});

struct Avx2 {
  static constexpr int MR = kMr;
  static constexpr int NP = 1;
  static constexpr int MC = 120;
  static constexpr int KC = 512;
  static void tile(int mr, int /*np*/, int kc, const float* a, const float* b, size_t b_stride,
                   float* c, int ldc, int cols, const float* bias, bool load_c) {
    kTiles.fn[mr - 1](kc, a, b, b_stride, c, ldc, cols, bias, load_c);
  }
};

}  // namespace

const GemmKernel kGemmAvx2 = {kMr, 1, &gemm_range<Avx2>};

}  // namespace chorus::kernels::detail

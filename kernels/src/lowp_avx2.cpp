// AVX2 int8 and bf16 weight micro-kernels. The int8 one widens both operands to int16 and
// uses vpmaddwd: |q| <= 127 keeps every pair sum far from int16/int32 limits, whereas
// vpmaddubsw (u8 x s8 into saturating int16) could saturate with the +128 offset.
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "lowp_driver.h"

namespace chorus::kernels::detail {
namespace {

inline void column_masks(int cols, __m256i* lo, __m256i* hi) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  *lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lanes);
  *hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lanes);
}

// Adds bias and C (as asked) to the 16 results of one row and stores them.
inline void finish_row(const LowpArgs& g, float* c, int col0, __m256 v0, __m256 v1, __m256i m0, __m256i m1) {
  if (g.bias) {
    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(g.bias + col0, m0));
    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(g.bias + col0 + 8, m1));
  }
  if (g.accumulate) {
    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c, m0));
    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c + 8, m1));
  }
  _mm256_maskstore_ps(c, m0, v0);
  _mm256_maskstore_ps(c + 8, m1, v1);
}

// int8: 2 rows x 1 panel. A rows are prepared as int16. A 64-byte group of B is 4 x 16
// bytes, columns 4t..4t+3 with their 4 k values each; widened to int16 and multiplied by
// (a0, a1, a2, a3) repeated, vpmaddwd leaves two partial sums per column, added at the end.
constexpr int kQ8Mr = 2;

template <int MR>
void q8_tile(const LowpArgs& g, int row, int panel, int cols) {
  const int groups = (g.k + 3) / 4;
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const int col0 = panel * kPanel;
  __m256i acc[MR][4];
  for (int i = 0; i < MR; ++i) {
    for (int t = 0; t < 4; ++t) acc[i][t] = _mm256_setzero_si256();
  }
  for (int q = 0; q < groups; ++q) {
    __m256i av[MR];
    for (int i = 0; i < MR; ++i) {
      long long v;
      std::memcpy(&v, g.a + (row + i) * g.a_stride + 8 * static_cast<size_t>(q), sizeof v);
      av[i] = _mm256_set1_epi64x(v);
    }
    const uint8_t* bq = b + static_cast<size_t>(q) * 64;
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const __m256i bv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bq + 16 * t)));
      for (int i = 0; i < MR; ++i) acc[i][t] = _mm256_add_epi32(acc[i][t], _mm256_madd_epi16(av[i], bv));
    }
  }
  __m256i m0, m1;
  column_masks(cols, &m0, &m1);
  const __m256 sb0 = _mm256_loadu_ps(g.b_scale + col0), sb1 = _mm256_loadu_ps(g.b_scale + col0 + 8);
  for (int i = 0; i < MR; ++i) {
    // hadd pairs the partial sums within 128-bit lanes: [c0 c1 c4 c5 | c2 c3 c6 c7].
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][0], acc[i][1]), _MM_SHUFFLE(3, 1, 2, 0));
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][2], acc[i][3]), _MM_SHUFFLE(3, 1, 2, 0));
    const __m256 sa = _mm256_set1_ps(g.a_scale[row + i]);
    const __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(sa, sb0));
    const __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(sa, sb1));
    finish_row(g, g.c + static_cast<size_t>(row + i) * g.ldc + col0, col0, v0, v1, m0, m1);
  }
}

// bf16: 4 rows x 1 panel, B widened to fp32 by shifting (even k, low halves) and masking
// (odd k, high halves), A read as fp32.
constexpr int kBf16Mr = 4;

template <int MR>
void bf16_tile(const LowpArgs& g, int row, int panel, int cols) {
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const int col0 = panel * kPanel;
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const int full = g.k / 2;
  for (int q = 0; q < full; ++q) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(q) * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(q) * 64 + 32));
    const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)), o0 = _mm256_castsi256_ps(_mm256_and_si256(w0, high));
    const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16)), o1 = _mm256_castsi256_ps(_mm256_and_si256(w1, high));
    for (int i = 0; i < MR; ++i) {
      const float* a = g.a_f32 + static_cast<size_t>(row + i) * g.lda + 2 * q;
      const __m256 ae = _mm256_broadcast_ss(a), ao = _mm256_broadcast_ss(a + 1);
      acc[i][0] = _mm256_fmadd_ps(ao, o0, _mm256_fmadd_ps(ae, e0, acc[i][0]));
      acc[i][1] = _mm256_fmadd_ps(ao, o1, _mm256_fmadd_ps(ae, e1, acc[i][1]));
    }
  }
  if (g.k % 2) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(full) * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(full) * 64 + 32));
    const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
    const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
    for (int i = 0; i < MR; ++i) {
      const __m256 ae = _mm256_broadcast_ss(g.a_f32 + static_cast<size_t>(row + i) * g.lda + 2 * full);
      acc[i][0] = _mm256_fmadd_ps(ae, e0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ae, e1, acc[i][1]);
    }
  }
  __m256i m0, m1;
  column_masks(cols, &m0, &m1);
  for (int i = 0; i < MR; ++i) {
    finish_row(g, g.c + static_cast<size_t>(row + i) * g.ldc + col0, col0, acc[i][0], acc[i][1], m0, m1);
  }
}

template <int... I>
constexpr LowpTileTable<sizeof...(I)> q8_tiles(std::integer_sequence<int, I...>) {
  return {{&q8_tile<I + 1>...}};
}
template <int... I>
constexpr LowpTileTable<sizeof...(I)> bf16_tiles(std::integer_sequence<int, I...>) {
  return {{&bf16_tile<I + 1>...}};
}
constexpr auto kQ8Tiles = q8_tiles(std::make_integer_sequence<int, kQ8Mr>{});
constexpr auto kBf16Tiles = bf16_tiles(std::make_integer_sequence<int, kBf16Mr>{});

struct Q8 {
  static constexpr int MR = kQ8Mr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kQ8Tiles.fn[mr - 1](g, row, panel, cols);
  }
};
struct Bf16 {
  static constexpr int MR = kBf16Mr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kBf16Tiles.fn[mr - 1](g, row, panel, cols);
  }
};

size_t int16_row_bytes(int k) { return static_cast<size_t>(k + 3) / 4 * 4 * sizeof(int16_t); }
size_t no_row_bytes(int) { return 0; }

}  // namespace

const LowpKernel kQ8Avx2 = {kQ8Mr, 1, &int16_row_bytes, &quantize_rows<int16_t, 0>, &lowp_range<Q8>};
const LowpKernel kBf16Avx2 = {kBf16Mr, 1, &no_row_bytes, nullptr, &lowp_range<Bf16>};

}  // namespace chorus::kernels::detail

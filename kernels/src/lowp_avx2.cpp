// AVX2 int8 and bf16 weight micro-kernels. The int8 one widens both operands to int16 and
// uses vpmaddwd: |q| <= 127 keeps every pair sum far from int16/int32 limits, whereas
// vpmaddubsw (u8 x s8 into saturating int16) could saturate with the +128 offset.
#include <immintrin.h>

#include <array>
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

// bf16 over a panel already widened to fp32 (widen_bf16_panel): per pair of k, the even
// values of columns 0-7 and 8-15, then the odd ones. Each row gets the fused multiply-adds
// of bf16_tile in the same order (even k, then odd), so its results are bf16_tile's bit for
// bit; with B widened once, 6 rows fit the 16 registers (12 accumulators, one k of B, the
// broadcast). Every loop over the rows is unrolled so that the accumulators stay in registers.
constexpr int kBf16WideMr = 6;

template <int MR>
void bf16_wide_tile(const LowpArgs& g, const float* wb, int row, int col0, int cols) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* ar[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) ar[i] = g.a_f32 + static_cast<size_t>(row + i) * g.lda;
  const int k = g.k;
  // Reduction index kk's 16 values sit at wb + (kk / 2) * 32 + (kk % 2) * 16.
  for (int kk = 0; kk < k; ++kk) {
    const float* bk = wb + static_cast<size_t>(kk / 2) * 32 + (kk % 2) * 16;
    const __m256 b0 = _mm256_load_ps(bk), b1 = _mm256_load_ps(bk + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(ar[i] + kk);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  __m256i m0, m1;
  column_masks(cols, &m0, &m1);
#pragma GCC unroll 6
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

// From this many rows on, a block of bf16 rows widens each panel once into a per-thread
// fp32 copy that all its row tiles read: widening in every tile took two instructions per
// four multiply-adds, and held the 4 registers that keep bf16_tile at 4 rows (46-72 % of the
// FMA ceiling at the encoder's shapes, 86-88 % widened once). Below it (decoder steps) B is
// read once anyway, and a copy would only add to that. (The same for int8, widened to int16,
// measured level with bf16_tile's int8 counterpart, so int8 reads its panels as they are.)
constexpr int kWidenRows = 12;
constexpr int kWideMc = 96;  // rows per block, a multiple of kBf16WideMr

struct WideScratch {
  AlignedArray<float> values;
  size_t size = 0;
  float* get(size_t need) {
    if (need > size) {
      values.reset(static_cast<float*>(aligned_alloc_bytes(need * sizeof(float))));
      size = need;
    }
    return values.get();
  }
};
thread_local WideScratch t_wide;

void widen_bf16_panel(const LowpArgs& g, int panel, float* out) {
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  const int pairs = (g.k + 1) / 2;
  for (int q = 0; q < pairs; ++q) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(q) * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + static_cast<size_t>(q) * 64 + 32));
    float* o = out + static_cast<size_t>(q) * 32;
    _mm256_store_ps(o, _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)));
    _mm256_store_ps(o + 8, _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16)));
    _mm256_store_ps(o + 16, _mm256_castsi256_ps(_mm256_and_si256(w0, high)));
    _mm256_store_ps(o + 24, _mm256_castsi256_ps(_mm256_and_si256(w1, high)));
  }
}

template <int... I>
constexpr auto bf16_wide_tiles(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const LowpArgs&, const float*, int, int, int), sizeof...(I)>{{&bf16_wide_tile<I + 1>...}};
}
constexpr auto kBf16WideTiles = bf16_wide_tiles(std::make_integer_sequence<int, kBf16WideMr>{});

void bf16_range(const LowpArgs& g, int r0, int r1, int p0, int p1) {
  if (r1 - r0 < kWidenRows) return lowp_range<Bf16>(g, r0, r1, p0, p1);
  float* wide = t_wide.get(static_cast<size_t>((g.k + 1) / 2) * 32);
  for (int rb = r0; rb < r1; rb += kWideMc) {
    const int mc = lowp_min(kWideMc, r1 - rb);
    for (int p = p0; p < p1; ++p) {
      widen_bf16_panel(g, p, wide);
      const int cols = lowp_min(kPanel, g.n - p * kPanel);
      for (int t = 0; t < mc; t += kBf16WideMr) {
        kBf16WideTiles[lowp_min(kBf16WideMr, mc - t) - 1](g, wide, rb + t, p * kPanel, cols);
      }
    }
  }
}

}  // namespace

const LowpKernel kQ8Avx2 = {kQ8Mr, 1, &int16_row_bytes, &quantize_rows<int16_t, 0>, &lowp_range<Q8>};
const LowpKernel kBf16Avx2 = {kBf16Mr, 1, &no_row_bytes, nullptr, &bf16_range};

}  // namespace chorus::kernels::detail

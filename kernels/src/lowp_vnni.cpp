// AVX-512 VNNI int8 weight micro-kernel: 12 rows x 2 panels of int32 accumulators fed by
// vpdpbusd (u8 x s8, four products per lane, no saturation). vpdpbusd wants its first
// operand unsigned, so A rows are stored as q + 128; the extra 128 * sum_k q_b of each
// column is subtracted up front from the accumulator, which keeps the result exact.
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "lowp_driver.h"
#include "q8_avx512.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 12;
constexpr int kNp = 2;

// vpdpbusd through inline asm: with the intrinsic, GCC 12 copied every accumulator through a
// spare register and the stack on each step (its tied-operand allocation), a 3x slowdown.
inline void dpbusd(__m512i& acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
}

template <int MR, int NP>
void tile(const LowpArgs& g, int row, int panel, int cols) {
  const int groups = (g.k + 3) / 4;
  const uint8_t* a = g.a + static_cast<size_t>(row) * g.a_stride;  // tile of kMr interleaved rows
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const int col0 = panel * kPanel;
  __m512i acc[MR][NP];
#pragma GCC unroll 2
  for (int j = 0; j < NP; ++j) {
    const __m512i sum = _mm512_loadu_si512(g.b_sum + col0 + 16 * j);
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7));
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) acc[i][j] = start;
  }
  // With one or two rows each accumulator would wait on the previous dpbusd (latency ~5
  // cycles, 2 per cycle issued); S independent partial sums per accumulator hide it.
  constexpr int S = MR == 1 ? 4 : MR == 2 ? 2 : 1;
  __m512i part[S - 1 > 0 ? S - 1 : 1][MR][NP];
#pragma GCC unroll 4
  for (int s = 0; s + 1 < S; ++s) {
#pragma GCC unroll 2
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) part[s][i][j] = _mm512_setzero_si512();
    }
  }
  auto step = [&](int q, __m512i (&sum)[MR][NP]) __attribute__((always_inline)) {
    __m512i bv[NP];
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) bv[j] = _mm512_loadu_si512(b + j * g.panel_bytes + static_cast<size_t>(q) * 64);
    const int32_t* aq = reinterpret_cast<const int32_t*>(a) + static_cast<size_t>(q) * kMr;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512i av = _mm512_set1_epi32(aq[i]);
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) dpbusd(sum[i][j], av, bv[j]);
    }
  };
  int q = 0;
  for (; q + S <= groups; q += S) {
    step(q, acc);
#pragma GCC unroll 4
    for (int s = 0; s + 1 < S; ++s) step(q + 1 + s, part[s]);
  }
  for (; q < groups; ++q) step(q, acc);
#pragma GCC unroll 4
  for (int s = 0; s + 1 < S; ++s) {
#pragma GCC unroll 2
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
      for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_add_epi32(acc[i][j], part[s][i][j]);
    }
  }
  // Kept free of branches so it unrolls completely and acc stays in registers.
  __mmask16 mask[NP], load_mask[NP];
  __m512 sb[NP], bias[NP];
#pragma GCC unroll 2
  for (int j = 0; j < NP; ++j) {
    mask[j] = column_mask(cols - 16 * j);
    load_mask[j] = g.accumulate ? mask[j] : 0;
    sb[j] = _mm512_loadu_ps(g.b_scale + col0 + 16 * j);
    bias[j] = g.bias ? _mm512_maskz_loadu_ps(mask[j], g.bias + col0 + 16 * j) : _mm512_setzero_ps();
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    const __m512 sa = _mm512_set1_ps(g.a_scale[row + i]);
    float* c = g.c + static_cast<size_t>(row + i) * g.ldc + col0;
#pragma GCC unroll 2
    for (int j = 0; j < NP; ++j) {
      // C enters through the load mask rather than a branch (all-zero when not accumulating).
      const __m512 old = _mm512_maskz_loadu_ps(load_mask[j], c + 16 * j);
      const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[i][j]), _mm512_mul_ps(sa, sb[j]));
      _mm512_mask_storeu_ps(c + 16 * j, mask[j], _mm512_add_ps(_mm512_add_ps(v, bias[j]), old));
    }
  }
}

template <int... I>
constexpr LowpTileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I / kNp + 1, I % kNp + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr * kNp>{});

struct Q8 {
  static constexpr int MR = kMr, NP = kNp, MC = 96;
  static void tile(int mr, int np, const LowpArgs& g, int row, int panel, int cols) {
    kTiles.fn[(mr - 1) * kNp + (np - 1)](g, row, panel, cols);
  }
};

size_t u8_row_bytes(int k) { return static_cast<size_t>(k + 3) / 4 * 4; }

// The rows quantised as every int8 variant does (q8_avx512.h), written in the tiled layout
// (tiled_unit).
void prepare(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float* scale) {
  alignas(64) uint8_t q[16];
  for (int r = r0; r < r1; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    const float m = q8_row_max(x, k);
    const __m512 inv = q8_inverse_scale(m);
    for (int i = 0; i < k; i += 16) {
      _mm_store_si128(reinterpret_cast<__m128i*>(q), q8_offset_lanes(x, i, k, inv));
      const int units = (k - i + 3) / 4 < 4 ? (k - i + 3) / 4 : 4;
      for (int u = 0; u < units; ++u) std::memcpy(tiled_unit<kMr>(dst, stride, r, i / 4 + u), q + 4 * u, 4);
    }
    scale[r] = m / 127.0f;
  }
}

}  // namespace

const LowpKernel kQ8Vnni = {kMr, kNp, &u8_row_bytes, &prepare, &lowp_range<Q8>};

}  // namespace chorus::kernels::detail

// NEON int8 and bf16 weight micro-kernels (aarch64).
//
// int8: two variants over the same row-major int8 rows (quantize_rows<int8_t, 0>, as the
// portable kernel) and the same float epilogue, so they compute the integers and the results
// of every other int8 variant. A 64-byte group of B is four 16-byte vectors, each 4 columns
// x 4 consecutive k: exactly the operand of `sdot` against 4 bytes of a row.
// - kQ8NeonDot: `sdot` (ARMv8.2 dot product, optional until ARMv8.4), compiled for
//   armv8.2-a+dotprod in a target region below so the rest of the library stays ARMv8.0;
//   lowp.cpp picks it only where the CPU reports it (detail::neon_dotprod()).
// - kQ8Neon: ARMv8.0 fallback. smull gives int16 products (|q| <= 127, so |product| <=
//   16129), addp adds neighbours (<= 32258, still int16), sadalp adds the two halves of
//   each column's 4 products into its int32 lane; nothing saturates.
//
// bf16: B widened to fp32 (even k: shift left 16, odd k: mask the high half) and fmla with A
// in fp32, as the AVX2 and AVX-512F variants do. One kernel for every row count, and every
// row adds its products in the same order whatever the tile's height, so a row alone gives
// the bits it gives in a batch (test_lowp_batch_invariance).
#include <arm_neon.h>

#include <cstring>
#include <utility>

#include "lowp_driver.h"

namespace chorus::kernels::detail {
namespace {

// C row = (accumulate ? C : 0) + (float(dot) * (s_a * s_b) + bias), the portable kernel's
// float operations in its order, 16 columns of which `cols` are stored.
inline void q8_finish_row(const LowpArgs& g, int row, int col0, int cols, const int32x4_t (&acc)[4]) {
  float* c = g.c + static_cast<size_t>(row) * g.ldc + col0;
  const float32x4_t sa = vdupq_n_f32(g.a_scale[row]);
  float bias[16] = {}, out[16];
  if (g.bias) std::memcpy(bias, g.bias + col0, sizeof(float) * (cols < 16 ? cols : 16));
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    // b_scale is zero-padded to whole panels, so all 16 may be read.
    const float32x4_t s = vmulq_f32(sa, vld1q_f32(g.b_scale + col0 + 4 * v));
    float32x4_t x = vmulq_f32(vcvtq_f32_s32(acc[v]), s);
    if (g.bias) x = vaddq_f32(x, vld1q_f32(bias + 4 * v));
    vst1q_f32(out + 4 * v, x);
  }
  if (cols >= 16 && !g.accumulate) {
    std::memcpy(c, out, sizeof out);
    return;
  }
  for (int j = 0; j < cols; ++j) c[j] = g.accumulate ? c[j] + out[j] : out[j];
}

// C row = (accumulate ? C : 0) + (sum + bias), `cols` of the 16 columns.
inline void bf16_finish_row(const LowpArgs& g, int row, int col0, int cols, const float32x4_t (&acc)[4]) {
  float* c = g.c + static_cast<size_t>(row) * g.ldc + col0;
  float out[16];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) vst1q_f32(out + 4 * v, acc[v]);
  for (int j = 0; j < cols; ++j) {
    float x = out[j];
    if (g.bias) x += g.bias[col0 + j];
    c[j] = g.accumulate ? c[j] + x : x;
  }
}

// 4 bytes (one group) of a prepared row in every lane.
inline int8x16_t group_of(const int8_t* a) {
  int32_t v;
  std::memcpy(&v, a, sizeof v);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// ---- int8, ARMv8.0 ----

constexpr int kQ8Mr = 4;

template <int MR>
void q8_tile(const LowpArgs& g, int row, int panel, int cols) {
  const int groups = (g.k + 3) / 4;
  const int8_t* b = reinterpret_cast<const int8_t*>(g.b + panel * g.panel_bytes);
  const int8_t* a[MR];
  int32x4_t acc[MR][4];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
    a[i] = reinterpret_cast<const int8_t*>(g.a + static_cast<size_t>(row + i) * g.a_stride);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[i][v] = vdupq_n_s32(0);
  }
  for (int q = 0; q < groups; ++q) {
    int8x16_t av[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = group_of(a[i] + 4 * q);
    const int8_t* bq = b + static_cast<size_t>(q) * 64;
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const int8x16_t bv = vld1q_s8(bq + 16 * v);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const int16x8_t p = vpaddq_s16(vmull_s8(vget_low_s8(bv), vget_low_s8(av[i])), vmull_high_s8(bv, av[i]));
        acc[i][v] = vpadalq_s16(acc[i][v], p);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) q8_finish_row(g, row + i, panel * kPanel, cols, acc[i]);
}

// ---- int8, sdot ----

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")

// Group L of a 4-group block: a[i] holds 16 bytes of row i, lane L is this group's 4.
template <int L, int S, int MR>
inline void dot_group(int32x4_t (&acc)[S][MR][4], const int8x16_t (&av)[MR], const int8_t* bq) {
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const int8x16_t bv = vld1q_s8(bq + 16 * v);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) acc[L % S][i][v] = vdotq_laneq_s32(acc[L % S][i][v], bv, av[i], L);
  }
}

template <int MR>
void q8_dot_tile(const LowpArgs& g, int row, int panel, int cols) {
  const int groups = (g.k + 3) / 4;
  const int8_t* b = reinterpret_cast<const int8_t*>(g.b + panel * g.panel_bytes);
  // With one or two rows each accumulator would wait on the previous sdot; S independent
  // partial sums per accumulator (integers, so the order does not matter) hide the latency.
  constexpr int S = MR == 1 ? 4 : MR == 2 ? 2 : 1;
  const int8_t* a[MR];
  int32x4_t acc[S][MR][4];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) a[i] = reinterpret_cast<const int8_t*>(g.a + static_cast<size_t>(row + i) * g.a_stride);
#pragma GCC unroll 4
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) acc[s][i][v] = vdupq_n_s32(0);
    }
  }
  int q = 0;
  for (; q + 4 <= groups; q += 4) {
    int8x16_t av[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = vld1q_s8(a[i] + 4 * q);
    const int8_t* bq = b + static_cast<size_t>(q) * 64;
    dot_group<0>(acc, av, bq);
    dot_group<1>(acc, av, bq + 64);
    dot_group<2>(acc, av, bq + 128);
    dot_group<3>(acc, av, bq + 192);
  }
  // Up to 3 groups left: prepared rows end at the last group, so no 16-byte load here.
  for (; q < groups; ++q) {
    const int8_t* bq = b + static_cast<size_t>(q) * 64;
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const int8x16_t bv = vld1q_s8(bq + 16 * v);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) acc[0][i][v] = vdotq_s32(acc[0][i][v], bv, group_of(a[i] + 4 * q));
    }
  }
#pragma GCC unroll 4
  for (int s = 1; s < S; ++s) {
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) acc[0][i][v] = vaddq_s32(acc[0][i][v], acc[s][i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) q8_finish_row(g, row + i, panel * kPanel, cols, acc[0][i]);
}

#pragma GCC pop_options

// ---- bf16 ----

// 3 rows x 16 columns, each column's even and odd k in separate accumulators (24 of the 32
// registers): two dependency chains per column vector, which a single decoder row needs to
// keep the fmla pipes busy, and the same chains for every tile height.
constexpr int kBf16Mr = 3;

// A pair of B's rows as fp32: w holds 4 columns x (even k, odd k) bf16.
inline float32x4_t even_k(uint32x4_t w) { return vreinterpretq_f32_u32(vshlq_n_u32(w, 16)); }
inline float32x4_t odd_k(uint32x4_t w) { return vreinterpretq_f32_u32(vandq_u32(w, vdupq_n_u32(0xFFFF0000u))); }
inline uint32x4_t b_vec(const uint8_t* p) { return vreinterpretq_u32_u8(vld1q_u8(p)); }

// Two pairs (k = 4t .. 4t + 3) whose A values are lanes 0-3 of av; a missing odd k at the end
// is skipped (ODD1 false), not multiplied by zero, so stale values in a caller's panel
// padding cannot turn into NaN.
template <int MR, bool PAIR1, bool ODD1, bool ODD0 = true>
inline void bf16_step(float32x4_t (&even)[MR][4], float32x4_t (&odd)[MR][4], const float32x4_t (&av)[MR],
                      const uint8_t* bq) {
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const uint32x4_t w0 = b_vec(bq + 16 * v);
    const float32x4_t e0 = even_k(w0), o0 = odd_k(w0);
#pragma GCC unroll 3
    for (int i = 0; i < MR; ++i) {
      even[i][v] = vfmaq_laneq_f32(even[i][v], e0, av[i], 0);
      if (ODD0) odd[i][v] = vfmaq_laneq_f32(odd[i][v], o0, av[i], 1);
    }
    if (PAIR1) {
      const uint32x4_t w1 = b_vec(bq + 64 + 16 * v);
      const float32x4_t e1 = even_k(w1), o1 = odd_k(w1);
#pragma GCC unroll 3
      for (int i = 0; i < MR; ++i) {
        even[i][v] = vfmaq_laneq_f32(even[i][v], e1, av[i], 2);
        if (ODD1) odd[i][v] = vfmaq_laneq_f32(odd[i][v], o1, av[i], 3);
      }
    }
  }
}

template <int MR>
void bf16_tile(const LowpArgs& g, int row, int panel, int cols) {
  const uint8_t* b = g.b + panel * g.panel_bytes;
  const float* a[MR];
  float32x4_t even[MR][4], odd[MR][4];
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i) {
    a[i] = g.a_f32 + static_cast<size_t>(row + i) * g.lda;
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) even[i][v] = odd[i][v] = vdupq_n_f32(0.0f);
  }
  int kk = 0;
  for (; kk + 4 <= g.k; kk += 4) {
    float32x4_t av[MR];
#pragma GCC unroll 3
    for (int i = 0; i < MR; ++i) av[i] = vld1q_f32(a[i] + kk);
    bf16_step<MR, true, true>(even, odd, av, b + static_cast<size_t>(kk / 2) * 64);
  }
  // The last 1-3 k through a zero-filled copy: A's row may end there.
  const int rest = g.k - kk;
  if (rest > 0) {
    float32x4_t av[MR];
#pragma GCC unroll 3
    for (int i = 0; i < MR; ++i) {
      float t[4] = {};
      std::memcpy(t, a[i] + kk, sizeof(float) * rest);
      av[i] = vld1q_f32(t);
    }
    const uint8_t* bq = b + static_cast<size_t>(kk / 2) * 64;
    if (rest == 1) bf16_step<MR, false, false, false>(even, odd, av, bq);
    if (rest == 2) bf16_step<MR, false, false>(even, odd, av, bq);
    if (rest == 3) bf16_step<MR, true, false>(even, odd, av, bq);
  }
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i) {
    float32x4_t sum[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) sum[v] = vaddq_f32(even[i][v], odd[i][v]);
    bf16_finish_row(g, row + i, panel * kPanel, cols, sum);
  }
}

template <int... I>
constexpr LowpTileTable<sizeof...(I)> q8_tiles(std::integer_sequence<int, I...>) {
  return {{&q8_tile<I + 1>...}};
}
template <int... I>
constexpr LowpTileTable<sizeof...(I)> q8_dot_tiles(std::integer_sequence<int, I...>) {
  return {{&q8_dot_tile<I + 1>...}};
}
template <int... I>
constexpr LowpTileTable<sizeof...(I)> bf16_tiles(std::integer_sequence<int, I...>) {
  return {{&bf16_tile<I + 1>...}};
}
constexpr auto kQ8Tiles = q8_tiles(std::make_integer_sequence<int, kQ8Mr>{});
constexpr auto kQ8DotTiles = q8_dot_tiles(std::make_integer_sequence<int, kQ8Mr>{});
constexpr auto kBf16Tiles = bf16_tiles(std::make_integer_sequence<int, kBf16Mr>{});

struct Q8 {
  static constexpr int MR = kQ8Mr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kQ8Tiles.fn[mr - 1](g, row, panel, cols);
  }
};
struct Q8Dot {
  static constexpr int MR = kQ8Mr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kQ8DotTiles.fn[mr - 1](g, row, panel, cols);
  }
};
struct Bf16 {
  static constexpr int MR = kBf16Mr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kBf16Tiles.fn[mr - 1](g, row, panel, cols);
  }
};

size_t q8_row_bytes(int k) { return static_cast<size_t>(k + 3) / 4 * 4; }
size_t no_row_bytes(int) { return 0; }

}  // namespace

const LowpKernel kQ8Neon = {kQ8Mr, 1, &q8_row_bytes, &quantize_rows<int8_t, 0>, &lowp_range<Q8>};
const LowpKernel kQ8NeonDot = {kQ8Mr, 1, &q8_row_bytes, &quantize_rows<int8_t, 0>, &lowp_range<Q8Dot>};
const LowpKernel kBf16Neon = {kBf16Mr, 1, &no_row_bytes, nullptr, &lowp_range<Bf16>};

}  // namespace chorus::kernels::detail

// Portable int8 and bf16 weight micro-kernels: up to 2 rows x 1 panel in plain C++, which
// the compiler vectorises with the target's baseline instruction set.
#include <cstring>
#include <utility>

#include "lowp_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 2;

inline float widen(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <int MR>
void q8_tile(const LowpArgs& g, int row, int panel, int cols) {
  const int groups = (g.k + 3) / 4;
  const int8_t* b = reinterpret_cast<const int8_t*>(g.b + panel * g.panel_bytes);
  const int col0 = panel * kPanel;
  int32_t acc[MR][kPanel] = {};
  for (int q = 0; q < groups; ++q) {
    const int8_t* bq = b + static_cast<size_t>(q) * 64;
    for (int i = 0; i < MR; ++i) {
      const int8_t* aq = reinterpret_cast<const int8_t*>(g.a + (row + i) * g.a_stride) + 4 * q;
      for (int j = 0; j < kPanel; ++j) {
        acc[i][j] += aq[0] * bq[4 * j] + aq[1] * bq[4 * j + 1] + aq[2] * bq[4 * j + 2] + aq[3] * bq[4 * j + 3];
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* c = g.c + static_cast<size_t>(row + i) * g.ldc + col0;
    const float sa = g.a_scale[row + i];
    for (int j = 0; j < cols; ++j) {
      float v = static_cast<float>(acc[i][j]) * (sa * g.b_scale[col0 + j]);
      if (g.bias) v += g.bias[col0 + j];
      c[j] = g.accumulate ? c[j] + v : v;
    }
  }
}

template <int MR>
void bf16_tile(const LowpArgs& g, int row, int panel, int cols) {
  const int pairs = (g.k + 1) / 2;
  const uint16_t* b = reinterpret_cast<const uint16_t*>(g.b + panel * g.panel_bytes);
  const int col0 = panel * kPanel;
  float acc[MR][kPanel] = {};
  for (int q = 0; q < pairs; ++q) {
    const uint16_t* bq = b + static_cast<size_t>(q) * 32;
    const bool odd = 2 * q + 1 < g.k;
    for (int i = 0; i < MR; ++i) {
      const float* a = g.a_f32 + static_cast<size_t>(row + i) * g.lda + 2 * q;
      const float a0 = a[0], a1 = odd ? a[1] : 0.0f;
      for (int j = 0; j < kPanel; ++j) {
        acc[i][j] += a0 * widen(bq[2 * j]) + a1 * widen(bq[2 * j + 1]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* c = g.c + static_cast<size_t>(row + i) * g.ldc + col0;
    for (int j = 0; j < cols; ++j) {
      float v = acc[i][j];
      if (g.bias) v += g.bias[col0 + j];
      c[j] = g.accumulate ? c[j] + v : v;
    }
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
constexpr auto kQ8Tiles = q8_tiles(std::make_integer_sequence<int, kMr>{});
constexpr auto kBf16Tiles = bf16_tiles(std::make_integer_sequence<int, kMr>{});

struct Q8 {
  static constexpr int MR = kMr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kQ8Tiles.fn[mr - 1](g, row, panel, cols);
  }
};
struct Bf16 {
  static constexpr int MR = kMr, NP = 1, MC = 96;
  static void tile(int mr, int, const LowpArgs& g, int row, int panel, int cols) {
    kBf16Tiles.fn[mr - 1](g, row, panel, cols);
  }
};

size_t q8_row_bytes(int k) { return static_cast<size_t>(k + 3) / 4 * 4; }
size_t no_row_bytes(int) { return 0; }

}  // namespace

const LowpKernel kQ8Scalar = {kMr, 1, &q8_row_bytes, &quantize_rows<int8_t, 0>, &lowp_range<Q8>};
const LowpKernel kBf16Scalar = {kMr, 1, &no_row_bytes, nullptr, &lowp_range<Bf16>};

}  // namespace chorus::kernels::detail

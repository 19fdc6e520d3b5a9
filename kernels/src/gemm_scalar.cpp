// Portable gemm micro-kernel: up to 2 rows x 1 panel in plain C++, which the compiler
// vectorises with the baseline instruction set of the target (SSE2 on x86-64, NEON on
// arm64). Two rows keep the accumulators within SSE2's 16 registers; four rows spilled and
// ran five times slower.
#include <utility>

#include "gemm_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 2;

template <int MR>
void tile(int kc, const float* a, const float* b, size_t /*b_stride*/, float* c, int ldc,
          int cols, const float* bias, bool load_c) {
  float acc[MR][kPanel];
  for (int i = 0; i < MR; ++i) {
    const float* ci = c + static_cast<size_t>(i) * ldc;
    for (int j = 0; j < kPanel; ++j) {
      const float init = bias && j < cols ? bias[j] : 0.0f;
      acc[i][j] = load_c && j < cols ? init + ci[j] : init;
    }
  }
  for (int kk = 0; kk < kc; ++kk) {
    const float* bk = b + static_cast<size_t>(kk) * kPanel;
    const float* ak = a + static_cast<size_t>(kk) * kMr;
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < kPanel; ++j) acc[i][j] += ak[i] * bk[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + static_cast<size_t>(i) * ldc;
    for (int j = 0; j < cols; ++j) ci[j] = acc[i][j];
  }
}

template <int... I>
constexpr TileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr>{});

struct Scalar {
  static constexpr int MR = kMr;
  static constexpr int NP = 1;
  static constexpr int MC = 64;
  static constexpr int KC = 256;
  static void tile(int mr, int /*np*/, int kc, const float* a, const float* b, size_t b_stride,
                   float* c, int ldc, int cols, const float* bias, bool load_c) {
    kTiles.fn[mr - 1](kc, a, b, b_stride, c, ldc, cols, bias, load_c);
  }
};

}  // namespace

const GemmKernel kGemmScalar = {kMr, 1, &gemm_range<Scalar>};

}  // namespace chorus::kernels::detail

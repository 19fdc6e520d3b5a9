// Blocking loop and row preparation shared by the int8 and bf16 weight variants. Internal
// linkage throughout for the same reason as gemm_driver.h: each instruction-set file
// instantiates its own copy.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "internal.h"

namespace chorus::kernels::detail {
namespace {

inline int lowp_min(int a, int b) { return a < b ? a : b; }

// K supplies MR, NP, MC and tile(mr, np, g, row, panel, cols).
//
// Loop order: a block of MC rows (its prepared A stays in L2), each group of NP panels,
// then every row tile of the block over that slice of B, which stays in L1 meanwhile. The
// reduction is never blocked (int32 and fp32 accumulators live in registers for the whole
// of k), so with up to MC rows, which covers every decoder step, each byte of B is read
// from memory exactly once.
template <class K>
void lowp_range(const LowpArgs& g, int r0, int r1, int p0, int p1) {
  static_assert(K::MC % K::MR == 0, "MC must hold whole tiles");
  for (int rb = r0; rb < r1; rb += K::MC) {
    const int mc = lowp_min(K::MC, r1 - rb);
    for (int p = p0; p < p1; p += K::NP) {
      const int np = lowp_min(K::NP, p1 - p);
      const int cols = lowp_min(np * kPanel, g.n - p * kPanel);
      for (int t = 0; t < mc; t += K::MR) K::tile(lowp_min(K::MR, mc - t), np, g, rb + t, p, cols);
    }
  }
}

// Tiled layout of prepared rows for the AVX-512 kernels: rows [t * MR, t * MR + MR) form a
// tile of [unit][MR] 4-byte units (4 int8 or 2 bf16 values of one row), so the micro-kernel
// broadcasts A from one sequential stream and keeps a single pointer for all its rows.
template <int MR>
inline uint8_t* tiled_unit(uint8_t* dst, size_t stride, int row, int unit) {
  return dst + static_cast<size_t>(row / MR) * MR * stride + (static_cast<size_t>(unit) * MR + row % MR) * 4;
}

using LowpTileFn = void (*)(const LowpArgs& g, int row, int panel, int cols);
template <int N>
struct LowpTileTable {
  LowpTileFn fn[N];
};

// reference::quantize_symmetric in the same float operations, so every variant produces the
// same integers; T and Offset select the stored encoding (int8, int16, or u8 = q + 128).
// Rounding happens before the clamp so a NaN cannot reach an undefined float-to-int cast.
// Rows are stored row-major.
template <typename T, int Offset>
void quantize_rows(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float* scale) {
  const int kp = (k + 3) / 4 * 4;
  for (int r = r0; r < r1; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    T* q = reinterpret_cast<T*>(dst + static_cast<size_t>(r) * stride);
    float mx = 0.0f;
    for (int i = 0; i < k; ++i) {
      const float ax = std::fabs(x[i]);
      mx = ax > mx ? ax : mx;
    }
    const float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    for (int i = 0; i < k; ++i) {
      float v = std::nearbyint(x[i] * inv);
      v = v > 127.0f ? 127.0f : (v >= -127.0f ? v : -127.0f);
      q[i] = static_cast<T>(static_cast<int>(v) + Offset);
    }
    for (int i = k; i < kp; ++i) q[i] = static_cast<T>(Offset);
    scale[r] = mx / 127.0f;
  }
}

}  // namespace
}  // namespace chorus::kernels::detail

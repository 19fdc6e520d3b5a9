// NEON gemm micro-kernel (aarch64): up to 6 rows x 1 panel (16 columns as four q registers)
// of C held in 24 accumulators of the 32 vector registers, leaving room for the panel's four
// vectors and the A values. Partial panels go through a 16-float buffer per row.
#include <arm_neon.h>

#include <utility>

#include "gemm_driver.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMr = 6;

template <int MR>
void tile(int kc, const float* a, const float* b, size_t /*b_stride*/, float* c, int ldc,
          int cols, const float* bias, bool load_c) {
  float32x4_t acc[MR][4];
  float buf[16];
  float bias_buf[16] = {};
  const float* bias_p = nullptr;
  if (bias) {
    if (cols >= 16) {
      bias_p = bias;
    } else {
      for (int j = 0; j < cols; ++j) bias_buf[j] = bias[j];
      bias_p = bias_buf;
    }
  }
  for (int i = 0; i < MR; ++i) {
    const float* ci = c + static_cast<size_t>(i) * ldc;
    const float* src = ci;
    if (load_c && cols < 16) {
      for (int j = 0; j < 16; ++j) buf[j] = j < cols ? ci[j] : 0.0f;
      src = buf;
    }
    for (int v = 0; v < 4; ++v) {
      const float32x4_t bv = bias_p ? vld1q_f32(bias_p + 4 * v) : vdupq_n_f32(0.0f);
      acc[i][v] = load_c ? vaddq_f32(bv, vld1q_f32(src + 4 * v)) : bv;
    }
  }
  for (int kk = 0; kk < kc; ++kk) {
    const float* bk = b + static_cast<size_t>(kk) * 16;
    const float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4), b2 = vld1q_f32(bk + 8), b3 = vld1q_f32(bk + 12);
    const float* ak = a + static_cast<size_t>(kk) * kMr;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const float32x4_t av = vdupq_n_f32(ak[i]);
      acc[i][0] = vfmaq_f32(acc[i][0], av, b0);
      acc[i][1] = vfmaq_f32(acc[i][1], av, b1);
      acc[i][2] = vfmaq_f32(acc[i][2], av, b2);
      acc[i][3] = vfmaq_f32(acc[i][3], av, b3);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + static_cast<size_t>(i) * ldc;
    if (cols >= 16) {
      for (int v = 0; v < 4; ++v) vst1q_f32(ci + 4 * v, acc[i][v]);
    } else {
      for (int v = 0; v < 4; ++v) vst1q_f32(buf + 4 * v, acc[i][v]);
      for (int j = 0; j < cols; ++j) ci[j] = buf[j];
    }
  }
}

template <int... I>
constexpr TileTable<sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {{&tile<I + 1>...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMr>{});

struct Neon {
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

const GemmKernel kGemmNeon = {kMr, 1, &gemm_range<Neon>};

}  // namespace chorus::kernels::detail

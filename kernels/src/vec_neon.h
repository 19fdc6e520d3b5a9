// 4-lane NEON vector for the templated kernels (simd_ops.h, fft_impl.h, attention_impl.h,
// logits_impl.h) on aarch64, where NEON (Advanced SIMD) and the fp16 conversions are part of
// the base instruction set. Only for files built for aarch64.
#pragma once

#include <arm_neon.h>

#include <cstdint>

namespace chorus::kernels::detail {
namespace {

struct V4 {
  using T = float32x4_t;
  static constexpr int W = 4;
  // Architectural vector registers: how many accumulators a micro-kernel can keep.
  static constexpr int kRegisters = 32;
  static T load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, T v) { vst1q_f32(p, v); }
  static T set1(float v) { return vdupq_n_f32(v); }
  static T zero() { return vdupq_n_f32(0.0f); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T mul(T a, T b) { return vmulq_f32(a, b); }
  static T div(T a, T b) { return vdivq_f32(a, b); }
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  // x86 max/min return the second operand when either is NaN; fmaxq would return NaN. Keep
  // the x86 (and scalar V1) semantics: a > b ? a : b, a < b ? a : b.
  static T max(T a, T b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static T min(T a, T b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  static T abs(T a) { return vabsq_f32(a); }
  static T round(T a) { return vrndnq_f32(a); }
  static T pow2(T n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23));
  }
  static T select_lt(T a, T b, T if_lt, T otherwise) { return vbslq_f32(vcltq_f32(a, b), if_lt, otherwise); }
  // Bit l set where lane l of a > b (false for NaN).
  static unsigned gt_mask(T a, T b) {
    const uint32x4_t bits = vandq_u32(vcgtq_f32(a, b), (uint32x4_t){1u, 2u, 4u, 8u});
    return vaddvq_u32(bits);
  }
  static float reduce_add(T v) { return vaddvq_f32(v); }
  static float reduce_max(T v) { return vmaxvq_f32(v); }
  static T gather(const float* p, int stride) {
    T v = vdupq_n_f32(p[0]);
    v = vsetq_lane_f32(p[stride], v, 1);
    v = vsetq_lane_f32(p[2 * stride], v, 2);
    return vsetq_lane_f32(p[3 * stride], v, 3);
  }
  // fcvt rounds to nearest even (the FPCR default), as the scalar float_to_half does.
  static T load_half(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static void store_half(uint16_t* p, T v) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v))); }
};

}  // namespace
}  // namespace chorus::kernels::detail

// One-lane "vector" for the portable instantiations of the templated kernels (fft_impl.h,
// attention_impl.h, logits_impl.h): the same source as the SIMD variants, one float at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace chorus::kernels::detail {
namespace {

// IEEE binary16 -> binary32, exact (every half is a float). Branch-free for finite values:
// the exponent and mantissa bits shifted into float position are the value times 2^-112,
// subnormals included, so one multiply by 2^112 rebases them.
inline float half_to_float(uint16_t h) {
  const uint32_t shifted = static_cast<uint32_t>(h & 0x7fffu) << 13;
  float magnitude;
  std::memcpy(&magnitude, &shifted, sizeof magnitude);
  magnitude *= 0x1p112f;
  uint32_t bits;
  std::memcpy(&bits, &magnitude, sizeof bits);
  if ((h & 0x7c00u) == 0x7c00u) bits = 0x7f800000u | shifted;  // inf, NaN keeps its payload
  bits |= static_cast<uint32_t>(h & 0x8000u) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// binary32 -> binary16 with round to nearest, ties to even: bit-identical to F16C's
// vcvtps2ph with _MM_FROUND_TO_NEAREST_INT, so stores agree whichever variant made them.
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN (NaN stays quiet NaN)
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? (0x200u | ((abs >> 13) & 0x3ffu)) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs >= 0x38800000u) {  // normal half
    const uint32_t mant_round = abs + 0xfffu + ((abs >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((mant_round - 0x38000000u) >> 13));
  }
  // Subnormal half (or zero): align the implicit bit and round at bit (shift - 1).
  const uint32_t exp = abs >> 23;
  if (exp < 102) return sign;  // below half the smallest subnormal: rounds to zero
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14 .. 24
  const uint32_t half = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t mid = 1u << (shift - 1);
  const uint32_t rounded = half + ((rest > mid || (rest == mid && (half & 1u))) ? 1u : 0u);
  return static_cast<uint16_t>(sign | rounded);
}

struct V1 {
  using T = float;
  static constexpr int W = 1;
  // Architectural vector registers: how many accumulators a micro-kernel can keep.
  static constexpr int kRegisters = 16;
  static T load(const float* p) { return *p; }
  static void store(float* p, T v) { *p = v; }
  static T set1(float v) { return v; }
  static T zero() { return 0.0f; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static T max(T a, T b) { return a > b ? a : b; }
  static T min(T a, T b) { return a < b ? a : b; }
  static T abs(T a) { return std::fabs(a); }
  // exp_v only needs some nearest integer (|x| < 2^23 there); this avoids a libm call where
  // the baseline instruction set has no rounding instruction.
  static T round(T a) { return static_cast<float>(static_cast<int>(a + (a < 0.0f ? -0.5f : 0.5f))); }
  static T pow2(T n) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<int>(n) + 127) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  static T select_lt(T a, T b, T if_lt, T otherwise) { return a < b ? if_lt : otherwise; }
  static unsigned gt_mask(T a, T b) { return a > b ? 1u : 0u; }
  static float reduce_add(T v) { return v; }
  static float reduce_max(T v) { return v; }
  // Lane l reads p[l * stride]; the caller guarantees every lane's address is valid.
  static T gather(const float* p, int /*stride*/) { return *p; }
  static T load_half(const uint16_t* p) { return half_to_float(*p); }
  static void store_half(uint16_t* p, T v) { *p = float_to_half(v); }
};

}  // namespace
}  // namespace chorus::kernels::detail

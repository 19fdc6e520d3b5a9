// Quantisation of A's rows for the int8 products in AVX-512, shared by the VNNI and AMX
// variants: the float operations of quantize_rows<uint8_t, 128> (max |x|, 127 / max,
// x * inv rounded to nearest even, clamp), so both compute the integers of every other
// variant, stored as q + 128. Internal linkage for the reason given in gemm_driver.h.
#pragma once

#include <immintrin.h>

namespace chorus::kernels::detail {
namespace {

inline __mmask16 column_mask(int cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : cols <= 0 ? 0 : static_cast<__mmask16>((1u << cols) - 1);
}

// max |x| over the row's k values.
inline float q8_row_max(const float* x, int k) {
  __m512 mx = _mm512_setzero_ps();
  for (int i = 0; i < k; i += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(column_mask(k - i), x + i)));
  return _mm512_reduce_max_ps(mx);
}

// 127 / max, or 0 for a row of zeros.
inline __m512 q8_inverse_scale(float max_abs) { return _mm512_set1_ps(max_abs > 0.0f ? 127.0f / max_abs : 0.0f); }

// x[i, i + 16) quantised as q + 128; lanes past k hold 128 (q = 0), which pads the last group.
inline __m128i q8_offset_lanes(const float* x, int i, int k, __m512 inv) {
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), offset = _mm512_set1_epi32(128);
  __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(column_mask(k - i), x + i), inv));
  v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), offset);
  return _mm512_cvtepi32_epi8(v);
}

}  // namespace
}  // namespace chorus::kernels::detail

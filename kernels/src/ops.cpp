// Portable element-wise kernels and the public entry points that dispatch on the ISA.
#include <cmath>
#include <limits>

#include "internal.h"

namespace chorus::kernels {
namespace detail {
namespace {

void layer_norm_scalar(const float* x, float* out, int rows, int dim, const float* gamma,
                       const float* beta, float eps) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * dim;
    float* yr = out + static_cast<size_t>(r) * dim;
    float sum = 0.0f;
    for (int i = 0; i < dim; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(dim);
    float sq = 0.0f;
    for (int i = 0; i < dim; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);
    for (int i = 0; i < dim; ++i) {
      float y = (xr[i] - mean) * rstd;
      if (gamma) y *= gamma[i];
      if (beta) y += beta[i];
      yr[i] = y;
    }
  }
}

void gelu_scalar(float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void softmax_scalar(float* x, int rows, int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<size_t>(r) * ld;
    float mx = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < cols; ++i) mx = row[i] > mx ? row[i] : mx;
    float sum = 0.0f;
    for (int i = 0; i < cols; ++i) {
      row[i] = std::exp(row[i] - mx);
      sum += row[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < cols; ++i) row[i] *= inv;
  }
}

void add_scalar(float* y, const float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) y[i] += x[i];
}

}  // namespace

const OpsKernel kOpsScalar = {&layer_norm_scalar, &gelu_scalar, &softmax_scalar, &add_scalar};

}  // namespace detail

namespace {

const detail::OpsKernel& ops() {
#if defined(CHORUS_KERNELS_X86)
  const Isa isa = active_isa();
  if (isa >= Isa::Avx512) return detail::kOpsAvx512;
  if (isa == Isa::Avx2) return detail::kOpsAvx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (active_isa() == Isa::Neon) return detail::kOpsNeon;
#endif
  return detail::kOpsScalar;
}

}  // namespace

void layer_norm(const float* x, float* out, int rows, int dim, const float* gamma,
                const float* beta, float eps) {
  ops().layer_norm(x, out, rows, dim, gamma, beta, eps);
}

void gelu(float* x, size_t count) { ops().gelu(x, count); }

void softmax_rows(float* x, int rows, int cols, int ld) { ops().softmax_rows(x, rows, cols, ld); }

void add_inplace(float* y, const float* x, size_t count) { ops().add_inplace(y, x, count); }

}  // namespace chorus::kernels

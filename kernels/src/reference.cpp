// Ground truth for tests: the obvious loops, reductions in double so that the reference
// itself contributes no visible rounding error.
#include <cmath>
#include <limits>

#include "chorus/kernels.h"

namespace chorus::kernels::reference {

void gemm_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k, float* c,
             int ldc, const float* bias, bool accumulate) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int kk = 0; kk < k; ++kk) {
        sum += static_cast<double>(a[static_cast<size_t>(i) * lda + kk]) * b[static_cast<size_t>(j) * ldb + kk];
      }
      if (bias) sum += bias[j];
      float& out = c[static_cast<size_t>(i) * ldc + j];
      out = accumulate ? out + static_cast<float>(sum) : static_cast<float>(sum);
    }
  }
}

void layer_norm(const float* x, float* out, int rows, int dim, const float* gamma,
                const float* beta, float eps) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * dim;
    double mean = 0.0;
    for (int i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    double var = 0.0;
    for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= dim;
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int i = 0; i < dim; ++i) {
      double y = (xr[i] - mean) * rstd;
      if (gamma) y *= gamma[i];
      if (beta) y += beta[i];
      out[static_cast<size_t>(r) * dim + i] = static_cast<float>(y);
    }
  }
}

void gelu(float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const double v = x[i];
    x[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}

void softmax_rows(float* x, int rows, int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<size_t>(r) * ld;
    float mx = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < cols; ++i) mx = row[i] > mx ? row[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < cols; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
    for (int i = 0; i < cols; ++i) row[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - mx) / sum);
  }
}

}  // namespace chorus::kernels::reference

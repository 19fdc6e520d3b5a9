// Ground truth for tests: the obvious loops, reductions in double so that the reference
// itself contributes no visible rounding error.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

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

namespace chorus::kernels::reference {

void quantize_symmetric(const float* x, int k, int8_t* q, float* scale) {
  float mx = 0.0f;
  for (int i = 0; i < k; ++i) mx = std::max(mx, std::fabs(x[i]));  // x is finite: fmax's NaN rule, a libm call, is not needed
  const float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
  for (int i = 0; i < k; ++i) {
    const float v = std::nearbyint(x[i] * inv);
    q[i] = static_cast<int8_t>(v > 127.0f ? 127 : v < -127.0f ? -127 : static_cast<int>(v));
  }
  *scale = mx / 127.0f;
}

void gemm_q8_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k, float* c,
                int ldc, const float* bias, bool accumulate) {
  std::vector<int8_t> qa(static_cast<size_t>(m) * k), qb(static_cast<size_t>(n) * k);
  std::vector<float> sa(m), sb(n);
  for (int i = 0; i < m; ++i) quantize_symmetric(a + static_cast<size_t>(i) * lda, k, &qa[static_cast<size_t>(i) * k], &sa[i]);
  for (int j = 0; j < n; ++j) quantize_symmetric(b + static_cast<size_t>(j) * ldb, k, &qb[static_cast<size_t>(j) * k], &sb[j]);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      int64_t dot = 0;
      for (int kk = 0; kk < k; ++kk) dot += qa[static_cast<size_t>(i) * k + kk] * qb[static_cast<size_t>(j) * k + kk];
      double sum = static_cast<double>(sa[i]) * sb[j] * static_cast<double>(dot);
      if (bias) sum += bias[j];
      float& out = c[static_cast<size_t>(i) * ldc + j];
      out = accumulate ? out + static_cast<float>(sum) : static_cast<float>(sum);
    }
  }
}

void gemm_bf16_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k,
                  float* c, int ldc, const float* bias, bool accumulate, bool round_a) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int kk = 0; kk < k; ++kk) {
        const float av = a[static_cast<size_t>(i) * lda + kk];
        const double x = round_a ? from_bf16(to_bf16(av)) : av;
        sum += x * from_bf16(to_bf16(b[static_cast<size_t>(j) * ldb + kk]));
      }
      if (bias) sum += bias[j];
      float& out = c[static_cast<size_t>(i) * ldc + j];
      out = accumulate ? out + static_cast<float>(sum) : static_cast<float>(sum);
    }
  }
}

}  // namespace chorus::kernels::reference

namespace chorus::kernels::reference {

void conv1d_k3(const Conv1dInput& x, int stride, int f0, int f1, const float* w, const float* bias, int out_channels,
               float* y, int ldy) {
  for (int f = f0; f < f1; ++f) {
    for (int o = 0; o < out_channels; ++o) {
      double sum = bias ? bias[o] : 0.0;
      for (int c = 0; c < x.channels; ++c) {
        for (int tap = 0; tap < 3; ++tap) {
          const int t = stride * f + tap - 1;
          if (t < 0 || t >= x.frames) continue;
          const float v = x.data[c * x.channel_stride + (t - x.first) * x.frame_stride];
          sum += static_cast<double>(w[(static_cast<size_t>(o) * x.channels + c) * 3 + tap]) * v;
        }
      }
      y[static_cast<size_t>(f - f0) * ldy + o] = static_cast<float>(sum);
    }
  }
}

}  // namespace chorus::kernels::reference

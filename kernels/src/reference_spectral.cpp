// Ground truth for the FFT and attention kernels: plain loops in double.
#include <cmath>
#include <vector>

#include "chorus/kernels.h"

namespace chorus::kernels::reference {

void real_dft(const float* x, int n, double* re, double* im) {
  for (int b = 0; b <= n / 2; ++b) {
    double sr = 0.0, si = 0.0;
    for (int t = 0; t < n; ++t) {
      // Exact angle: reduce b * t modulo n before scaling.
      const double angle = 2.0 * M_PI * static_cast<double>((static_cast<long>(b) * t) % n) / n;
      sr += x[t] * std::cos(angle);
      si -= x[t] * std::sin(angle);
    }
    re[b] = sr;
    im[b] = si;
  }
}

void attention(int n, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv, int t, int head_dim,
               float scale, bool causal, float* out, int ldo, float* weights) {
  std::vector<double> s(t);
  for (int i = 0; i < n; ++i) {
    const int visible = causal ? t - n + 1 + i : t;
    double mx = -INFINITY;
    for (int j = 0; j < visible; ++j) {
      double dot = 0.0;
      for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(q[static_cast<size_t>(i) * ldq + d]) * k[static_cast<size_t>(j) * ldk + d];
      s[j] = dot * scale;
      mx = std::fmax(mx, s[j]);
    }
    double sum = 0.0;
    for (int j = 0; j < visible; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (int j = 0; j < t; ++j) s[j] = j < visible ? s[j] / sum : 0.0;
    for (int d = 0; d < head_dim; ++d) {
      double acc = 0.0;
      for (int j = 0; j < visible; ++j) acc += s[j] * v[static_cast<size_t>(j) * ldv + d];
      out[static_cast<size_t>(i) * ldo + d] = static_cast<float>(acc);
    }
    if (weights && i == n - 1) {
      for (int j = 0; j < t; ++j) weights[j] = static_cast<float>(s[j]);
    }
  }
}

}  // namespace chorus::kernels::reference

// Element-wise kernels written once against a small vector interface V (one float lane
// group: V::W lanes) and instantiated in the AVX2 and AVX-512 files. Internal linkage for
// the same reason as gemm_driver.h.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>

namespace chorus::kernels::detail {
namespace {

// e^x for x <= 88 (above that 2^n would overflow the exponent; every caller passes x <= 0).
// Cephes-style: x = n ln2 + r with |r| <= ln2/2, degree-6 polynomial for e^r, then 2^n
// through the exponent bits. Relative error about 2 ulp. Inputs below -87.3 (including
// -inf from attention masks) give exactly 0 instead of a denormal.
template <class V>
typename V::T exp_v(typename V::T x) {
  using T = typename V::T;
  const T lo = V::set1(-87.33654f);
  const T xc = V::max(V::min(x, V::set1(88.0f)), lo);
  const T n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
  T r = V::fma(n, V::set1(-0.693359375f), xc);
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  T p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::select_lt(x, lo, V::zero(), V::mul(p, V::pow2(n)));
}

// GELU(x) = x/2 * (1 + erf(x/sqrt2)). With z = |x|/sqrt2, 1 - erf(z) = q(t) e^{-z^2},
// t = 1/(1 + p z) (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7). Writing the negative
// side as x/2 * q avoids the cancellation of 1 + erf(x) when x is very negative.
template <class V>
typename V::T gelu_v(typename V::T x) {
  using T = typename V::T;
  const T z = V::mul(V::abs(x), V::set1(0.70710678118654752f));
  const T t = V::div(V::set1(1.0f), V::fma(z, V::set1(0.3275911f), V::set1(1.0f)));
  T q = V::set1(1.061405429f);
  q = V::fma(q, t, V::set1(-1.453152027f));
  q = V::fma(q, t, V::set1(1.421413741f));
  q = V::fma(q, t, V::set1(-0.284496736f));
  q = V::fma(q, t, V::set1(0.254829592f));
  q = V::mul(V::mul(q, t), exp_v<V>(V::mul(V::sub(V::zero(), z), z)));
  const T half_x = V::mul(x, V::set1(0.5f));
  return V::select_lt(x, V::zero(), V::mul(half_x, q), V::mul(half_x, V::sub(V::set1(2.0f), q)));
}

// Applies f to a partial vector by staging it through a padded buffer, so tails get the
// same arithmetic as full vectors.
template <class V, class F>
void map_tail(float* x, size_t count, float pad, F f) {
  alignas(64) float buf[V::W];
  for (size_t i = 0; i < V::W; ++i) buf[i] = i < count ? x[i] : pad;
  V::store(buf, f(V::load(buf)));
  for (size_t i = 0; i < count; ++i) x[i] = buf[i];
}

template <class V>
void gelu_impl(float* x, size_t count) {
  size_t i = 0;
  for (; i + V::W <= count; i += V::W) V::store(x + i, gelu_v<V>(V::load(x + i)));
  if (i < count) map_tail<V>(x + i, count - i, 0.0f, [](typename V::T v) { return gelu_v<V>(v); });
}

template <class V>
void add_impl(float* y, const float* x, size_t count) {
  size_t i = 0;
  for (; i + V::W <= count; i += V::W) V::store(y + i, V::add(V::load(y + i), V::load(x + i)));
  for (; i < count; ++i) y[i] += x[i];
}

template <class V>
void softmax_impl(float* x, int rows, int cols, int ld) {
  const size_t n = static_cast<size_t>(cols);
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<size_t>(r) * ld;
    typename V::T vmax = V::set1(-std::numeric_limits<float>::infinity());
    size_t i = 0;
    for (; i + V::W <= n; i += V::W) vmax = V::max(vmax, V::load(row + i));
    float mx = V::reduce_max(vmax);
    for (; i < n; ++i) mx = row[i] > mx ? row[i] : mx;

    const typename V::T vm = V::set1(mx);
    typename V::T vsum = V::zero();
    for (i = 0; i + V::W <= n; i += V::W) {
      const typename V::T e = exp_v<V>(V::sub(V::load(row + i), vm));
      V::store(row + i, e);
      vsum = V::add(vsum, e);
    }
    float sum = V::reduce_add(vsum);
    if (i < n) {
      map_tail<V>(row + i, n - i, -std::numeric_limits<float>::infinity(),
                  [&](typename V::T v) { return exp_v<V>(V::sub(v, vm)); });
      for (; i < n; ++i) sum += row[i];
    }

    const typename V::T inv = V::set1(1.0f / sum);
    for (i = 0; i + V::W <= n; i += V::W) V::store(row + i, V::mul(V::load(row + i), inv));
    for (; i < n; ++i) row[i] *= 1.0f / sum;
  }
}

// Two-pass mean and variance in float; the second pass over centred values keeps the
// variance accurate when the mean is large relative to the spread.
template <class V>
void layer_norm_impl(const float* x, float* out, int rows, int dim, const float* gamma,
                     const float* beta, float eps) {
  const size_t n = static_cast<size_t>(dim);
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * n;
    float* yr = out + static_cast<size_t>(r) * n;
    typename V::T acc = V::zero();
    size_t i = 0;
    for (; i + V::W <= n; i += V::W) acc = V::add(acc, V::load(xr + i));
    float sum = V::reduce_add(acc);
    for (; i < n; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(dim);

    const typename V::T vmean = V::set1(mean);
    acc = V::zero();
    for (i = 0; i + V::W <= n; i += V::W) {
      const typename V::T d = V::sub(V::load(xr + i), vmean);
      acc = V::fma(d, d, acc);
    }
    float sq = V::reduce_add(acc);
    for (; i < n; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);

    const typename V::T vr = V::set1(rstd);
    for (i = 0; i + V::W <= n; i += V::W) {
      typename V::T y = V::mul(V::sub(V::load(xr + i), vmean), vr);
      if (gamma) y = V::mul(y, V::load(gamma + i));
      if (beta) y = V::add(y, V::load(beta + i));
      V::store(yr + i, y);
    }
    for (; i < n; ++i) {
      float y = (xr[i] - mean) * rstd;
      if (gamma) y *= gamma[i];
      if (beta) y += beta[i];
      yr[i] = y;
    }
  }
}

}  // namespace
}  // namespace chorus::kernels::detail

// The real FFT written once against a vector interface V (vec_*.h) and instantiated per
// instruction set. Vectorised across frames, not within one: lane l of every vector belongs
// to frame f0 + l, so each butterfly is plain scalar arithmetic on whole vectors, twiddles
// are broadcasts and no lane ever needs a shuffle. Internal linkage for the reason given in
// gemm_driver.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "internal.h"

namespace chorus::kernels::detail {
namespace {

template <class V>
struct Cx {
  typename V::T re, im;
};

template <class V>
Cx<V> cx_add(Cx<V> a, Cx<V> b) { return {V::add(a.re, b.re), V::add(a.im, b.im)}; }
template <class V>
Cx<V> cx_sub(Cx<V> a, Cx<V> b) { return {V::sub(a.re, b.re), V::sub(a.im, b.im)}; }
// a * (c + i s) with broadcast c, s.
template <class V>
Cx<V> cx_mul(Cx<V> a, float c, float s) {
  const typename V::T vc = V::set1(c), vs = V::set1(s);
  return {V::fma(a.re, vc, V::mul(V::sub(V::zero(), a.im), vs)), V::fma(a.im, vc, V::mul(a.re, vs))};
}
// -i * a
template <class V>
Cx<V> cx_mul_neg_i(Cx<V> a) { return {a.im, V::sub(V::zero(), a.re)}; }

// Element j of a work buffer: W real lanes followed by W imaginary lanes.
template <class V>
Cx<V> get(const float* buf, size_t j) {
  return {V::load(buf + 2 * V::W * j), V::load(buf + 2 * V::W * j + V::W)};
}
template <class V>
void put(float* buf, size_t j, Cx<V> v) {
  V::store(buf + 2 * V::W * j, v.re);
  V::store(buf + 2 * V::W * j + V::W, v.im);
}

// One Stockham (self-sorting) decimation-in-frequency stage: `s` interleaved sequences of
// length `len` = radix * m; y[q + s (radix p + k)] = w^{pk} sum_j x[q + s (p + j m)] e^{-2 pi i jk / radix}.
template <class V>
void fft_stage(int radix, int len, int s, const float* tw, const float* roots, const float* x, float* y) {
  const int m = len / radix;
  constexpr float kSin60 = 0.866025403784438647f;
  constexpr float kC1 = 0.309016994374947424f, kC2 = -0.809016994374947424f;  // cos 2pi/5, cos 4pi/5
  constexpr float kS1 = 0.951056516295153572f, kS2 = 0.587785252292473129f;   // sin 2pi/5, sin 4pi/5
  Cx<V> a[16], b[16];
  std::vector<Cx<V>> big;  // generic radix above 16 only (never for the Whisper size)
  Cx<V>* in = a;
  Cx<V>* out = b;
  if (radix > 16) {
    big.resize(2 * static_cast<size_t>(radix));
    in = big.data();
    out = big.data() + radix;
  }
  for (int p = 0; p < m; ++p) {
    const float* w = tw + static_cast<size_t>(p) * (radix - 1) * 2;
    for (int q = 0; q < s; ++q) {
      for (int j = 0; j < radix; ++j) in[j] = get<V>(x, q + static_cast<size_t>(s) * (p + j * m));
      switch (radix) {
        case 2:
          out[0] = cx_add<V>(in[0], in[1]);
          out[1] = cx_sub<V>(in[0], in[1]);
          break;
        case 3: {
          const Cx<V> t = cx_add<V>(in[1], in[2]);
          out[0] = cx_add<V>(in[0], t);
          const typename V::T half = V::set1(-0.5f);
          const Cx<V> m1 = {V::fma(t.re, half, in[0].re), V::fma(t.im, half, in[0].im)};
          const Cx<V> d = cx_sub<V>(in[1], in[2]);
          const typename V::T sn = V::set1(kSin60);
          // -i * sin60 * d
          const Cx<V> m2 = {V::mul(d.im, sn), V::sub(V::zero(), V::mul(d.re, sn))};
          out[1] = cx_add<V>(m1, m2);
          out[2] = cx_sub<V>(m1, m2);
          break;
        }
        case 4: {
          const Cx<V> t0 = cx_add<V>(in[0], in[2]), t1 = cx_sub<V>(in[0], in[2]);
          const Cx<V> t2 = cx_add<V>(in[1], in[3]), t3 = cx_mul_neg_i<V>(cx_sub<V>(in[1], in[3]));
          out[0] = cx_add<V>(t0, t2);
          out[2] = cx_sub<V>(t0, t2);
          out[1] = cx_add<V>(t1, t3);
          out[3] = cx_sub<V>(t1, t3);
          break;
        }
        case 5: {
          const Cx<V> b1 = cx_add<V>(in[1], in[4]), b2 = cx_add<V>(in[2], in[3]);
          const Cx<V> d1 = cx_sub<V>(in[1], in[4]), d2 = cx_sub<V>(in[2], in[3]);
          out[0] = cx_add<V>(in[0], cx_add<V>(b1, b2));
          const typename V::T c1 = V::set1(kC1), c2 = V::set1(kC2), s1 = V::set1(kS1), s2 = V::set1(kS2);
          const Cx<V> r1 = {V::fma(b2.re, c2, V::fma(b1.re, c1, in[0].re)), V::fma(b2.im, c2, V::fma(b1.im, c1, in[0].im))};
          const Cx<V> r2 = {V::fma(b2.re, c1, V::fma(b1.re, c2, in[0].re)), V::fma(b2.im, c1, V::fma(b1.im, c2, in[0].im))};
          const Cx<V> i1 = {V::fma(d2.re, s2, V::mul(d1.re, s1)), V::fma(d2.im, s2, V::mul(d1.im, s1))};
          const Cx<V> i2 = {V::sub(V::mul(d1.re, s2), V::mul(d2.re, s1)), V::sub(V::mul(d1.im, s2), V::mul(d2.im, s1))};
          // y = r -/+ i * i_k
          out[1] = {V::add(r1.re, i1.im), V::sub(r1.im, i1.re)};
          out[4] = {V::sub(r1.re, i1.im), V::add(r1.im, i1.re)};
          out[2] = {V::add(r2.re, i2.im), V::sub(r2.im, i2.re)};
          out[3] = {V::sub(r2.re, i2.im), V::add(r2.im, i2.re)};
          break;
        }
        default:
          for (int k = 0; k < radix; ++k) {
            Cx<V> acc = in[0];
            for (int j = 1; j < radix; ++j) {
              const int e = (j * k) % radix;
              acc = cx_add<V>(acc, cx_mul<V>(in[j], roots[2 * e], roots[2 * e + 1]));
            }
            out[k] = acc;
          }
          break;
      }
      put<V>(y, q + static_cast<size_t>(s) * radix * p, out[0]);
      for (int k = 1; k < radix; ++k) {
        put<V>(y, q + static_cast<size_t>(s) * (radix * p + k), cx_mul<V>(out[k], w[2 * (k - 1)], w[2 * (k - 1) + 1]));
      }
    }
  }
}

// Up to V::W frames starting at frame f0 (count of them): pack, transform, split, store.
template <class V, bool kPower>
void stft_batch(const FftPlan& plan, const float* x, int hop, int f0, int count, const float* window, float* re,
                float* im, int ld, float* work, float* stage) {
  constexpr int W = V::W;
  const int half = plan.n / 2;
  float* buf = work;
  float* other = work + 2 * static_cast<size_t>(W) * half;
  // z[j] = x[2j] + i x[2j+1], one frame per lane. A partial batch is first staged into a
  // zero-padded [W][n] block so that the gathers never read past the last frame.
  const float* base = x + static_cast<size_t>(f0) * hop;
  int stride = hop;
  if (count < W) {
    std::fill(stage, stage + static_cast<size_t>(W) * plan.n, 0.0f);
    for (int l = 0; l < count; ++l) std::copy(base + static_cast<size_t>(l) * hop, base + static_cast<size_t>(l) * hop + plan.n, stage + static_cast<size_t>(l) * plan.n);
    base = stage;
    stride = plan.n;
  }
  for (int j = 0; j < half; ++j) {
    typename V::T r = V::gather(base + 2 * j, stride), i = V::gather(base + 2 * j + 1, stride);
    if (window) {
      r = V::mul(r, V::set1(window[2 * j]));
      i = V::mul(i, V::set1(window[2 * j + 1]));
    }
    put<V>(buf, j, {r, i});
  }
  int len = half, s = 1;
  size_t tw = 0, roots = 0;
  for (int radix : plan.radices) {
    fft_stage<V>(radix, len, s, plan.twiddles.data() + tw, plan.roots.data() + roots, buf, other);
    tw += static_cast<size_t>(len / radix) * (radix - 1) * 2;
    if (radix > 5) roots += 2 * static_cast<size_t>(radix);  // only generic stages have roots
    std::swap(buf, other);
    len /= radix;
    s *= radix;
  }
  // X[k] = E - i w^k O with E, O = (Z[k] +- conj Z[half - k]) / 2 and w = e^{-2 pi i / n}.
  alignas(64) float tail_re[W], tail_im[W];
  const typename V::T vhalf = V::set1(0.5f);
  for (int k = 0; k <= half; ++k) {
    const Cx<V> a = get<V>(buf, k % half), b = get<V>(buf, (half - k) % half);
    const Cx<V> e = {V::mul(V::add(a.re, b.re), vhalf), V::mul(V::sub(a.im, b.im), vhalf)};
    const Cx<V> o = {V::mul(V::sub(a.re, b.re), vhalf), V::mul(V::add(a.im, b.im), vhalf)};
    const typename V::T c = V::set1(plan.split[2 * k]), sn = V::set1(plan.split[2 * k + 1]);
    const typename V::T xr = V::fma(c, o.im, V::sub(e.re, V::mul(sn, o.re)));
    const typename V::T xi = V::sub(V::sub(e.im, V::mul(c, o.re)), V::mul(sn, o.im));
    float* dst_re = re + static_cast<size_t>(k) * ld + f0;
    float* dst_im = kPower ? nullptr : im + static_cast<size_t>(k) * ld + f0;
    if (kPower) {
      const typename V::T p = V::fma(xr, xr, V::mul(xi, xi));
      if (count == W) {
        V::store(dst_re, p);
      } else {
        V::store(tail_re, p);
        std::copy(tail_re, tail_re + count, dst_re);
      }
    } else if (count == W) {
      V::store(dst_re, xr);
      V::store(dst_im, xi);
    } else {
      V::store(tail_re, xr);
      V::store(tail_im, xi);
      std::copy(tail_re, tail_re + count, dst_re);
      std::copy(tail_im, tail_im + count, dst_im);
    }
  }
}

template <class V>
void stft_impl(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* re, float* im,
               int ld) {
  constexpr int W = V::W;
  // Two ping-pong buffers of n / 2 complex vectors and the tail staging block, reused by
  // each thread across calls (25 KB each for n = 400 on AVX-512: they stay in L1/L2).
  thread_local std::vector<float> scratch;
  const size_t work = 4 * static_cast<size_t>(W) * (plan.n / 2);
  if (scratch.size() < work + static_cast<size_t>(W) * plan.n) scratch.resize(work + static_cast<size_t>(W) * plan.n);
  for (int f0 = 0; f0 < frames; f0 += W) {
    const int count = std::min(W, frames - f0);
    if (im) {
      stft_batch<V, false>(plan, x, hop, f0, count, window, re, im, ld, scratch.data(), scratch.data() + work);
    } else {
      stft_batch<V, true>(plan, x, hop, f0, count, window, re, nullptr, ld, scratch.data(), scratch.data() + work);
    }
  }
}

}  // namespace
}  // namespace chorus::kernels::detail

// Attention over fp16 key panels and value rows, written once against a vector interface V
// (vec_*.h) and instantiated per instruction set. Internal linkage for the reason given in
// gemm_driver.h.
//
// Per group of up to 4 query rows: (1) scores against every key, streaming the key panels
// once (each panel load feeds every row of the group), into scratch; (2) an exact softmax
// over the scores, which stay in L1/L2 (6 KB a row for 1500 keys); (3) one pass over the
// value rows accumulating every row's output in registers. K and V come from memory once
// per group, which is what a decoder step is bound by.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>

#include "internal.h"
#include "simd_ops.h"
#include "vec_scalar.h"

namespace chorus::kernels::detail {
namespace {

constexpr int kMaxRows = 4;

inline size_t round_up_panel(int t) { return (static_cast<size_t>(t) + kPanel - 1) / kPanel * kPanel; }

// Scores of NQ rows (already scaled, qs[i * head_dim + d]) against every key panel.
// A panel is S vectors of keys wide; each vector runs over all of head_dim on its own, so
// 2 x NQ accumulators are live (8 of AVX2's 16 registers at NQ = 4, where a whole panel's
// 2 x NQ x S would spill), and every score is summed in the same order either way.
template <class V, int NQ>
void attention_scores(const float* qs, const Half* k, int t, int head_dim, float* scores, size_t lds) {
  constexpr int S = kPanel / V::W;  // vectors per panel row
  const int panels = static_cast<int>(round_up_panel(t) / kPanel);
  const size_t panel_stride = static_cast<size_t>(head_dim) * kPanel;
  for (int p = 0; p < panels; ++p) {
    for (int s = 0; s < S; ++s) {
      const Half* kp = k + p * panel_stride + s * V::W;
      // Even and odd dimensions in separate accumulators: two dependency chains per row
      // even when a single row is queried.
      typename V::T acc[2][NQ];
      for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < NQ; ++i) acc[h][i] = V::zero();
      }
      int d = 0;
      for (; d + 2 <= head_dim; d += 2) {
        for (int h = 0; h < 2; ++h) {
          const typename V::T kv = V::load_half(kp + (d + h) * kPanel);
          for (int i = 0; i < NQ; ++i) acc[h][i] = V::fma(V::set1(qs[i * head_dim + d + h]), kv, acc[h][i]);
        }
      }
      if (d < head_dim) {
        const typename V::T kv = V::load_half(kp + d * kPanel);
        for (int i = 0; i < NQ; ++i) acc[0][i] = V::fma(V::set1(qs[i * head_dim + d]), kv, acc[0][i]);
      }
      // The last panel's lanes past t hold whatever the cache has there; their scores land in
      // the padding of the scratch row and are never read.
      for (int i = 0; i < NQ; ++i) {
        V::store(scores + i * lds + static_cast<size_t>(p) * kPanel + s * V::W, V::add(acc[0][i], acc[1][i]));
      }
    }
  }
}

// Softmax of row[0, visible) in place; row[visible, end) becomes 0.
template <class V>
void attention_softmax(float* row, int visible, int end) {
  constexpr int W = V::W;
  const float ninf = -std::numeric_limits<float>::infinity();
  typename V::T vmax = V::set1(ninf);
  int j = 0;
  for (; j + W <= visible; j += W) vmax = V::max(vmax, V::load(row + j));
  float mx = V::reduce_max(vmax);
  for (; j < visible; ++j) mx = std::max(mx, row[j]);
  // Pad the tail of the visible span to a whole vector with -inf (exp gives exactly 0) so
  // one code path covers it; the scratch row has room up to the next panel boundary.
  const int vis_end = (visible + W - 1) / W * W;
  for (j = visible; j < vis_end; ++j) row[j] = ninf;
  const typename V::T vm = V::set1(mx);
  typename V::T vsum = V::zero();
  for (j = 0; j < vis_end; j += W) {
    const typename V::T e = exp_v<V>(V::sub(V::load(row + j), vm));
    V::store(row + j, e);
    vsum = V::add(vsum, e);
  }
  const typename V::T inv = V::set1(1.0f / V::reduce_add(vsum));
  for (j = 0; j < vis_end; j += W) V::store(row + j, V::mul(V::load(row + j), inv));
  for (j = vis_end; j < end; ++j) row[j] = 0.0f;
}

// out[i] = sum_t w[i][t] v[t] for NQ rows, dimensions [d0, d0 + C * W).
template <class V, int NQ, int C>
void attention_values(const float* w, size_t ldw, const Half* v, int ldv, int t, int d0, float* out, int ldo) {
  typename V::T acc[NQ][C];
  for (int i = 0; i < NQ; ++i) {
    for (int c = 0; c < C; ++c) acc[i][c] = V::zero();
  }
  for (int j = 0; j < t; ++j) {
    const Half* row = v + static_cast<size_t>(j) * ldv + d0;
    typename V::T vv[C];
    for (int c = 0; c < C; ++c) vv[c] = V::load_half(row + c * V::W);
    for (int i = 0; i < NQ; ++i) {
      const typename V::T p = V::set1(w[i * ldw + j]);
      for (int c = 0; c < C; ++c) acc[i][c] = V::fma(p, vv[c], acc[i][c]);
    }
  }
  for (int i = 0; i < NQ; ++i) {
    for (int c = 0; c < C; ++c) V::store(out + static_cast<size_t>(i) * ldo + d0 + c * V::W, acc[i][c]);
  }
}

template <class V, int NQ>
void attention_group(const AttentionF16& a, int r0) {
  const size_t lds = round_up_panel(a.t);
  float* scores = a.scratch + static_cast<size_t>(r0) * lds;
  float* qs = a.scratch + static_cast<size_t>(a.n) * lds + static_cast<size_t>(r0) * a.head_dim;
  for (int i = 0; i < NQ; ++i) {
    const float* q = a.q + static_cast<size_t>(r0 + i) * a.ldq;
    for (int d = 0; d < a.head_dim; ++d) qs[i * a.head_dim + d] = q[d] * a.scale;
  }
  attention_scores<V, NQ>(qs, a.k, a.t, a.head_dim, scores, lds);
  int keys = 0;  // keys any row of the group sees
  for (int i = 0; i < NQ; ++i) {
    const int visible = a.causal ? a.t - a.n + 1 + r0 + i : a.t;
    keys = std::max(keys, visible);
    attention_softmax<V>(scores + i * lds, visible, a.t);
  }
  if (a.last_weights && r0 + NQ == a.n) std::memcpy(a.last_weights, scores + (NQ - 1) * lds, a.t * sizeof(float));
  float* out = a.out + static_cast<size_t>(r0) * a.ldo;
  // C vectors of dimensions per pass keep NQ x C accumulators in registers: 4 where there
  // are 32 registers (a 64-wide head is one pass on AVX-512), 2 on AVX2's 16, where NQ x 4
  // would fill all of them and spill. Each output still sums over the keys in order.
  constexpr int kChunk = (V::kRegisters >= 32 ? 4 : 2) * V::W;
  int d0 = 0;
  for (; d0 + kChunk <= a.head_dim; d0 += kChunk) {
    attention_values<V, NQ, kChunk / V::W>(scores, lds, a.v, a.ldv, keys, d0, out, a.ldo);
  }
  for (; d0 < a.head_dim; d0 += V::W) attention_values<V, NQ, 1>(scores, lds, a.v, a.ldv, keys, d0, out, a.ldo);
}

// head_dim must be a multiple of V::W (the dispatcher sends other sizes to the portable variant).
template <class V>
void attention_impl(const AttentionF16& a) {
  int r0 = 0;
  for (; r0 + kMaxRows <= a.n; r0 += kMaxRows) attention_group<V, kMaxRows>(a, r0);
  switch (a.n - r0) {
    case 3: attention_group<V, 3>(a, r0); break;
    case 2: attention_group<V, 2>(a, r0); break;
    case 1: attention_group<V, 1>(a, r0); break;
    default: break;
  }
}

template <class V>
void pack_keys_impl(const float* k, int ldk, int count, int head_dim, Half* panels, int t0) {
  int i = 0;
  // Whole vectors of keys that start on a lane boundary of a panel: gather one dimension
  // of V::W keys and convert them together.
  while (i < count) {
    const int t = t0 + i;
    Half* base = panels + static_cast<size_t>(t / kPanel) * head_dim * kPanel + t % kPanel;
    if (t % V::W == 0 && count - i >= V::W) {
      for (int d = 0; d < head_dim; ++d) V::store_half(base + d * kPanel, V::gather(k + static_cast<size_t>(i) * ldk + d, ldk));
      i += V::W;
    } else {
      for (int d = 0; d < head_dim; ++d) base[d * kPanel] = float_to_half(k[static_cast<size_t>(i) * ldk + d]);
      ++i;
    }
  }
}

template <class V>
void to_f16_impl(const float* x, int ldx, int rows, int cols, Half* out, int ldo) {
  for (int r = 0; r < rows; ++r) {
    const float* src = x + static_cast<size_t>(r) * ldx;
    Half* dst = out + static_cast<size_t>(r) * ldo;
    int c = 0;
    for (; c + V::W <= cols; c += V::W) V::store_half(dst + c, V::load(src + c));
    for (; c < cols; ++c) dst[c] = float_to_half(src[c]);
  }
}

}  // namespace
}  // namespace chorus::kernels::detail
